//! `pk popfit --method saem`, and control streams whose `$ESTIMATION` is
//! `METHOD=SAEM`: the estimation by [`pk::population::saem`], its progress,
//! and its own summary block (text and JSON); the rest of popfit's outputs
//! (tables, plots, `.ext`, `--write-model`) take the SAEM estimates with the
//! FOCE-I conditional modes at them.

use super::PopfitArgs;
use crate::cli::output::Progress;
use nalgebra::DMatrix;
use pk::model::Model;
use pk::nonmem::lower::SaemPlan;
use pk::population::estimation::{reported, Element, Parameters, PopValues, PopulationData, PopulationFit};
use pk::population::saem::{estimate, SaemFit, SaemOptions};
use pk::{Error, Result};
use serde_json::{json, Map, Value};

/// Whether `--method` asks for SAEM.
pub(super) fn requested(method: Option<&str>) -> bool {
    method.is_some_and(|m| m.eq_ignore_ascii_case("saem"))
}

/// The SAEM flags given, for refusing them with another method.
pub(super) fn refuse_flags(args: &PopfitArgs) -> Result<()> {
    for (flag, given) in [
        ("--burn-in", args.burn_in.is_some()),
        ("--averaging", args.averaging.is_some()),
        ("--chains", args.chains.is_some()),
        ("--isample", args.isample.is_some()),
    ] {
        if given {
            return Err(Error::Argument(format!("{flag} is an option of --method saem")));
        }
    }
    Ok(())
}

/// SAEM's settings: the flags, else the control stream's options, else the defaults.
pub(super) fn options(args: &PopfitArgs, plan: Option<&SaemPlan>) -> Result<SaemOptions> {
    let d = SaemOptions::default();
    let plan = plan.cloned().unwrap_or_default();
    let o = SaemOptions {
        burn_in: args.burn_in.or(plan.burn_in).unwrap_or(d.burn_in),
        averaging: args.averaging.or(plan.averaging).unwrap_or(d.averaging),
        chains: args.chains.or(plan.chains).or(d.chains),
        importance_samples: args.isample.or(plan.importance_samples).unwrap_or(d.importance_samples),
        seed: args.seed.or(plan.seed).unwrap_or(d.seed),
        ..d
    };
    if o.chains == Some(0) {
        return Err(Error::Argument("--chains: at least one chain per subject".into()));
    }
    Ok(o)
}

/// A SAEM run: the fit and, for popfit's other outputs, the estimates as a
/// [`PopulationFit`] whose evaluation is the comparison objective (FOCE-I) at them.
pub(super) struct Run {
    pub fit: SaemFit,
    pub population: PopulationFit,
    pub seconds: f64,
}

/// Runs SAEM with its progress on standard error.
pub(super) fn run(model: &Model, pop: &PopulationData, start: &PopValues, options: &SaemOptions) -> Result<Run> {
    let started = std::time::Instant::now();
    let total = options.burn_in + options.averaging;
    let progress = Progress::new("SAEM iterations", total, true);
    let fit = estimate(model, pop, start, options, &|_| progress.add(1));
    progress.finish();
    let fit = fit?;
    let seconds = started.elapsed().as_secs_f64();
    let population = PopulationFit {
        values: fit.values.clone(),
        method: fit.comparison_method,
        evaluation: fit.comparison.clone(),
        converged: true,
        message: format!(
            "SAEM: {} burn-in and {} averaging iterations",
            options.burn_in, options.averaging
        ),
        iterations: total as u64,
        objective_evaluations: 1,
        phi: Parameters::of(model).phi(model, &fit.values)?,
        history: Vec::new(),
    };
    Ok(Run {
        fit,
        population,
        seconds,
    })
}

fn n_parameters(model: &Model) -> usize {
    Parameters::of(model).elements.len()
}

/// Names of the parameters with closed-form and numerical updates.
fn updates(model: &Model, fit: &SaemFit) -> (Vec<String>, Vec<String>) {
    let c = &model.code;
    let mut closed: Vec<String> = fit
        .mu_referenced
        .iter()
        .map(|m| {
            let eta = &c.omega.names[m.eta];
            if m.log {
                format!("{}·exp({eta})", c.thetas[m.theta].name)
            } else {
                format!("{} + {eta}", c.thetas[m.theta].name)
            }
        })
        .collect();
    closed.push("Ω".into());
    closed.extend(
        fit.closed_form_sigma
            .iter()
            .map(|k| format!("SIGMA({})", c.sigmas[*k].name)),
    );
    let numeric = fit
        .numeric
        .iter()
        .map(|e| match *e {
            Element::Theta(i, _) => c.thetas[i].name.clone(),
            Element::Sigma(k) => format!("SIGMA({})", c.sigmas[k].name),
            Element::Omega(..) | Element::Iov(..) => String::new(),
        })
        .collect();
    (closed, numeric)
}

