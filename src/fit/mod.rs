//! Fitting a model written in the model language to one subject's samples:
//! its θ (η = 0) and the σ of its outputs' error models by maximum likelihood
//! (or its θ by classical weighted least squares) with automatic initial
//! estimates, several starts, precision from the information matrix,
//! identifiability warnings, and derived exposure parameters.
//!
//! ```no_run
//! use pk::data::{read_dataset, ReadOptions};
//! use pk::fit::{fit_subject, ErrorChoice, FitOptions};
//! use pk::model::Model;
//! let file = Model::load("two_cmt_iv").unwrap();
//! // `--error proportional`: every output's error model becomes prop(sigma_prop).
//! let model = ErrorChoice::parse(Some("proportional"), None).unwrap().apply(&file).unwrap();
//! let data = read_dataset("fixtures/clofarabine/clofarabine_phase2.csv", &ReadOptions::default()).unwrap();
//! let fit = fit_subject(&model, &data, &data.subjects[0], &FitOptions::new()).unwrap();
//! println!("CL = {}", fit.parameter("CL").unwrap().estimate);
//! ```

pub mod error_model;
pub mod exposure;
pub mod initial;
pub mod likelihood;
pub mod optimize;
pub mod precision;
pub mod problem;
pub mod report;
pub mod residual;

pub use error_model::{Criterion, Weighting};
pub use exposure::Exposure;
pub use optimize::LocalFit;
pub use precision::{CovarianceMethod, Precision};
pub use problem::{Observation, Parameterization, SubjectProblem};
pub use residual::{ErrorChoice, ErrorOverride, ErrorSpec};

use crate::data::{Dataset, Subject};
use crate::error::{Error, Result};
use crate::model::{Model, PkParams};
use optimize::{local_fit, weighted_ss, Bounds};
use std::f64::consts::PI;

/// An estimate closer to a bound than this fraction of half its estimation-scale
/// range is reported as at the bound (for bounds 0.001–1000 on the log scale:
/// within about 7% of a bound).
pub const AT_BOUND: f64 = 0.01;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Options of a fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Classical weighted least squares with these weights instead of the
    /// maximum likelihood of the model's error model.
    pub weighting: Option<Weighting>,
    /// User initial values (natural scale) for some parameters.
    pub init: Vec<(String, f64)>,
    /// Parameters held fixed at the given values.
    pub fixed: Vec<(String, f64)>,
    /// Number of starts (automatic initial estimates in distinct regions).
    pub starts: usize,
    /// Dosing interval for the steady-state values, if not implied by the data.
    pub tau: Option<f64>,
    /// Name of the body-surface-area column, for per-m² values.
    pub bsa_column: String,
}

impl FitOptions {
    /// Defaults: maximum likelihood with the model's error model, 4 starts,
    /// BSA from a column named `BSA`.
    pub fn new() -> Self {
        FitOptions {
            weighting: None,
            init: Vec::new(),
            fixed: Vec::new(),
            starts: 4,
            tau: None,
            bsa_column: "BSA".into(),
        }
    }
}

impl Default for FitOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl FitOptions {
    /// Options for classical weighted least squares with weights `w`.
    pub fn wls(w: Weighting) -> Self {
        FitOptions {
            weighting: Some(w),
            ..Self::new()
        }
    }

    /// Checks the options against the model once, before any subject is fitted:
    /// the model's error model must be one a fit estimates (unless WLS),
    /// `--init` and `--fix` must name θ of the model, `--init` only estimated ones.
    pub fn validate(&self, model: &Model) -> Result<()> {
        ErrorSpec::of(model, self.weighting)?;
        let space = Parameterization::new(model, &self.fixed)?;
        for (name, value) in &self.init {
            let Some(spec) = space.free.iter().find(|f| f.name == *name) else {
                return Err(Error::parameter(
                    name,
                    format!(
                        "--init names a parameter that is not estimated; estimated: {}",
                        space.names().join(", ")
                    ),
                ));
            };
            if !(*value >= spec.lower && *value <= spec.upper) {
                return Err(Error::parameter(
                    name,
                    format!(
                        "initial value {value} is outside the bounds [{}, {}]",
                        spec.lower, spec.upper
                    ),
                ));
            }
        }
        if let Some(tau) = self.tau.filter(|t| !(*t > 0.0 && t.is_finite())) {
            return Err(Error::Argument(format!("--tau must be a positive interval, got {tau}")));
        }
        Ok(())
    }
}

