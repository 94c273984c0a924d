//! Local optimisation of one subject from one start.
//!
//! - Least-squares forms go to Levenberg–Marquardt (the `levenberg-marquardt`
//!   crate, a port of MINPACK's lmder) with a forward-difference Jacobian:
//!   WLS with weights 1, 1/y, 1/y²; WLS with weights 1/f, 1/f² by iterative
//!   reweighting (weights from the previous predictions, as WinNonlin does);
//!   the additive likelihood, whose σ profiles out (σ̂² = SS/n); and the
//!   proportional likelihood, whose σ also profiles out (σ̂² = Σ((y−f)/f)²/n),
//!   leaving −2LL = n ln 2π + n + n ln σ̂² + 2Σ ln f, which is minimised exactly
//!   as the sum of squares of g·(y−f)/f with g the geometric mean of f.
//! - The combined error model (no closed-form σ) goes to argmin's BFGS with a
//!   More–Thuente line search on −2LL, from the proportional fit.
//! - Any other error model of the file (several outputs, power, exp, censored
//!   data) goes to the same BFGS on the model's own −2LL, σ started where the
//!   weighted residuals of the start average 1, restarted from the best point
//!   when the line search stops on a direction that is not downhill.
//!
//! Bounds: each estimation-scale parameter x in (lo, hi) is optimised as
//! u with x = mid + half·tanh(u/half), so x never leaves its bounds and is
//! unchanged to first order in the interior.

use super::error_model::{Criterion, Weighting};
use super::likelihood::m2ll_derivatives;
use super::problem::SubjectProblem;
use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason as ArgminReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::BFGS;
use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt, TerminationReason};
use nalgebra::{DMatrix, DVector, Dyn, Owned};
use std::cell::Cell;

/// Result of a local fit from one start.
#[derive(Debug, Clone)]
pub struct LocalFit {
    /// Estimation-scale structural parameters.
    pub x: Vec<f64>,
    /// Log residual-error parameters (empty for WLS).
    pub log_sigma: Vec<f64>,
    /// The objective minimised: −2LL for likelihood models, the weighted sum of squares for WLS.
    pub objective: f64,
    /// Whether the optimiser reported convergence.
    pub converged: bool,
    /// The optimiser's termination reason, in words.
    pub reason: String,
    /// Number of model evaluations.
    pub evaluations: usize,
}

/// How hard a local fit works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// To convergence (relative tolerances 1e-12).
    Full,
    /// A quick look (tolerances 1e-4, at most ~10 Jacobians) to see whether a
    /// start leads somewhere better; only for the least-squares forms.
    Screen,
}

/// The tanh map between unconstrained u and bounded x.
#[derive(Debug, Clone)]
pub struct Bounds {
    mid: Vec<f64>,
    half: Vec<f64>,
}

impl Bounds {
    /// From estimation-scale bounds of the free parameters.
    pub fn of(problem: &SubjectProblem) -> Self {
        let (mid, half) = problem
            .space
            .free
            .iter()
            .map(|p| {
                let (lo, hi) = p.estimation_bounds();
                (0.5 * (lo + hi), 0.5 * (hi - lo))
            })
            .unzip();
        Bounds { mid, half }
    }
    /// u → x.
    pub fn to_x(&self, u: &[f64]) -> Vec<f64> {
        u.iter()
            .enumerate()
            .map(|(j, &u)| self.mid[j] + self.half[j] * (u / self.half[j]).tanh())
            .collect()
    }
    /// x → u (x is pulled just inside its bounds first).
    pub fn to_u(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(j, &x)| {
                let z = ((x - self.mid[j]) / self.half[j]).clamp(-1.0 + 1e-12, 1.0 - 1e-12);
                self.half[j] * z.atanh()
            })
            .collect()
    }
    /// dx/du at u.
    pub fn dx_du(&self, u: &[f64]) -> Vec<f64> {
        u.iter()
            .enumerate()
            .map(|(j, &u)| 1.0 - (u / self.half[j]).tanh().powi(2))
            .collect()
    }
    /// Distance of estimation-scale x from its nearest bound, as a fraction of
    /// half the range (0 at a bound, 1 in the middle).
    pub fn bound_distance(&self, j: usize, x: f64) -> f64 {
        1.0 - ((x - self.mid[j]) / self.half[j]).abs()
    }
}

