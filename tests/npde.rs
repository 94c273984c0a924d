//! NPDE (by simulation with decorrelation) and CWRES in `pk popfit --table`
//! on data simulated from the model that is fitted (nlmixr2's Infusion_2CPT
//! and Bolus_2CPT with `models/two_cmt_pop.pk`): issue 16 asks for means
//! within ±0.1 and SDs within 0.9–1.1. Measured (seed 5, 1000 simulations per
//! subject): Infusion CWRES 0.019 / 1.000, NPDE 0.002 / 1.018; Bolus CWRES
//! 0.013 / 1.000, NPDE 0.001 / 1.018.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The CWRES and NPDE columns of the table of a fit of `data`.
fn residuals(data: &str, seed: &str, dir: &std::path::Path) -> (Vec<f64>, Vec<f64>, String) {
    let table = dir.join(format!("{data}_{seed}.csv"));
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "popfit",
            &format!("{ROOT}/fixtures/nlmixr2/{data}.csv"),
            "--model",
            &format!("{ROOT}/models/two_cmt_pop.pk"),
            "--drop",
            "SS,II",
            "--no-covariance",
            "--seed",
            seed,
            "--table",
            table.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&table).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c, n, mdv) = (col("CWRES"), col("NPDE"), col("MDV"));
    let mut cwres = Vec::new();
    let mut npde = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f[mdv] != "0" {
            continue; // dose records: no residuals
        }
        cwres.push(f[c].parse().unwrap());
        npde.push(f[n].parse().unwrap());
    }
    (cwres, npde, text)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
    (m, sd)
}

#[test]
fn cwres_and_npde_are_standard_normal_on_data_from_the_model() {
    let dir = tempfile::tempdir().unwrap();
    for data in ["Infusion_2CPT", "Bolus_2CPT"] {
        let (cwres, npde, _) = residuals(data, "5", dir.path());
        assert_eq!(cwres.len(), 6960);
        for (name, v) in [("CWRES", &cwres), ("NPDE", &npde)] {
            let (m, sd) = mean_sd(v);
            eprintln!("{data} {name}: mean {m:.4}, SD {sd:.4}");
            assert!(
                m.abs() < 0.1 && (0.9..=1.1).contains(&sd),
                "{data} {name}: mean {m}, SD {sd}"
            );
        }
    }
}

#[test]
fn npde_depend_on_the_seed_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a, ta) = residuals("Infusion_2CPT", "7", dir.path());
    let (_, _, tb) = residuals("Infusion_2CPT", "7", dir.path());
    let (_, c, _) = residuals("Infusion_2CPT", "8", dir.path());
    assert_eq!(ta, tb);
    assert_ne!(a, c);
    // TAD: Infusion_2CPT doses at 0, 72, 96, …, 216 h (fixtures/nlmixr2/SOURCE.md),
    // so subject 1's samples at 152 h and 252 h are 8 h and 36 h after a dose; BLQ 0.
    for (time, tad) in [("152", "8"), ("252", "36")] {
        let row = ta
            .lines()
            .find(|l| l.starts_with(&format!("1,{time},")))
            .unwrap_or_else(|| panic!("no sample at {time} h"));
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f[2], tad, "{row}");
        assert_eq!(*f.last().unwrap(), "0", "{row}");
    }
}
