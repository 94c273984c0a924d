//! `pk fit` with error models the fit has no closed-form derivatives for: the
//! model file's own variances, BFGS and a central-difference Hessian
//! (`Criterion::General`), and censored observations by Beal's M3.

use pk::data::{parse_dataset, read_dataset, Dataset, ReadOptions};
use pk::fit::{fit_subject, Criterion, ErrorSpec, FitOptions, Parameterization, SubjectFit, SubjectProblem};
use pk::model::Model;

const BUNDLED_TWO_CMT: &str = include_str!("../models/two_cmt_iv.pk");

/// models/two_cmt_iv.pk with its error model `prop(prop)` written as `with`.
fn two_cmt_with_error(with: &str) -> Model {
    let text = BUNDLED_TWO_CMT.replace("~ prop(prop)", &format!("~ {with}"));
    assert_ne!(text, BUNDLED_TWO_CMT);
    Model::from_text(&text, "two_cmt_iv_variant.pk").unwrap()
}

fn clofarabine() -> Dataset {
    read_dataset("fixtures/clofarabine/clofarabine_phase2.csv", &ReadOptions::default()).unwrap()
}

fn fit(model: &Model, data: &Dataset) -> SubjectFit {
    let f = fit_subject(model, data, &data.subjects[0], &FitOptions::new()).unwrap();
    assert!(f.converged, "{}", f.message);
    f
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// `power(prop, 1)` is `prop(prop)`: (b·f¹)² = (b·f)². The general path (BFGS,
/// central-difference Hessian) must reach the closed-form path's optimum and
/// standard errors on clofarabine child 1. Tolerances: the optimisers'
/// convergence (1e-5 relative on estimates, 1e-7 on −2LL) and the Hessian's
/// central differences with step 1e-4 (1e-3 on SEs, as in fit_recovery.rs).
#[test]
fn general_error_model_path_equals_the_closed_form_path() {
    let data = clofarabine();
    let power = two_cmt_with_error("power(prop, 1)");
    assert_eq!(
        ErrorSpec::of(&power, None).unwrap().criterion,
        Criterion::General { n_sigma: 1 }
    );
    let (general, closed) = (fit(&power, &data), fit(&Model::load("two_cmt_iv").unwrap(), &data));
    assert!(rel(general.objective.m2ll, closed.objective.m2ll) < 1e-7);
    for (g, c) in general.parameters.iter().zip(&closed.parameters) {
        let (gs, cs) = (g.se.unwrap(), c.se.unwrap());
        eprintln!("{}: {} vs {} (SE {gs} vs {cs})", g.name, g.estimate, c.estimate);
        assert!(rel(g.estimate, c.estimate) < 1e-5, "{}", g.name);
        assert!(rel(gs, cs) < 1e-3, "{} SE", g.name);
    }
}

/// A BLQ sample enters by M3: at the fit, −2LL equals the hand sum of
/// ln 2π + ln R + (y − f)²/R over the observed samples and −2 ln Φ((LLOQ − f)/√R)
/// for the censored one (f, R from the model at the estimates).
#[test]
fn a_censored_sample_enters_by_m3() {
    let text = std::fs::read_to_string("fixtures/clofarabine/clofarabine_phase2.csv").unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let first: Vec<&str> = lines.filter(|l| l.starts_with("1,")).collect();
    let columns: Vec<&str> = header.split(',').collect();
    let (dv, time) = (
        columns.iter().position(|c| *c == "DV").unwrap(),
        columns.iter().position(|c| *c == "TIME").unwrap(),
    );
    // The 24 h sample of day 1 becomes BLQ with LLOQ 20 ng/mL.
    let mut csv = format!("{header},BLQ,LLOQ\n");
    let mut censored_line = 0;
    for (k, l) in first.iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        let blq = f[time] == "24" && f[dv] != ".";
        if blq {
            censored_line = k + 2;
        }
        csv.push_str(&format!("{l},{},20\n", u8::from(blq)));
    }
    assert!(censored_line > 0, "no 24 h sample");
    let data = parse_dataset(&csv, "blq.csv", &ReadOptions::default()).unwrap();
    let model = Model::load("two_cmt_iv").unwrap();
    let f = fit(&model, &data);
    let space = Parameterization::new(&model, &[]).unwrap();
    let problem = SubjectProblem::new(
        &model,
        &data,
        &data.subjects[0],
        ErrorSpec::of(&model, None).unwrap(),
        space,
    )
    .unwrap();
    assert_eq!(problem.criterion(), Criterion::General { n_sigma: 1 });
    let x: Vec<f64> = f.parameters[..4].iter().map(|p| p.estimate.ln()).collect();
    let s = [f.parameters[4].estimate.ln()];
    let (pred, var) = problem.predict_with_variance(&x, &s).unwrap();
    let mut hand = 0.0;
    for ((o, fi), ri) in problem.obs.iter().zip(&pred).zip(&var) {
        hand += if o.censored == 0 {
            (2.0 * std::f64::consts::PI).ln() + ri.ln() + (o.dv - fi).powi(2) / ri
        } else {
            assert_eq!((o.line, o.dv), (censored_line, 20.0));
            -2.0 * pk::lang::program::normal_cdf((o.dv - fi) / ri.sqrt()).ln()
        };
    }
    eprintln!("-2LL {} by hand {hand}", f.objective.m2ll);
    assert!((f.objective.m2ll - hand).abs() < 1e-9 * hand.abs());
}

