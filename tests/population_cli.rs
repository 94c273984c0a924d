//! `pk simulate --population`, `pk compare` and `pk fit --prior` end to end.

use std::process::{Command, Output};

const BONATE: &str = "models/clofarabine_bonate2004.toml";
/// The same population model in the model language, the prior of `pk fit --prior`.
const BONATE_PK: &str = "models/clofarabine_bonate2004.pk";
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
    assert_eq!(lines[0], "TIME,CONC");
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
    assert_eq!(lines.next(), Some("REGIMEN,TIME,P05,P25,P50,P95"));
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
    assert!(text.starts_with("TIME,P05,P50,P95\n"));
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
    let (text, _) = ok(&["fit", DATA, "--prior", BONATE_PK, "--json", map.to_str().unwrap()]);
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
    let e = fails(&["fit", data.to_str().unwrap(), "--prior", BONATE_PK]);
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
