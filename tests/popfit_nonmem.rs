//! FOCE-I of language models against NONMEM: the objective at NONMEM's own
//! final estimates, and the engine's optimum. References: fixtures/pheno/SOURCE.md
//! (pharmpy's pheno_real.ext, NONMEM FOCE-I) and fixtures/nlmixr2/SOURCE.md
//! (NONMEM 7.4.3 FOCE-I runs of nlmixr2test).

use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::model::Model;
use pk::population::estimation::{estimate, objective, EstimationOptions, Method, PopValues, PopulationData};

fn pheno_data() -> Dataset {
    read_dataset("fixtures/pheno/pheno.csv", &ReadOptions::default()).unwrap()
}

/// pheno_real.ext, final row (NONMEM 7.4.4 FOCE-I).
fn pheno_at_nonmem(model: &Model) -> PopValues {
    let mut v = PopValues::initial(model);
    v.theta = vec![4.69555e-03, 9.84258e-01, 1.58920e-01];
    v.omega[(0, 0)] = 2.93508e-02;
    v.omega[(1, 1)] = 2.79060e-02;
    v.sigma_sd = vec![1.32410e-02f64.sqrt()];
    v
}

#[test]
fn pheno_ofv_at_nonmem_estimates() {
    let model = Model::load("models/pheno.pk").unwrap();
    let data = pheno_data();
    let pop = PopulationData::new(&model, &data).unwrap();
    assert_eq!(pop.n_obs, 155);
    let e = objective(&model, &pop, &pheno_at_nonmem(&model), Method::FoceI, &[]).unwrap();
    eprintln!("pheno OFV at NONMEM's estimates: {:.6}", e.ofv);
    assert!((e.ofv - 586.27605628).abs() < 0.01, "OFV {}", e.ofv);
}

fn infusion_at_nonmem(model: &Model, theta: [f64; 4], sigma: f64, omega2: [f64; 4]) -> PopValues {
    let mut v = PopValues::initial(model);
    for k in 0..4 {
        v.theta[k] = theta[k].exp();
        v.omega[(k, k)] = omega2[k];
    }
    v.sigma_sd = vec![sigma];
    v
}

fn infusion_data(single_dose: bool) -> Dataset {
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options).unwrap();
    if single_dose {
        data.accept("SD", 1.0).unwrap()
    } else {
        data
    }
}

#[test]
fn infusion_2cpt_ofv_at_nonmem_estimates() {
    let model = Model::load("models/two_cmt_pop.pk").unwrap();
    let all = infusion_at_nonmem(
        &model,
        [1.3620, 4.2231, 1.3442, 3.9249],
        0.20292,
        [0.0895, 0.0928, 0.1118, 0.1097],
    );
    let data = infusion_data(false);
    let pop = PopulationData::new(&model, &data).unwrap();
    assert_eq!(pop.n_obs, 6960);
    let e = objective(&model, &pop, &all, Method::FoceI, &[]).unwrap();
    eprintln!("Infusion_2CPT all data, OFV at NONMEM's estimates: {:.4}", e.ofv);
    let sd = infusion_at_nonmem(
        &model,
        [1.3861, 4.2281, 1.3261, 3.9086],
        0.19620,
        [0.0903, 0.0924, 0.1024, 0.0866],
    );
    let data1 = infusion_data(true);
    let pop1 = PopulationData::new(&model, &data1).unwrap();
    assert_eq!(pop1.n_obs, 2280);
    let e1 = objective(&model, &pop1, &sd, Method::FoceI, &[]).unwrap();
    eprintln!("Infusion_2CPT single dose, OFV at NONMEM's estimates: {:.4}", e1.ofv);
    assert!((e.ofv - 64970.572).abs() < 0.01, "OFV {}", e.ofv);
    assert!((e1.ofv - 19699.927).abs() < 0.01, "OFV {}", e1.ofv);
}

/// The same model as user ODEs, integrated numerically, gives the same
/// objective at NONMEM's estimates (single-dose part, 2280 observations).
/// (By default the engine recognises these ODEs as the two-compartment
/// kernel; `integrated_numerically` keeps the integrator under test.)
#[test]
fn ode_twin_gives_nonmem_ofv() {
    let model = Model::load("models/two_cmt_pop_ode.pk")
        .unwrap()
        .integrated_numerically();
    let sd = infusion_at_nonmem(
        &model,
        [1.3861, 4.2281, 1.3261, 3.9086],
        0.19620,
        [0.0903, 0.0924, 0.1024, 0.0866],
    );
    let data = infusion_data(true);
    let pop = PopulationData::new(&model, &data).unwrap();
    let e = objective(&model, &pop, &sd, Method::FoceI, &[]).unwrap();
    eprintln!(
        "Infusion_2CPT single dose, ODE model, OFV at NONMEM's estimates: {:.4}",
        e.ofv
    );
    assert!((e.ofv - 19699.927).abs() < 0.05, "OFV {}", e.ofv);
}

