//! NONMEM control streams lowered onto the model language reproduce NONMEM:
//! the objective at NONMEM's final estimates (`.ext`), and the estimates
//! from the control stream's initial values. References: each fixture's
//! SOURCE.md (NONMEM's own `.ext` files).

use pk::nonmem::import::Import;
use pk::population::estimation::{estimate, objective, EstimationOptions, PopulationData};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(case: &str, file: &str) -> Import {
    Import::read(format!("{ROOT}/fixtures/nonmem_runs/{case}/{file}")).unwrap_or_else(|e| panic!("{e}"))
}

/// OFV at NONMEM's final estimates, and NONMEM's OBJ.
fn ofv_at_ext(imp: &Import, ext: &str) -> (f64, f64) {
    let pop = PopulationData::new(&imp.model, &imp.data).unwrap_or_else(|e| panic!("{e}"));
    let v = imp.values_from_ext(ext).unwrap();
    let t = pk::nonmem::read_ext(ext).unwrap();
    let obj = t.last().unwrap().final_estimates().unwrap().objective;
    let e = objective(&imp.model, &pop, &v, imp.lowered.estimation.method, &[]).unwrap_or_else(|e| panic!("{e}"));
    (e.ofv, obj)
}

fn check_ext(case: &str, file: &str, ext: &str, tol: f64) {
    let t0 = std::time::Instant::now();
    let imp = run(case, file);
    let ext = format!("{ROOT}/fixtures/nonmem_runs/{case}/{ext}");
    let (ofv, obj) = ofv_at_ext(&imp, &ext);
    eprintln!(
        "{case}: OFV {ofv:.4} at NONMEM's estimates, NONMEM {obj:.4} ({:.2} s)",
        t0.elapsed().as_secs_f64()
    );
    assert!((ofv - obj).abs() < tol, "{case}: {ofv} vs {obj}");
}

#[test]
fn pheno_real_at_nonmem_estimates() {
    let t0 = std::time::Instant::now();
    let imp = Import::read(format!("{ROOT}/fixtures/pheno/pheno_real.mod")).unwrap_or_else(|e| panic!("{e}"));
    let (ofv, obj) = ofv_at_ext(&imp, &format!("{ROOT}/fixtures/pheno/pheno_real.ext"));
    eprintln!(
        "pheno_real: OFV {ofv:.4}, NONMEM {obj:.4} ({:.2} s)",
        t0.elapsed().as_secs_f64()
    );
    assert!((ofv - obj).abs() < 0.01);
}

#[test]
fn n012_at_nonmem_estimates() {
    check_ext(
        "nlmixr2test_runN012_advan1_infusion",
        "runN012.ctl",
        "runN012.ext",
        0.01,
    );
}

#[test]
fn n049_at_nonmem_estimates() {
    check_ext(
        "nlmixr2test_runN049_advan3_infusion",
        "runN049.ctl",
        "runN049.ext",
        0.01,
    );
}

#[test]
#[ignore = "engine: the MAP estimate of subject 38 does not converge in 200 scoring iterations (population/map.rs); the lowering is not at fault"]
fn n060_at_nonmem_estimates() {
    check_ext("nlmixr2test_runN060_advan4_oral", "runN060.ctl", "runN060.ext", 0.01);
}

#[test]
fn block2_at_nonmem_estimates() {
    check_ext("pharmpy_pheno_wgt_cov_block2", "run2.mod", "run2.ext", 0.01);
}

#[test]
fn iov_at_nonmem_estimates() {
    check_ext("pharmpy_pheno_iov_block_same", "iov.mod", "iov.ext", 0.01);
}

#[test]
#[ignore = "engine: the MAP estimate of subject 38 does not converge in 200 scoring iterations (population/map.rs); the lowering is not at fault"]
fn ode060_at_nonmem_estimates() {
    check_ext(
        "nlmixr2test_runODE060_des_oral2cpt",
        "runODE060.ctl",
        "runODE060.ext",
        0.1,
    );
}

