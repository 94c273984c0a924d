//! NONMEM's result files written by `pk popfit`: `.phi` (per subject η̂,
//! their conditional covariance ETC and OBJ) for control streams (incl.
//! `$OMEGA BLOCK SAME`) and model files, and `.ext` for model files (θ, Σ,
//! Ω numbered in declaration order), read back with the engine's `.ext` reader
//! and checked against the JSON of the same run.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn pk(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
}

/// The header and the rows (after SUBJECT_NO and ID) of a `.phi` file.
fn read_phi(path: &std::path::Path) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("TABLE NO.     1: "));
    let header: Vec<String> = lines.next().unwrap().split_whitespace().map(String::from).collect();
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[2..].iter().map(|x| x.parse().unwrap()).collect())
        })
        .collect();
    (header, rows)
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn phi_of_a_control_stream_sums_to_the_ofv() {
    let dir = tempfile::tempdir().unwrap();
    let phi = dir.path().join("run.phi");
    let out = dir.path().join("run.json");
    pk(&[
        "popfit",
        &format!("{ROOT}/fixtures/pheno/pheno_real.mod"),
        "--inits-from",
        &format!("{ROOT}/fixtures/pheno/pheno_real.ext"),
        "--evaluate",
        "--phi",
        phi.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let (header, rows) = read_phi(&phi);
    assert_eq!(
        header,
        [
            "SUBJECT_NO",
            "ID",
            "ETA(1)",
            "ETA(2)",
            "ETC(1,1)",
            "ETC(2,1)",
            "ETC(2,2)",
            "OBJ"
        ]
    );
    assert_eq!(rows.len(), 59);
    let doc = json(&out);
    let ofv = doc["ofv"].as_f64().unwrap();
    let sum: f64 = rows.iter().map(|(_, r)| r[5]).sum();
    assert!((sum - ofv).abs() < 1e-5, "Σ OBJ {sum} vs OFV {ofv}");
    let etas = doc["etas"].as_array().unwrap();
    for ((id, r), e) in rows.iter().zip(etas) {
        assert_eq!(e["id"].as_str().unwrap(), id);
        let values: Vec<f64> = e
            .as_object()
            .unwrap()
            .values()
            .skip(1)
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            (values[0] - r[0]).abs() < 1e-8 && (values[1] - r[1]).abs() < 1e-8,
            "{id}"
        );
        // A conditional covariance: positive variances, |correlation| < 1.
        assert!(r[2] > 0.0 && r[4] > 0.0 && r[3] * r[3] < r[2] * r[4], "{id}: {r:?}");
    }
}

/// `$OMEGA BLOCK(2) SAME`: ETA(3..4) and ETA(5..6) are the κ of occasions 1
/// and 2; the columns follow `$OMEGA`'s dimension.
#[test]
fn phi_of_a_block_same_control_stream_has_every_eta() {
    let dir = tempfile::tempdir().unwrap();
    let phi = dir.path().join("iov.phi");
    let run = format!("{ROOT}/fixtures/nonmem_runs/pharmpy_pheno_iov_block_same");
    pk(&[
        "popfit",
        &format!("{run}/iov.mod"),
        "--inits-from",
        &format!("{run}/iov.ext"),
        "--evaluate",
        "--phi",
        phi.to_str().unwrap(),
    ]);
    let (header, rows) = read_phi(&phi);
    let etas: Vec<&String> = header.iter().filter(|h| h.starts_with("ETA(")).collect();
    assert_eq!(etas.len(), 6, "{header:?}");
    assert_eq!(header.iter().filter(|h| h.starts_with("ETC(")).count(), 21);
    // Some subject has a non-zero κ on both occasions.
    assert!(rows.iter().any(|(_, r)| r[2] != 0.0 && r[4] != 0.0));
}

/// A model file's `.ext`: the final row equals the JSON's estimates, the SE
/// row its SEs (NONMEM's 1e10 where not estimated), the fixed flags 0 for
/// estimated elements; and its `.phi` has one row per subject.
#[test]
fn ext_and_phi_of_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let ext = dir.path().join("pheno.ext");
    let phi = dir.path().join("pheno.phi");
    let out = dir.path().join("pheno.json");
    pk(&[
        "popfit",
        &format!("{ROOT}/fixtures/pheno/pheno.csv"),
        "--model",
        &format!("{ROOT}/models/pheno.pk"),
        "--ext",
        ext.to_str().unwrap(),
        "--phi",
        phi.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let doc = json(&out);
    let tables = pk::nonmem::read_ext(&ext).unwrap();
    let table = tables.last().unwrap();
    let fin = table.final_estimates().unwrap();
    let se = table.standard_errors().unwrap();
    for k in 0..3 {
        let want = doc["theta"][k].as_f64().unwrap();
        assert!((fin.theta[k] / want - 1.0).abs() < 1e-8, "THETA{}", k + 1);
        let want_se = doc["se"]["theta"][k].as_f64().unwrap();
        assert!((se.theta[k] / want_se - 1.0).abs() < 1e-8, "SE THETA{}", k + 1);
    }
    assert!((fin.omega[&(1, 1)] / doc["omega"][0][0].as_f64().unwrap() - 1.0).abs() < 1e-8);
    assert!((fin.omega[&(2, 2)] / doc["omega"][1][1].as_f64().unwrap() - 1.0).abs() < 1e-8);
    assert_eq!(se.omega[&(2, 1)], 1e10, "OMEGA(2,1) is not estimated");
    let (_, rows) = read_phi(&phi);
    assert_eq!(rows.len(), 59);
}

/// η- and ε-shrinkage (SD-based) at NONMEM's estimates against the same
/// runs' `.lst` (ETASHRINKSD, EPSSHRINKSD): pharmpy's pheno run2 (34.786%,
/// 1.9561%; ε 25.632%) and iov (between-subject η 50.742%, 50.765%; ε 26.262%).
#[test]
fn shrinkage_equals_nonmem() {
    let dir = tempfile::tempdir().unwrap();
    for (run, etas, eps) in [
        ("pharmpy_pheno_wgt_cov_block2/run2", [0.34786, 0.019561], 0.25632),
        ("pharmpy_pheno_iov_block_same/iov", [0.50742, 0.50765], 0.26262),
    ] {
        let out = dir.path().join("s.json");
        let base = format!("{ROOT}/fixtures/nonmem_runs/{run}");
        pk(&[
            "popfit",
            &format!("{base}.mod"),
            "--inits-from",
            &format!("{base}.ext"),
            "--evaluate",
            "--json",
            out.to_str().unwrap(),
        ]);
        let doc = json(&out);
        let got_eps = doc["eps_shrinkage"].as_f64().unwrap();
        assert!(
            (got_eps - eps).abs() < 1e-3,
            "{run}: ε-shrinkage {got_eps} vs NONMEM {eps}"
        );
        let got: Vec<f64> = doc["eta_shrinkage"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (g, w) in got.iter().zip(etas) {
            assert!((g - w).abs() < 1e-3, "{run}: η-shrinkage {got:?} vs NONMEM {etas:?}");
        }
    }
}