/// How residuals are formed from predictions.
#[derive(Debug, Clone)]
enum Form {
    /// sqrt(w)·(y − f) with fixed weights.
    Weighted(Vec<f64>),
    /// g·(y − f)/f, g = geometric mean of f: the profiled proportional likelihood.
    ProfiledProportional,
}

struct LsProblem<'a, 'p> {
    problem: &'a SubjectProblem<'p>,
    bounds: &'a Bounds,
    y: Vec<f64>,
    form: Form,
    u: DVector<f64>,
    r: Option<DVector<f64>>,
    evaluations: Cell<usize>,
}

impl LsProblem<'_, '_> {
    fn residuals_at(&self, u: &[f64]) -> Option<DVector<f64>> {
        self.evaluations.set(self.evaluations.get() + 1);
        let x = self.bounds.to_x(u);
        let mut f = vec![0.0; self.y.len()];
        self.problem.predict(&x, &mut f).ok()?;
        let r = match &self.form {
            Form::Weighted(sw) => DVector::from_iterator(f.len(), (0..f.len()).map(|i| sw[i] * (self.y[i] - f[i]))),
            Form::ProfiledProportional => {
                let f: Vec<f64> = f.iter().map(|&v| v.max(1e-300)).collect();
                let g = (f.iter().map(|v| v.ln()).sum::<f64>() / f.len() as f64).exp();
                DVector::from_iterator(f.len(), (0..f.len()).map(|i| g * (self.y[i] - f[i]) / f[i]))
            }
        };
        r.iter().all(|v| v.is_finite()).then_some(r)
    }
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for LsProblem<'_, '_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, u: &DVector<f64>) {
        self.u.copy_from(u);
        self.r = self.residuals_at(u.as_slice());
    }
    fn params(&self) -> DVector<f64> {
        self.u.clone()
    }
    fn residuals(&self) -> Option<DVector<f64>> {
        self.r.clone()
    }
    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let r0 = self.r.as_ref()?;
        let mut jac = DMatrix::zeros(r0.len(), self.u.len());
        let mut u = self.u.as_slice().to_vec();
        for j in 0..u.len() {
            let h = 1e-7 * u[j].abs().max(1.0);
            let keep = u[j];
            u[j] = keep + h;
            let h = u[j] - keep;
            let r = self.residuals_at(&u)?;
            u[j] = keep;
            jac.set_column(j, &((r - r0) / h));
        }
        Some(jac)
    }
}

/// Runs Levenberg–Marquardt with residual form `form` from x0.
fn levenberg_marquardt(
    problem: &SubjectProblem,
    bounds: &Bounds,
    form: Form,
    x0: &[f64],
    effort: Effort,
) -> (Vec<f64>, bool, String, usize) {
    if x0.is_empty() {
        return (vec![], true, "no structural parameter is estimated".into(), 0);
    }
    let u0 = DVector::from_vec(bounds.to_u(x0));
    let mut ls = LsProblem {
        problem,
        bounds,
        y: problem.dv(),
        form,
        u: u0.clone(),
        r: None,
        evaluations: Cell::new(0),
    };
    ls.set_params(&u0);
    if ls.r.is_none() {
        return (
            x0.to_vec(),
            false,
            "the model cannot be evaluated at the start".into(),
            1,
        );
    }
    let lm = match effort {
        Effort::Full => LevenbergMarquardt::new()
            .with_ftol(1e-12)
            .with_xtol(1e-12)
            .with_gtol(1e-12)
            .with_patience(200),
        Effort::Screen => LevenbergMarquardt::new()
            .with_ftol(1e-4)
            .with_xtol(1e-4)
            .with_gtol(1e-4)
            .with_patience(10),
    };
    let (ls, report) = lm.minimize(ls);
    let converged = effort == Effort::Full
        && matches!(
            report.termination,
            TerminationReason::ResidualsZero
                | TerminationReason::Orthogonal
                | TerminationReason::Converged { .. }
                | TerminationReason::NoImprovementPossible(_)
        );
    let reason = match &report.termination {
        TerminationReason::ResidualsZero => "residuals are zero".to_string(),
        TerminationReason::Orthogonal => "gradient zero (residuals orthogonal to the Jacobian)".to_string(),
        TerminationReason::Converged { .. } => "relative change in objective and parameters below 1e-12".to_string(),
        TerminationReason::NoImprovementPossible(_) => {
            "no further improvement possible in double precision".to_string()
        }
        TerminationReason::LostPatience => "iteration limit reached before convergence".to_string(),
        TerminationReason::User(_) => "the model could not be evaluated at a trial point".to_string(),
        other => format!("Levenberg–Marquardt stopped: {other:?}"),
    };
    let evaluations = ls.evaluations.get();
    (bounds.to_x(ls.u.as_slice()), converged, reason, evaluations)
}