#[test]
fn ode054_at_nonmem_estimates() {
    check_ext(
        "nlmixr2test_runODE054_des_mm_infusion2cpt",
        "runODE054.ctl",
        "runODE054.ext",
        0.1,
    );
}

/// Estimates from the control stream's initial values and compares with
/// NONMEM's final estimates: OFV within 0.1, θ within 1 %, Ω and σ within 5 %
/// (`doubtful`: NONMEM's own optimum is weak; the OFV must be no higher than NONMEM's + 0.1).
fn check_estimate(dir: &str, file: &str, ext: &str, doubtful: bool) {
    let t0 = std::time::Instant::now();
    let imp = Import::read(format!("{ROOT}/{dir}/{file}")).unwrap_or_else(|e| panic!("{e}"));
    let pop = PopulationData::new(&imp.model, &imp.data).unwrap();
    let start = imp.initial_values();
    let options = EstimationOptions {
        method: imp.lowered.estimation.method,
        ..EstimationOptions::default()
    };
    let fit = estimate(&imp.model, &pop, &start, &options).unwrap_or_else(|e| panic!("{e}"));
    let nm = imp.ext_values(format!("{ROOT}/{dir}/{ext}")).unwrap();
    let t = pk::nonmem::read_ext(format!("{ROOT}/{dir}/{ext}")).unwrap();
    let obj = t.last().unwrap().final_estimates().unwrap().objective;
    let got = imp.lowered.parameters.nm_values(&fit.values, &imp.lowered.initial);
    eprintln!(
        "{file}: OFV {:.4} vs NONMEM {obj:.4} ({}, {} evaluations, {:.1} s)\n  θ {:?}\n  NONMEM θ {:?}\n  Ω diag {:?}\n  NONMEM {:?}\n  Σ diag {:?}\n  NONMEM {:?}",
        fit.evaluation.ofv,
        fit.message,
        fit.objective_evaluations,
        t0.elapsed().as_secs_f64(),
        got.theta,
        nm.theta,
        got.omega.diagonal().as_slice(),
        nm.omega.diagonal().as_slice(),
        got.sigma.diagonal().as_slice(),
        nm.sigma.diagonal().as_slice(),
    );
    if doubtful {
        assert!(
            fit.evaluation.ofv <= obj + 0.1,
            "{file}: OFV {} vs {obj}",
            fit.evaluation.ofv
        );
        return;
    }
    assert!(fit.converged, "{}", fit.message);
    assert!(
        (fit.evaluation.ofv - obj).abs() < 0.1,
        "{file}: OFV {} vs {obj}",
        fit.evaluation.ofv
    );
    for (k, (a, b)) in got.theta.iter().zip(&nm.theta).enumerate() {
        assert!((a - b).abs() <= 0.01 * b.abs(), "{file}: θ{} {a} vs {b}", k + 1);
    }
    for (m, n, what) in [(&got.omega, &nm.omega, "Ω"), (&got.sigma, &nm.sigma, "Σ")] {
        for i in 0..m.nrows() {
            for j in 0..=i {
                let (a, b) = (m[(i, j)], n[(i, j)]);
                let scale = (n[(i, i)] * n[(j, j)]).sqrt();
                assert!(
                    (a - b).abs() <= 0.05 * scale,
                    "{file}: {what}({},{}) {a} vs {b}",
                    i + 1,
                    j + 1
                );
            }
        }
    }
}

#[test]
fn pheno_real_estimate() {
    check_estimate("fixtures/pheno", "pheno_real.mod", "pheno_real.ext", false);
}

#[test]
#[ignore = "engine: θ3 (init 0.001, bounds ±0.8696) is scaled by |init| in φ and never moves; from init 0.1 the engine reaches 675.8008 (population/estimation.rs)"]
fn block2_estimate() {
    check_estimate(
        "fixtures/nonmem_runs/pharmpy_pheno_wgt_cov_block2",
        "run2.mod",
        "run2.ext",
        false,
    );
}

