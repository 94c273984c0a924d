//! Reports of fits: the JSON document, the per-observation residual table, and
//! the terminal summary.

use super::{ParameterEstimate, SubjectFit};
use crate::error::Error;
use crate::model::Model;
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// Outcome of one subject: its fit, or why it could not be fitted.
pub type Outcome = (String, Result<SubjectFit, Error>);

fn opt(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from)
}

fn parameter_json(p: &ParameterEstimate) -> Value {
    json!({
        "estimate": p.estimate,
        "se": opt(p.se),
        "rse_percent": opt(p.rse_percent),
        "ci95": p.ci95.map_or(Value::Null, |c| json!([c[0], c[1]])),
        "fixed": p.fixed,
        "at_bound": p.at_bound,
    })
}

/// The JSON document of a fit run (schema in the README).
pub fn json(model: &Model, error_model: &str, outcomes: &[Outcome]) -> Value {
    let mut doc = json_head(model, error_model);
    doc["subjects"] = Value::Array(outcomes.iter().map(outcome_json).collect());
    doc
}

/// The document's fields other than the subjects.
fn json_head(model: &Model, error_model: &str) -> Value {
    json!({
        "model": model.name(),
        "error_model": error_model,
        "units": {
            "concentration": model.units.concentration.to_string(),
            "amount": model.units.amount.to_string(),
            "volume": model.units.volume.to_string(),
            "time": model.units.time.to_string(),
        },
    })
}

/// One subject's entry of the document (a failed fit: its id and message).
pub fn outcome_json((id, outcome): &Outcome) -> Value {
    match outcome {
        Ok(fit) => subject_json(fit),
        Err(e) => json!({"id": id, "converged": false, "message": e.to_string()}),
    }
}

/// The document of [`json`] with the fields `extra` added, pretty-printed and
/// handed to `write` piece by piece: one subject's values exist at a time, so
/// memory does not grow with the number of subjects.
pub fn write_json(
    model: &Model,
    error_model: &str,
    extra: &[(&str, Value)],
    outcomes: &[Outcome],
    write: &mut dyn FnMut(&str) -> crate::Result<()>,
) -> crate::Result<()> {
    let pretty = |v: &Value, indent: &str| -> crate::Result<String> {
        let text = serde_json::to_string_pretty(v).map_err(|e| Error::Argument(e.to_string()))?;
        Ok(text.replace('\n', &format!("\n{indent}")))
    };
    let mut head = json_head(model, error_model);
    for (k, v) in extra {
        head[*k] = v.clone();
    }
    write("{\n")?;
    if let Value::Object(fields) = &head {
        for (k, v) in fields {
            write(&format!("  {}: {},\n", Value::from(k.as_str()), pretty(v, "  ")?))?;
        }
    }
    write("  \"subjects\": [")?;
    for (i, o) in outcomes.iter().enumerate() {
        write(if i == 0 { "\n    " } else { ",\n    " })?;
        write(&pretty(&outcome_json(o), "    ")?)?;
    }
    write(if outcomes.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" })
}

fn subject_json(fit: &SubjectFit) -> Value {
    let mut parameters = Map::new();
    for p in &fit.parameters {
        parameters.insert(p.name.clone(), parameter_json(p));
    }
    let derived = fit
        .exposure
        .as_ref()
        .and_then(|e| serde_json::to_value(e).ok())
        .unwrap_or(Value::Null);
    let per_m2 = match (&fit.exposure, fit.bsa) {
        (Some(e), Some(bsa)) => json!({
            "bsa": bsa,
            "cl": opt(e.cl.map(|v| v / bsa)),
            "vss": opt(e.vss.map(|v| v / bsa)),
            "v1": opt(e.v1.map(|v| v / bsa)),
            "v2": opt(e.v2.map(|v| v / bsa)),
            "q": opt(e.q.map(|v| v / bsa)),
        }),
        _ => Value::Null,
    };
    json!({
        "id": fit.id,
        "converged": fit.converged,
        "message": fit.message,
        "n_obs": fit.n_obs,
        "n_excluded": fit.n_excluded,
        "objective": {
            "m2ll": fit.objective.m2ll,
            "aic": fit.objective.aic,
            "bic": fit.objective.bic,
            "wss": opt(fit.objective.wss),
            "n_parameters": fit.objective.n_parameters,
        },
        "parameters": parameters,
        "covariance_method": fit.covariance_method.describe(),
        "condition_number": opt(Some(fit.condition_number)),
        "max_gradient": fit.max_gradient,
        "correlation": {
            "names": fit.correlation_names,
            "matrix": fit.correlation,
        },
        "identifiable": fit.identifiable,
        "warnings": fit.warnings,
        "start_objectives": fit.start_objectives.iter().map(|v| opt(Some(*v))).collect::<Vec<_>>(),
        "derived": derived,
        "derived_note": fit.exposure_note,
        "per_m2": per_m2,
        "covariates": fit.covariates.iter().map(|(n, v)| (n.clone(), opt(Some(*v)))).collect::<Map<String, Value>>(),
        "nca": nca_json(fit),
    })
}

fn nca_json(fit: &SubjectFit) -> Value {
    match &fit.nca {
        Ok((route, n)) => {
            let mut values = Map::new();
            for (code, v, _) in n.values(*route) {
                values.insert(code.to_string(), opt(v));
            }
            json!({"interval": "first dose", "rule": "linear-up/log-down", "values": values, "flags": n.flags})
        }
        Err(e) => json!({"error": e}),
    }
}

/// One row per observation: ID, TIME, DV, PRED, RES, WRES (and the data
/// line), the header with the model's units.
pub fn residual_table(model: &Model, outcomes: &[Outcome]) -> String {
    let u = &model.units;
    let c = &u.concentration;
    let mut s = format!("ID,TIME ({}),DV ({c}),PRED ({c}),RES ({c}),WRES,LINE\n", u.time);
    for (_, outcome) in outcomes {
        if let Ok(fit) = outcome {
            for r in &fit.residuals {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{}",
                    fit.id, r.time, r.dv, r.pred, r.res, r.wres, r.line
                );
            }
        }
    }
    s
}

