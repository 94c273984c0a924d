//! Population model files (TOML, read with serde): typical values, covariate
//! relations, between-subject variability Ω (log-normal η), residual error and
//! published reference values, on top of a structural model.
//!
//! The individual value of parameter P is
//! `P_i = TV_P · Π_k factor_k(COV_k) · exp(η_P)`, with η ~ N(0, Ω).
//! Covariate factors: `power` (COV/ref)^c, `linear` 1 + c·(COV − ref), and
//! `below` 1 + c when COV < ref (NONMEM's `IF (APGR.LT.5) TVV = TVV*(1+THETA(3))`).

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::definition::{parse_units, UnitsSpec};
use crate::model::{ModelDefinition, ParamId, PkParams};
use nalgebra::{Cholesky, DMatrix, DVector};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopulationFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: String,
    structural_model: String,
    units: Option<UnitsSpec>,
    #[serde(rename = "typical")]
    typical: Vec<TypicalSpec>,
    #[serde(default, rename = "covariate")]
    covariates: Vec<CovariateSpec>,
    #[serde(default, rename = "variability")]
    variability: Vec<VariabilitySpec>,
    #[serde(default, rename = "correlation")]
    correlations: Vec<CorrelationSpec>,
    residual: ResidualSpec,
    #[serde(default, rename = "published")]
    published: Vec<PublishedValues>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypicalSpec {
    parameter: String,
    value: f64,
    lower: Option<f64>,
    upper: Option<f64>,
    #[serde(default)]
    fixed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CovariateSpec {
    parameter: String,
    covariate: String,
    relation: Relation,
    reference: f64,
    coefficient: f64,
    #[serde(default)]
    estimate: bool,
    lower: Option<f64>,
    upper: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariabilitySpec {
    parameter: String,
    /// ω² (variance of η).
    omega2: Option<f64>,
    /// Coefficient of variation in %, converted by ω² = ln(1 + CV²).
    cv_percent: Option<f64>,
    #[serde(default)]
    fixed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrelationSpec {
    parameters: [String; 2],
    value: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResidualSpec {
    model: ResidualKind,
    #[serde(default)]
    additive: f64,
    #[serde(default)]
    proportional: f64,
    #[serde(default)]
    fixed: bool,
}

/// How a covariate changes a typical value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// (COV/reference)^coefficient: allometric size, WBC on V1.
    Power,
    /// 1 + coefficient·(COV − reference).
    Linear,
    /// 1 + coefficient when COV < reference, else 1 (a two-level category).
    Below,
}

impl Relation {
    /// The multiplicative factor at covariate value `x`.
    pub fn factor(self, x: f64, reference: f64, coefficient: f64) -> f64 {
        match self {
            Relation::Power => (x / reference).powf(coefficient),
            Relation::Linear => 1.0 + coefficient * (x - reference),
            Relation::Below => {
                if x < reference {
                    1.0 + coefficient
                } else {
                    1.0
                }
            }
        }
    }
}

/// Residual error model of a population model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidualKind {
    /// Var = a².
    Additive,
    /// Var = (b·f)².
    Proportional,
    /// Var = a² + (b·f)² (two independent ε).
    Combined,
    /// ln y = ln f + ε, Var(ε) = b²: additive on the log scale (log-transform both sides).
    Exponential,
}

impl std::fmt::Display for ResidualKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResidualKind::Additive => "additive",
            ResidualKind::Proportional => "proportional",
            ResidualKind::Combined => "combined",
            ResidualKind::Exponential => "exponential",
        })
    }
}

/// Residual error: kind and standard deviations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual {
    /// The error model.
    pub kind: ResidualKind,
    /// Additive SD (concentration units); unused by proportional and exponential.
    pub additive: f64,
    /// Proportional SD (fraction), or the log-scale SD for exponential.
    pub proportional: f64,
    /// Held fixed in estimation.
    pub fixed: bool,
}