/// The summary block.
pub(super) fn text(model: &Model, pop: &PopulationData, run: &Run) -> String {
    let f = &run.fit;
    let o = &f.options;
    let is = &f.importance;
    let p = n_parameters(model);
    let mut t = format!(
        "SAEM population fit of {} ({} subjects, {} observations)\n",
        model.name(),
        pop.subjects.len(),
        pop.n_obs
    );
    t.push_str(&format!(
        "{} burn-in + {} averaging iterations (γ = (k − K1)^−{}), {} chain{} per subject, seed {}; {:.2} s ({:.2} s importance sampling)\n",
        o.burn_in,
        o.averaging,
        o.step_exponent,
        f.chains,
        if f.chains == 1 { "" } else { "s" },
        o.seed,
        run.seconds,
        f.seconds_importance
    ));
    t.push_str(&format!(
        "−2LL by importance sampling {:.4} ± {:.4} (Monte Carlo SE; {} samples per subject, smallest effective sample size {:.0})\n",
        is.ofv, is.se, is.samples, is.min_effective
    ));
    t.push_str(&format!(
        "AIC {:.4}  BIC {:.4}  ({p} parameters; from the importance-sampling −2LL)\n",
        is.ofv + 2.0 * p as f64,
        is.ofv + p as f64 * (pop.n_obs as f64).ln()
    ));
    t.push_str(&format!(
        "{} OFV at these estimates {:.4} (both without N·ln 2π)\n",
        f.comparison_method, f.comparison.ofv
    ));
    let (closed, numeric) = updates(model, f);
    t.push_str(&format!(
        "M-step: closed form for {}; numerical for {}\n",
        closed.join(", "),
        if numeric.is_empty() {
            "nothing".to_string()
        } else {
            numeric.join(", ")
        }
    ));
    t.push_str(&format!(
        "Metropolis–Hastings acceptance (prior, random walk, per component): {:.2}, {:.2}, {:.2}\n",
        f.acceptance[0], f.acceptance[1], f.acceptance[2]
    ));
    t.push_str("Standard errors: not computed by SAEM\n");
    t.push_str(&format!("\n{:<28} {:>14}\n", "parameter", "estimate"));
    for e in reported(model, &Parameters::of(model), &f.values) {
        t.push_str(&format!("{:<28} {:>14.6}\n", e.name, e.value));
    }
    t
}

fn matrix(m: &DMatrix<f64>) -> Value {
    json!((0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<_>>())
        .collect::<Vec<_>>())
}

/// The JSON document.
pub(super) fn json(model: &Model, pop: &PopulationData, run: &Run) -> Value {
    let f = &run.fit;
    let o = &f.options;
    let c = &model.code;
    let v = &f.values;
    let is = &f.importance;
    let p = n_parameters(model);
    let mut body = Map::new();
    body.insert("model".into(), json!(model.name()));
    body.insert("method".into(), json!("SAEM"));
    body.insert("ofv".into(), json!(is.ofv));
    body.insert("ofv_is".into(), json!(is.ofv));
    body.insert("ofv_is_se".into(), json!(is.se));
    let key = match f.comparison_method {
        pk::population::estimation::Method::Laplace => "ofv_laplace",
        _ => "ofv_focei",
    };
    body.insert(key.into(), json!(f.comparison.ofv));
    body.insert("aic".into(), json!(is.ofv + 2.0 * p as f64));
    body.insert("bic".into(), json!(is.ofv + p as f64 * (pop.n_obs as f64).ln()));
    body.insert("n_subjects".into(), json!(pop.subjects.len()));
    body.insert("n_observations".into(), json!(pop.n_obs));
    body.insert("n_censored".into(), json!(pop.n_censored));
    body.insert("n_dropped_blq".into(), json!(pop.n_dropped_blq));
    body.insert("n_parameters".into(), json!(p));
    body.insert("seconds".into(), json!(run.seconds));
    let (closed, numeric) = updates(model, f);
    body.insert(
        "saem".into(),
        json!({
            "burn_in": o.burn_in,
            "averaging": o.averaging,
            "step_exponent": o.step_exponent,
            "chains": f.chains,
            "seed": o.seed,
            "importance_samples": is.samples,
            "min_effective_samples": is.min_effective,
            "acceptance": {"prior": f.acceptance[0], "random_walk": f.acceptance[1], "per_component": f.acceptance[2]},
            "closed_form": closed,
            "numerical": numeric,
            "seconds_importance_sampling": f.seconds_importance,
        }),
    );
    body.insert(
        "theta_names".into(),
        json!(c.thetas.iter().map(|t| &t.name).collect::<Vec<_>>()),
    );
    body.insert("theta".into(), json!(v.theta));
    body.insert("omega_names".into(), json!(c.omega.names));
    body.insert("omega".into(), matrix(&v.omega));
    body.insert(
        "sigma_names".into(),
        json!(c.sigmas.iter().map(|s| &s.name).collect::<Vec<_>>()),
    );
    body.insert(
        "sigma".into(),
        matrix(&DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            v.sigma_sd.len(),
            v.sigma_sd.iter().map(|s| s * s),
        ))),
    );
    if let Some(iov) = &c.iov {
        body.insert("omega_iov_names".into(), json!(iov.effects.names));
        body.insert("omega_iov".into(), matrix(&v.omega_iov));
    }
    let estimates: Vec<Value> = reported(model, &Parameters::of(model), v)
        .into_iter()
        .map(|e| json!({"name": e.name, "estimate": e.value}))
        .collect();
    body.insert("estimates".into(), json!(estimates));
    // Individual random effects: the conditional means of the chains.
    let etas: Vec<Value> = pop
        .subjects
        .iter()
        .zip(&f.conditional_means)
        .map(|(s, m)| {
            let mut e = Map::new();
            e.insert("id".into(), json!(s.data.id));
            for (n, x) in c.omega.names.iter().zip(m) {
                e.insert(n.clone(), json!(x));
            }
            Value::Object(e)
        })
        .collect();
    body.insert("etas".into(), json!(etas));
    Value::Object(body)
}