/// One estimated (or fixed) parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterEstimate {
    /// Name (`CL`, …, `sigma_prop`).
    pub name: String,
    /// Estimate, natural scale.
    pub estimate: f64,
    /// Standard error, natural scale (delta method from the log scale).
    pub se: Option<f64>,
    /// 100·SE/estimate.
    pub rse_percent: Option<f64>,
    /// 95% confidence interval (log scale, back-transformed).
    pub ci95: Option<[f64; 2]>,
    /// Held fixed by the user.
    pub fixed: bool,
    /// Within [`AT_BOUND`] of a bound on the estimation scale.
    pub at_bound: bool,
}

/// Goodness of fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// −2 log-likelihood (for WLS: of the Gaussian model with variance σ²/w).
    pub m2ll: f64,
    /// Akaike: −2LL + 2k.
    pub aic: f64,
    /// Bayesian (Schwarz): −2LL + k·ln n.
    pub bic: f64,
    /// Weighted sum of squares (WLS only).
    pub wss: Option<f64>,
    /// Number of estimated parameters k (including σ).
    pub n_parameters: usize,
}

/// One observation with its fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual {
    /// Line in the data file.
    pub line: usize,
    /// Time.
    pub time: f64,
    /// Observed.
    pub dv: f64,
    /// Prediction.
    pub pred: f64,
    /// DV − PRED.
    pub res: f64,
    /// Weighted residual: (DV − PRED)/SD(PRED) (WLS: √w·RES/σ̂).
    pub wres: f64,
}

/// The fit of one subject.
#[derive(Debug, Clone)]
pub struct SubjectFit {
    /// Subject id.
    pub id: String,
    /// Whether the optimiser converged (the estimates are an optimum).
    pub converged: bool,
    /// Why the optimiser stopped.
    pub message: String,
    /// Observations fitted.
    pub n_obs: usize,
    /// Observations left out (before the first dose).
    pub n_excluded: usize,
    /// What was minimised: the likelihood of the model's error model, or WLS.
    pub error_model: Criterion,
    /// Goodness of fit.
    pub objective: Objective,
    /// Structural parameters (model order, fixed ones included) then σ.
    pub parameters: Vec<ParameterEstimate>,
    /// How the covariance was obtained.
    pub covariance_method: CovarianceMethod,
    /// Condition number of the information matrix.
    pub condition_number: f64,
    /// Largest |gradient| of the objective in the estimation-scale parameters at the solution.
    pub max_gradient: f64,
    /// Correlation matrix of the estimated parameters (names in `correlation_names`).
    pub correlation: Option<Vec<Vec<f64>>>,
    /// Names of the estimated parameters, in the order of the correlation matrix.
    pub correlation_names: Vec<String>,
    /// Identifiability and quality warnings.
    pub warnings: Vec<String>,
    /// Whether every estimated parameter is identified (no singular information, no RSE > 50%, none at a bound).
    pub identifiable: bool,
    /// Objective reached from each start, in start order (the starts after the
    /// first are screened with a few iterations and fitted in full only when they
    /// lead below the best so far).
    pub start_objectives: Vec<f64>,
    /// Model evaluations used.
    pub evaluations: usize,
    /// Observations with predictions and residuals.
    pub residuals: Vec<Residual>,
    /// Fitted θ of the model (fixed ones included), in declaration order.
    pub theta: Vec<f64>,
    /// Fitted σ of the model (SDs), in declaration order.
    pub sigma_sd: Vec<f64>,
    /// The closed-form kernel's parameters at the fit (first record), if the model has a kernel.
    pub params: Option<PkParams>,
    /// Derived exposure and disposition.
    pub exposure: Option<Exposure>,
    /// What could not be derived, and why.
    pub exposure_note: Option<String>,
    /// Body-surface area of the subject, m², if the data have it.
    pub bsa: Option<f64>,
    /// Covariates of the subject (every non-standard column, first record).
    pub covariates: Vec<(String, f64)>,
    /// Non-compartmental analysis of the first dosing interval (linear-up/log-down),
    /// beside the model's derived values; the message if it could not be made.
    pub nca: std::result::Result<(crate::nca::Route, crate::nca::Nca), String>,
}