impl Residual {
    /// Names of the SDs this model uses.
    pub fn sigma_names(&self) -> &'static [&'static str] {
        match self.kind {
            ResidualKind::Additive => &["sigma_add"],
            ResidualKind::Proportional => &["sigma_prop"],
            ResidualKind::Combined => &["sigma_add", "sigma_prop"],
            ResidualKind::Exponential => &["sigma_exp"],
        }
    }

    /// The SDs this model uses, in [`Residual::sigma_names`] order.
    pub fn sigmas(&self) -> Vec<f64> {
        match self.kind {
            ResidualKind::Additive => vec![self.additive],
            ResidualKind::Proportional | ResidualKind::Exponential => vec![self.proportional],
            ResidualKind::Combined => vec![self.additive, self.proportional],
        }
    }

    /// The same model with SDs `s` (in [`Residual::sigma_names`] order).
    pub fn with_sigmas(&self, s: &[f64]) -> Residual {
        let mut r = *self;
        match self.kind {
            ResidualKind::Additive => r.additive = s[0],
            ResidualKind::Proportional | ResidualKind::Exponential => r.proportional = s[0],
            ResidualKind::Combined => {
                r.additive = s[0];
                r.proportional = s[1];
            }
        }
        r
    }

    /// Residual variance R and dR/df at prediction `f` (on the scale of the
    /// fitted values: the log scale for exponential error).
    pub fn variance(&self, f: f64) -> (f64, f64) {
        let a2 = self.additive * self.additive;
        let b2 = self.proportional * self.proportional;
        match self.kind {
            ResidualKind::Additive => (a2, 0.0),
            ResidualKind::Proportional => (b2 * f * f, 2.0 * b2 * f),
            ResidualKind::Combined => (a2 + b2 * f * f, 2.0 * b2 * f),
            ResidualKind::Exponential => (b2, 0.0),
        }
    }

    /// Whether observations and predictions are compared on the log scale.
    pub fn log_scale(&self) -> bool {
        self.kind == ResidualKind::Exponential
    }

    /// Adds residual error to a prediction, given standard normal draws `z1`, `z2`.
    pub fn perturb(&self, f: f64, z1: f64, z2: f64) -> f64 {
        match self.kind {
            ResidualKind::Additive => f + self.additive * z1,
            ResidualKind::Proportional => f * (1.0 + self.proportional * z1),
            ResidualKind::Combined => f * (1.0 + self.proportional * z1) + self.additive * z2,
            ResidualKind::Exponential => f * (self.proportional * z1).exp(),
        }
    }
}

/// Published summary values to compare a group with (per m² and half-life).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublishedValues {
    /// Short label, e.g. "Evoltra label (NCA, 40 patients aged 2–19 y)".
    pub label: String,
    /// Where the figures come from.
    #[serde(default)]
    pub source: String,
    /// Clearance per m², L/h/m².
    pub cl_per_m2: Option<f64>,
    /// Volume at steady state per m², L/m².
    pub vss_per_m2: Option<f64>,
    /// Terminal half-life, h.
    pub t_half: Option<f64>,
}

/// A structural parameter's typical value.
#[derive(Debug, Clone, PartialEq)]
pub struct TypicalValue {
    /// Parameter name (as in the structural model).
    pub name: String,
    /// Which field of [`PkParams`] it sets.
    pub id: ParamId,
    /// Typical value at the reference covariates.
    pub value: f64,
    /// Estimation bounds.
    pub lower: f64,
    /// Estimation bounds.
    pub upper: f64,
    /// Held fixed in estimation.
    pub fixed: bool,
}

/// A covariate relation on one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct CovariateEffect {
    /// Index into [`PopulationModel::typical`].
    pub parameter: usize,
    /// Covariate (data column) name.
    pub covariate: String,
    /// The relation.
    pub relation: Relation,
    /// Reference value of the covariate.
    pub reference: f64,
    /// Exponent, slope or shift.
    pub coefficient: f64,
    /// Estimated by `pk popfit` (else fixed).
    pub estimate: bool,
    /// Estimation bounds of the coefficient.
    pub lower: f64,
    /// Estimation bounds of the coefficient.
    pub upper: f64,
}

/// A validated population model.
#[derive(Debug, Clone)]
pub struct PopulationModel {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Where the values come from.
    pub source: String,
    /// The structural model (with the population file's units, if it gives any).
    pub structural: ModelDefinition,
    /// Typical values, one per structural parameter, in the structural model's order.
    pub typical: Vec<TypicalValue>,
    /// Covariate relations.
    pub covariates: Vec<CovariateEffect>,
    /// Indices into `typical` of the parameters with an η, in Ω's order.
    pub eta_parameters: Vec<usize>,
    /// Ω, the covariance of η.
    pub omega: DMatrix<f64>,
    /// Whether each η's variance is fixed in estimation.
    pub omega_fixed: Vec<bool>,
    /// Off-diagonal elements (i > j) of Ω that are not structurally zero.
    pub omega_block: Vec<(usize, usize)>,
    /// Residual error.
    pub residual: Residual,
    /// Published summaries to compare with.
    pub published: Vec<PublishedValues>,
    /// Parameters at the typical values (the base that individual values overwrite).
    base: PkParams,
}