fn predictions(problem: &SubjectProblem, x: &[f64]) -> Option<Vec<f64>> {
    let mut f = vec![0.0; problem.obs.len()];
    problem.predict(x, &mut f).ok()?;
    Some(f)
}

/// Fits `problem` with `error_model` from the estimation-scale start `x0`, to convergence.
pub fn local_fit(problem: &SubjectProblem, error_model: Criterion, x0: &[f64]) -> LocalFit {
    local_fit_with(problem, error_model, x0, Effort::Full)
}

/// Fits with the given effort; [`Effort::Screen`] applies to the Levenberg–Marquardt
/// forms with fixed weights (the others always run in full). A screened fit is never
/// reported as converged.
pub fn local_fit_with(problem: &SubjectProblem, error_model: Criterion, x0: &[f64], effort: Effort) -> LocalFit {
    let bounds = Bounds::of(problem);
    let y = problem.dv();
    let n = y.len() as f64;
    let failed = |reason: String, evaluations| LocalFit {
        x: x0.to_vec(),
        log_sigma: vec![f64::NAN; error_model.n_sigma()],
        objective: f64::INFINITY,
        converged: false,
        reason,
        evaluations,
    };
    match error_model {
        Criterion::Additive | Criterion::Proportional => {
            let form = if error_model == Criterion::Additive {
                Form::Weighted(vec![1.0; y.len()])
            } else {
                Form::ProfiledProportional
            };
            let (x, converged, reason, evaluations) = levenberg_marquardt(problem, &bounds, form, x0, effort);
            let Some(f) = predictions(problem, &x) else {
                return failed("the model cannot be evaluated at the solution".into(), evaluations);
            };
            let ss: f64 = if error_model == Criterion::Additive {
                y.iter().zip(&f).map(|(y, f)| (y - f).powi(2)).sum()
            } else {
                y.iter().zip(&f).map(|(y, f)| ((y - f) / f).powi(2)).sum()
            };
            let log_sigma = vec![0.5 * (ss / n).ln()];
            let objective = error_model.m2ll(&y, &f, &log_sigma);
            LocalFit {
                x,
                log_sigma,
                objective,
                converged,
                reason,
                evaluations,
            }
        }
        Criterion::WeightedLeastSquares(w) if !w.uses_prediction() => {
            let sw = y.iter().map(|&y| w.weight(y, y).sqrt()).collect();
            let (x, converged, reason, evaluations) =
                levenberg_marquardt(problem, &bounds, Form::Weighted(sw), x0, effort);
            match predictions(problem, &x) {
                Some(f) => LocalFit {
                    objective: weighted_ss(w, &y, &f),
                    x,
                    log_sigma: vec![],
                    converged,
                    reason,
                    evaluations,
                },
                None => failed("the model cannot be evaluated at the solution".into(), evaluations),
            }
        }
        Criterion::WeightedLeastSquares(w) => reweighted(problem, &bounds, w, x0),
        Criterion::Combined => combined(problem, &bounds, x0),
        Criterion::General { .. } => general(problem, &bounds, x0),
    }
}

