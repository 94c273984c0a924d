//! How fitted individuals stand against a population model: each parameter's
//! ratio to the typical value for the subject's own covariates, η = ln(ratio),
//! its z-score and percentile under ω, and a group summary beside published values.

use crate::data::nonmem::Dataset;
use crate::error::{Error, Result};
use crate::model::scenario::regimen_scenario;
use crate::model::{IndividualParameters, Model, SubjectData, Values};
use serde::Deserialize;
use serde_json::Value;

/// z beyond which an individual is outside the central 90% of the population.
pub const Z90: f64 = 1.644_853_626_951_472_2;

/// A fitted individual, as read from `pk fit --json` or taken from a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Individual {
    /// Subject id.
    pub id: String,
    /// Whether its fit converged.
    pub converged: bool,
    /// Estimated parameters by name.
    pub parameters: Vec<(String, f64)>,
    /// Covariates by name.
    pub covariates: Vec<(String, f64)>,
    /// Body-surface area, m².
    pub bsa: Option<f64>,
    /// Volume at steady state.
    pub vss: Option<f64>,
    /// Terminal half-life.
    pub t_half: Option<f64>,
}

/// Reads the individuals of a `pk fit --json` file; `file` names it in errors.
pub fn individuals_from_fit_json(text: &str, file: &str) -> Result<(Vec<Individual>, Value)> {
    let root: Value = serde_json::from_str(text).map_err(|e| Error::Data {
        location: crate::error::Location::file(file),
        message: format!("not JSON: {e}"),
    })?;
    Ok((individuals_from_value(&root, file)?, root))
}

/// The individuals of a `pk fit` JSON document (`pk fit --json` or `--prior`).
pub fn individuals_from_value(root: &Value, file: &str) -> Result<Vec<Individual>> {
    let bad = |message: String| Error::Data {
        location: crate::error::Location::file(file),
        message,
    };
    if root.get("rule").is_some() && root.get("model").is_none() && root.get("prior").is_none() {
        return Err(bad(
            "this is the output of `pk nca --json`: pk compare takes the estimates of `pk fit --json` \
             (or `pk fit --prior … --json`)"
                .into(),
        ));
    }
    let subjects = root
        .get("subjects")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("expected the output of `pk fit --json` (an object with a \"subjects\" list)".into()))?;
    let mut out = Vec::new();
    for s in subjects {
        let id = match s.get("id") {
            Some(Value::String(t)) => t.clone(),
            Some(v) => v.to_string(),
            None => return Err(bad("a subject has no \"id\"".into())),
        };
        let numbers = |key: &str, field: Option<&str>| -> Vec<(String, f64)> {
            s.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            let x = match field {
                                Some(f) => v.get(f).and_then(Value::as_f64),
                                None => v.as_f64(),
                            };
                            x.map(|x| (k.clone(), x))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let derived = |key: &str| s.get("derived").and_then(|d| d.get(key)).and_then(Value::as_f64);
        out.push(Individual {
            converged: s.get("converged").and_then(Value::as_bool).unwrap_or(false),
            parameters: numbers("parameters", Some("estimate")),
            covariates: numbers("covariates", None),
            bsa: s.get("per_m2").and_then(|p| p.get("bsa")).and_then(Value::as_f64),
            vss: derived("vss"),
            t_half: derived("t_half_beta"),
            id,
        });
    }
    Ok(out)
}

/// One parameter of one individual against the population.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterComparison {
    /// Parameter name.
    pub name: String,
    /// The individual's estimate.
    pub individual: f64,
    /// The typical value for the individual's covariates.
    pub typical: f64,
    /// individual / typical.
    pub ratio: f64,
    /// ln(ratio).
    pub eta: f64,
    /// ω of the parameter (None without between-subject variability).
    pub omega: Option<f64>,
    /// η/ω.
    pub z: Option<f64>,
    /// Percentile of η under N(0, ω²), 0–100.
    pub percentile: Option<f64>,
    /// "low" or "high" beyond the central 90%.
    pub flag: Option<&'static str>,
}