impl PopulationModel {
    /// Loads a population model file; `structural_model` is a bundled model
    /// name or a path relative to the population file.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let dir = Path::new(path).parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, path, dir)
    }

    /// Parses and validates a population model; `origin` names it in errors,
    /// `dir` resolves a relative structural-model path.
    pub fn from_toml(text: &str, origin: &str, dir: &Path) -> Result<Self> {
        let err = |message: String| Error::Model {
            model: origin.to_string(),
            message,
        };
        let file: PopulationFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let relative = dir.join(&file.structural_model);
        let mut structural = if relative.exists() {
            ModelDefinition::load(&relative.to_string_lossy())?
        } else {
            ModelDefinition::load(&file.structural_model)?
        };
        if let Some(u) = &file.units {
            let mut merged = u.clone();
            let d = &structural.units;
            merged.amount.get_or_insert_with(|| d.amount.to_string());
            merged.volume.get_or_insert_with(|| d.volume.to_string());
            merged.time.get_or_insert_with(|| d.time.to_string());
            merged.concentration.get_or_insert_with(|| d.concentration.to_string());
            structural.units = parse_units(&merged)?;
        }
        let typical = typical_values(&structural, &file.typical).map_err(err)?;
        let covariates = covariate_effects(&typical, &file.covariates).map_err(err)?;
        let (eta_parameters, omega, omega_fixed, omega_block) =
            omega_matrix(&typical, &file.variability, &file.correlations).map_err(err)?;
        let residual = residual(&file.residual).map_err(err)?;
        let named: Vec<(String, f64)> = typical.iter().map(|t| (t.name.clone(), t.value)).collect();
        let base = structural.params(&named)?;
        Ok(PopulationModel {
            base,
            name: file.name,
            description: file.description,
            source: file.source,
            structural,
            typical,
            covariates,
            eta_parameters,
            omega,
            omega_fixed,
            omega_block,
            residual,
            published: file.published,
        })
    }

    /// Covariate names the model needs, each once, in first-use order.
    pub fn covariate_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for c in &self.covariates {
            if !names.contains(&c.covariate.as_str()) {
                names.push(&c.covariate);
            }
        }
        names
    }

    /// Checks that `data` has a column for every covariate the model needs.
    pub fn check_covariates(&self, data: &Dataset) -> Result<()> {
        match self
            .covariate_names()
            .into_iter()
            .find(|n| data.covariate_index(n).is_none())
        {
            None => Ok(()),
            Some(n) => Err(Error::Argument(format!(
                "population model {} needs covariate {n}, but {} has no {n} column (columns: {})",
                self.name,
                data.file,
                data.covariate_names.join(", ")
            ))),
        }
    }

    /// Typical values of every parameter for covariates `cov`, given in
    /// [`PopulationModel::covariate_names`] order.
    pub fn typical_values(&self, cov: &[f64]) -> Vec<f64> {
        let names = self.covariate_names();
        let mut tv: Vec<f64> = self.typical.iter().map(|t| t.value).collect();
        for c in &self.covariates {
            let k = names.iter().position(|n| *n == c.covariate).unwrap_or(0);
            tv[c.parameter] *= c.relation.factor(cov[k], c.reference, c.coefficient);
        }
        tv
    }

    /// Checks that covariate values give positive, finite typical values; the
    /// message names the subject.
    pub fn checked_typical_values(&self, who: &str, cov: &[f64]) -> Result<Vec<f64>> {
        let tv = self.typical_values(cov);
        for (t, v) in self.typical.iter().zip(&tv) {
            let ok = v.is_finite() && (*v > 0.0 || (t.id == ParamId::Alag && *v >= 0.0));
            if !ok {
                let names = self.covariate_names();
                let shown: Vec<String> = names.iter().zip(cov).map(|(n, x)| format!("{n}={x}")).collect();
                return Err(Error::Fit {
                    subject: who.to_string(),
                    message: format!(
                        "the typical {} is {v} for covariates {}; check the covariate values",
                        t.name,
                        shown.join(", ")
                    ),
                });
            }
        }
        Ok(tv)
    }

    /// Individual parameter values: typical values `tv` times exp(η) on the η parameters.
    pub fn individual_values(&self, tv: &[f64], eta: &[f64]) -> Vec<f64> {
        let mut v = tv.to_vec();
        for (k, &p) in self.eta_parameters.iter().enumerate() {
            v[p] *= eta[k].exp();
        }
        v
    }

    /// Typed parameters from values in [`PopulationModel::typical`] order;
    /// an error names a value that is not finite or not positive.
    pub fn params(&self, values: &[f64]) -> Result<PkParams> {
        let mut p = self.base;
        for (t, &v) in self.typical.iter().zip(values) {
            let ok = v.is_finite() && (v > 0.0 || (t.id == ParamId::Alag && v >= 0.0));
            if !ok {
                return Err(Error::parameter(&t.name, format!("must be a positive number, got {v}")));
            }
            // KM is given in the reported concentration unit.
            let v = if t.id == ParamId::Km {
                v / self.structural.units.concentration_scale()
            } else {
                v
            };
            p.set(t.id, v);
        }
        Ok(p)
    }

    /// Names of the η parameters, in Ω's order.
    pub fn eta_names(&self) -> Vec<&str> {
        self.eta_parameters
            .iter()
            .map(|&p| self.typical[p].name.as_str())
            .collect()
    }

    /// ω (SD of η) of each η parameter.
    pub fn omega_sd(&self) -> Vec<f64> {
        (0..self.omega.nrows()).map(|i| self.omega[(i, i)].sqrt()).collect()
    }

    /// The lower Cholesky factor of Ω, or an error if Ω is not positive definite.
    pub fn omega_cholesky(&self) -> Result<DMatrix<f64>> {
        cholesky_lower(&self.omega).ok_or_else(|| Error::Model {
            model: self.name.clone(),
            message: "Ω is not positive definite (check the variances and correlations)".into(),
        })
    }
}