/// Σ w(y, f)(y − f)².
pub fn weighted_ss(w: Weighting, y: &[f64], f: &[f64]) -> f64 {
    y.iter().zip(f).map(|(&y, &f)| w.weight(y, f) * (y - f).powi(2)).sum()
}

/// Iteratively reweighted least squares for weights 1/f or 1/f².
fn reweighted(problem: &SubjectProblem, bounds: &Bounds, w: Weighting, x0: &[f64]) -> LocalFit {
    let y = problem.dv();
    let mut x = x0.to_vec();
    let mut evaluations = 0;
    for round in 0..100 {
        let Some(f) = predictions(problem, &x) else {
            break;
        };
        if f.iter().any(|&v| !(v > 0.0)) {
            break;
        }
        let sw = y.iter().zip(&f).map(|(&y, &f)| w.weight(y, f).sqrt()).collect();
        let (next, converged, reason, e) = levenberg_marquardt(problem, bounds, Form::Weighted(sw), &x, Effort::Full);
        evaluations += e;
        let change = next.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        x = next;
        if !converged {
            return LocalFit {
                objective: predictions(problem, &x).map_or(f64::INFINITY, |f| weighted_ss(w, &y, &f)),
                x,
                log_sigma: vec![],
                converged: false,
                reason: format!("reweighting round {}: {reason}", round + 1),
                evaluations,
            };
        }
        if change < 1e-10 {
            let objective = predictions(problem, &x).map_or(f64::INFINITY, |f| weighted_ss(w, &y, &f));
            return LocalFit {
                x,
                log_sigma: vec![],
                objective,
                converged: true,
                reason: format!("weights and estimates stable after {} reweighting rounds", round + 1),
                evaluations,
            };
        }
    }
    LocalFit {
        objective: predictions(problem, &x).map_or(f64::INFINITY, |f| weighted_ss(w, &y, &f)),
        x,
        log_sigma: vec![],
        converged: false,
        reason: "iterative reweighting did not settle in 100 rounds (or predictions became non-positive)".into(),
        evaluations,
    }
}

/// −2LL of the combined model as a function of (u, log a, log b), for argmin.
#[derive(Clone)]
struct CombinedObjective<'a, 'p> {
    problem: &'a SubjectProblem<'p>,
    bounds: &'a Bounds,
    evaluations: &'a Cell<usize>,
}

impl CombinedObjective<'_, '_> {
    fn split(&self, v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let p = self.bounds.mid.len();
        (self.bounds.to_x(&v[..p]), v[p..].to_vec())
    }
}

impl CostFunction for CombinedObjective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, v: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        self.evaluations.set(self.evaluations.get() + 1);
        let (x, s) = self.split(v);
        let f = predictions(self.problem, &x).ok_or_else(|| argmin::core::Error::msg("model evaluation failed"))?;
        Ok(Criterion::Combined.m2ll(&self.problem.dv(), &f, &s))
    }
}

impl Gradient for CombinedObjective<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, v: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let p = self.bounds.mid.len();
        self.evaluations.set(self.evaluations.get() + 1 + 2 * p);
        let (x, s) = self.split(v);
        let d = m2ll_derivatives(self.problem, Criterion::Combined, &x, &s, false).map_err(argmin::core::Error::msg)?;
        let dx = self.bounds.dx_du(&v[..p]);
        let mut g = d.gradient.as_slice().to_vec();
        for j in 0..p {
            g[j] *= dx[j];
        }
        Ok(g)
    }
}