/// Parent and metabolite (DVID 1 and 2), each with its own proportional
/// error, fitted together by `pk fit`. Data: a 100 mg bolus into the parent;
/// both measured at 8 times; values from the exact solution
/// P(t) = D e^{−kp t}/V, M(t) = D kf/(km − kp)·(e^{−kp t} − e^{−km t})/V
/// (kp 0.3, kf 0.1, km 0.05 1/h, V 10 L), times (1 + 0.03 z) with z from a
/// seeded generator. The fit starts at the file's values (kp 0.5, kf 0.2,
/// km 0.1, V 15) and must return every θ within 5 % of the truth and both σ
/// between 0.015 and 0.06 (16 observations). Measured: KP 0.2985, KF 0.1016,
/// KM 0.0509, V 10.17, σ 0.029 and 0.035.
#[test]
fn parent_and_metabolite_are_fitted_together() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let model = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\n\
         theta KP = 0.5 (0.001, 10)\ntheta KF = 0.2 (0.001, 10)\ntheta KM = 0.1 (0.001, 10)\ntheta V = 15 (0.1, 1000)\n\
         sigma sp ~ 0.01, sm ~ 0.01\n\
         d/dt(parent) = -KP * parent\nd/dt(metab) = KF * parent - KM * metab\n\
         output CP = parent / V ~ prop(sp) dvid=1\noutput CM = metab / V ~ prop(sm) dvid=2",
        "parent_metabolite.pk",
    )
    .unwrap();
    let (kp, kf, km, v) = (0.3f64, 0.1f64, 0.05f64, 10.0f64);
    let parent = |t: f64| 100.0 * (-kp * t).exp() / v;
    let metab = |t: f64| 100.0 * kf / (km - kp) * ((-kp * t).exp() - (-km * t).exp()) / v;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut noise = || 1.0 + 0.03 * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng);
    let mut csv = String::from("ID,TIME,AMT,EVID,MDV,DV,DVID,CMT\n1,0,100,1,1,.,.,1\n");
    for t in [0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 36.0] {
        csv.push_str(&format!("1,{t},0,0,0,{},1,1\n", parent(t) * noise()));
        csv.push_str(&format!("1,{t},0,0,0,{},2,2\n", metab(t) * noise()));
    }
    let data = parse_dataset(&csv, "pm.csv", &ReadOptions::default()).unwrap();
    let f = fit(&model, &data);
    let est = |name: &str| f.parameters.iter().find(|p| p.name == name).unwrap().estimate;
    for (name, truth) in [("KP", kp), ("KF", kf), ("KM", km), ("V", v)] {
        assert!(rel(est(name), truth) < 0.05, "{name} {} vs {truth}", est(name));
    }
    let sigmas: Vec<f64> = f
        .parameters
        .iter()
        .filter(|p| p.name == "sp" || p.name == "sm")
        .map(|p| p.estimate)
        .collect();
    assert_eq!(sigmas.len(), 2, "{:?}", f.parameters);
    for s in sigmas {
        assert!((0.015..0.06).contains(&s), "σ {s}");
    }
    assert_eq!(f.n_obs, 16);
}
