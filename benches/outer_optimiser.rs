//! The outer optimiser of FOCE-I: the engine's quasi-Newton loop
//! (`population::outer::minimise`) against argmin 0.11's BFGS with a
//! More–Thuente line search, both on the same objective (nlmixr2's
//! Infusion_2CPT, 120 subjects, all 6960 observations, from the starting
//! values of models/two_cmt_pop.pk), with the same central-difference
//! gradient in φ, the same diagonal initial inverse Hessian and the same warm
//! starts of η̂. Each reaches its own end once (printed: OFV, evaluations,
//! why it stopped) and is then timed.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::BFGS;
use criterion::{criterion_group, criterion_main, Criterion};
use pk::data::{read_dataset, ReadOptions};
use pk::model::Model;
use pk::population::estimation::{
    estimate, objective, EstimationOptions, Method, Parameters, PopValues, PopulationData,
};
use std::cell::{Cell, RefCell};
use std::hint::black_box;

/// Step of the central differences in φ (as in `population::outer`).
const STEP: f64 = 1e-4;

/// The FOCE-I objective in φ, warm-starting each η̂ from the best point so far.
struct Foce<'a> {
    model: &'a Model,
    data: &'a PopulationData,
    params: &'a Parameters,
    start: &'a PopValues,
    best: &'a RefCell<(f64, Vec<Vec<f64>>)>,
    evaluations: &'a Cell<usize>,
}

impl Foce<'_> {
    fn ofv(&self, phi: &[f64]) -> f64 {
        self.evaluations.set(self.evaluations.get() + 1);
        let Ok(v) = self.params.values(self.model, self.start, phi) else {
            return f64::INFINITY;
        };
        let starts = self.best.borrow().1.clone();
        match objective(self.model, self.data, &v, Method::FoceI, &starts) {
            Ok(e) => {
                let mut best = self.best.borrow_mut();
                if e.ofv < best.0 {
                    *best = (e.ofv, e.estimates.iter().map(|x| x.eta.clone()).collect());
                }
                e.ofv
            }
            Err(_) => f64::INFINITY,
        }
    }
}

impl CostFunction for Foce<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, phi: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.ofv(phi))
    }
}

impl Gradient for Foce<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, phi: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let mut x = phi.clone();
        let mut g = vec![0.0; phi.len()];
        for j in 0..phi.len() {
            x[j] = phi[j] + STEP;
            let up = self.ofv(&x);
            x[j] = phi[j] - STEP;
            let down = self.ofv(&x);
            x[j] = phi[j];
            g[j] = (up - down) / (2.0 * STEP);
        }
        Ok(g)
    }
}

/// diag(1/∂²OFV/∂φ²) by central differences of step 1e-3 (as in `population::outer`).
fn initial_inverse_hessian(f: &Foce<'_>, phi: &[f64], f0: f64) -> Vec<Vec<f64>> {
    let n = phi.len();
    let mut x = phi.to_vec();
    let h = 1e-3;
    (0..n)
        .map(|j| {
            x[j] = phi[j] + h;
            let up = f.ofv(&x);
            x[j] = phi[j] - h;
            let down = f.ofv(&x);
            x[j] = phi[j];
            let d2 = (up - 2.0 * f0 + down) / (h * h);
            let mut row = vec![0.0; n];
            row[j] = if d2 > 0.0 && d2.is_finite() { 1.0 / d2 } else { 1e-3 };
            row
        })
        .collect()
}

/// argmin's BFGS to its end: (OFV, objective evaluations, why it stopped).
fn argmin_bfgs(model: &Model, data: &PopulationData, start: &PopValues) -> (f64, usize, String) {
    let params = Parameters::of(model);
    let phi0 = params.phi(model, start).unwrap();
    let first = objective(model, data, start, Method::FoceI, &[]).unwrap();
    let best = RefCell::new((first.ofv, first.estimates.iter().map(|e| e.eta.clone()).collect()));
    let evaluations = Cell::new(1);
    let problem = Foce {
        model,
        data,
        params: &params,
        start,
        best: &best,
        evaluations: &evaluations,
    };
    let h0 = initial_inverse_hessian(&problem, &phi0, first.ofv);
    let solver = BFGS::new(MoreThuenteLineSearch::new())
        .with_tolerance_grad(1e-3)
        .unwrap()
        .with_tolerance_cost(1e-9)
        .unwrap();
    let result = Executor::new(problem, solver)
        .configure(|s| s.param(phi0).inv_hessian(h0).max_iters(200))
        .run();
    let evaluations = evaluations.get();
    match result {
        Ok(r) => {
            let state = r.state();
            (
                state.get_best_cost(),
                evaluations,
                format!(
                    "{:?} after {} iterations",
                    state.get_termination_status(),
                    state.get_iter()
                ),
            )
        }
        Err(e) => (best.borrow().0, evaluations, format!("error: {e}")),
    }
}

fn outer(c: &mut Criterion) {
    let model = Model::load("models/two_cmt_pop.pk").unwrap();
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options).unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    let start = PopValues::initial(&model);
    let own = estimate(&model, &pop, &start, &EstimationOptions::default()).unwrap();
    eprintln!(
        "engine quasi-Newton: OFV {:.4}, {} objective evaluations, {}",
        own.evaluation.ofv, own.objective_evaluations, own.message
    );
    let (ofv, evaluations, why) = argmin_bfgs(&model, &pop, &start);
    eprintln!("argmin BFGS + More–Thuente: OFV {ofv:.4}, {evaluations} objective evaluations, {why}");
    eprintln!("NONMEM 7 (nlmixr2 validation run): OFV 64970.572");
    let mut group = c.benchmark_group("outer_optimiser");
    group.sample_size(10);
    group.bench_function("infusion_2cpt_focei_engine_quasi_newton", |b| {
        b.iter(|| {
            black_box(
                estimate(&model, &pop, &start, &EstimationOptions::default())
                    .unwrap()
                    .evaluation
                    .ofv,
            )
        })
    });
    group.bench_function("infusion_2cpt_focei_argmin_bfgs", |b| {
        b.iter(|| black_box(argmin_bfgs(&model, &pop, &start).0))
    });
    group.finish();
}

criterion_group!(benches, outer);
criterion_main!(benches);