/// An individual against the population.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectComparison {
    /// Subject id.
    pub id: String,
    /// Whether its fit converged (non-converged fits are listed but not summarised).
    pub converged: bool,
    /// Covariates used for the typical values.
    pub covariates: Vec<(String, f64)>,
    /// One entry per parameter of the population model that the fit estimated.
    pub parameters: Vec<ParameterComparison>,
}

/// Compares each individual with a population model in the model language.
/// The typical value of a parameter is the model's individual parameter for
/// the subject's covariates at η = 0 (θ at their values in the file); its ω
/// is that of the η it carries (see [`eta_of_parameters`]). Fails, naming the
/// subject, when a covariate the model reads is missing from the fit.
pub fn compare_model(model: &Model, individuals: &[Individual]) -> Result<Vec<SubjectComparison>> {
    individuals.iter().map(|ind| compare_one(model, ind)).collect()
}

fn compare_one(model: &Model, ind: &Individual) -> Result<SubjectComparison> {
    let names = &model.code.covariates;
    let mut cov = Vec::with_capacity(names.len());
    for n in names {
        let v = ind
            .covariates
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v);
        cov.push(v.ok_or_else(|| missing_covariate(&model.name(), n, ind))?);
    }
    let subject = typical_subject(model, names, &cov).map_err(|e| Error::Fit {
        subject: ind.id.clone(),
        message: e.to_string(),
    })?;
    let fitted: Vec<&str> = ind.parameters.iter().map(|(k, _)| k.as_str()).collect();
    let at = |eta: &[f64]| parameters_at(model, &subject, eta, &ind.id);
    let typical = at(&vec![0.0; model.code.omega.names.len()])?;
    let carried = eta_of_parameters(model, &typical, &fitted, &at).map_err(|message| Error::Fit {
        subject: ind.id.clone(),
        message,
    })?;
    let mut parameters = Vec::new();
    for (name, tv) in &typical.values {
        let Some(&(_, value)) = ind.parameters.iter().find(|(k, _)| k == name) else {
            continue;
        };
        if !(value > 0.0 && value.is_finite()) {
            return Err(Error::Fit {
                subject: ind.id.clone(),
                message: format!(
                    "the fitted {name} is {value}: only a positive value compares with the population as typical·exp(η)"
                ),
            });
        }
        let omega = carried
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, k)| *k)
            .map(|k| model.code.omega.matrix[(k, k)].sqrt());
        parameters.push(parameter_comparison(name, value, *tv, omega));
    }
    Ok(SubjectComparison {
        id: ind.id.clone(),
        converged: ind.converged,
        covariates: names.iter().cloned().zip(cov).collect(),
        parameters,
    })
}

