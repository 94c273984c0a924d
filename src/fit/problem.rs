//! A subject prepared for fitting: its observations, the language model's
//! predictions at them, and the map from the estimated θ to the model's θ.
//!
//! θ are estimated on the log scale when their lower bound is positive (on
//! their natural scale otherwise) within the model file's bounds; η = 0.

use super::error_model::Criterion;
use super::residual::ErrorSpec;
use crate::data::{Dataset, Subject};
use crate::error::{Error, Result};
use crate::model::{Model, SubjectData, Values};

/// One observation used in a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Line of the record in the data file.
    pub line: usize,
    /// Time.
    pub time: f64,
    /// Observed value (DV), or the limit of a censored observation.
    pub dv: f64,
    /// 0: observed; 1: below the limit `dv`; −1: above it (M3).
    pub censored: i8,
    /// Whether the output compares on the log scale (`exp()` error model).
    pub log: bool,
}

/// A θ that is estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeParameter {
    /// Name, as in the model file.
    pub name: String,
    /// Index of the θ in declaration order.
    pub index: usize,
    /// Lower bound (natural scale).
    pub lower: f64,
    /// Upper bound (natural scale).
    pub upper: f64,
    /// Initial value from the model file.
    pub init: f64,
    /// Whether the parameter is estimated on the log scale.
    pub log_scale: bool,
}

impl FreeParameter {
    /// Natural value → estimation scale.
    pub fn to_estimation(&self, value: f64) -> f64 {
        if self.log_scale {
            value.ln()
        } else {
            value
        }
    }
    /// Estimation scale → natural value.
    pub fn to_natural(&self, x: f64) -> f64 {
        if self.log_scale {
            x.exp()
        } else {
            x
        }
    }
    /// Bounds on the estimation scale.
    pub fn estimation_bounds(&self) -> (f64, f64) {
        (self.to_estimation(self.lower), self.to_estimation(self.upper))
    }
}

/// Which θ are estimated and which are fixed (in the file or by `--fix`).
#[derive(Debug, Clone)]
pub struct Parameterization {
    /// Estimated θ, in declaration order.
    pub free: Vec<FreeParameter>,
    /// Fixed θ and their values.
    pub fixed: Vec<(String, f64)>,
    theta: Vec<f64>,
}

/// A number for a message: plain, or in scientific notation when very large or small.
fn short(v: f64) -> String {
    if v != 0.0 && !(1e-4..1e7).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// When `value` lies outside (lower, upper) by a factor near 1000: the hint
/// that a unit is off by a factor of 1000 (mg and µg, L and mL).
fn unit_factor_hint(value: f64, lower: f64, upper: f64) -> &'static str {
    let off = if value > upper { value / upper } else { lower / value };
    if (100.0..=1e5).contains(&off) {
        " (off by a factor near 1000: are the units of the data and of the model the same, e.g. mg and µg, ng/mL and mg/L?)"
    } else {
        ""
    }
}

