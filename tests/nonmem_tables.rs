//! `$TABLE` files of a control stream (`pk popfit RUN.ctl --tables DIR`):
//! NONMEM's layout, the listed items in order, NOAPPEND/FIRSTONLY/ONEHEADER,
//! and values against hand calculations on the phenobarbital run at NONMEM's
//! final estimates (pheno_real.ext, NONMEM 7).

use std::path::Path;
use std::process::Command;

const PHENO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pheno");

/// The pheno control stream with `tables` in place of its `$TABLE`, with its
/// data, in a fresh directory.
fn pheno_with(tables: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ctl = std::fs::read_to_string(format!("{PHENO}/pheno_real.mod")).unwrap();
    let ctl: String = ctl
        .lines()
        .filter(|l| !l.starts_with("$TABLE"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + tables;
    std::fs::write(dir.path().join("run.mod"), ctl).unwrap();
    std::fs::copy(format!("{PHENO}/pheno.dta"), dir.path().join("pheno.dta")).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    dir
}

/// Runs `pk popfit run.mod --inits-from pheno_real.ext --evaluate --tables out`
/// plus `extra`; (stdout, stderr).
fn popfit(dir: &Path, extra: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .arg("popfit")
        .arg(dir.join("run.mod"))
        .args([
            "--inits-from",
            &format!("{PHENO}/pheno_real.ext"),
            "--evaluate",
            "--tables",
        ])
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
}

/// The header and rows of a table file with one header.
fn read_table(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("TABLE NO.  1"));
    let header: Vec<String> = lines.next().unwrap().split_whitespace().map(str::to_string).collect();
    let rows = lines
        .map(|l| {
            // Fields are 12 characters wide.
            assert_eq!(l.len(), 12 * header.len(), "{l}");
            l.split_whitespace().map(|v| v.parse().unwrap()).collect()
        })
        .collect();
    (header, rows)
}

/// θ from the final row of NONMEM's .ext.
fn nonmem_theta() -> Vec<f64> {
    let tables = pk::nonmem::read_ext(format!("{PHENO}/pheno_real.ext")).unwrap();
    tables.last().unwrap().final_estimates().unwrap().theta
}

#[test]
fn items_in_order_with_predictions_as_by_hand() {
    let dir = pheno_with(
        "$TABLE ID TIME DV AMT WGT APGR CL V ETA1 ETA(2) IPRED PRED RES CWRES TAD NOAPPEND ONEHEADER FILE=sdtab1\n",
    );
    popfit(dir.path(), &[]);
    let (header, rows) = read_table(&dir.path().join("out/sdtab1"));
    assert_eq!(
        header,
        [
            "ID", "TIME", "DV", "AMT", "WGT", "APGR", "CL", "V", "ETA1", "ETA(2)", "IPRED", "PRED", "RES", "CWRES",
            "TAD"
        ]
    );
    // One row per data record (744 records in pheno.dta after its header).
    assert_eq!(rows.len(), 744);
    let th = nonmem_theta();
    // Subject 1 (WGT 1.4, APGR 7): 25 mg at 0, 3.5 mg every 12 h from 12.5 h; DV 17.3 at 2 h.
    // PRED by hand: one compartment, CL = θ1·WGT, V = θ2·WGT, C = Σ dose/V·e^{−CL/V·(t−tdose)}.
    let (cl, v) = (th[0] * 1.4, th[1] * 1.4);
    let c = |doses: &[(f64, f64)], t: f64| -> f64 {
        doses
            .iter()
            .filter(|(td, _)| *td <= t)
            .map(|(td, a)| a / v * (-(cl / v) * (t - td)).exp())
            .sum()
    };
    let r = &rows[1];
    assert_eq!((r[0], r[1], r[2]), (1.0, 2.0, 17.3));
    let pred = c(&[(0.0, 25.0)], 2.0);
    assert!(
        (r[11] - pred).abs() <= 5e-5 * pred,
        "PRED {} against {pred} by hand",
        r[11]
    );
    // RES = DV − PRED (as printed, to 5 digits).
    assert!((r[12] - (17.3 - r[11])).abs() <= 1e-3, "RES {}", r[12]);
    // IPRED from the tabled CL and V with the tabled η: CL = θ1·WGT·e^{η1}, V = θ2·WGT·e^{η2}.
    let (eta1, eta2) = (r[8], r[9]);
    assert!((r[6] - cl * eta1.exp()).abs() <= 1e-4 * r[6], "CL {}", r[6]);
    assert!((r[7] - v * eta2.exp()).abs() <= 1e-4 * r[7], "V {}", r[7]);
    let ipred = 25.0 / r[7] * (-(r[6] / r[7]) * 2.0).exp();
    assert!((r[10] - ipred).abs() <= 2e-4 * ipred, "IPRED {} against {ipred}", r[10]);
    // Dose records: residuals 0, TAD 0 at the dose, time since the last dose after it.
    assert_eq!((rows[0][12], rows[0][13], rows[0][14]), (0.0, 0.0, 0.0));
    assert_eq!(r[14], 2.0);
    // The record after the second dose (12.5 h): TAD counts from it.
    let after = rows.iter().find(|x| x[0] == 1.0 && x[1] > 12.5 && x[3] == 0.0).unwrap();
    assert!((after[14] - (after[1] - 12.5)).abs() < 1e-9 || after[1] > 24.5);
}

#[test]
fn appended_columns_firstonly_and_items_left_out_are_said() {
    let dir = pheno_with("$TABLE ID CL NPDE FIRSTONLY ONEHEADER FILE=patab\n");
    let (_, stderr) = popfit(dir.path(), &[]);
    assert!(stderr.contains("NPDE is left out of the table"), "{stderr}");
    let (header, rows) = read_table(&dir.path().join("out/patab"));
    // DV PRED RES WRES appended (no NOAPPEND), NPDE left out.
    assert_eq!(header, ["ID", "CL", "DV", "PRED", "RES", "WRES"]);
    // One row per individual.
    assert_eq!(rows.len(), 59);
    let ids: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(ids, (1..=59).map(f64::from).collect::<Vec<_>>());
}

/// NONMEM's WRES of subject 1 by hand: the FO linearisation at η = 0,
/// C = G Ω Gᵀ + diag(σ²·F²) (Y = F + F·EPS(1)). For one compartment, F = Σ dose/V·e^{−kτ},
/// ∂F/∂η1 = Σ dose/V·e^{−kτ}·(−kτ) (CL = TVCL·e^{η1}) and
/// ∂F/∂η2 = Σ dose/V·e^{−kτ}·(kτ − 1) (V = TVV·e^{η2}). NONMEM decorrelates
/// with the symmetric inverse square root C^{−1/2} (its listing's
/// `WRESCHOL=EIGENVALUE`), not a Cholesky factor: WRES = C^{−1/2}(y − F).
#[test]
fn wres_of_subject_1_as_by_hand() {
    let dir = pheno_with("$TABLE ID TIME DV WRES NOAPPEND ONEHEADER FILE=sdtab\n");
    popfit(dir.path(), &[]);
    let (_, rows) = read_table(&dir.path().join("out/sdtab"));
    let tables = pk::nonmem::read_ext(format!("{PHENO}/pheno_real.ext")).unwrap();
    let e = tables.last().unwrap().final_estimates().unwrap();
    let (th, om1, om2, s2) = (&e.theta, e.omega[&(1, 1)], e.omega[&(2, 2)], e.sigma[&(1, 1)]);
    // Subject 1 of pheno.dta: its doses and observations.
    let data = std::fs::read_to_string(format!("{PHENO}/pheno.dta")).unwrap();
    let recs: Vec<Vec<f64>> = data
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect::<Vec<f64>>())
        .filter(|r| r[0] == 1.0)
        .collect();
    let doses: Vec<(f64, f64)> = recs.iter().filter(|r| r[2] > 0.0).map(|r| (r[1], r[2])).collect();
    let obs: Vec<(f64, f64)> = recs.iter().filter(|r| r[5] > 0.0).map(|r| (r[1], r[5])).collect();
    let (cl, v) = (th[0] * 1.4, th[1] * 1.4);
    let k = cl / v;
    let mut f = Vec::new();
    let mut g = Vec::new();
    for &(t, _) in &obs {
        let (mut fi, mut g1, mut g2) = (0.0, 0.0, 0.0);
        for &(td, a) in doses.iter().filter(|(td, _)| *td <= t) {
            let tau = t - td;
            let c = a / v * (-k * tau).exp();
            fi += c;
            g1 += c * (-k * tau);
            g2 += c * (k * tau - 1.0);
        }
        f.push(fi);
        g.push((g1, g2));
    }
    // C (2×2), its eigenvalues λ± and unit eigenvectors (b, λ − a)/‖·‖.
    let c = |i: usize, j: usize| {
        g[i].0 * g[j].0 * om1 + g[i].1 * g[j].1 * om2 + if i == j { s2 * f[i] * f[i] } else { 0.0 }
    };
    let (a, b, d) = (c(0, 0), c(1, 0), c(1, 1));
    let (mid, half) = ((a + d) / 2.0, (((a - d) / 2.0).powi(2) + b * b).sqrt());
    let (r1, r2) = (obs[0].1 - f[0], obs[1].1 - f[1]);
    let (mut w1, mut w2) = (0.0, 0.0);
    for lambda in [mid + half, mid - half] {
        let (v1, v2) = (b, lambda - a);
        let norm = (v1 * v1 + v2 * v2).sqrt();
        let (v1, v2) = (v1 / norm, v2 / norm);
        // C^{−1/2} = Σ λ^{−1/2} v vᵀ
        let along = (v1 * r1 + v2 * r2) / lambda.sqrt();
        w1 += along * v1;
        w2 += along * v2;
    }
    let tabled: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == 1.0 && r[2] != 0.0)
        .map(|r| r[3])
        .collect();
    assert_eq!(tabled.len(), 2);
    for (got, want) in tabled.iter().zip([w1, w2]) {
        // 5 printed digits; the engine's G is a central difference (≈1e-8 relative).
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(0.1),
            "WRES {got} against {want} by hand"
        );
    }
}

#[test]
fn header_repeats_every_900_rows_without_oneheader_and_tables_share_a_file() {
    let dir = pheno_with("$TABLE ID TIME NOAPPEND FILE=both\n$TABLE ID NOAPPEND FIRSTONLY NOHEADER FILE=both\n");
    popfit(dir.path(), &[]);
    let text = std::fs::read_to_string(dir.path().join("out/both")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // 744 rows and one header (fewer than 900 rows), then 59 rows without a header.
    assert_eq!(lines.len(), 2 + 744 + 59);
    assert_eq!(lines.iter().filter(|l| l.starts_with("TABLE NO.")).count(), 1);
}

#[test]
fn tables_are_not_written_without_the_flag_and_a_missing_directory_is_refused() {
    let dir = pheno_with("$TABLE ID TIME NOAPPEND FILE=sdtab1\n");
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .arg("popfit")
        .arg(dir.path().join("run.mod"))
        .args(["--evaluate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("$TABLE (line") && stderr.contains("FILE=sdtab1) is not written: add --tables DIR"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .arg("popfit")
        .arg(dir.path().join("run.mod"))
        .args(["--evaluate", "--tables"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no such directory"), "{stderr}");
}