fn missing_covariate(model: &str, n: &str, ind: &Individual) -> Error {
    Error::Fit {
        subject: ind.id.clone(),
        message: format!(
            "population model {model} needs covariate {n}, which the fit does not have (covariates: {})",
            if ind.covariates.is_empty() {
                "none".to_string()
            } else {
                ind.covariates
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    }
}

/// A one-record subject with the given covariates (the typical patient's view of the model).
fn typical_subject(model: &Model, names: &[String], cov: &[f64]) -> Result<SubjectData> {
    let s = regimen_scenario(model, &[], &[0.0], names, cov)?;
    let d: &Dataset = &s.data;
    model.subject(d, s.subject())
}

/// The individual parameters of the subject's first parameter set at `eta` (θ and σ from the file).
fn parameters_at(model: &Model, s: &SubjectData, eta: &[f64], id: &str) -> Result<IndividualParameters> {
    let (theta, sigma) = (model.theta_init(), model.sigma_sd_init());
    let v = Values {
        theta: &theta,
        eta,
        kappa: &[],
        sigma_sd: &sigma,
    };
    model
        .individual_parameters(s, &v)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Fit {
            subject: id.to_string(),
            message: "no parameter set".into(),
        })
}

/// Step in η of the central differences of [`eta_of_parameters`].
const ETA_STEP: f64 = 0.1;
/// Tolerance on d ln P/dη (0 or 1) and on the curvature of ln P in η.
const ETA_TOLERANCE: f64 = 1e-8;

/// For each parameter in `names`, the η it carries: the index k with
/// d ln P/dη_k = 1 and ln P linear in η_k (P = typical·exp(η_k)), the others
/// with derivative 0; `None` when no η enters it. Central differences with
/// step 0.1 at η = 0 (exact for ln P linear in η). A parameter that depends
/// on η otherwise (two η, a slope other than 1, P = θ·(1 + η)) is refused:
/// its η is not ln(P/typical).
pub fn eta_of_parameters(
    model: &Model,
    typical: &IndividualParameters,
    names: &[&str],
    at: &dyn Fn(&[f64]) -> Result<IndividualParameters>,
) -> std::result::Result<Vec<(String, Option<usize>)>, String> {
    let etas = &model.code.omega.names;
    let n = etas.len();
    let mut shifted = Vec::with_capacity(n);
    for k in 0..n {
        let mut e = vec![0.0; n];
        e[k] = ETA_STEP;
        let plus = at(&e).map_err(|e| e.to_string())?;
        e[k] = -ETA_STEP;
        let minus = at(&e).map_err(|e| e.to_string())?;
        shifted.push((plus, minus));
    }
    let mut out = Vec::new();
    for (name, p0) in typical.values.iter().filter(|(n, _)| names.contains(&n.as_str())) {
        let mut carried = None;
        let mut slopes = Vec::with_capacity(n);
        let mut linear = true;
        for (plus, minus) in &shifted {
            let (lp, lm) = (
                plus.get(name).unwrap_or(f64::NAN).ln(),
                minus.get(name).unwrap_or(f64::NAN).ln(),
            );
            slopes.push((lp - lm) / (2.0 * ETA_STEP));
            linear &= (lp + lm - 2.0 * p0.ln()).abs() < ETA_TOLERANCE;
        }
        let unit: Vec<usize> = (0..n).filter(|&k| (slopes[k] - 1.0).abs() < ETA_TOLERANCE).collect();
        let zero = (0..n).filter(|&k| slopes[k].abs() < ETA_TOLERANCE).count();
        if zero == n {
            // No η enters this parameter.
        } else if unit.len() == 1 && zero == n - 1 && linear {
            carried = Some(unit[0]);
        } else {
            let listed: Vec<String> = etas.iter().zip(&slopes).map(|(e, s)| format!("{e} {s:.4}")).collect();
            return Err(format!(
                "parameter {name} of model {} is not typical·exp(η) in one η (d ln {name}/dη at η = 0: {}{}); \
                 pk compare reads η as ln(individual/typical), which needs that form",
                model.name(),
                listed.join(", "),
                if linear { "" } else { "; ln of it is not linear in η" }
            ));
        }
        out.push((name.clone(), carried));
    }
    Ok(out)
}

fn parameter_comparison(name: &str, individual: f64, typical: f64, omega: Option<f64>) -> ParameterComparison {
    let ratio = individual / typical;
    let eta = ratio.ln();
    let z = omega.map(|w| eta / w);
    ParameterComparison {
        name: name.to_string(),
        individual,
        typical,
        ratio,
        eta,
        omega,
        z,
        percentile: z.map(|z| 100.0 * normal_cdf(z)),
        flag: z.and_then(|z| {
            if z < -Z90 {
                Some("low")
            } else if z > Z90 {
                Some("high")
            } else {
                None
            }
        }),
    }
}

/// Geometric means of the group's per-m² clearance and Vss and terminal half-life.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// Subjects summarised (converged fits).
    pub n: usize,
    /// Geometric mean CL/BSA.
    pub cl_per_m2: Option<f64>,
    /// Geometric mean Vss/BSA.
    pub vss_per_m2: Option<f64>,
    /// Geometric mean terminal half-life.
    pub t_half: Option<f64>,
}

