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