/// Lower Cholesky factor of a symmetric matrix, `None` unless positive definite.
pub fn cholesky_lower(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    if m.nrows() == 0 {
        return Some(DMatrix::zeros(0, 0));
    }
    Cholesky::new(m.clone()).map(|c| c.l())
}

/// ω² from a coefficient of variation of a log-normal parameter: ln(1 + CV²).
pub fn omega2_from_cv(cv_percent: f64) -> f64 {
    let cv = cv_percent / 100.0;
    (1.0 + cv * cv).ln()
}

fn typical_values(model: &ModelDefinition, specs: &[TypicalSpec]) -> std::result::Result<Vec<TypicalValue>, String> {
    for s in specs {
        if model.parameter(&s.parameter).is_none() {
            return Err(format!(
                "[[typical]] {}: the structural model {} has no such parameter (its parameters: {})",
                s.parameter,
                model.name,
                model.parameter_names().join(", ")
            ));
        }
        if specs.iter().filter(|o| o.parameter == s.parameter).count() > 1 {
            return Err(format!("[[typical]] {} is given twice", s.parameter));
        }
    }
    model
        .parameters
        .iter()
        .map(|p| {
            let s = specs
                .iter()
                .find(|s| s.parameter == p.name)
                .ok_or_else(|| format!("no [[typical]] value for parameter {} of model {}", p.name, model.name))?;
            let id = ParamId::parse(&p.name).ok_or_else(|| format!("parameter {} is not a known parameter", p.name))?;
            let lower = s.lower.unwrap_or(p.lower);
            let upper = s.upper.unwrap_or(p.upper);
            let positive = id != ParamId::Alag;
            if !s.value.is_finite() || (positive && s.value <= 0.0) {
                return Err(format!(
                    "[[typical]] {}: value must be a positive number, got {}",
                    p.name, s.value
                ));
            }
            if !(lower < upper && s.value >= lower && s.value <= upper) {
                return Err(format!(
                    "[[typical]] {}: need lower <= value <= upper, got {lower} <= {} <= {upper}",
                    p.name, s.value
                ));
            }
            Ok(TypicalValue {
                name: p.name.clone(),
                id,
                value: s.value,
                lower,
                upper,
                fixed: s.fixed,
            })
        })
        .collect()
}

