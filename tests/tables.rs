//! popfit's result tables: the sdtab (`--table`, one row per data record),
//! the patab (`--patab`) and the `.ext` file (`--ext`) with its iterations.
//!
//! Reference: NONMEM 7.4.2's own table of `pheno_real.mod` at the estimates
//! of `pheno_real.ext` (`fixtures/pheno/pheno_real_sdtab_nonmem.csv`, see
//! `fixtures/pheno/SOURCE.md`): PRED, IPRED and CWRES printed to 5
//! significant digits.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn pk(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A CSV as a header and rows of fields.
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

fn number(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

/// pheno at NONMEM's estimates, evaluated, with its sdtab, patab and JSON.
struct PhenoAtNonmem {
    _dir: tempfile::TempDir,
    sdtab: (Vec<String>, Vec<Vec<String>>),
    patab: (Vec<String>, Vec<Vec<String>>),
    json: serde_json::Value,
}

fn pheno_at_nonmem() -> PhenoAtNonmem {
    let dir = tempfile::tempdir().unwrap();
    let (table, patab, json) = (
        dir.path().join("sdtab.csv"),
        dir.path().join("patab.csv"),
        dir.path().join("run.json"),
    );
    pk(&[
        "popfit",
        &format!("{ROOT}/fixtures/pheno/pheno_real.mod"),
        "--inits-from",
        &format!("{ROOT}/fixtures/pheno/pheno_real.ext"),
        "--evaluate",
        "--npde-samples",
        "0",
        "--table",
        table.to_str().unwrap(),
        "--patab",
        patab.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    PhenoAtNonmem {
        sdtab: csv(&table),
        patab: csv(&patab),
        json: serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap(),
        _dir: dir,
    }
}

/// The sdtab's row of each (ID, TIME, MDV).
fn by_key(t: &(Vec<String>, Vec<Vec<String>>)) -> HashMap<(String, String, String), Vec<String>> {
    let (h, rows) = t;
    let (id, time, mdv) = (col(h, "ID"), col(h, "TIME"), col(h, "MDV"));
    rows.iter()
        .map(|r| {
            (
                (r[id].clone(), format!("{}", number(&r[time])), r[mdv].clone()),
                r.clone(),
            )
        })
        .collect()
}

#[test]
fn cwres_pred_and_ipred_of_pheno_equal_nonmem_at_its_estimates() {
    let run = pheno_at_nonmem();
    let ours = by_key(&run.sdtab);
    let h = &run.sdtab.0;
    let reference = csv(&Path::new(ROOT).join("fixtures/pheno/pheno_real_sdtab_nonmem.csv"));
    let rh = &reference.0;
    let mut worst: f64 = 0.0;
    for r in &reference.1 {
        let key = (
            r[col(rh, "ID")].clone(),
            format!("{}", number(&r[col(rh, "TIME")])),
            r[col(rh, "MDV")].clone(),
        );
        let row = ours.get(&key).unwrap_or_else(|| panic!("no sdtab row {key:?}"));
        let mut columns = vec!["PRED", "IPRED"];
        if key.2 == "0" {
            columns.push("CWRES");
        } else {
            assert_eq!(row[col(h, "CWRES")], ".", "a dose record has no CWRES");
        }
        for name in columns {
            let (a, b) = (number(&row[col(h, name)]), number(&r[col(rh, name)]));
            // 5 significant digits: rounding of at most half a unit in the 5th digit, and
            // NONMEM's η̂ converged to its own precision.
            let tolerance = 1e-4 * b.abs().max(0.01);
            worst = worst.max((a - b).abs() / b.abs().max(0.01));
            assert!(
                (a - b).abs() <= tolerance,
                "{name} of {key:?}: {a} against NONMEM's {b}"
            );
        }
    }
    eprintln!("largest relative difference from NONMEM: {worst:.2e}");
}

#[test]
fn sdtab_has_a_row_per_record_with_mdv_and_evid() {
    let run = pheno_at_nonmem();
    let (h, rows) = &run.sdtab;
    assert_eq!(
        h[..8],
        ["ID", "TIME", "TAD", "DV", "MDV", "EVID", "AMT", "CMT"].map(String::from)
    );
    // pheno.dta: 744 records, 155 observations, 589 doses (NONMEM's listing).
    assert_eq!(rows.len(), 744);
    let (mdv, evid, amt, res) = (col(h, "MDV"), col(h, "EVID"), col(h, "AMT"), col(h, "RES"));
    let observed: Vec<&Vec<String>> = rows.iter().filter(|r| r[mdv] == "0").collect();
    assert_eq!(observed.len(), 155);
    assert_eq!(run.json["n_observations"], 155);
    for r in rows {
        if r[mdv] == "1" {
            assert_eq!(r[evid], "1");
            assert!(number(&r[amt]) > 0.0);
            assert_eq!(r[res], ".");
        } else {
            assert_eq!(r[evid], "0");
            assert_eq!(r[amt], "0");
            assert!(number(&r[res]).is_finite());
        }
    }
}

#[test]
fn patab_holds_individual_parameters_and_eta_hat() {
    let run = pheno_at_nonmem();
    let (h, rows) = &run.patab;
    assert_eq!(
        rows.len(),
        59,
        "one parameter set per subject (no time-varying covariate)"
    );
    let theta: Vec<f64> = run.json["theta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for r in rows {
        let (wgt, apgr) = (number(&r[col(h, "WGT")]), number(&r[col(h, "APGR")]));
        let eta_cl = number(&r[col(h, "IVCL")]);
        let eta_v = number(&r[col(h, "IVV")]);
        // pheno_real.mod: CL = THETA(1)·WGT·EXP(ETA(1)); V = THETA(2)·WGT·(1 + THETA(3) if APGR < 5)·EXP(ETA(2)).
        let cl = theta[0] * wgt * eta_cl.exp();
        let v = theta[1] * wgt * if apgr < 5.0 { 1.0 + theta[2] } else { 1.0 } * eta_v.exp();
        for (name, hand) in [("CL", cl), ("V", v)] {
            let got = number(&r[col(h, name)]);
            assert!((got / hand - 1.0).abs() < 1e-12, "{name}: {got} against {hand}");
        }
    }
}

#[test]
fn patab_eta_equal_the_phi_file() {
    let dir = tempfile::tempdir().unwrap();
    let (patab, phi) = (dir.path().join("patab.csv"), dir.path().join("run.phi"));
    pk(&[
        "popfit",
        &format!("{ROOT}/fixtures/pheno/pheno_real.mod"),
        "--inits-from",
        &format!("{ROOT}/fixtures/pheno/pheno_real.ext"),
        "--evaluate",
        "--patab",
        patab.to_str().unwrap(),
        "--phi",
        phi.to_str().unwrap(),
    ]);
    let (h, rows) = csv(&patab);
    let text = std::fs::read_to_string(&phi).unwrap();
    let phi_rows: Vec<Vec<&str>> = text.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), phi_rows.len());
    for (r, p) in rows.iter().zip(&phi_rows) {
        assert_eq!(number(&r[0]), number(p[1]), "same subject order");
        for (k, name) in ["IVCL", "IVV"].iter().enumerate() {
            let (a, b) = (number(&r[col(&h, name)]), number(p[2 + k]));
            assert!((a - b).abs() <= 1e-8 * b.abs().max(1e-3), "{name}: {a} against {b}");
        }
    }
}

/// `.ext` written by popfit: NONMEM's layout (title line, header, a row per
/// iteration, the −1000000000 final row, SEs, fixed flags), read back by the
/// engine's own `--inits-from` to the same OFV.
#[test]
fn ext_written_by_popfit_reads_back_to_the_same_ofv() {
    let dir = tempfile::tempdir().unwrap();
    let (ext, first, again) = (
        dir.path().join("run.ext"),
        dir.path().join("fit.json"),
        dir.path().join("again.json"),
    );
    let ctl = format!("{ROOT}/fixtures/pheno/pheno_real.mod");
    pk(&[
        "popfit",
        &ctl,
        "--ext",
        ext.to_str().unwrap(),
        "--json",
        first.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&ext).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TABLE NO.     1: First Order Conditional Estimation with Interaction: Goal Function=MINIMUM VALUE OF OBJECTIVE FUNCTION"));
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ITERATION",
            "THETA1",
            "THETA2",
            "THETA3",
            "SIGMA(1,1)",
            "OMEGA(1,1)",
            "OMEGA(2,1)",
            "OMEGA(2,2)",
            "OBJ"
        ]
    );
    let iterations: Vec<i64> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let finals = iterations.iter().position(|&i| i == -1_000_000_000).unwrap();
    assert!(finals >= 2, "iteration rows before the final row");
    assert_eq!(iterations[..finals].to_vec(), (0..finals as i64).collect::<Vec<_>>());
    assert!(iterations.contains(&-1_000_000_001), "standard errors");
    assert_eq!(iterations.last(), Some(&-1_000_000_006));
    // The first iteration row is the control stream's initial estimates.
    let row0: Vec<f64> = lines[2].split_whitespace().skip(1).map(number).collect();
    assert_eq!(row0[..3], [0.00469307, 1.00916, 0.1]);
    pk(&[
        "popfit",
        &ctl,
        "--inits-from",
        ext.to_str().unwrap(),
        "--evaluate",
        "--json",
        again.to_str().unwrap(),
    ]);
    let ofv = |p: &Path| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["ofv"]
            .as_f64()
            .unwrap()
    };
    let (a, b) = (ofv(&first), ofv(&again));
    // The .ext holds 9 significant digits; at the minimum the OFV moves by far less.
    assert!((a - b).abs() < 1e-4, "OFV {a} fitted, {b} read back");
}