impl SubjectFit {
    /// The estimate of a parameter by name.
    pub fn parameter(&self, name: &str) -> Option<&ParameterEstimate> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

/// Estimation-scale starts: the user's values override the automatic ones in the first start.
pub fn starts(problem: &SubjectProblem, options: &FitOptions) -> Result<Vec<Vec<f64>>> {
    options.validate(problem.model())?;
    let mut auto = initial::automatic_starts(problem, options.starts.max(1));
    if let Some(first) = auto.first_mut() {
        for (name, v) in first.iter_mut() {
            if let Some((_, u)) = options.init.iter().find(|(n, _)| n == name) {
                *v = *u;
            }
        }
    }
    Ok(auto
        .iter()
        .map(|s| {
            problem
                .space
                .free
                .iter()
                .zip(s)
                .map(|(fp, (_, v))| fp.to_estimation(*v))
                .collect()
        })
        .collect())
}

/// Fits one subject.
pub fn fit_subject(model: &Model, data: &Dataset, subject: &Subject, options: &FitOptions) -> Result<SubjectFit> {
    let space = Parameterization::new(model, &options.fixed)?;
    let error = ErrorSpec::of(model, options.weighting)?;
    let problem = SubjectProblem::new(model, data, subject, error, space)?;
    let fits = multi_start(&problem, problem.criterion(), &starts(&problem, options)?);
    let best = best_of(&fits).ok_or_else(|| Error::Fit {
        subject: subject.id.clone(),
        message: format!(
            "no start could be fitted: {}",
            fits.first().map_or("no starts", |f| f.reason.as_str())
        ),
    })?;
    summarize(&problem, options, best, &fits)
}

/// Fits every subject; a subject that cannot be fitted gets its error, the others are still fitted.
pub fn fit_dataset(model: &Model, data: &Dataset, options: &FitOptions) -> Vec<(String, Result<SubjectFit>)> {
    data.subjects
        .iter()
        .map(|s| (s.id.clone(), fit_subject(model, data, s, options)))
        .collect()
}

/// Fits from every start: the first in full; the others are screened (a few
/// iterations) and fitted in full only when they lead below the best so far.
pub fn multi_start(problem: &SubjectProblem, em: Criterion, starts: &[Vec<f64>]) -> Vec<LocalFit> {
    let mut fits: Vec<LocalFit> = Vec::with_capacity(starts.len());
    for x0 in starts {
        let best = fits.iter().map(|f| f.objective).fold(f64::INFINITY, f64::min);
        if !best.is_finite() {
            fits.push(local_fit(problem, em, x0));
            continue;
        }
        let screen = optimize::local_fit_with(problem, em, x0, optimize::Effort::Screen);
        if screen.converged {
            fits.push(screen); // a form that is never screened ran in full
        } else if screen.objective < best - 1e-6 * best.abs().max(1.0) {
            let full = local_fit(problem, em, &screen.x);
            fits.push(LocalFit {
                evaluations: full.evaluations + screen.evaluations,
                ..full
            });
        } else {
            fits.push(screen);
        }
    }
    fits
}

/// The start with the lowest objective, preferring converged fits.
fn best_of(fits: &[LocalFit]) -> Option<&LocalFit> {
    let finite = fits.iter().filter(|f| f.objective.is_finite());
    let converged = finite
        .clone()
        .filter(|f| f.converged)
        .min_by(|a, b| a.objective.total_cmp(&b.objective));
    converged.or_else(|| finite.min_by(|a, b| a.objective.total_cmp(&b.objective)))
}

/// When estimates sit at their bounds: whether the observations are about
/// 1000 times the predictions at the model's initial values, or a thousandth
/// of them (factor 100 to 10⁵), and the predictions at the bounds still miss
/// them; then the units of the data and of the model probably differ.
fn unit_mismatch_hint(problem: &SubjectProblem, at_estimate: &[f64]) -> Option<String> {
    let median_ratio = |f: &[f64]| -> Option<f64> {
        let mut r: Vec<f64> = problem
            .obs
            .iter()
            .zip(f)
            .filter(|(o, p)| o.dv > 0.0 && **p > 0.0)
            .map(|(o, p)| o.dv / p)
            .collect();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied()
    };
    let mut at_start = vec![0.0; problem.obs.len()];
    problem.predict(&problem.space.initial_x(), &mut at_start).ok()?;
    let start = median_ratio(&at_start)?;
    let end = median_ratio(at_estimate)?;
    let far = |r: f64| !(1e-2..=1e2).contains(&r) && (1e-5..=1e5).contains(&r);
    let missed = !(0.5..=2.0).contains(&end);
    (far(start) && missed).then(|| {
        format!(
            "the observations are about {start:.2e} times the predictions at the model's initial values, and \
             the estimates at their bounds still predict {:.2e} times the observations: the data are probably \
             not in the model's concentration unit ({}); a factor near 1000 is mg/L against ng/mL (or µg \
             against mg): give the data's units with --conc-unit (and --amount-unit for the doses)",
            1.0 / end,
            problem.model().units.concentration
        )
    })
}

fn summarize(problem: &SubjectProblem, options: &FitOptions, best: &LocalFit, fits: &[LocalFit]) -> Result<SubjectFit> {
    let em = problem.criterion();
    let fail = |message: String| Error::Fit {
        subject: problem.id.clone(),
        message,
    };
    let p = problem.space.len();
    let q = best.log_sigma.len();
    let precision = precision::precision(problem, em, &best.x, &best.log_sigma).map_err(fail)?;
    let se = precision.standard_errors(p + q);
    let bounds = Bounds::of(problem);
    let mut parameters = Vec::new();
    let mut warnings = Vec::new();
    let mut identifiable = true;
    for spec in &problem.model().code.thetas {
        if let Some((_, v)) = problem.space.fixed.iter().find(|(n, _)| *n == spec.name) {
            parameters.push(ParameterEstimate {
                name: spec.name.clone(),
                estimate: *v,
                se: None,
                rse_percent: None,
                ci95: None,
                fixed: true,
                at_bound: false,
            });
            continue;
        }
        let Some(j) = problem.space.free.iter().position(|f| f.name == spec.name) else {
            continue;
        };
        let fp = &problem.space.free[j];
        let at_bound = bounds.bound_distance(j, best.x[j]) < AT_BOUND;
        if at_bound {
            let which = if best.x[j] > fp.to_estimation(0.5 * (fp.lower + fp.upper)) {
                ("upper", fp.upper)
            } else {
                ("lower", fp.lower)
            };
            warnings.push(format!(
                "{} is at its {} bound {}: not identifiable from these data",
                fp.name, which.0, which.1
            ));
            identifiable = false;
        }
        parameters.push(estimate(&fp.name, best.x[j], se[j], fp.log_scale, at_bound));
    }
    for (a, name) in problem.error.sigma_names.iter().enumerate() {
        parameters.push(estimate(name, best.log_sigma[a], se[p + a], true, false));
    }
    for pe in parameters.iter().filter(|pe| !pe.fixed) {
        if let Some(rse) = pe.rse_percent.filter(|r| *r > 50.0) {
            warnings.push(format!(
                "{}: RSE {rse:.0}% (> 50%): poorly identified by these data",
                pe.name
            ));
            identifiable = false;
        }
    }
    if precision.covariance.is_none() {
        warnings.push(
            "the information matrix is singular: some parameters are not identifiable; no standard errors".into(),
        );
        identifiable = false;
    } else if precision.condition_number > precision::ILL_CONDITIONED {
        warnings.push(format!(
            "the information matrix is ill-conditioned (condition number {:.2e}): some parameters are not identifiable",
            precision.condition_number
        ));
        identifiable = false;
    }
    let mut names: Vec<String> = problem.space.names().iter().map(|s| s.to_string()).collect();
    names.extend(problem.error.sigma_names.iter().cloned());
    let correlation = precision.correlation().map(|c| {
        (0..c.nrows())
            .map(|i| (0..c.ncols()).map(|j| c[(i, j)]).collect::<Vec<f64>>())
            .collect::<Vec<_>>()
    });
    if let Some(c) = &correlation {
        for i in 0..c.len() {
            for j in 0..i {
                if c[i][j].abs() > 0.95 {
                    warnings.push(format!(
                        "{} and {} are highly correlated (r = {:.3})",
                        names[j], names[i], c[i][j]
                    ));
                }
            }
        }
    }
    if problem.excluded_before_dose > 0 {
        warnings.push(format!(
            "{} observation(s) at or before the first dose were left out (the model predicts 0 there)",
            problem.excluded_before_dose
        ));
    }
    let interior: Vec<usize> = (0..p + q)
        .filter(|&j| j >= p || bounds.bound_distance(j, best.x[j]) >= AT_BOUND)
        .collect();
    let max_gradient = interior
        .iter()
        .map(|&j| precision.gradient[j].abs())
        .fold(0.0, f64::max);
    let mut converged = best.converged;
    let mut message = best.reason.clone();
    if converged && em.is_likelihood() {
        if let Some(gap) = remaining_decrease(&precision, &interior) {
            // Scale-free: what a Newton step from the solution would still gain.
            if gap > 1e-4 {
                converged = false;
                message = format!("{message}; but a Newton step from the solution would still lower -2LL by {gap:.2e}");
            }
        } else if max_gradient > 1e-2 {
            converged = false;
            message =
                format!("{message}; but the gradient of -2LL at the solution is {max_gradient:.2e}, not near zero");
        }
    }
    let mut f = vec![0.0; problem.obs.len()];
    problem.predict(&best.x, &mut f).map_err(fail)?;
    if parameters.iter().any(|p| p.at_bound) {
        if let Some(hint) = unit_mismatch_hint(problem, &f) {
            warnings.push(hint);
        }
    }
    let y = problem.dv();
    let (objective, residuals) = objective_and_residuals(problem, em, best, &y, &f);
    let observed: Vec<(f64, f64)> = problem.obs.iter().map(|o| (o.time, o.dv)).collect();
    let theta = problem.space.theta_at(&best.x);
    let derived = exposure::derive(problem, &theta, &observed, options.tau)?;
    let (data, subject) = problem.source();
    let bsa = data.covariate_index(&options.bsa_column).and_then(|c| {
        subject
            .records
            .iter()
            .map(|r| r.covariates[c])
            .find(|v| v.is_finite() && *v > 0.0)
    });
    let nca = first_interval_nca(problem.model(), data, subject);
    let covariates = match subject.records.first() {
        Some(r) => data
            .covariate_names
            .iter()
            .cloned()
            .zip(r.covariates.iter().copied())
            .collect(),
        None => Vec::new(),
    };
    Ok(SubjectFit {
        nca,
        covariates,
        id: problem.id.clone(),
        converged,
        message,
        n_obs: problem.obs.len(),
        n_excluded: problem.excluded_before_dose,
        error_model: em,
        objective,
        parameters,
        covariance_method: precision.method,
        condition_number: precision.condition_number,
        max_gradient,
        correlation,
        correlation_names: names,
        warnings,
        identifiable,
        start_objectives: fits.iter().map(|f| f.objective).collect(),
        evaluations: fits.iter().map(|f| f.evaluations).sum(),
        residuals,
        sigma_sd: problem.sigma_sd_at(&best.log_sigma),
        theta,
        params: derived.params,
        exposure: derived.exposure,
        exposure_note: derived.note,
        bsa,
    })
}

/// The decrease of −2LL a Newton step would still give, ½·gᵀH⁻¹g = ¼·gᵀ·Cov·g
/// (Cov = 2H⁻¹), over the parameters not at a bound; `None` without a covariance.
fn remaining_decrease(precision: &Precision, interior: &[usize]) -> Option<f64> {
    let cov = precision.covariance.as_ref()?;
    let g = &precision.gradient;
    let quad: f64 = interior
        .iter()
        .flat_map(|&i| interior.iter().map(move |&j| g[i] * cov[(i, j)] * g[j]))
        .sum();
    Some(0.25 * quad)
}

/// NCA of the first dosing interval, with the route the model implies for boluses.
fn first_interval_nca(
    model: &Model,
    data: &Dataset,
    subject: &Subject,
) -> std::result::Result<(crate::nca::Route, crate::nca::Nca), String> {
    use crate::nca::data::{subject_nca, BlqRules, DoseScale};
    use crate::nca::{NcaOptions, Route};
    let route = if exposure::has_depot(model) {
        Route::Extravascular
    } else {
        Route::IvBolus
    };
    let scale = DoseScale(model.units.amount.grams() / model.units.concentration.grams_per_litre());
    let intervals = subject_nca(
        data,
        subject,
        route,
        &BlqRules::default(),
        &NcaOptions::default(),
        scale,
    )
    .map_err(|e| e.to_string())?;
    let first = intervals.into_iter().next().ok_or("no dosing interval")?;
    first.result.map(|n| (first.route, n)).map_err(|e| e.to_string())
}

fn estimate(name: &str, x: f64, se_x: f64, log_scale: bool, at_bound: bool) -> ParameterEstimate {
    let ok = se_x.is_finite();
    let (estimate, se, ci) = if log_scale {
        let e = x.exp();
        (e, e * se_x, [(x - Z95 * se_x).exp(), (x + Z95 * se_x).exp()])
    } else {
        (x, se_x, [x - Z95 * se_x, x + Z95 * se_x])
    };
    ParameterEstimate {
        name: name.to_string(),
        estimate,
        se: ok.then_some(se),
        rse_percent: ok.then_some(100.0 * se / estimate.abs()),
        ci95: ok.then_some(ci),
        fixed: false,
        at_bound,
    }
}

fn objective_and_residuals(
    problem: &SubjectProblem,
    em: Criterion,
    best: &LocalFit,
    y: &[f64],
    f: &[f64],
) -> (Objective, Vec<Residual>) {
    let n = y.len();
    let p = problem.space.len();
    let residual = |i: usize, wres: f64| Residual {
        line: problem.obs[i].line,
        time: problem.obs[i].time,
        dv: y[i],
        pred: f[i],
        res: y[i] - f[i],
        wres,
    };
    match em {
        Criterion::WeightedLeastSquares(w) => {
            let wss = weighted_ss(w, y, f);
            let sigma2_ml = wss / n as f64;
            let sum_ln_w: f64 = y.iter().zip(f).map(|(&y, &f)| w.weight(y, f).ln()).sum();
            let m2ll = n as f64 * ((2.0 * PI).ln() + sigma2_ml.ln() + 1.0) - sum_ln_w;
            let k = p + 1;
            let sd = (wss / (n - p).max(1) as f64).sqrt();
            let residuals = (0..n)
                .map(|i| residual(i, w.weight(y[i], f[i]).sqrt() * (y[i] - f[i]) / sd))
                .collect();
            (
                Objective {
                    m2ll,
                    aic: m2ll + 2.0 * k as f64,
                    bic: m2ll + k as f64 * (n as f64).ln(),
                    wss: Some(wss),
                    n_parameters: k,
                },
                residuals,
            )
        }
        Criterion::General { .. } => {
            let m2ll = problem.general_m2ll(&best.x, &best.log_sigma).unwrap_or(f64::NAN);
            let k = p + best.log_sigma.len();
            let var = problem
                .predict_with_variance(&best.x, &best.log_sigma)
                .map_or_else(|_| vec![f64::NAN; n], |v| v.1);
            let (yt, ft) = problem.on_error_scale(f).unwrap_or_else(|| (y.to_vec(), f.to_vec()));
            let residuals = (0..n)
                .map(|i| {
                    let wres = if problem.obs[i].censored == 0 {
                        (yt[i] - ft[i]) / var[i].sqrt()
                    } else {
                        f64::NAN
                    };
                    residual(i, wres)
                })
                .collect();
            (
                Objective {
                    m2ll,
                    aic: m2ll + 2.0 * k as f64,
                    bic: m2ll + k as f64 * (n as f64).ln(),
                    wss: None,
                    n_parameters: k,
                },
                residuals,
            )
        }
        _ => {
            let m2ll = em.m2ll(y, f, &best.log_sigma);
            let k = p + best.log_sigma.len();
            let residuals = (0..n)
                .map(|i| residual(i, (y[i] - f[i]) / em.variance(f[i], &best.log_sigma).sqrt()))
                .collect();
            (
                Objective {
                    m2ll,
                    aic: m2ll + 2.0 * k as f64,
                    bic: m2ll + k as f64 * (n as f64).ln(),
                    wss: None,
                    n_parameters: k,
                },
                residuals,
            )
        }
    }
}
