//! `pk fit` end to end: bad subjects get clear messages while the others are
//! fitted; the bundled example writes the JSON schema, the residual table and
//! the plots, and leaves its input unchanged.

use pk::data::{parse_dataset, ReadOptions};
use pk::fit::{fit_dataset, ErrorChoice, FitOptions};
use pk::model::Model;
use std::process::Command;

/// Subject 1 is good; 2 has no observations; 3 is sampled only before its dose;
/// 4 has DV = 0; 5 has 4 observations for 5 parameters (CL, V1, Q, V2, σ).
const MIXED: &str = "\
ID,TIME,DV,AMT,RATE,EVID,MDV
1,0,.,50,25,1,1
1,0.5,180,.,0,0,0
1,1,290,.,0,0,0
1,2,400,.,0,0,0
1,3,210,.,0,0,0
1,4,140,.,0,0,0
1,6,90,.,0,0,0
1,8,66,.,0,0,0
1,12,41,.,0,0,0
1,24,14,.,0,0,0
2,0,.,50,25,1,1
3,0,150,.,0,0,0
3,0.5,120,.,0,0,0
3,1,.,50,25,1,1
4,0,.,50,25,1,1
4,0.5,180,.,0,0,0
4,1,290,.,0,0,0
4,2,0,.,0,0,0
4,3,210,.,0,0,0
4,4,140,.,0,0,0
4,6,90,.,0,0,0
5,0,.,50,25,1,1
5,1,290,.,0,0,0
5,3,210,.,0,0,0
5,6,90,.,0,0,0
5,24,14,.,0,0,0
";

#[test]
fn bad_subjects_get_messages_and_the_others_are_fitted() {
    let file = Model::load("two_cmt_iv").unwrap();
    let model = ErrorChoice::parse(Some("proportional"), None)
        .unwrap()
        .apply(&file)
        .unwrap();
    let data = parse_dataset(MIXED, "mixed.csv", &ReadOptions::default()).unwrap();
    let outcomes = fit_dataset(&model, &data, &FitOptions::new());
    let message = |i: usize| outcomes[i].1.as_ref().unwrap_err().to_string();
    let first = outcomes[0].1.as_ref().unwrap();
    assert!(first.converged, "{}", first.message);
    assert_eq!(
        message(1),
        "subject 2: no observations to fit (records with EVID 0, MDV 0 and a DV value)"
    );
    assert_eq!(
        message(2),
        "subject 3: all 2 observations are at or before the first dose (time 1), where the model predicts 0"
    );
    assert_eq!(
        message(3),
        "subject 4: line 19: DV = 0 at time 2; the proportional model needs DV > 0 (mark samples below \
         the limit of quantification with MDV=1, or use --error additive or combined)"
    );
    assert_eq!(
        message(4),
        "subject 5: 4 observations for 5 estimated parameters (CL, V1, Q, V2, sigma_prop): need at least 5"
    );
}

