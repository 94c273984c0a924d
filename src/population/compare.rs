//! How fitted individuals stand against a population model: each parameter's
//! ratio to the typical value for the subject's own covariates, η = ln(ratio),
//! its z-score and percentile under ω, and a group summary beside published values.

use super::model::PopulationModel;
use crate::error::{Error, Result};
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

/// Compares each individual with `model`; fails, naming the subject, when a
/// covariate the model needs is missing.
pub fn compare(model: &PopulationModel, individuals: &[Individual]) -> Result<Vec<SubjectComparison>> {
    let names = model.covariate_names();
    let sd = model.omega_sd();
    individuals
        .iter()
        .map(|ind| {
            let mut cov = Vec::with_capacity(names.len());
            for n in &names {
                let v = ind.covariates.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
                let v = v.ok_or_else(|| Error::Fit {
                    subject: ind.id.clone(),
                    message: format!(
                        "population model {} needs covariate {n}, which the fit does not have (covariates: {})",
                        model.name,
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
                })?;
                cov.push(v);
            }
            let tv = model.checked_typical_values(&ind.id, &cov)?;
            let parameters = model
                .typical
                .iter()
                .enumerate()
                .filter_map(|(p, t)| {
                    let value = ind.parameters.iter().find(|(k, _)| *k == t.name)?.1;
                    let omega = model.eta_parameters.iter().position(|&e| e == p).map(|k| sd[k]);
                    Some(parameter_comparison(&t.name, value, tv[p], omega))
                })
                .collect();
            Ok(SubjectComparison {
                id: ind.id.clone(),
                converged: ind.converged,
                covariates: names.iter().map(|n| n.to_string()).zip(cov).collect(),
                parameters,
            })
        })
        .collect()
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

/// Text table of the comparison and the group summary beside published values.
pub fn text_report(model: &PopulationModel, rows: &[SubjectComparison], summary: &GroupSummary) -> String {
    let mut t = format!(
        "Individuals against population model {} ({})\n",
        model.name,
        if model.source.is_empty() {
            "no source given"
        } else {
            &model.source
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
    for p in &model.published {
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