/// The combined model: BFGS on −2LL from the proportional fit, with the
/// additive part started at a tenth of the proportional SD at the median prediction.
fn combined(problem: &SubjectProblem, bounds: &Bounds, x0: &[f64]) -> LocalFit {
    let start = local_fit(problem, Criterion::Proportional, x0);
    // A failed combined fit: no objective, and the two σ of the combined model.
    let failed = |reason: String, evaluations: usize| LocalFit {
        x: start.x.clone(),
        log_sigma: vec![f64::NAN; 2],
        objective: f64::INFINITY,
        converged: false,
        reason,
        evaluations,
    };
    if !start.objective.is_finite() {
        return failed(
            format!(
                "the proportional fit that starts the combined one failed: {}",
                start.reason
            ),
            start.evaluations,
        );
    }
    let Some(f) = predictions(problem, &start.x) else {
        return failed("the model cannot be evaluated at the start".into(), start.evaluations);
    };
    let mut sorted = f.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let sd_prop = start.log_sigma[0].exp();
    let mut v = bounds.to_u(&start.x);
    v.push((0.1 * sd_prop * median).ln());
    v.push((0.95 * sd_prop).ln());
    let evaluations = Cell::new(start.evaluations);
    let objective = CombinedObjective {
        problem,
        bounds,
        evaluations: &evaluations,
    };
    let split = |v: &[f64]| objective.split(v);
    let dim = v.len();
    let identity: Vec<Vec<f64>> = (0..dim)
        .map(|i| (0..dim).map(|j| if i == j { 1e-2 } else { 0.0 }).collect())
        .collect();
    let solver = match BFGS::new(MoreThuenteLineSearch::new())
        .with_tolerance_grad(1e-7)
        .and_then(|s| s.with_tolerance_cost(1e-14))
    {
        Ok(s) => s,
        Err(e) => return failed(format!("BFGS setup: {e}"), start.evaluations),
    };
    let run = Executor::new(objective.clone(), solver)
        .configure(|state| state.param(v).inv_hessian(identity).max_iters(500))
        .run();
    let evaluations = evaluations.get();
    match run {
        Ok(result) => {
            let state = result.state();
            let Some(best) = state.get_best_param() else {
                return failed("BFGS returned no parameters".into(), evaluations);
            };
            let (x, log_sigma) = split(best);
            let (converged, reason) = match state.get_termination_status() {
                TerminationStatus::Terminated(ArgminReason::SolverConverged) => (true, "BFGS converged".to_string()),
                TerminationStatus::Terminated(ArgminReason::MaxItersReached) => {
                    (false, "BFGS reached 500 iterations before convergence".to_string())
                }
                other => (false, format!("BFGS stopped: {other}")),
            };
            LocalFit {
                objective: state.get_best_cost(),
                x,
                log_sigma,
                converged,
                reason,
                evaluations,
            }
        }
        Err(e) => failed(format!("BFGS failed: {e}"), evaluations),
    }
}

/// −2LL of the model file's own error model as a function of (u, log σ), for
/// argmin, with a central-difference gradient.
#[derive(Clone)]
struct GeneralObjective<'a, 'p> {
    problem: &'a SubjectProblem<'p>,
    bounds: &'a Bounds,
    evaluations: &'a Cell<usize>,
    /// The lowest value seen and where: a BFGS run that stops on an error
    /// restarts from there.
    best: &'a std::cell::RefCell<(f64, Vec<f64>)>,
}

impl GeneralObjective<'_, '_> {
    fn value(&self, v: &[f64]) -> Option<f64> {
        self.evaluations.set(self.evaluations.get() + 1);
        let p = self.bounds.mid.len();
        let value = self.problem.general_m2ll(&self.bounds.to_x(&v[..p]), &v[p..])?;
        let mut best = self.best.borrow_mut();
        if value < best.0 {
            *best = (value, v.to_vec());
        }
        Some(value)
    }
}

impl CostFunction for GeneralObjective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, v: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        self.value(v)
            .ok_or_else(|| argmin::core::Error::msg("the model cannot be evaluated"))
    }
}

impl Gradient for GeneralObjective<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, v: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let fail = || argmin::core::Error::msg("the model cannot be evaluated near the point");
        (0..v.len())
            .map(|j| {
                let h = 1e-6 * v[j].abs().max(1.0);
                let (mut a, mut b) = (v.clone(), v.clone());
                a[j] += h;
                b[j] -= h;
                Ok((self.value(&a).ok_or_else(fail)? - self.value(&b).ok_or_else(fail)?) / (2.0 * h))
            })
            .collect()
    }
}

/// Restarts of the general path's BFGS after a line-search error.
const RESTARTS: usize = 5;