#[test]
fn pheno_estimate_reaches_nonmem_optimum() {
    let model = Model::load("models/pheno.pk").unwrap();
    let data = pheno_data();
    let pop = PopulationData::new(&model, &data).unwrap();
    let fit = estimate(&model, &pop, &PopValues::initial(&model), &EstimationOptions::default()).unwrap();
    eprintln!(
        "pheno: OFV {:.6} converged {} ({}), {} iterations, {} evaluations; θ {:?} Ω {} {} σ² {}",
        fit.evaluation.ofv,
        fit.converged,
        fit.message,
        fit.iterations,
        fit.objective_evaluations,
        fit.values.theta,
        fit.values.omega[(0, 0)],
        fit.values.omega[(1, 1)],
        fit.values.sigma_sd[0].powi(2)
    );
    assert!(fit.converged, "{}", fit.message);
    assert!(
        (fit.evaluation.ofv - 586.27605628).abs() < 0.05,
        "OFV {}",
        fit.evaluation.ofv
    );
    // NONMEM: θ 4.69555e-3, 9.84258e-1, 1.58920e-1.
    for (got, want) in fit.values.theta.iter().zip([4.69555e-03, 9.84258e-01, 1.58920e-01]) {
        assert!((got / want - 1.0).abs() < 0.01, "θ {got} vs {want}");
    }
}

fn check_against_nonmem(single_dose: bool, theta: [f64; 4], sigma: f64, omega2: [f64; 4], ofv: f64) {
    let model = Model::load("models/two_cmt_pop.pk").unwrap();
    let data = infusion_data(single_dose);
    let pop = PopulationData::new(&model, &data).unwrap();
    let fit = estimate(&model, &pop, &PopValues::initial(&model), &EstimationOptions::default()).unwrap();
    let label = if single_dose { "single dose" } else { "all data" };
    let v = &fit.values;
    eprintln!(
        "{label}: OFV {:.4} ({}), {} evaluations; log θ {:?} ω² {:?} σ {}",
        fit.evaluation.ofv,
        fit.message,
        fit.objective_evaluations,
        v.theta.iter().map(|t| t.ln()).collect::<Vec<_>>(),
        (0..4).map(|k| v.omega[(k, k)]).collect::<Vec<_>>(),
        v.sigma_sd[0]
    );
    assert!(fit.converged, "{}", fit.message);
    assert!(
        (fit.evaluation.ofv - ofv).abs() < 0.1,
        "{label}: OFV {} vs {ofv}",
        fit.evaluation.ofv
    );
    for k in 0..4 {
        let log_theta = v.theta[k].ln();
        assert!(
            (log_theta - theta[k]).abs() < 0.01,
            "{label}: log θ{} {log_theta} vs {}",
            k + 1,
            theta[k]
        );
        let w = v.omega[(k, k)];
        assert!(
            (w / omega2[k] - 1.0).abs() < 0.10,
            "{label}: ω²{} {w} vs {}",
            k + 1,
            omega2[k]
        );
    }
    let s = v.sigma_sd[0];
    assert!((s / sigma - 1.0).abs() < 0.02, "{label}: σ {s} vs {sigma}");
}

#[test]
fn infusion_2cpt_all_data_estimate_matches_nonmem() {
    check_against_nonmem(
        false,
        [1.3620, 4.2231, 1.3442, 3.9249],
        0.20292,
        [0.0895, 0.0928, 0.1118, 0.1097],
        64970.572,
    );
}

#[test]
fn infusion_2cpt_single_dose_estimate_matches_nonmem() {
    check_against_nonmem(
        true,
        [1.3861, 4.2281, 1.3261, 3.9086],
        0.19620,
        [0.0903, 0.0924, 0.1024, 0.0866],
        19699.927,
    );
}

#[test]
fn a_failed_evaluation_names_the_subject() {
    // With CL 10^12 L/h/kg every prediction underflows to 0: the proportional
    // variance is 0 and no η can be estimated for the first subject.
    let model = Model::load("models/pheno.pk").unwrap();
    let mut v = PopValues::initial(&model);
    v.theta[0] = 1e12;
    let data = pheno_data();
    let pop = PopulationData::new(&model, &data).unwrap();
    let e = objective(&model, &pop, &v, Method::FoceI, &[]).unwrap_err().to_string();
    assert!(
        e.starts_with("subject ") && e.contains("the model cannot be evaluated"),
        "{e}"
    );
}

#[test]
fn a_full_omega_block_is_estimated() {
    // pheno with a CL–V correlation: one more parameter, so the optimum can only be
    // at or below the diagonal model's OFV (586.2761), and Ω stays positive definite.
    let text = std::fs::read_to_string("models/pheno.pk").unwrap().replace(
        "omega eta_cl ~ 0.0309626, eta_v ~ 0.031128",
        "omega block(2) eta_cl, eta_v ~ {0.0309626, 0.003, 0.031128}",
    );
    let model = Model::from_text(&text, "pheno_block.pk").unwrap();
    let data = pheno_data();
    let pop = PopulationData::new(&model, &data).unwrap();
    let fit = estimate(&model, &pop, &PopValues::initial(&model), &EstimationOptions::default()).unwrap();
    let w = &fit.values.omega;
    let r = w[(1, 0)] / (w[(0, 0)] * w[(1, 1)]).sqrt();
    eprintln!(
        "block: OFV {:.4}, ω² {:.5} {:.5}, correlation {r:.3}",
        fit.evaluation.ofv,
        w[(0, 0)],
        w[(1, 1)]
    );
    assert!(fit.converged, "{}", fit.message);
    assert!(fit.evaluation.ofv <= 586.2761 + 1e-3, "OFV {}", fit.evaluation.ofv);
    assert!(r.abs() < 1.0 && w[(0, 1)] == w[(1, 0)]);
}