/// `--write-model` of a model file: the same file with the estimates as its
/// initial values; evaluated, it gives the fit's OFV.
#[test]
fn write_model_of_a_model_file_evaluates_to_the_fits_ofv() {
    let dir = tempfile::tempdir().unwrap();
    let (fitted, first, again) = (
        dir.path().join("fitted.pk"),
        dir.path().join("fit.json"),
        dir.path().join("again.json"),
    );
    let data = format!("{ROOT}/fixtures/pheno/pheno.csv");
    pk(&[
        "popfit",
        &data,
        "--model",
        "pheno",
        "--no-covariance",
        "--write-model",
        fitted.to_str().unwrap(),
        "--json",
        first.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&fitted).unwrap();
    assert!(text.starts_with("# Estimates of `pk popfit"), "{text}");
    assert!(text.contains("if APGR < 5 {"), "the code is kept: {text}");
    assert!(text.contains("theta PTVCL = 0.0046"), "{text}");
    pk(&[
        "popfit",
        &data,
        "--model",
        fitted.to_str().unwrap(),
        "--evaluate",
        "--json",
        again.to_str().unwrap(),
    ]);
    let ofv = |p: &Path| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["ofv"]
            .as_f64()
            .unwrap()
    };
    let (a, b) = (ofv(&first), ofv(&again));
    // The values are written exactly (shortest round-trip decimals); the OFVs differ by the
    // inner η̂ optimisation's tolerance only (the fit's from warm starts, this one from η = 0:
    // 6e-6 measured).
    assert!((a - b).abs() < 1e-4, "OFV {a} fitted, {b} from the written model");
}