fn g(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.4e}")
    } else {
        let digits = if a >= 100.0 {
            2
        } else if a >= 1.0 {
            3
        } else {
            4
        };
        format!("{v:.digits$}")
    }
}

fn og(v: Option<f64>) -> String {
    v.map_or("-".into(), g)
}

/// The unit of a θ named as a closed-form kernel's parameter (CL, Q…:
/// volume/time; V…: volume; KA: 1/time) in the model's units; `-` otherwise
/// (the model language gives θ no unit of their own).
pub fn parameter_unit(model: &Model, name: &str) -> String {
    let crate::lang::Dynamics::Kernel(kernel) = model.code.dynamics else {
        return "-".into();
    };
    let u = &model.units;
    let named = kernel.parameters().iter().any(|p| p.eq_ignore_ascii_case(name))
        || (name.eq_ignore_ascii_case("V") && kernel.compartments() == 1)
        || (name.eq_ignore_ascii_case("Q") && kernel.compartments() == 2);
    if !named {
        return "-".into();
    }
    let upper = name.to_ascii_uppercase();
    if upper == "KA" {
        format!("1/{}", u.time)
    } else if upper.starts_with("CL") || upper.starts_with('Q') {
        format!("{}/{}", u.volume, u.time)
    } else if upper.starts_with('V') {
        u.volume.to_string()
    } else {
        "-".into()
    }
}

