//! `pk simulate --population`, `pk compare` and `pk fit --prior` end to end.

use std::process::{Command, Output};

/// The Bonate 2004 model in the model language (simulate, compare, the prior of `pk fit --prior`).
const BONATE: &str = "models/clofarabine_bonate2004.pk";
/// A TOML population file (the retired form): refused with a pointer to the language.
const BONATE_TOML: &str = "models/clofarabine_bonate2004.toml";
/// Published group values (Evoltra label, Lu 2016) for `pk compare --published`.
const PUBLISHED: &str = "fixtures/clofarabine/published.toml";
const DATA: &str = "fixtures/clofarabine/clofarabine_phase2.csv";

fn pk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> (String, String) {
    let out = pk(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "pk {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn fails(args: &[&str]) -> String {
    let out = pk(args);
    assert!(!out.status.success(), "pk {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const POP: [&str; 9] = [
    "simulate",
    "--population",
    BONATE,
    "--covariate",
    "WT=40",
    "--covariate",
    "WBC=10",
    "--bsa",
    "1.3",
];

#[test]
fn typical_patient_csv_has_time_and_conc() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("typical.csv");
    let mut args = POP.to_vec();
    args.extend([
        "--regimen",
        "52 mg/m2 over 2 h every 24 h x 5",
        "--grid",
        "0:0.5:120",
        "--n",
        "1",
        "--omega-zero",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (_, summary) = ok(&args);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "TIME (h),CONC (ng/mL)");
    assert_eq!(lines.len(), 242);
    let at = |t: &str| -> f64 {
        let row = lines.iter().find(|l| l.split(',').next() == Some(t)).unwrap();
        row.split(',').nth(1).unwrap().parse().unwrap()
    };
    // Bonate 2004 typical patient, 67.6 mg over 2 h (closed form in tests/population.rs).
    assert!((at("2") / 392.0 - 1.0).abs() < 0.005);
    assert!((at("24") / 11.5 - 1.0).abs() < 0.005);
    assert!((at("98") / 402.0 - 1.0).abs() < 0.005);
    assert!(summary.contains("ω set to zero"), "{summary}");
}

#[test]
fn regimens_side_by_side_with_percentiles_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pop.csv");
    let plot = dir.path().join("band.svg");
    let exposures = dir.path().join("exposures.csv");
    let mut args = POP.to_vec();
    args.extend([
        "--regimen",
        "52 mg/m2 over 2 h every 24 h x 5",
        "--regimen",
        "52 mg/m2 over 4 h every 24 h x 5",
        "--grid",
        "0:1:120",
        "--n",
        "500",
        "--seed",
        "7",
        "--percentile",
        "25",
        "--target",
        "CMAX<500",
        "--out",
        out.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--exposures",
        exposures.to_str().unwrap(),
    ]);
    let (_, summary) = ok(&args);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("REGIMEN,TIME (h),P05 (ng/mL),P25 (ng/mL),P50 (ng/mL),P95 (ng/mL)")
    );
    assert_eq!(text.lines().count(), 1 + 2 * 121);
    // The 4 h infusion lowers the peak: its median at 2 h is below the 2 h infusion's.
    let value = |regimen: &str, t: &str, col: usize| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("\"{regimen}\",{t},")))
            .unwrap()
            .split(',')
            .nth(col)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("52 mg/m2 over 4 h every 24 h x 5", "2", 4) < value("52 mg/m2 over 2 h every 24 h x 5", "2", 4));
    let attained: Vec<f64> = summary
        .lines()
        .filter(|l| l.starts_with("target CMAX<500: "))
        .map(|l| {
            l["target CMAX<500: ".len()..]
                .trim_end_matches("% of patients")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(attained.len(), 2, "{summary}");
    assert!(
        attained[1] > attained[0],
        "longer infusion, more patients below 500: {attained:?}"
    );
    let exposure_rows = std::fs::read_to_string(&exposures).unwrap();
    assert_eq!(exposure_rows.lines().count(), 1 + 2 * 500);
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));
    // The same seed gives the same file.
    let again = dir.path().join("again.csv");
    let mut args2 = args.clone();
    let i = args2.iter().position(|a| *a == out.to_str().unwrap()).unwrap();
    args2[i] = again.to_str().unwrap();
    ok(&args2);
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());
}

#[test]
fn visual_predictive_check_over_a_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vpc.csv");
    let plot = dir.path().join("vpc.svg");
    let before = std::fs::read(DATA).unwrap();
    ok(&[
        "simulate",
        "--population",
        BONATE,
        "--data",
        DATA,
        "--n",
        "200",
        "--residual-error",
        "--grid",
        "0:1:100",
        "--out",
        out.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("TIME (h),P05 (ng/mL),P50 (ng/mL),P95 (ng/mL)\n"));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("with observed data (VPC)"));
    assert_eq!(before, std::fs::read(DATA).unwrap(), "the input is unchanged");
}

