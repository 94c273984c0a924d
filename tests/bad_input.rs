//! Every bad input named by the core-engine issue gets a clear message naming
//! the file, line, column (or parameter, or unit) and what was expected.

use pk::data::{parse_dataset, ReadOptions};
use pk::model::{Model, PkParams, Values};
use std::process::Command;

fn data_error(text: &str) -> String {
    parse_dataset(text, "bad.csv", &ReadOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn missing_required_column() {
    let e = data_error("ID,DV,AMT\n1,.,100\n");
    assert_eq!(
        e,
        "bad.csv, line 1: missing required column TIME (the header has: ID, DV, AMT)"
    );
}

#[test]
fn duplicated_column() {
    let e = data_error("ID,TIME,time\n1,0,0\n");
    assert!(e.contains("line 1, column time: column time appears twice"), "{e}");
    // Covariates too (WT was read from the first of the two).
    let e = data_error("ID,TIME,WT,wt\n1,0,70,140\n");
    assert!(e.contains("line 1, column wt: column wt appears twice"), "{e}");
}

#[test]
fn non_numeric_value() {
    let e = data_error("ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,abc\n");
    assert_eq!(e, "bad.csv, line 3, column DV: expected a number, found 'abc'");
}

#[test]
fn time_going_backwards_within_a_subject() {
    let e = data_error("ID,TIME,AMT,DV\n1,0,100,.\n1,4,0,3.2\n1,2,0,2.1\n");
    assert!(
        e.starts_with("bad.csv, line 4, column TIME: subject 1: time 2 is before the previous record's time 4"),
        "{e}"
    );
}

#[test]
fn time_may_go_back_at_a_reset() {
    let d = parse_dataset(
        "ID,TIME,AMT,EVID,DV\n1,0,100,1,.\n1,4,0,0,3.2\n1,0,100,4,.\n1,2,0,0,1\n",
        "ok.csv",
        &ReadOptions::default(),
    );
    assert!(d.is_ok(), "{d:?}");
}

#[test]
fn negative_dose() {
    let e = data_error("ID,TIME,AMT,DV\n1,0,-100,.\n");
    assert_eq!(
        e,
        "bad.csv, line 2, column AMT: a dose amount must not be negative, found -100"
    );
}

#[test]
fn bad_codes() {
    assert!(data_error("ID,TIME,AMT,EVID\n1,0,100,7\n").contains("column EVID: expected 0, 1, 2, 3 or 4, found 7"));
    assert!(data_error("ID,TIME,AMT,SS,II\n1,0,100,3,24\n").contains("column SS: expected 0, 1 or 2, found 3"));
    assert!(data_error("ID,TIME,AMT,RATE\n1,0,100,-3\n").contains("column RATE: expected a rate >= 0, or -1"));
    assert!(
        data_error("ID,TIME,AMT,ADDL\n1,0,100,2\n").contains("column II: ADDL = 2 needs an interdose interval II > 0")
    );
    assert!(data_error("ID,TIME,AMT,RATE,DUR\n1,0,100,10,2\n").contains("both RATE (10) and DUR (2)"));
    assert!(data_error("ID,TIME,AMT,RATE,EVID\n1,0,0,10,1\n")
        .contains("with AMT = 0 is only allowed as a steady-state infusion"));
}

#[test]
fn non_contiguous_subject() {
    let e = data_error("ID,TIME,AMT\n1,0,100\n2,0,100\n1,5,0\n");
    assert!(
        e.contains("line 4, column ID: subject 1 appears again after other subjects"),
        "{e}"
    );
}

/// Predictions of `model` at the records of the first subject of `data`
/// with the model's initial values; the error message if there is one.
fn prediction_error(model: &Model, data: &pk::data::Dataset) -> String {
    let theta = model.theta_init();
    let sigma = model.sigma_sd_init();
    let values = Values {
        theta: &theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &sigma,
    };
    match model.subject(data, &data.subjects[0]) {
        Err(e) => e.to_string(),
        Ok(s) => model.predict_records(&s, &values).unwrap_err().to_string(),
    }
}

const TWO_CMT: &str = "theta CL = 20\ntheta V1 = 50\ntheta Q = 30\ntheta V2 = 130\nsigma prop ~ 0.01\n\
                       kernel two_cmt_iv(CL, V1, Q, V2)\noutput CP = central / V1 ~ prop(prop)\n";

#[test]
fn dose_marked_as_infusion_with_zero_duration() {
    let data = parse_dataset(
        "ID,TIME,AMT,RATE,DV\n1,0,100,-2,.\n1,1,0,0,5\n",
        "bad.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    // RATE = -2 with a modelled duration of 0.
    let zero = Model::from_text(&format!("{TWO_CMT}DUR(central) = 0\n"), "m.pk").unwrap();
    assert_eq!(
        prediction_error(&zero, &data),
        "subject 1, bad.csv, line 2, column RATE: the modelled duration (RATE = -2) must be > 0, got 0"
    );
    // Without any modelled duration at all.
    let none = Model::from_text(TWO_CMT, "m.pk").unwrap();
    let e = prediction_error(&none, &data);
    assert!(
        e.contains("line 2, column RATE: RATE = -2 asks for a modelled duration, but the model sets no DUR(state)"),
        "{e}"
    );
}

#[test]
fn dose_into_a_compartment_the_model_lacks() {
    let data = parse_dataset(
        "ID,TIME,AMT,CMT,DV\n1,0,100,5,.\n1,1,0,1,5\n",
        "bad.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let model = Model::from_text(TWO_CMT, "m.pk").unwrap();
    let e = prediction_error(&model, &data);
    assert!(
        e.contains("line 2, column CMT: the model has compartments 1 to 2 (central, periph), the dose names 5"),
        "{e}"
    );
}

#[test]
fn negative_or_zero_volume() {
    let e = PkParams::two_cmt_iv(20.0, -5.0, 30.0, 130.0).unwrap_err().to_string();
    assert_eq!(
        e,
        "parameter V: must be a positive finite number (volumes, clearances and rate constants), got -5"
    );
    let e = PkParams::two_cmt_iv(20.0, 50.0, 30.0, 0.0).unwrap_err().to_string();
    assert!(e.starts_with("parameter V: must be a positive finite number"), "{e}");
}

#[test]
fn unknown_unit_in_model_file() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/two_cmt_iv.pk")).unwrap();
    let (line, _) = text.lines().enumerate().find(|(_, l)| l.starts_with("units")).unwrap();
    let bad: String = text
        .lines()
        .map(|l| if l.starts_with("units") { l.replace("ng/mL", "ng/pint") } else { l.to_string() } + "\n")
        .collect();
    let e = Model::from_text(&bad, "my_model.pk").unwrap_err().to_string();
    assert!(e.contains("my_model.pk"), "{e}");
    assert!(e.contains(&format!("line {}", line + 1)), "{e}");
    assert!(e.contains("ng/pint"), "{e}");
}

#[test]
fn model_file_errors_name_the_problem() {
    let e = Model::from_text("theta CL = 1\nkernel four_cmt_iv(CL)\n", "m.pk")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("m.pk") && e.contains("line 2") && e.contains("four_cmt_iv"),
        "{e}"
    );
    let e = Model::load("no_such_model").unwrap_err().to_string();
    assert!(e.contains("no_such_model"), "{e}");
}

fn pk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_reports_errors_without_panicking() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "simulate",
                "--model",
                "two_cmt_iv",
                "--param",
                "CLX=3",
                "--regimen",
                "100 mg",
            ],
            "parameter CLX: model two_cmt_iv has no such parameter",
        ),
        (
            &[
                "simulate",
                "--model",
                "two_cmt_iv",
                "--param",
                "CL=abc",
                "--regimen",
                "100 mg",
            ],
            "--param 'CL=abc': value 'abc' is not a number",
        ),
        (
            &["simulate", "--model", "two_cmt_iv", "--regimen", "52 mg/m2 over 2 h"],
            "a dose per m² needs a body-surface area",
        ),
        (
            &[
                "simulate",
                "--model",
                "two_cmt_iv",
                "--regimen",
                "52 mg over 2 fortnights",
            ],
            "unknown time unit 'fortnights'",
        ),
        (
            &[
                "simulate",
                "--model",
                "two_cmt_iv",
                "--regimen",
                "100 mg",
                "--conc-unit",
                "ng/furlong",
            ],
            "unknown concentration unit 'ng/furlong'",
        ),
        (
            &[
                "simulate",
                "--model",
                "two_cmt_iv",
                "--regimen",
                "100 mg",
                "--grid",
                "0:-1:10",
            ],
            "grid '0:-1:10'",
        ),
        (
            &["simulate", "--model", "two_cmt_iv", "--data", "/nonexistent/data.csv"],
            "/nonexistent/data.csv: No such file",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, err) = pk(args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: stderr was {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn cli_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,5\n").unwrap();
    let d = data.to_str().unwrap();
    let (ok, _, err) = pk(&["simulate", "--model", "two_cmt_iv", "--data", d, "--out", d]);
    assert!(!ok);
    assert!(err.contains("it is an input file"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&data).unwrap(),
        "ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,5\n"
    );
}

/// Issue 14: a dose on an EVID 3 record (or any non-dose record) is refused,
/// not dropped.
#[test]
fn a_dose_on_a_reset_record_is_refused() {
    let e = data_error("ID,TIME,AMT,EVID,DV\n1,0,100,3,.\n");
    assert_eq!(
        e,
        "bad.csv, line 2, column AMT: AMT = 100 on a record that is not a dose: EVID 3 resets the system without a dose; a reset with a dose is EVID 4"
    );
    let e = data_error("ID,TIME,AMT,EVID,DV\n1,0,100,0,5\n");
    assert!(
        e.contains("line 2, column AMT: AMT = 100 on a record that is not a dose"),
        "{e}"
    );
}

/// Issue 14: DV "." on a record that MDV = 0 makes an observation is refused,
/// not dropped; a BLQ-flagged record may leave DV empty.
#[test]
fn a_missing_dv_on_an_observation_is_refused() {
    let e = data_error("ID,TIME,AMT,MDV,DV\n1,0,100,1,.\n1,2,0,0,.\n");
    assert_eq!(
        e,
        "bad.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing: give the observed value, or set MDV = 1"
    );
    let ok = parse_dataset(
        "ID,TIME,AMT,MDV,DV,BLQ,LLOQ\n1,0,100,1,.,0,1\n1,2,0,0,.,1,1\n",
        "blq.csv",
        &ReadOptions::default(),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

/// Issue 14: numeric IDs are numbers, as in NONMEM: "1.5" and "1.50" are one subject.
#[test]
fn numerically_equal_ids_are_one_subject() {
    let d = parse_dataset(
        "ID,TIME,AMT,DV\n1.5,0,100,.\n1.50,1,0,3\n007,0,100,.\n",
        "ids.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let ids: Vec<(&str, usize)> = d.subjects.iter().map(|s| (s.id.as_str(), s.records.len())).collect();
    assert_eq!(ids, [("1.5", 2), ("7", 1)]);
}

/// Issue 14: data without a DV column cannot be fitted; the message names the
/// columns there are.
#[test]
fn a_missing_dv_column_is_named() {
    let d = parse_dataset(
        "ID,TIME,AMT,CONC\n1,0,100,.\n1,1,0,3\n",
        "conc.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        d.require_dv().unwrap_err().to_string(),
        "conc.csv, line 1: no DV column, so no record is an observation (the columns are ID, TIME, AMT, CONC); name the column of observed values DV"
    );
}

/// Issue 14, messages that point to the fix: SS = 99 suggests --drop SS.
#[test]
fn ss_99_suggests_dropping_the_column() {
    let e = data_error("ID,TIME,DV,AMT,SS,II\n1,0,.,100,99,12\n");
    assert!(
        e.starts_with("bad.csv, line 2, column SS: expected 0, 1 or 2, found 99"),
        "{e}"
    );
    assert!(e.contains("--drop SS"), "{e}");
}

/// A `#`-commented header: the header read is line 2, and the message says
/// that line 1 is the header commented out.
#[test]
fn a_commented_header_is_named() {
    let e = data_error("#ID,TIME,DV,AMT\n1,0,.,100\n1,1,5,0\n");
    assert!(e.starts_with("bad.csv, line 2: missing required column ID"), "{e}");
    assert!(e.contains("line 1 looks like the header but starts with '#'"), "{e}");
}

/// DV = "BLQ" points to the ways of giving a sample below the limit.
#[test]
fn dv_blq_points_to_the_censoring_columns() {
    let e = data_error("ID,TIME,DV,AMT\n1,0,.,100\n1,1,BLQ,0\n");
    assert!(
        e.starts_with("bad.csv, line 3, column DV: expected a number, found 'BLQ'"),
        "{e}"
    );
    assert!(e.contains("BLQ column") && e.contains("CENS = 1"), "{e}");
}

/// Line numbers count blank and comment lines (the csv reader places a record
/// at the first line it skipped).
#[test]
fn line_numbers_count_blank_and_comment_lines() {
    let e = data_error("ID,TIME,DV,AMT\n1,0,.,100\n# a comment\n\n1,1,x,0\n");
    assert!(e.starts_with("bad.csv, line 5, column DV"), "{e}");
}