impl Parameterization {
    /// Every θ of `model` is free except those fixed in the file and those in
    /// `fixed` (name, natural value).
    pub fn new(model: &Model, fixed: &[(String, f64)]) -> Result<Self> {
        let thetas = &model.code.thetas;
        let mut theta = model.theta_init();
        for (name, value) in fixed {
            let k = thetas.iter().position(|t| t.name == *name).ok_or_else(|| {
                Error::parameter(
                    name,
                    format!(
                        "--fix names no θ of model {}; its θ are {}",
                        model.name(),
                        thetas.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            if !value.is_finite() {
                return Err(Error::parameter(name, format!("value {value} is not a finite number")));
            }
            let t = &thetas[k];
            if *value < t.lower || *value > t.upper {
                return Err(Error::parameter(
                    name,
                    format!(
                        "--fix {name}={} is outside the bounds ({}, {}) that model {} gives {name}{}",
                        short(*value),
                        t.lower,
                        t.upper,
                        model.name(),
                        unit_factor_hint(*value, t.lower, t.upper)
                    ),
                ));
            }
            theta[k] = *value;
        }
        let mut free = Vec::new();
        let mut all_fixed = Vec::new();
        for (k, t) in thetas.iter().enumerate() {
            if t.fixed || fixed.iter().any(|(n, _)| *n == t.name) {
                all_fixed.push((t.name.clone(), theta[k]));
                continue;
            }
            free.push(FreeParameter {
                name: t.name.clone(),
                index: k,
                lower: t.lower,
                upper: t.upper,
                init: t.init,
                log_scale: t.lower > 0.0,
            });
        }
        Ok(Parameterization {
            free,
            fixed: all_fixed,
            theta,
        })
    }

    /// The model's θ at estimation-scale values `x` of the free parameters.
    pub fn theta_at(&self, x: &[f64]) -> Vec<f64> {
        let mut theta = self.theta.clone();
        for (fp, &xi) in self.free.iter().zip(x) {
            theta[fp.index] = fp.to_natural(xi);
        }
        theta
    }

    /// Estimation-scale values of the free parameters at the file's initial values.
    pub fn initial_x(&self) -> Vec<f64> {
        self.free.iter().map(|f| f.to_estimation(f.init)).collect()
    }

    /// Names of the free parameters.
    pub fn names(&self) -> Vec<&str> {
        self.free.iter().map(|f| f.name.as_str()).collect()
    }

    /// Number of free parameters.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no parameter is free.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

/// A subject ready to be fitted.
#[derive(Debug, Clone)]
pub struct SubjectProblem<'a> {
    /// Subject id.
    pub id: String,
    /// Observations used in the fit, in record order.
    pub obs: Vec<Observation>,
    /// Observations left out because the model predicts exactly zero there
    /// at the initial θ (before the first dose reaches the sampled compartment).
    pub excluded_before_dose: usize,
    /// Free and fixed θ.
    pub space: Parameterization,
    /// What is minimised and which σ are estimated.
    pub error: ErrorSpec,
    model: &'a Model,
    data: &'a Dataset,
    subject: &'a Subject,
    prepared: SubjectData,
    /// Indices in `prepared.obs` of the fitted observations.
    kept: Vec<usize>,
    sigma_sd: Vec<f64>,
}

impl<'a> SubjectProblem<'a> {
    /// Prepares `subject` for a fit, checking that it can be fitted.
    pub fn new(
        model: &'a Model,
        data: &'a Dataset,
        subject: &'a Subject,
        error: ErrorSpec,
        space: Parameterization,
    ) -> Result<Self> {
        let mut error = error;
        let censored = model.subject(data, subject)?.obs.iter().any(|o| o.censored != 0);
        if censored && error.criterion.is_likelihood() {
            // Censored observations enter by M3, through the model's own variances.
            error.criterion = Criterion::General {
                n_sigma: error.sigma_index.len(),
            };
        }
        let criterion = error.criterion;
        let positive = criterion
            .needs_positive_observations()
            .then(|| (criterion.to_string(), "--error additive or combined"));
        let problem = Self::prepare(model, data, subject, space, error, positive)?;
        let n_par = problem.space.len() + criterion.n_sigma();
        let needed = if criterion.is_likelihood() { n_par } else { n_par + 1 };
        if problem.obs.len() < needed {
            return Err(Error::Fit {
                subject: subject.id.clone(),
                message: format!(
                    "{} observations for {} estimated parameters ({}{}): need at least {needed}",
                    problem.obs.len(),
                    n_par,
                    problem.space.names().join(", "),
                    problem
                        .error
                        .sigma_names
                        .iter()
                        .map(|s| format!(", {s}"))
                        .collect::<String>()
                ),
            });
        }
        Ok(problem)
    }

    fn prepare(
        model: &'a Model,
        data: &'a Dataset,
        subject: &'a Subject,
        space: Parameterization,
        error: ErrorSpec,
        positive_dv: Option<(String, &str)>,
    ) -> Result<Self> {
        let fail = |message: String| Error::Fit {
            subject: subject.id.clone(),
            message,
        };
        let prepared = model.subject(data, subject)?;
        if prepared.obs.is_empty() {
            return Err(fail(
                "no observations to fit (records with EVID 0, MDV 0 and a DV value)".into(),
            ));
        }
        if let Some(o) = prepared
            .obs
            .iter()
            .find(|o| o.censored != 0 && !error.criterion.is_likelihood())
        {
            return Err(fail(format!(
                "line {}: a censored (BLQ) observation: weighted least squares cannot use it (drop it with `blq m1` in the model, or fit by likelihood, M3)",
                o.line
            )));
        }
        let Some(first_dose) = subject
            .records
            .iter()
            .filter(|r| r.is_dose())
            .map(|r| r.time)
            .reduce(f64::min)
        else {
            return Err(fail("no dose records: nothing to fit a PK model to".into()));
        };
        let sigma_sd = model.sigma_sd_init();
        let theta = space.theta_at(&space.initial_x());
        let values = Values {
            theta: &theta,
            eta: &[],
            kappa: &[],
            sigma_sd: &sigma_sd,
        };
        let f = model
            .predict(&prepared, &values)
            .map_err(|e| fail(format!("prediction failed: {e}")))?
            .f;
        // Observations where the model predicts exactly zero for any parameters:
        // before the first dose enters (checked at the initial parameters).
        let kept: Vec<usize> = (0..f.len()).filter(|&i| f[i] != 0.0).collect();
        let excluded_before_dose = f.len() - kept.len();
        if kept.is_empty() {
            return Err(fail(format!(
                "all {} observations are at or before the first dose (time {first_dose}), where the model predicts 0",
                f.len()
            )));
        }
        let obs: Vec<Observation> = kept
            .iter()
            .map(|&i| {
                let o = &prepared.obs[i];
                Observation {
                    line: o.line,
                    time: o.time,
                    dv: o.dv,
                    censored: o.censored,
                    log: model.code.outputs[o.output]
                        .terms
                        .iter()
                        .any(|t| t.0 == crate::lang::TermKind::Exp),
                }
            })
            .collect();
        check_observations(&obs, positive_dv).map_err(fail)?;
        Ok(SubjectProblem {
            id: subject.id.clone(),
            obs,
            excluded_before_dose,
            space,
            error,
            model,
            data,
            subject,
            prepared,
            kept,
            sigma_sd,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        self.model
    }

    /// What the fit minimises.
    pub fn criterion(&self) -> Criterion {
        self.error.criterion
    }

    /// The dataset and subject records behind the problem.
    pub fn source(&self) -> (&Dataset, &Subject) {
        (self.data, self.subject)
    }

    /// The subject as prepared for the model.
    pub fn prepared(&self) -> &SubjectData {
        &self.prepared
    }

    /// Indices in [`SubjectData::obs`] of the fitted observations.
    pub fn kept(&self) -> &[usize] {
        &self.kept
    }

    /// Observed values.
    pub fn dv(&self) -> Vec<f64> {
        self.obs.iter().map(|o| o.dv).collect()
    }

    /// The model's σ (SDs) with the estimated ones at `log_sigma`.
    pub fn sigma_sd_at(&self, log_sigma: &[f64]) -> Vec<f64> {
        let mut sd = self.sigma_sd.clone();
        for (&k, &s) in self.error.sigma_index.iter().zip(log_sigma) {
            sd[k] = s.exp();
        }
        sd
    }

    /// Predictions at the observations for estimation-scale parameters `x`.
    pub fn predict(&self, x: &[f64], out: &mut [f64]) -> std::result::Result<(), String> {
        let theta = self.space.theta_at(x);
        let values = Values {
            theta: &theta,
            eta: &[],
            kappa: &[],
            sigma_sd: &self.sigma_sd,
        };
        let f = self
            .model
            .predict(&self.prepared, &values)
            .map_err(|e| e.to_string())?
            .f;
        for (o, &i) in out.iter_mut().zip(&self.kept) {
            *o = f[i];
        }
        Ok(())
    }

    /// −2 log-likelihood of the model file's error model, through its own
    /// variances: Σ ln 2π + ln R + (y − f)²/R over observed values (on the log
    /// scale for `exp()` outputs) and −2 ln P for censored ones (Beal's M3);
    /// `None` where the model cannot be evaluated.
    pub fn general_m2ll(&self, x: &[f64], log_sigma: &[f64]) -> Option<f64> {
        let (f, r) = self.predict_with_variance(x, log_sigma).ok()?;
        let (y, f) = self.on_error_scale(&f)?;
        let censored: Vec<i8> = self.obs.iter().map(|o| o.censored).collect();
        let observed = censored.iter().filter(|c| **c == 0).count() as f64;
        let fitted = crate::population::map::Fitted { f, r };
        let value =
            observed * (2.0 * std::f64::consts::PI).ln() + crate::population::map::data_term(&y, &fitted, &censored);
        value.is_finite().then_some(value)
    }

    /// Observations and predictions on the error models' scales (ln for
    /// `exp()` outputs); `None` if such a prediction is not positive.
    pub fn on_error_scale(&self, f: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let mut y = Vec::with_capacity(f.len());
        let mut g = Vec::with_capacity(f.len());
        for (o, &fi) in self.obs.iter().zip(f) {
            if o.log {
                if !(fi > 0.0) {
                    return None;
                }
                y.push(o.dv.ln());
                g.push(fi.ln());
            } else {
                y.push(o.dv);
                g.push(fi);
            }
        }
        Some((y, g))
    }

    /// Predictions and the residual variances of the model file's error model
    /// at the observations, for `x` and the estimated σ at `log_sigma`.
    pub fn predict_with_variance(&self, x: &[f64], log_sigma: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let theta = self.space.theta_at(x);
        let sd = self.sigma_sd_at(log_sigma);
        let values = Values {
            theta: &theta,
            eta: &[],
            kappa: &[],
            sigma_sd: &sd,
        };
        let p = self.model.predict(&self.prepared, &values)?;
        Ok((
            self.kept.iter().map(|&i| p.f[i]).collect(),
            self.kept.iter().map(|&i| p.variance[i]).collect(),
        ))
    }
}

fn check_observations(obs: &[Observation], positive: Option<(String, &str)>) -> std::result::Result<(), String> {
    if let Some(o) = obs.iter().find(|o| !o.dv.is_finite()) {
        return Err(format!("line {}: DV {} is not a finite number", o.line, o.dv));
    }
    if let Some(o) = obs.iter().find(|o| o.log && o.dv <= 0.0) {
        return Err(format!(
            "line {}: DV = {} at time {}; the output compares on the log scale (exp() error model) and needs DV > 0",
            o.line, o.dv, o.time
        ));
    }
    if let Some((model, advice)) = positive {
        if let Some(o) = obs.iter().find(|o| o.dv <= 0.0) {
            return Err(format!(
                "line {}: DV = {} at time {}; the {model} model needs DV > 0 \
                 (mark samples below the limit of quantification with MDV=1, or use {advice})",
                o.line, o.dv, o.time
            ));
        }
    }
    Ok(())
}