fn pk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bundled_example_writes_json_table_and_plots() {
    let input = "fixtures/clofarabine/clofarabine_phase2.csv";
    let before = std::fs::read(input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fit.json");
    let table = dir.path().join("fit.csv");
    let plots = dir.path().join("plots");
    let (ok, stdout, stderr) = pk(&[
        "fit",
        input,
        "--model",
        "models/two_cmt_iv.pk",
        "--error",
        "proportional",
        "--json",
        json.to_str().unwrap(),
        "--table",
        table.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Summary"), "{stdout}");
    assert_eq!(std::fs::read(input).unwrap(), before, "the input file changed");

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["model"], "two_cmt_iv");
    assert_eq!(doc["error_model"], "proportional");
    let subjects = doc["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 4);
    for s in subjects {
        assert_eq!(s["converged"], true);
        assert_eq!(s["n_obs"], 20);
        for key in ["m2ll", "aic", "bic"] {
            assert!(s["objective"][key].is_f64(), "objective.{key}");
        }
        for p in ["CL", "V1", "Q", "V2", "sigma_prop"] {
            let e = &s["parameters"][p];
            assert!(e["estimate"].as_f64().unwrap() > 0.0, "{p}");
            assert!(e["se"].is_f64() && e["rse_percent"].is_f64(), "{p}");
            assert_eq!(e["ci95"].as_array().unwrap().len(), 2, "{p}");
        }
        for key in [
            "cmax",
            "tmax",
            "auc_0_24",
            "auc_0_inf",
            "cl",
            "vss",
            "v1",
            "v2",
            "q",
            "alpha",
            "beta",
            "t_half_alpha",
            "t_half_beta",
            "mrt",
            "cmax_ss",
            "cmin_ss",
            "cavg_ss",
            "auc_tau_ss",
            "accumulation_ratio",
        ] {
            assert!(s["derived"][key].is_f64(), "derived.{key}");
        }
        for key in ["cl", "vss", "v1", "v2", "q"] {
            assert!(s["per_m2"][key].is_f64(), "per_m2.{key}");
        }
        // NCA of the first interval beside the model's values.
        for key in ["CMAX", "TMAX", "AUCLST", "AUCIFO", "LAMZ", "CLO", "VSSO"] {
            assert!(s["nca"]["values"][key].is_f64(), "nca.{key}");
        }
        // Identities of linear kinetics: AUCτ at steady state = AUC0–∞ of one dose = dose/CL.
        let d = &s["derived"];
        let (auc_ss, auc_inf) = (d["auc_tau_ss"].as_f64().unwrap(), d["auc_0_inf"].as_f64().unwrap());
        assert!((auc_ss / auc_inf - 1.0).abs() < 1e-9, "{auc_ss} vs {auc_inf}");
        let cl = s["parameters"]["CL"]["estimate"].as_f64().unwrap();
        assert!((d["cl"].as_f64().unwrap() / cl - 1.0).abs() < 1e-15);
    }
    let rows = std::fs::read_to_string(&table).unwrap();
    assert!(rows.starts_with("ID,TIME (h),DV (ng/mL),PRED (ng/mL),RES (ng/mL),WRES"));
    assert_eq!(rows.lines().count(), 1 + 4 * 20);
    for f in [
        "subject_1.svg",
        "subject_4.svg",
        "observed_vs_predicted.svg",
        "wres_vs_time.svg",
    ] {
        let svg = std::fs::read_to_string(plots.join(f)).unwrap();
        assert!(svg.contains("<svg"), "{f}");
    }
}

#[test]
fn cli_fit_errors_are_clear() {
    let (ok, _, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--error",
        "quadratic",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("error model 'quadratic': expected additive, proportional, combined or wls"),
        "{stderr}"
    );
    let (ok, _, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--init",
        "KA=1",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("parameter KA: --init names a parameter that is not estimated"),
        "{stderr}"
    );
    let (ok, _, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--weight",
        "1/y",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--weight 1/y applies to --error wls only"), "{stderr}");
    let (ok, _, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--json",
        "fixtures/clofarabine/clofarabine_phase2.csv",
    ]);
    assert!(!ok);
    assert!(stderr.contains("refusing to write"), "{stderr}");
}

#[test]
fn fixing_a_parameter_keeps_it_and_fits_the_rest() {
    let (ok, stdout, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--id",
        "2",
        "--fix",
        "V2=70",
        "--init",
        "CL=20",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("(fixed)"), "{stdout}");
    assert!(stdout.contains("converged"), "{stdout}");
}

/// Every error model on the 29 NONMEM dosing scenarios (lag, F, SS, resets, modelled
/// rates), with NONMEM's CP as DV: no panic; a subject is fitted or says why.
/// (Once, the combined model's fallbacks kept one σ and a later step indexed the second.)
#[test]
fn dosing_scenarios_fit_without_panic_under_every_error_model() {
    let file = Model::load("fixtures/nonmem_dosing/model_1001.pk").unwrap();
    let data_text = std::fs::read_to_string("fixtures/nonmem_dosing/dosing_data_1001.csv").unwrap();
    let cp: Vec<String> = std::fs::read_to_string("fixtures/nonmem_dosing/dosing_results_1001-nm.csv")
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let mut lines = data_text.lines();
    let header = lines.next().unwrap();
    let columns: Vec<&str> = header.split(',').collect();
    let (evid, dv) = (
        columns.iter().position(|c| *c == "evid").unwrap(),
        columns.iter().position(|c| *c == "DV").unwrap(),
    );
    let mut text = format!("{header}\n");
    for (line, value) in lines.zip(&cp) {
        let mut fields: Vec<&str> = line.split(',').collect();
        if fields[evid] == "0" {
            fields[dv] = value;
        }
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let data = parse_dataset(&text, "dosing_with_dv.csv", &ReadOptions::default()).unwrap();
    for em in ["additive", "proportional", "combined", "wls"] {
        let choice = ErrorChoice::parse(Some(em), None).unwrap();
        let model = choice.apply(&file).unwrap();
        let mut options = FitOptions::new();
        options.weighting = choice.weighting;
        options.starts = 2;
        for (id, outcome) in fit_dataset(&model, &data, &options) {
            match outcome {
                Ok(fit) => assert!(!fit.message.is_empty(), "{em}, subject {id}"),
                Err(e) => assert!(e.to_string().starts_with(&format!("subject {id}: ")), "{em}: {e}"),
            }
        }
    }
}

#[test]
fn wls_with_every_parameter_fixed_reports_instead_of_panicking() {
    let (ok, stdout, stderr) = pk(&[
        "fit",
        "--model",
        "two_cmt_iv",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--id",
        "1",
        "--error",
        "wls",
        "--fix",
        "CL=20",
        "--fix",
        "V1=36",
        "--fix",
        "Q=12",
        "--fix",
        "V2=35",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("no structural parameter is estimated"), "{stdout}");
}

/// The ODE twin of the closed-form population model (`models/two_cmt_pop_ode.pk`,
/// the same model as `two_cmt_pop` written as ODEs) fits clofarabine child 1
/// like the closed form, and its numerically derived exposures (8-point
/// Gauss–Legendre quadrature of the predictions, as for virtual patients)
/// agree with the closed form's exact ones. Tolerances: 1e-5 for the
/// estimates (measured ≤ 6e-9 relative); 1e-8 for the exposures (measured
/// ≤ 5e-10, what the estimates' differences carry over).
#[test]
fn ode_model_fits_and_derives_numerically_like_its_closed_form() {
    use pk::units::{AmountUnit, ConcentrationUnit};
    let data = pk::data::read_dataset("fixtures/clofarabine/clofarabine_phase2.csv", &ReadOptions::default()).unwrap();
    let fit = |name: &str| {
        let mut model = Model::load(name).unwrap();
        model.units.amount = AmountUnit::parse("mg").unwrap();
        model.units.concentration = ConcentrationUnit::parse("ng/mL").unwrap();
        pk::fit::fit_subject(&model, &data, &data.subjects[0], &FitOptions::new()).unwrap()
    };
    let (closed, ode) = (fit("two_cmt_pop"), fit("two_cmt_pop_ode"));
    assert!(
        closed.converged && ode.converged,
        "{} / {}",
        closed.message,
        ode.message
    );
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    for (c, o) in closed.parameters.iter().zip(&ode.parameters) {
        eprintln!(
            "{}: closed form {} ODE {} rel {:.1e}",
            c.name,
            c.estimate,
            o.estimate,
            rel(o.estimate, c.estimate)
        );
        assert!(rel(o.estimate, c.estimate) < 1e-5, "{}", c.name);
    }
    let (c, o) = (closed.exposure.unwrap(), ode.exposure.unwrap());
    for (what, a, b) in [
        ("cmax", o.cmax, c.cmax),
        ("auc_0_24", o.auc_0_24, c.auc_0_24),
        ("cmax_ss", o.cmax_ss.unwrap(), c.cmax_ss.unwrap()),
        ("cmin_ss", o.cmin_ss.unwrap(), c.cmin_ss.unwrap()),
        ("auc_tau_ss", o.auc_tau_ss.unwrap(), c.auc_tau_ss.unwrap()),
    ] {
        eprintln!("{what}: ODE {a} closed form {b} rel {:.1e}", rel(a, b));
        assert!(rel(a, b) < 1e-8, "{what}: ODE {a} vs closed form {b}");
    }
    assert!(o.vss.is_none() && o.cl.is_none() && o.t_half_beta.is_none());
    assert!(ode.exposure_note.unwrap().contains("Vss, half-lives"));
}

/// `pk fit` without --model is refused with the bundled models and what the
/// data's doses suggest (issue 14: it used to fit two_cmt_iv to any data).
#[test]
fn fit_without_a_model_is_refused_with_a_suggestion() {
    let (ok, _, stderr) = pk(&["fit", "fixtures/clofarabine/clofarabine_phase2.csv"]);
    assert!(!ok);
    assert!(stderr.contains("give the model with --model"), "{stderr}");
    assert!(
        stderr.contains("two_cmt_oral") && stderr.contains("pk models"),
        "{stderr}"
    );
    assert!(stderr.contains("has 4 infusions: an IV model"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let oral = dir.path().join("oral.csv");
    std::fs::write(
        &oral,
        "ID,TIME,AMT,DV,CMT,MDV\n1,0,100,.,1,1\n1,1,0,5,2,0\n1,4,0,3,2,0\n",
    )
    .unwrap();
    let (ok, _, stderr) = pk(&["fit", oral.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("an oral model (one_cmt_oral, two_cmt_oral"), "{stderr}");
}

/// `--fix` outside the model's bounds is refused before fitting (issue 14:
/// `--fix CL=1e308` ended in "no start could be fitted: gradient zero").
#[test]
fn fix_outside_the_bounds_is_refused() {
    let (ok, _, stderr) = pk(&[
        "fit",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--model",
        "two_cmt_iv",
        "--fix",
        "CL=1e308",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("--fix CL=1e308 is outside the bounds (0.001, 1000) that model two_cmt_iv gives CL"),
        "{stderr}"
    );
}

/// Data in mg/L fitted with a model that reports ng/mL: the estimates end at
/// their bounds, and the warning names the unit mismatch (issue 14).
#[test]
fn data_in_another_unit_get_a_unit_warning() {
    let text = std::fs::read_to_string("fixtures/clofarabine/clofarabine_phase2.csv").unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let dv = header.split(',').position(|c| c == "DV").unwrap();
    let mut out = format!("{header}\n");
    for l in lines {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        if f[dv] != "." {
            f[dv] = (f[dv].parse::<f64>().unwrap() / 1000.0).to_string();
        }
        out.push_str(&(f.join(",") + "\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mg_per_l.csv");
    std::fs::write(&data, out).unwrap();
    let data = data.to_str().unwrap();
    let (_, stdout, _) = pk(&["fit", data, "--model", "two_cmt_iv", "--id", "1"]);
    assert!(stdout.contains("(at bound)"), "{stdout}");
    assert!(
        stdout.contains("the data are probably not in the model's concentration unit (ng/mL)")
            && stdout.contains("--conc-unit"),
        "{stdout}"
    );
    // With the data's unit given, no such warning.
    let (ok, stdout, _) = pk(&["fit", data, "--model", "two_cmt_iv", "--id", "1", "--conc-unit", "mg/L"]);
    assert!(ok);
    assert!(!stdout.contains("concentration unit"), "{stdout}");
    assert!(!stdout.contains("(at bound)"), "{stdout}");
}

/// The parameter table names each kernel parameter's unit in the model's
/// units (issue 14: units in every table).
#[test]
fn the_parameter_table_names_units() {
    let (ok, stdout, _) = pk(&[
        "fit",
        "fixtures/clofarabine/clofarabine_phase2.csv",
        "--model",
        "two_cmt_iv",
        "--id",
        "1",
    ]);
    assert!(ok);
    for (name, unit) in [("CL", "L/h"), ("V1", "L"), ("Q", "L/h"), ("V2", "L"), ("prop", "-")] {
        assert!(
            stdout.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() > 2 && w[0] == name && w[1] == unit
            }),
            "{name} {unit}:\n{stdout}"
        );
    }
}
