//! `pk popfit` end to end: outputs and bad input.

use std::process::{Command, Output};

fn pk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap()
}

#[test]
fn pheno_popfit_writes_estimates_table_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fit.json");
    let table = dir.path().join("table.csv");
    let plots = dir.path().join("plots");
    let out = pk(&[
        "popfit",
        "fixtures/pheno/pheno.csv",
        "--model",
        "models/pheno.pk",
        "--json",
        json.to_str().unwrap(),
        "--table",
        table.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("FOCE-I iteration 1:"),
        "a progress line per outer iteration: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // NONMEM FOCE-I, pheno_real.ext: OFV 586.27605628.
    let ofv = doc["ofv"].as_f64().unwrap();
    assert!((ofv - 586.27605628).abs() < 0.05, "OFV {ofv}");
    // NONMEM's keys: θ in $THETA order, Ω and σ as full matrices, SEs alike.
    assert_eq!(doc["theta"].as_array().unwrap().len(), 3);
    assert_eq!(doc["omega"].as_array().unwrap().len(), 2);
    assert_eq!(doc["sigma"][0][0].as_f64().map(|v| v > 0.0), Some(true));
    for k in 0..3 {
        assert!(doc["se"]["theta"][k].as_f64().unwrap() > 0.0);
    }
    assert!(doc["se"]["omega"][1][1].as_f64().unwrap() > 0.0);
    assert!(doc["se"]["sigma"][0][0].as_f64().unwrap() > 0.0);
    assert!(doc["eta_shrinkage"]["eta_cl"].is_number());
    assert_eq!(doc["n_subjects"], 59);
    assert_eq!(doc["n_observations"], 155);
    assert_eq!(doc["etas"].as_array().unwrap().len(), 59);
    assert!(doc["aic"].as_f64().unwrap() > ofv);
    let t = std::fs::read_to_string(&table).unwrap();
    assert!(t.starts_with("ID,TIME,TAD,DV,MDV,EVID,AMT,CMT,OUTPUT,PRED,IPRED,RES,WRES,CWRES,IWRES,EPRED,NPDE,BLQ\n"));
    // A row per data record: 155 observations and 589 doses.
    assert_eq!(t.lines().count(), 1 + 744);
    for f in [
        "dv_vs_pred.svg",
        "dv_vs_ipred.svg",
        "cwres_vs_time.svg",
        "cwres_vs_pred.svg",
    ] {
        assert!(plots.join(f).exists(), "{f}");
    }
}

fn popfit_error(model_text: &str, data: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.pk");
    std::fs::write(&model, model_text).unwrap();
    let data_path = dir.path().join("data.csv");
    std::fs::write(&data_path, data).unwrap();
    let out = pk(&[
        "popfit",
        data_path.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn bad_population_fits_get_clear_messages() {
    let data = std::fs::read_to_string("fixtures/pheno/pheno.csv").unwrap();
    let pheno = std::fs::read_to_string("models/pheno.pk").unwrap();
    // Ω not positive definite: a correlation of 1.
    let e = popfit_error(
        &pheno.replace(
            "omega eta_cl ~ 0.0309626, eta_v ~ 0.031128",
            "omega block(2) eta_cl, eta_v ~ {0.04, 0.04, 0.04}",
        ),
        &data,
    );
    assert!(e.contains("line 10") && e.contains("not positive definite"), "{e}");
    // An η the code never declares.
    let e = popfit_error(&pheno.replace("exp(eta_v)", "exp(eta_ka)"), &data);
    assert!(e.contains("unknown name eta_ka"), "{e}");
    // A subject with no observations.
    let no_obs = format!("{data}99,0,10,1.5,7,.,1,1\n");
    let e = popfit_error(&pheno, &no_obs);
    assert!(e.contains("subject 99: no observations to fit"), "{e}");
    // A covariate value that makes a parameter impossible names the subject and the time.
    let e = popfit_error(
        &pheno.replace("TVV * (1 + APGR_V)", "TVV * (1 + APGR_V) * (APGR - 5)"),
        &data,
    );
    assert!(
        e.starts_with("error: subject ") && e.contains("kernel parameter V"),
        "{e}"
    );
}