/// Summary of the converged individuals (per-m² values need a BSA).
pub fn group_summary(individuals: &[Individual]) -> GroupSummary {
    let ok: Vec<&Individual> = individuals.iter().filter(|i| i.converged).collect();
    let gm = |values: Vec<Option<f64>>| -> Option<f64> {
        let v: Option<Vec<f64>> = values.into_iter().collect();
        let v = v.filter(|v| !v.is_empty() && v.iter().all(|x| *x > 0.0))?;
        Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
    };
    let cl = |i: &Individual| i.parameters.iter().find(|(k, _)| k == "CL").map(|(_, v)| *v);
    GroupSummary {
        n: ok.len(),
        cl_per_m2: gm(ok.iter().map(|i| Some(cl(i)? / i.bsa?)).collect()),
        vss_per_m2: gm(ok.iter().map(|i| Some(i.vss? / i.bsa?)).collect()),
        t_half: gm(ok.iter().map(|i| i.t_half).collect()),
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

/// Published values to set a group beside: a TOML file of `[[published]]`
/// tables (`label`, `source`, `cl_per_m2`, `vss_per_m2`, `t_half`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublishedFile {
    /// The entries.
    #[serde(default)]
    pub published: Vec<PublishedValues>,
}

impl PublishedFile {
    /// Reads a published-values file; errors name the file.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Data {
            location: crate::error::Location::file(path),
            message: format!("published values: {}", e.to_string().trim()),
        })
    }
}

/// What a report says of the population: its name, source and published values.
#[derive(Debug, Clone, Copy)]
pub struct ReportHeader<'a> {
    /// Model name.
    pub name: &'a str,
    /// Where the model comes from (empty: not given).
    pub source: &'a str,
    /// Published group values.
    pub published: &'a [PublishedValues],
}

/// Text table of the comparison and the group summary beside published values.
pub fn text_report_for(h: &ReportHeader<'_>, rows: &[SubjectComparison], summary: &GroupSummary) -> String {
    let mut t = format!(
        "Individuals against population model {} ({})\n",
        h.name,
        if h.source.is_empty() {
            "no source given"
        } else {
            h.source
        }
    );
    t.push_str(&format!(
        "{:<8} {:<5} {:>11} {:>11} {:>7} {:>7} {:>6} {:>6}  flag\n",
        "ID", "PARAM", "individual", "typical", "ratio", "eta", "z", "pctl"
    ));
    for s in rows {
        for p in &s.parameters {
            t.push_str(&format!(
                "{:<8} {:<5} {:>11.4} {:>11.4} {:>7.3} {:>7.3} {:>6} {:>6}  {}{}\n",
                s.id,
                p.name,
                p.individual,
                p.typical,
                p.ratio,
                p.eta,
                p.z.map_or("-".into(), |z| format!("{z:.2}")),
                p.percentile.map_or("-".into(), |q| format!("{q:.1}")),
                p.flag.map_or(String::new(), |f| format!("{f} (outside the 90% range)")),
                if s.converged { "" } else { " [fit not converged]" }
            ));
        }
    }
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    t.push_str(&format!(
        "\nGroup (geometric mean of {} converged fits) beside published values:\n{:<78} {:>10} {:>10} {:>8}\n",
        summary.n, "", "CL/m2", "Vss/m2", "t1/2"
    ));
    t.push_str(&format!(
        "{:<78} {:>10} {:>10} {:>8}\n",
        "this group",
        show(summary.cl_per_m2),
        show(summary.vss_per_m2),
        show(summary.t_half)
    ));
    for p in h.published {
        t.push_str(&format!(
            "{:<78} {:>10} {:>10} {:>8}\n",
            p.label,
            show(p.cl_per_m2),
            show(p.vss_per_m2),
            show(p.t_half)
        ));
    }
    t
}

/// Standard normal CDF, Φ(z) = erfc(−z/√2)/2.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function: the Maclaurin series of erf below 2.5, the
/// continued fraction e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))) above
/// (absolute error below 1e-13 everywhere).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
    }
    if x > 27.0 {
        return 0.0;
    }
    let mut tail = x;
    for n in (1..=300).rev() {
        tail = x + (n as f64 / 2.0) / tail;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        // Reference values: Python 3 math.erfc (C library erfc), printed to 17 digits.
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(Z90) - 0.95).abs() < 1e-12);
        assert!((normal_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-12);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-14);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-15);
        assert!((erfc(2.49) - 4.292_878_677_339_13e-4).abs() < 1e-15);
        assert!((erfc(0.6) - 3.961_439_091_520_741e-1).abs() < 1e-15);
        assert!((erfc(5.0) - 1.537_459_794_428_034_8e-12).abs() < 1e-24);
    }
}