/// ln c such that the file's σ times c make the weighted residuals of the
/// start average 1 (Σ (y − f)²/R = n): far from the data, the file's σ would
/// make the first quasi-Newton steps in ln σ enormous.
fn start_sigma_scale(problem: &SubjectProblem, x0: &[f64], s0: &[f64]) -> Option<f64> {
    let (f, r) = problem.predict_with_variance(x0, s0).ok()?;
    let (y, f) = problem.on_error_scale(&f)?;
    let (sum, n) = y
        .iter()
        .zip(&f)
        .zip(&r)
        .zip(&problem.obs)
        .filter(|(_, o)| o.censored == 0)
        .fold((0.0, 0usize), |(s, n), (((y, f), r), _)| {
            (s + (y - f).powi(2) / r, n + 1)
        });
    let ratio = sum / n as f64;
    (ratio.is_finite() && ratio > 0.0).then(|| 0.5 * ratio.ln())
}

/// Any error model of the file (and censored data): BFGS on −2LL over θ and
/// log σ, σ started at the file's values scaled to the start's residuals.
fn general(problem: &SubjectProblem, bounds: &Bounds, x0: &[f64]) -> LocalFit {
    let s0: Vec<f64> = problem
        .error
        .sigma_index
        .iter()
        .map(|&k| problem.sigma_sd_at(&[])[k].ln())
        .collect();
    let failed = |reason: String, evaluations: usize| LocalFit {
        x: x0.to_vec(),
        log_sigma: vec![f64::NAN; s0.len()],
        objective: f64::INFINITY,
        converged: false,
        reason,
        evaluations,
    };
    let evaluations = Cell::new(0);
    let best = std::cell::RefCell::new((f64::INFINITY, Vec::new()));
    let objective = GeneralObjective {
        problem,
        bounds,
        evaluations: &evaluations,
        best: &best,
    };
    let mut v = bounds.to_u(x0);
    v.extend(start_sigma_scale(problem, x0, &s0).map_or(s0.clone(), |c| s0.iter().map(|s| s + c).collect()));
    if objective.value(&v).is_none() {
        return failed("the model cannot be evaluated at the start".into(), 1);
    }
    let dim = v.len();
    let identity: Vec<Vec<f64>> = (0..dim)
        .map(|i| (0..dim).map(|j| if i == j { 1e-2 } else { 0.0 }).collect())
        .collect();
    // More–Thuente stops with an error when a BFGS direction is not downhill
    // (finite-difference gradients of an ODE model); up to 5 restarts from the
    // best point so far, with the inverse Hessian reset.
    let mut run = None;
    for _ in 0..=RESTARTS {
        let solver = match BFGS::new(MoreThuenteLineSearch::new())
            .with_tolerance_grad(1e-6)
            .and_then(|s| s.with_tolerance_cost(1e-14))
        {
            Ok(s) => s,
            Err(e) => return failed(format!("BFGS setup: {e}"), 0),
        };
        let from = best.borrow().1.clone();
        let h0 = identity.clone();
        let result = Executor::new(objective.clone(), solver)
            .configure(|state| state.param(from).inv_hessian(h0).max_iters(1000))
            .run();
        let stop = result.is_ok();
        run = Some(result);
        if stop {
            break;
        }
    }
    let Some(run) = run else {
        return failed("BFGS did not run".into(), evaluations.get());
    };
    let used = evaluations.get();
    match run {
        Ok(result) => {
            let state = result.state();
            let Some(best) = state.get_best_param() else {
                return failed("BFGS returned no parameters".into(), used);
            };
            let p = bounds.mid.len();
            let (converged, reason) = match state.get_termination_status() {
                TerminationStatus::Terminated(ArgminReason::SolverConverged) => (true, "BFGS converged".to_string()),
                TerminationStatus::Terminated(ArgminReason::MaxItersReached) => {
                    (false, "BFGS reached 1000 iterations before convergence".to_string())
                }
                other => (false, format!("BFGS stopped: {other}")),
            };
            LocalFit {
                objective: state.get_best_cost(),
                x: bounds.to_x(&best[..p]),
                log_sigma: best[p..].to_vec(),
                converged,
                reason,
                evaluations: used,
            }
        }
        Err(e) => failed(format!("BFGS failed: {e}"), used),
    }
}