#[test]
fn compare_and_map_fit_report_against_the_population() {
    let dir = tempfile::tempdir().unwrap();
    let fit = dir.path().join("fit.json");
    ok(&[
        "fit",
        DATA,
        "--model",
        "models/two_cmt_iv.pk",
        "--json",
        fit.to_str().unwrap(),
    ]);
    let forest = dir.path().join("forest.svg");
    let cmp = dir.path().join("compare.json");
    let (table, _) = ok(&[
        "compare",
        fit.to_str().unwrap(),
        "--population",
        BONATE,
        "--published",
        PUBLISHED,
        "--plot",
        forest.to_str().unwrap(),
        "--json",
        cmp.to_str().unwrap(),
    ]);
    assert!(table.contains("Evoltra label"), "{table}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cmp).unwrap()).unwrap();
    let s1 = &doc["subjects"][0];
    // Subject 1: 16.5 kg, WBC 4.2 → typical CL = 32.8·(16.5/40)^0.75.
    let tv_cl = 32.8 * (16.5f64 / 40.0).powf(0.75);
    let p = &s1["parameters"]["CL"];
    assert!((p["typical"].as_f64().unwrap() - tv_cl).abs() < 1e-9);
    let ratio = p["individual"].as_f64().unwrap() / tv_cl;
    assert!((p["ratio"].as_f64().unwrap() - ratio).abs() < 1e-12);
    let omega = (1.0f64 + 0.27 * 0.27).ln().sqrt();
    assert!((p["z"].as_f64().unwrap() - ratio.ln() / omega).abs() < 1e-12);
    assert!(std::fs::read_to_string(&forest).unwrap().contains("<svg"));

    let map = dir.path().join("map.json");
    let (text, _) = ok(&["fit", DATA, "--prior", BONATE, "--json", map.to_str().unwrap()]);
    assert!(text.contains("η-shrinkage"), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    assert_eq!(doc["subjects"].as_array().unwrap().len(), 4);
    assert!(doc["shrinkage"]["CL"].is_number());
    // The MAP JSON is readable by `pk compare`.
    ok(&["compare", map.to_str().unwrap(), "--population", BONATE]);
}

#[test]
fn bad_population_arguments() {
    let mut args = POP.to_vec();
    args.extend(["--regimen", "52 mg/m2 over 2 h", "--n", "0"]);
    assert_eq!(
        fails(&args).trim(),
        "error: the number of virtual patients must be at least 1, got 0"
    );
    let e = fails(&[
        "simulate",
        "--population",
        BONATE,
        "--regimen",
        "50 mg over 2 h",
        "--covariate",
        "WT=40",
    ]);
    assert!(e.contains("needs covariate WBC, which is not given"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nowbc.csv");
    std::fs::write(
        &data,
        "ID,TIME,DV,AMT,RATE,EVID,MDV,CMT,WT\n1,0,.,50,25,1,1,1,30\n1,4,100,0,0,0,0,1,30\n",
    )
    .unwrap();
    let e = fails(&["simulate", "--population", BONATE, "--data", data.to_str().unwrap()]);
    assert!(
        e.contains("needs covariate WBC, but") && e.contains("has no WBC column (columns: WT)"),
        "{e}"
    );
    let e = fails(&["fit", data.to_str().unwrap(), "--prior", BONATE]);
    assert!(e.contains("has no WBC column"), "{e}");
    let e = fails(&[
        "simulate",
        "--population",
        BONATE,
        "--regimen",
        "50 mg",
        "--covariate",
        "WT=abc",
    ]);
    assert!(
        e.contains("--covariate 'WT=abc': expected NAME=VALUE or NAME=LOW..HIGH"),
        "{e}"
    );
}

/// Largest |a − b|/max(|a|, |b|) over the numbers of two CSV texts of the same shape.
fn csv_relative_difference(a: &str, b: &str) -> f64 {
    let mut worst = 0.0f64;
    assert_eq!(a.lines().count(), b.lines().count());
    for (la, lb) in a.lines().zip(b.lines()).skip(1) {
        for (x, y) in la.split(',').zip(lb.split(',')) {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            let m = x.abs().max(y.abs());
            if m > 0.0 {
                worst = worst.max((x - y).abs() / m);
            }
        }
    }
    worst
}

#[test]
fn ode_twin_and_closed_form_agree_in_simulate_population() {
    // Issue 12's acceptance: `simulate --population` with models/two_cmt_pop_ode.pk and
    // models/two_cmt_pop.pk, same seed, agree to 1e-4 relative (percentiles and exposures).
    let dir = tempfile::tempdir().unwrap();
    let run = |model: &str, tag: &str| -> (String, String, String) {
        let out = dir.path().join(format!("{tag}.csv"));
        let exposures = dir.path().join(format!("{tag}_exposures.csv"));
        let (_, summary) = ok(&[
            "simulate",
            "--population",
            model,
            "--regimen",
            "1000 ug over 1 h every 12 h x 4",
            "--grid",
            "0:0.5:60",
            "--n",
            "400",
            "--seed",
            "11",
            "--residual-error",
            "--target",
            "CMAX<40",
            "--out",
            out.to_str().unwrap(),
            "--exposures",
            exposures.to_str().unwrap(),
        ]);
        (
            std::fs::read_to_string(&out).unwrap(),
            std::fs::read_to_string(&exposures).unwrap(),
            summary,
        )
    };
    let (closed, closed_exposures, closed_summary) = run("models/two_cmt_pop.pk", "closed");
    let (ode, ode_exposures, ode_summary) = run("models/two_cmt_pop_ode.pk", "ode");
    let worst = csv_relative_difference(&closed, &ode);
    eprintln!("percentiles: largest relative difference ODE vs closed form {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
    // Exposures: the columns both models define (AUCINF = dose/CL only for the kernel).
    let strip = |t: &str| -> String {
        t.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                [&f[..1], &f[2..4], &f[5..]].concat().join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let worst = csv_relative_difference(&strip(&closed_exposures), &strip(&ode_exposures));
    eprintln!("exposures: largest relative difference ODE vs closed form {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
    let target = |s: &str| s.lines().find(|l| l.starts_with("target CMAX<40")).map(String::from);
    assert!(target(&closed_summary).is_some(), "{closed_summary}");
    assert_eq!(target(&closed_summary), target(&ode_summary));
}

#[test]
fn single_subject_simulate_on_the_model_language() {
    // θ by name; the bundled two_cmt_iv (CL 20, V1 50, Q 30, V2 130) with a 100 mg bolus:
    // at t = 0 the central amount is the dose, C = 100 mg / 50 L = 2000 ng/mL.
    let (csv, _) = ok(&[
        "simulate",
        "--model",
        "two_cmt_iv",
        "--regimen",
        "100 mg iv",
        "--grid",
        "0:1:2",
        "--amounts",
    ]);
    let first: Vec<f64> = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(csv.lines().next(), Some("TIME (h),CONC (ng/mL),A1 (mg),A2 (mg)"));
    // Exact to rounding: the modal solution's amounts carry ~1e-14 of the dose.
    for (x, expected) in first.iter().zip([0.0, 2000.0, 100.0, 0.0]) {
        assert!((x - expected).abs() < 1e-9, "{first:?}");
    }
    // V1 doubled by --param: half the concentration at t = 0.
    let (csv, _) = ok(&[
        "simulate",
        "--model",
        "two_cmt_iv",
        "--param",
        "V1=100",
        "--regimen",
        "100 mg iv",
        "--grid",
        "0:1:0",
    ]);
    let c0: f64 = csv.lines().nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap();
    assert!((c0 - 1000.0).abs() < 1e-9, "{csv}");
    // A population model: η by name; CL = TVCL·exp(eta_cl) is computed, not set.
    let e = fails(&[
        "simulate",
        "--model",
        "two_cmt_pop",
        "--param",
        "CL=3",
        "--regimen",
        "100 ug",
    ]);
    assert!(
        e.contains("parameter CL: model two_cmt_pop computes it in its code"),
        "{e}"
    );
    assert!(e.contains("TVCL") && e.contains("eta_cl"), "{e}");
    // Covariates are given with --covariate; a missing one is named.
    let e = fails(&[
        "simulate",
        "--model",
        BONATE,
        "--regimen",
        "50 mg over 2 h",
        "--covariate",
        "WT=40",
    ]);
    assert!(e.contains("needs covariate WBC, which is not given"), "{e}");
    let (csv, _) = ok(&[
        "simulate",
        "--model",
        BONATE,
        "--regimen",
        "67.6 mg over 2 h",
        "--covariate",
        "WT=40",
        "--covariate",
        "WBC=10",
        "--grid",
        "0:2:2",
    ]);
    // Bonate 2004 typical patient, 67.6 mg over 2 h: 392 ng/mL at 2 h (tests/population.rs).
    let c2: f64 = csv.lines().nth(2).unwrap().split(',').nth(1).unwrap().parse().unwrap();
    assert!((c2 / 392.0 - 1.0).abs() < 0.005, "{c2}");
}

#[test]
fn a_toml_model_is_refused_with_a_pointer_to_the_language() {
    let e = fails(&[
        "simulate",
        "--population",
        BONATE_TOML,
        "--regimen",
        "50 mg",
        "--n",
        "2",
    ]);
    assert!(
        e.contains("a TOML model file; every subcommand reads models in the model language"),
        "{e}"
    );
    let e = fails(&["simulate", "--model", "models/two_cmt_iv.toml", "--regimen", "50 mg"]);
    assert!(e.contains("a TOML model file"), "{e}");
}

#[test]
fn compare_reports_bad_published_files() {
    let dir = tempfile::tempdir().unwrap();
    let fit = dir.path().join("fit.json");
    std::fs::write(
        &fit,
        r#"{"subjects": [{"id": 1, "converged": true, "parameters": {"CL": {"estimate": 20}}, "covariates": {"WT": 40, "WBC": 10}}]}"#,
    )
    .unwrap();
    let e = fails(&[
        "compare",
        fit.to_str().unwrap(),
        "--population",
        BONATE,
        "--published",
        "/nonexistent/published.toml",
    ]);
    assert!(e.contains("/nonexistent/published.toml"), "{e}");
    let bad = dir.path().join("published.toml");
    std::fs::write(&bad, "[[published]]\nlabel = \"x\"\nclearance = 3\n").unwrap();
    let e = fails(&[
        "compare",
        fit.to_str().unwrap(),
        "--population",
        BONATE,
        "--published",
        bad.to_str().unwrap(),
    ]);
    assert!(e.contains("published values") && e.contains("clearance"), "{e}");
    // Without --published the table has the group line only; CL = 20 against 32.8 at 40 kg.
    let (table, _) = ok(&["compare", fit.to_str().unwrap(), "--population", BONATE]);
    assert!(table.contains("this group") && !table.contains("Evoltra"), "{table}");
    assert!(table.contains("0.610"), "ratio 20/32.8 = 0.610: {table}");
}

/// (ID, TIME, CONC) rows of a `pk simulate` CSV, sorted.
fn rows(csv: &str) -> Vec<(String, f64, f64)> {
    let mut r: Vec<(String, f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    r.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    r
}

#[test]
fn grid_records_added_to_a_data_file_change_nothing() {
    // The 29 NONMEM dosing scenarios (fixtures/nonmem_dosing/, model_1001.pk with F, ALAG,
    // RATE and DUR as code): predictions at the records alone, on a grid alone, and both.
    let model = "fixtures/nonmem_dosing/model_1001.pk";
    let data = "fixtures/nonmem_dosing/dosing_data_1001.csv";
    let (at_records, _) = ok(&["simulate", "--model", model, "--data", data]);
    let (on_grid, _) = ok(&["simulate", "--model", model, "--data", data, "--grid", "0:0.7:60"]);
    let (both, _) = ok(&[
        "simulate",
        "--model",
        model,
        "--data",
        data,
        "--grid",
        "0:0.7:60",
        "--at-records",
    ]);
    let mut expected = rows(&at_records);
    expected.extend(rows(&on_grid));
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    let got = rows(&both);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, g.1), (&e.0, e.1));
        assert!((g.2 - e.2).abs() <= 1e-12 * g.2.abs().max(1.0), "{g:?} vs {e:?}");
    }
    // 86 grid points (0, 0.7, …, 59.5: parse_grid stops at or before 60) for each of the 29 subjects.
    assert_eq!(rows(&on_grid).len(), 29 * 86);
}

/// `pk compare` refuses an NCA JSON and a non-positive estimate instead of
/// printing NaN (issue 14).
#[test]
fn compare_refuses_nca_output_and_non_positive_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let nca = dir.path().join("nca.json");
    ok(&[
        "nca",
        "fixtures/nca_winnonlin/theoph_nonmem.csv",
        "--json",
        nca.to_str().unwrap(),
    ]);
    let e = fails(&["compare", nca.to_str().unwrap(), "--population", BONATE]);
    assert!(e.contains("this is the output of `pk nca --json`"), "{e}");
    let fit = dir.path().join("fit.json");
    ok(&["fit", DATA, "--model", "two_cmt_iv", "--json", fit.to_str().unwrap()]);
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fit).unwrap()).unwrap();
    doc["subjects"][0]["parameters"]["CL"]["estimate"] = serde_json::json!(-3.0);
    std::fs::write(&fit, doc.to_string()).unwrap();
    let e = fails(&["compare", fit.to_str().unwrap(), "--population", BONATE]);
    assert!(
        e.contains("subject 1: the fitted CL is -3: only a positive value compares"),
        "{e}"
    );
}