fn covariate_effects(
    typical: &[TypicalValue],
    specs: &[CovariateSpec],
) -> std::result::Result<Vec<CovariateEffect>, String> {
    specs
        .iter()
        .map(|s| {
            let parameter = typical
                .iter()
                .position(|t| t.name == s.parameter)
                .ok_or_else(|| format!("[[covariate]] on {}: no such parameter", s.parameter))?;
            if !s.reference.is_finite() || !s.coefficient.is_finite() {
                return Err(format!(
                    "[[covariate]] {} on {}: reference and coefficient must be numbers",
                    s.covariate, s.parameter
                ));
            }
            if s.relation == Relation::Power && s.reference <= 0.0 {
                return Err(format!(
                    "[[covariate]] {} on {}: a power relation needs a positive reference, got {}",
                    s.covariate, s.parameter, s.reference
                ));
            }
            Ok(CovariateEffect {
                parameter,
                covariate: s.covariate.clone(),
                relation: s.relation,
                reference: s.reference,
                coefficient: s.coefficient,
                estimate: s.estimate,
                lower: s.lower.unwrap_or(f64::NEG_INFINITY),
                upper: s.upper.unwrap_or(f64::INFINITY),
            })
        })
        .collect()
}

type OmegaParts = (Vec<usize>, DMatrix<f64>, Vec<bool>, Vec<(usize, usize)>);

fn omega_matrix(
    typical: &[TypicalValue],
    specs: &[VariabilitySpec],
    correlations: &[CorrelationSpec],
) -> std::result::Result<OmegaParts, String> {
    let mut eta = Vec::new();
    let mut var = Vec::new();
    let mut fixed = Vec::new();
    for s in specs {
        let p = typical
            .iter()
            .position(|t| t.name == s.parameter)
            .ok_or_else(|| format!("[[variability]] on {}: the model has no such parameter", s.parameter))?;
        if eta.contains(&p) {
            return Err(format!("[[variability]] on {} is given twice", s.parameter));
        }
        let w2 = match (s.omega2, s.cv_percent) {
            (Some(w), None) => w,
            (None, Some(cv)) if cv >= 0.0 => omega2_from_cv(cv),
            (None, Some(cv)) => {
                return Err(format!(
                    "[[variability]] on {}: cv_percent must not be negative, got {cv}",
                    s.parameter
                ))
            }
            _ => {
                return Err(format!(
                    "[[variability]] on {}: give exactly one of omega2 (variance of η) or cv_percent",
                    s.parameter
                ))
            }
        };
        if !(w2 > 0.0 && w2.is_finite()) {
            return Err(format!(
                "[[variability]] on {}: ω² must be positive, got {w2} (leave the parameter out for no variability)",
                s.parameter
            ));
        }
        eta.push(p);
        var.push(w2);
        fixed.push(s.fixed);
    }
    let n = eta.len();
    let mut omega = DMatrix::from_diagonal(&DVector::from_vec(var.clone()));
    let mut block = Vec::new();
    for c in correlations {
        let index = |name: &str| {
            typical
                .iter()
                .position(|t| t.name == name)
                .and_then(|p| eta.iter().position(|&e| e == p))
                .ok_or_else(|| format!("[[correlation]]: {name} has no [[variability]] entry"))
        };
        let (a, b) = (index(&c.parameters[0])?, index(&c.parameters[1])?);
        if a == b || !(c.value > -1.0 && c.value < 1.0) {
            return Err(format!(
                "[[correlation]] {}–{}: need two different parameters and -1 < value < 1, got {}",
                c.parameters[0], c.parameters[1], c.value
            ));
        }
        let cov = c.value * (var[a] * var[b]).sqrt();
        omega[(a, b)] = cov;
        omega[(b, a)] = cov;
        block.push((a.max(b), a.min(b)));
    }
    if n > 0 && cholesky_lower(&omega).is_none() {
        return Err("Ω is not positive definite: the correlations are not mutually consistent".into());
    }
    Ok((eta, omega, fixed, block))
}

fn residual(s: &ResidualSpec) -> std::result::Result<Residual, String> {
    let check = |name: &str, v: f64| {
        if v > 0.0 && v.is_finite() {
            Ok(())
        } else {
            Err(format!(
                "[residual] {name} must be a positive SD for the {} model, got {v}",
                s.model
            ))
        }
    };
    match s.model {
        ResidualKind::Additive => check("additive", s.additive)?,
        ResidualKind::Proportional | ResidualKind::Exponential => check("proportional", s.proportional)?,
        ResidualKind::Combined => {
            check("additive", s.additive)?;
            check("proportional", s.proportional)?;
        }
    }
    Ok(Residual {
        kind: s.model,
        additive: s.additive,
        proportional: s.proportional,
        fixed: s.fixed,
    })
}