/// `pk fit --prior`: the same sdtab, patab and .phi as popfit, at the prior's
/// values, their η̂ and individual parameters those of the MAP fits in the JSON.
#[test]
fn fit_prior_tables_hold_the_map_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let (json, sdtab, patab, phi) = (
        dir.path().join("map.json"),
        dir.path().join("sdtab.csv"),
        dir.path().join("patab.csv"),
        dir.path().join("map.phi"),
    );
    pk(&[
        "fit",
        &format!("{ROOT}/fixtures/pheno/pheno.csv"),
        "--prior",
        "pheno",
        "--json",
        json.to_str().unwrap(),
        "--table",
        sdtab.to_str().unwrap(),
        "--patab",
        patab.to_str().unwrap(),
        "--phi",
        phi.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (h, rows) = csv(&patab);
    let subjects = doc["subjects"].as_array().unwrap();
    assert_eq!(rows.len(), subjects.len());
    for (r, s) in rows.iter().zip(subjects) {
        assert_eq!(r[0], s["id"].as_str().unwrap());
        for (column, value) in [
            ("eta_cl", &s["etas"]["eta_cl"]["estimate"]),
            ("eta_v", &s["etas"]["eta_v"]["estimate"]),
            ("CL", &s["parameters"]["CL"]["estimate"]),
            ("V", &s["parameters"]["V"]["estimate"]),
        ] {
            let (a, b) = (number(&r[col(&h, column)]), value.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
                "subject {}: {column} {a} against {b}",
                r[0]
            );
        }
    }
    let (h, rows) = csv(&sdtab);
    assert_eq!(rows.len(), 744);
    assert_eq!(rows.iter().filter(|r| r[col(&h, "MDV")] == "0").count(), 155);
    // The .phi: a row per subject, ETA(1) the MAP η̂ of CL.
    let text = std::fs::read_to_string(&phi).unwrap();
    let phi_rows: Vec<Vec<&str>> = text.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(phi_rows.len(), subjects.len());
    for (p, s) in phi_rows.iter().zip(subjects) {
        let (a, b) = (number(p[2]), s["etas"]["eta_cl"]["estimate"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "ETA(1) {a} against {b}");
    }
}

/// TAD counts the ADDL doses of a dose record: clofarabine's subjects get one
/// record with ADDL=4, II=24 (five daily infusions), and are sampled on days
/// 1 and 5.
#[test]
fn time_after_dose_counts_addl_doses() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("sdtab.csv");
    pk(&[
        "popfit",
        &format!("{ROOT}/fixtures/clofarabine/clofarabine_phase2.csv"),
        "--model",
        &format!("{ROOT}/models/clofarabine_bonate2004.pk"),
        "--evaluate",
        "--npde-samples",
        "0",
        "--table",
        table.to_str().unwrap(),
    ]);
    let (h, rows) = csv(&table);
    let (time, tad, mdv) = (col(&h, "TIME"), col(&h, "TAD"), col(&h, "MDV"));
    let mut day5 = 0;
    for r in rows.iter().filter(|r| r[mdv] == "0") {
        let t = number(&r[time]);
        // Doses at 0, 24, 48, 72 and 96 h.
        let expected = t - (24.0 * (t / 24.0).floor()).min(96.0);
        assert!((number(&r[tad]) - expected).abs() < 1e-9, "TIME {t}: TAD {}", r[tad]);
        day5 += usize::from(t > 96.0);
    }
    assert!(day5 > 0, "day-5 samples present");
}
