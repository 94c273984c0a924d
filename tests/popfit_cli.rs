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
        "models/pheno.toml",
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
    for key in ["CL", "V"] {
        assert!(doc["theta"][key]["estimate"].as_f64().unwrap() > 0.0);
        assert!(doc["theta"][key]["se"].as_f64().unwrap() > 0.0);
        assert!(doc["omega"][key]["se"].as_f64().unwrap() > 0.0);
        assert!(doc["omega"][key]["shrinkage"].is_number());
    }
    assert!(doc["sigma"]["sigma_prop"]["se"].as_f64().unwrap() > 0.0);
    assert_eq!(doc["etas"].as_array().unwrap().len(), 59);
    assert!(doc["aic"].as_f64().unwrap() > ofv);
    let t = std::fs::read_to_string(&table).unwrap();
    assert!(t.starts_with("ID,TIME,DV,PRED,IPRED,CWRES,IWRES\n"));
    assert_eq!(t.lines().count(), 156);
    for f in [
        "dv_vs_pred.svg",
        "dv_vs_ipred.svg",
        "cwres_vs_time.svg",
        "cwres_vs_pred.svg",
    ] {
        assert!(plots.join(f).exists(), "{f}");
    }
}

fn model_with(extra: &str, replace: (&str, &str)) -> String {
    std::fs::read_to_string("models/pheno.toml")
        .unwrap()
        .replace(replace.0, replace.1)
        + extra
}

fn popfit_error(model_text: &str, data: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.toml");
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
    // Ω not positive definite: a correlation of 1.
    let e = popfit_error(
        &model_with(
            "\n[[correlation]]\nparameters = [\"CL\", \"V\"]\nvalue = 1.0\n",
            ("", ""),
        ),
        &data,
    );
    assert!(
        e.contains("[[correlation]] CL–V: need two different parameters and -1 < value < 1, got 1"),
        "{e}"
    );
    // η on a parameter the structural model lacks.
    let e = popfit_error(
        &model_with("\n[[variability]]\nparameter = \"KA\"\nomega2 = 0.1\n", ("", "")),
        &data,
    );
    assert!(
        e.contains("[[variability]] on KA: the model has no such parameter"),
        "{e}"
    );
    // A subject with no observations.
    let no_obs = format!("{data}99,0,10,1.5,7,.,1,1\n");
    let e = popfit_error(&model_with("", ("", "")), &no_obs);
    assert!(e.contains("subject 99: no observations to fit"), "{e}");
    // A covariate value that makes a typical value impossible names the subject.
    let linear = model_with(
        "",
        (
            "relation = \"below\"\nreference = 5.0\ncoefficient = 0.1",
            "relation = \"linear\"\nreference = 5.0\ncoefficient = 0.5",
        ),
    );
    let e = popfit_error(&linear, &data);
    assert!(
        e.starts_with("error: subject ") && e.contains("the typical V is"),
        "{e}"
    );
}