/// The terminal report: one block per subject and a summary table.
pub fn text(model: &Model, outcomes: &[Outcome]) -> String {
    let u = &model.units;
    let (conc, time, vol, amt) = (
        u.concentration.to_string(),
        u.time.to_string(),
        u.volume.to_string(),
        u.amount.to_string(),
    );
    let mut s = String::new();
    for (id, outcome) in outcomes {
        let fit = match outcome {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(s, "Subject {id}: NOT FITTED: {e}\n");
                continue;
            }
        };
        let status = if fit.converged { "converged" } else { "FAILED" };
        let _ = writeln!(
            s,
            "Subject {}: {} observations, {} error; {status}: {}",
            fit.id, fit.n_obs, fit.error_model, fit.message
        );
        if !fit.converged {
            let _ = writeln!(s, "  (estimates below are the last iterate, not an optimum)");
        }
        let _ = writeln!(
            s,
            "  {:<12} {:<8} {:>12} {:>11} {:>7}   {:<26}",
            "parameter", "unit", "estimate", "SE", "RSE%", "95% CI"
        );
        for p in &fit.parameters {
            let ci = p
                .ci95
                .map_or("-".to_string(), |c| format!("[{}, {}]", g(c[0]), g(c[1])));
            let note = if p.fixed {
                " (fixed)"
            } else if p.at_bound {
                " (at bound)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  {:<12} {:<8} {:>12} {:>11} {:>7}   {ci}{note}",
                p.name,
                parameter_unit(model, &p.name),
                g(p.estimate),
                og(p.se),
                p.rse_percent.map_or("-".into(), |r| format!("{r:.1}"))
            );
        }
        let o = &fit.objective;
        let _ = write!(s, "  -2LL {}  AIC {}  BIC {}", g(o.m2ll), g(o.aic), g(o.bic));
        if let Some(w) = o.wss {
            let _ = write!(s, "  WSS {}", g(w));
        }
        let _ = writeln!(s, "  (SE: {})", fit.covariance_method.describe());
        if let Some(e) = &fit.exposure {
            let _ = writeln!(
                s,
                "  first dose: Cmax {} {conc} at {} {time} (observed {} at {}), AUC0-24 {} {conc}*{time}, AUC0-inf {}",
                g(e.cmax),
                g(e.tmax),
                og(e.cmax_obs),
                og(e.tmax_obs),
                g(e.auc_0_24),
                og(e.auc_0_inf)
            );
            let _ = writeln!(
                s,
                "  disposition: CL {} {vol}/{time}, Vss {} {vol}, t1/2 alpha {} {time}, t1/2 beta {} {time}, MRT {} {time}",
                og(e.cl),
                og(e.vss),
                og(e.t_half_alpha),
                og(e.t_half_beta),
                og(e.mrt)
            );
            if let Some(tau) = e.tau {
                let _ = writeln!(
                    s,
                    "  steady state (tau {} {time}): Cmax {} Cmin {} Cavg {} {conc}, AUCtau {}, accumulation {}",
                    g(tau),
                    og(e.cmax_ss),
                    og(e.cmin_ss),
                    og(e.cavg_ss),
                    og(e.auc_tau_ss),
                    og(e.accumulation_ratio)
                );
            }
            match &fit.nca {
                Ok((_, n)) => {
                    let l = n.lambda_z;
                    let _ = writeln!(
                        s,
                        "  NCA, first interval: Cmax {} at {} {time}, AUClast {}, AUCinf {}, t1/2 {} {time}, CL {}",
                        g(n.cmax),
                        g(n.tmax),
                        g(n.auclast),
                        og(n.aucinf_obs),
                        og(l.map(|l| std::f64::consts::LN_2 / l.lambda_z)),
                        og(n.cl_obs)
                    );
                }
                Err(e) => {
                    let _ = writeln!(s, "  NCA, first interval: not computed: {e}");
                }
            }
            if let Some(bsa) = fit.bsa {
                let _ = writeln!(
                    s,
                    "  per m2 (BSA {} m2): CL {} {vol}/{time}/m2, Vss {} {vol}/m2, V1 {}, V2 {}, Q {}",
                    g(bsa),
                    og(e.cl.map(|v| v / bsa)),
                    og(e.vss.map(|v| v / bsa)),
                    og(e.v1.map(|v| v / bsa)),
                    og(e.v2.map(|v| v / bsa)),
                    og(e.q.map(|v| v / bsa))
                );
            }
        }
        if let Some(note) = &fit.exposure_note {
            let _ = writeln!(s, "  derived values: {note}");
        }
        for w in &fit.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "Summary (doses in {amt}):");
    let _ = writeln!(
        s,
        "  {:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10}  status",
        "ID", "CL", "V1", "Q", "V2", "Vss", "t1/2b", "CL/m2", "Vss/m2"
    );
    for (id, outcome) in outcomes {
        match outcome {
            Ok(fit) => {
                let e = fit.exposure.as_ref();
                let per = |v: Option<f64>| og(v.zip(fit.bsa).map(|(v, b)| v / b));
                let status = match (fit.converged, fit.identifiable) {
                    (false, _) => "FAILED",
                    (true, false) => "converged, NOT IDENTIFIABLE (see warnings)",
                    (true, true) => "ok",
                };
                let _ = writeln!(
                    s,
                    "  {:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10}  {status}",
                    id,
                    og(e.and_then(|e| e.cl)),
                    og(e.and_then(|e| e.v1)),
                    og(e.and_then(|e| e.q)),
                    og(e.and_then(|e| e.v2)),
                    og(e.and_then(|e| e.vss)),
                    og(e.and_then(|e| e.t_half_beta)),
                    per(e.and_then(|e| e.cl)),
                    per(e.and_then(|e| e.vss)),
                );
            }
            Err(_) => {
                let _ = writeln!(s, "  {id:<8} not fitted (see above)");
            }
        }
    }
    s
}