#[test]
#[ignore = "engine: the MAP estimate of subject 48 does not converge in 200 scoring iterations during estimation (population/map.rs)"]
fn iov_estimate() {
    check_estimate(
        "fixtures/nonmem_runs/pharmpy_pheno_iov_block_same",
        "iov.mod",
        "iov.ext",
        true,
    );
}

#[test]
fn n012_estimate() {
    check_estimate(
        "fixtures/nonmem_runs/nlmixr2test_runN012_advan1_infusion",
        "runN012.ctl",
        "runN012.ext",
        false,
    );
}

#[test]
fn n049_estimate() {
    check_estimate(
        "fixtures/nonmem_runs/nlmixr2test_runN049_advan3_infusion",
        "runN049.ctl",
        "runN049.ext",
        false,
    );
}

#[test]
#[ignore = "engine: the MAP estimate of subject 38 does not converge in 200 scoring iterations (population/map.rs); the lowering is not at fault"]
fn n060_estimate() {
    check_estimate(
        "fixtures/nonmem_runs/nlmixr2test_runN060_advan4_oral",
        "runN060.ctl",
        "runN060.ext",
        false,
    );
}

/// mrgsolve's nmtests run 1001 (a simulation control stream: ADVAN2 with
/// ALAG2, F2, R2, D2 from data items): the lowered model's IPRED at every
/// record equals NONMEM's printed CP on all 29 dosing scenarios (half a unit
/// of the 5th significant digit; fixtures/nonmem_dosing/SOURCE.md).
#[test]
fn dosing_1001_predictions_equal_nonmem() {
    use pk::model::Values;
    let dir = format!("{ROOT}/fixtures/nonmem_dosing");
    let path = format!("{dir}/dosing_1001.ctl");
    let text = std::fs::read_to_string(&path).unwrap();
    // $SIMULATION is refused (estimation only); the model and its data are what is compared.
    let refused = pk::nonmem::ControlStream::parse(&text, &path)
        .unwrap()
        .ensure_supported()
        .unwrap_err();
    assert!(refused.to_string().contains("$SIMULATION"), "{refused}");
    let cs =
        pk::nonmem::ControlStream::parse(&text.replace("$SIMULATION (2674474) ONLYSIMULATION", ""), &path).unwrap();
    // $DATA names data/1001.csv; the fixture keeps it as dosing_data_1001.csv.
    let imp =
        Import::from_control_with_data(cs, format!("{dir}/dosing_data_1001.csv")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imp.lowered.text.contains("ALAG(central) = ALAG2"),
        "{}",
        imp.lowered.text
    );
    assert!(imp.lowered.text.contains("RATE(central) = R2"), "{}", imp.lowered.text);
    let reference = std::fs::read_to_string(format!("{dir}/dosing_results_1001-nm.csv")).unwrap();
    let nm: Vec<f64> = reference
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    let v0 = imp.initial_values();
    let mut got = Vec::new();
    for s in &imp.data.subjects {
        let sd = imp.model.subject(&imp.data, s).unwrap();
        let v = Values {
            theta: &v0.theta,
            eta: &[],
            kappa: &[],
            sigma_sd: &v0.sigma_sd,
        };
        got.extend(imp.model.predict_records(&sd, &v).unwrap().f);
    }
    assert_eq!(got.len(), nm.len());
    for (k, (g, r)) in got.iter().zip(&nm).enumerate() {
        let tol = if *r == 0.0 {
            1e-9
        } else {
            0.5 * 10f64.powf(r.abs().log10().floor() - 4.0) + 1e-9
        };
        assert!((g - r).abs() <= tol, "row {k}: lowered model {g}, NONMEM {r}");
    }
}
