//! `pk fit --prior`: maximum a posteriori fits with a population model
//! written in the model language as prior (θ, Ω and σ from the file).

use super::output::write_text;
use pk::data::Dataset;
use pk::fit::exposure::kernel_params;
use pk::lang::Dynamics;
use pk::model::{Disposition, IndividualParameters, Model, Values};
use pk::plot::{concentration_time, Curve, PlotLabels};
use pk::population::bayes::{map_fit_model, model_shrinkage, ModelMapFit};
use pk::population::estimation::PopValues;
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Outputs asked for.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    /// JSON file.
    pub json: Option<&'a str>,
    /// sdtab (a row per record).
    pub table: Option<&'a str>,
    /// patab (a row per subject and parameter set).
    pub patab: Option<&'a str>,
    /// NONMEM's .phi of the MAP fits.
    pub phi: Option<&'a str>,
    /// Plot directory.
    pub plots: Option<&'a str>,
    /// Column with BSA (m²).
    pub bsa_column: &'a str,
}

type Fits = [(String, Result<ModelMapFit>)];

/// What the report is about: the model, its population values and the names
/// of the parameters reported (the kernel's, or the code's variables for ODEs),
/// with the name each η is reported under.
struct Prior<'a> {
    model: &'a Model,
    values: PopValues,
    names: Vec<String>,
    eta_names: Vec<String>,
}

/// Fits every subject by MAP; returns the JSON document (for `--population`).
pub fn run(model: &Model, data: &Dataset, out: Outputs<'_>, inputs: &[&str]) -> Result<Value> {
    let values = PopValues::initial(model);
    let fits = map_fit_model(model, data, &values)?;
    let shrink = model_shrinkage(&values, &fits);
    let names = reported_names(model);
    let eta_names = eta_names(model, &values, &names, &fits);
    let prior = Prior {
        model,
        values,
        names,
        eta_names,
    };
    write_text(None, &text(&prior, &fits, &shrink), inputs)?;
    let doc = json_doc(&prior, data, &fits, &shrink, out.bsa_column);
    if let Some(path) = out.json {
        let t = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(t + "\n"), inputs)?;
    }
    if out.table.is_some() || out.patab.is_some() || out.phi.is_some() {
        write_tables(prior.model, data, &prior.values, out, inputs)?;
    }
    if let Some(dir) = out.plots {
        plots(dir, &prior, data, &fits)?;
    }
    let failed: Vec<&str> = fits
        .iter()
        .filter(|(_, f)| f.is_err())
        .map(|(id, _)| id.as_str())
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "{} of {} subjects not fitted: {}",
            failed.len(),
            fits.len(),
            failed.join(", ")
        );
    }
    Ok(doc)
}

/// The kernel's parameters (CL, V1, …), or the code's variables for ODE models.
fn reported_names(model: &Model) -> Vec<String> {
    match model.code.dynamics {
        Dynamics::Kernel(k) => k.parameters().iter().map(|n| n.to_string()).collect(),
        Dynamics::Ode => model.code.variables.iter().map(|(n, _)| n.clone()).collect(),
    }
}

/// The name each η is reported under: the one reported parameter it moves
/// (at the first fitted subject's η̂, moving η by 0.01), else its own name.
fn eta_names(model: &Model, values: &PopValues, names: &[String], fits: &Fits) -> Vec<String> {
    let own: Vec<String> = model.code.omega.names.clone();
    let Some(fit) = fits.iter().find_map(|(_, f)| f.as_ref().ok()) else {
        return own;
    };
    let Some(base) = fit.individual.first() else {
        return own;
    };
    own.iter()
        .enumerate()
        .map(|(k, eta_name)| {
            let mut eta = fit.eta[..own.len()].to_vec();
            eta[k] += 0.01;
            let moved = model.individual_parameters(
                &fit.subject,
                &Values {
                    theta: &values.theta,
                    eta: &eta,
                    kappa: &fit.eta[own.len()..],
                    sigma_sd: &values.sigma_sd,
                },
            );
            let changed: Vec<&String> = match moved.as_ref().ok().and_then(|m| m.first()) {
                Some(m) => names.iter().filter(|n| m.get(n) != base.get(n)).collect(),
                None => Vec::new(),
            };
            match changed.as_slice() {
                [one] => one.to_string(),
                _ => eta_name.clone(),
            }
        })
        .collect()
}

fn value(set: Option<&IndividualParameters>, name: &str) -> f64 {
    set.and_then(|s| s.get(name)).unwrap_or(f64::NAN)
}

fn text(prior: &Prior<'_>, fits: &Fits, shrink: &[f64]) -> String {
    let model = prior.model;
    let mut t = format!(
        "Maximum a posteriori fits with prior {} ({}; residual error: {}, σ fixed at {:?})\n",
        model.name(),
        model.origin,
        super::fit::outputs_text(model),
        prior.values.sigma_sd
    );
    t.push_str(&format!("{:<8} {:>4}", "ID", "NOBS"));
    for n in &prior.names {
        t.push_str(&format!(" {:>10} {:>10}", n, format!("TV_{n}")));
    }
    t.push_str(&format!(" {:>12}\n", "objective"));
    for (id, fit) in fits {
        match fit {
            Ok(f) => {
                t.push_str(&format!("{:<8} {:>4}", id, f.observations.len()));
                for n in &prior.names {
                    let (v, tv) = (value(f.individual.first(), n), value(f.typical.first(), n));
                    t.push_str(&format!(" {:>10.4} {:>10.4}", v, tv));
                }
                t.push_str(&format!(" {:>12.4}\n", f.estimate.objective));
            }
            Err(e) => t.push_str(&format!("{id:<8} not fitted: {e}\n")),
        }
    }
    t.push_str("η-shrinkage (1 − SD(η̂)/ω):");
    for (n, s) in prior.eta_names.iter().zip(shrink) {
        t.push_str(&format!(" {n} {:.1}%", 100.0 * s));
    }
    t.push('\n');
    t
}

fn subject_json(prior: &Prior<'_>, data: &Dataset, f: &ModelMapFit, bsa_column: &str) -> Value {
    let model = prior.model;
    let n_eta = prior.values.omega.nrows();
    let mut parameters = Map::new();
    for n in &prior.names {
        let k = prior.eta_names.iter().position(|e| e == n);
        parameters.insert(
            n.clone(),
            json!({
                "estimate": value(f.individual.first(), n),
                "typical": value(f.typical.first(), n),
                "eta": k.map(|k| f.eta[k]),
                "eta_se": k.map(|k| f.eta_se[k]).filter(|v| v.is_finite()),
            }),
        );
    }
    let etas: Map<String, Value> = model
        .code
        .omega
        .names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                n.clone(),
                json!({"estimate": f.eta[k], "se": Some(f.eta_se[k]).filter(|v| v.is_finite())}),
            )
        })
        .collect();
    let params = f.individual.first().and_then(|s| kernel_params(model, s).ok());
    let d = params.as_ref().map(Disposition::of);
    let subject = data.subjects.iter().find(|s| s.id == f.id);
    let first = subject.and_then(|s| s.records.first());
    let bsa = data
        .covariate_index(bsa_column)
        .and_then(|j| first.map(|r| r.covariates[j]))
        .filter(|b| *b > 0.0);
    let covariates: Map<String, Value> = match first {
        Some(r) => data
            .covariate_names
            .iter()
            .cloned()
            .zip(r.covariates.iter().map(|v| json!(v)))
            .collect(),
        None => Map::new(),
    };
    json!({
        "id": f.id,
        "converged": true,
        "n_obs": f.observations.len(),
        "objective": f.estimate.objective,
        "parameters": parameters,
        "etas": etas,
        "kappas": f.eta[n_eta..].to_vec(),
        "covariates": covariates,
        "derived": {
            "vss": d.as_ref().map(|d| d.vss),
            "t_half_beta": d.as_ref().and_then(|d| d.half_lives.last().copied()),
        },
        "per_m2": bsa.map(|b| json!({"bsa": b, "cl": params.as_ref().map(|p| p.cl / b)})),
    })
}

fn json_doc(prior: &Prior<'_>, data: &Dataset, fits: &Fits, shrink: &[f64], bsa_column: &str) -> Value {
    let model = prior.model;
    let u = &model.units;
    let subjects: Vec<Value> = fits
        .iter()
        .map(|(id, fit)| match fit {
            Ok(f) => subject_json(prior, data, f, bsa_column),
            Err(e) => json!({"id": id, "converged": false, "message": e.to_string()}),
        })
        .collect();
    json!({
        "method": "maximum a posteriori",
        "prior": model.name(),
        "residual": {"model": super::fit::outputs_text(model), "sigma": prior.values.sigma_sd},
        "units": {
            "concentration": u.concentration.to_string(),
            "amount": u.amount.to_string(),
            "volume": u.volume.to_string(),
            "time": u.time.to_string(),
        },
        "shrinkage": prior.eta_names.iter().zip(shrink).map(|(n, s)| (n.clone(), json!(s))).collect::<Map<_, _>>(),
        "subjects": subjects,
    })
}

/// The sdtab, patab and .phi of `pk popfit` at the prior's values: PRED at η = 0,
/// IPRED, CWRES and IWRES at the MAP η̂ (the conditional modes the FOCE-I
/// objective finds with θ, Ω and σ fixed, as `pk popfit --evaluate`).
fn write_tables(model: &Model, data: &Dataset, values: &PopValues, out: Outputs<'_>, inputs: &[&str]) -> Result<()> {
    use pk::population::estimation::{diagnostics, evaluate_at, Method, PopulationData};
    let pop = PopulationData::new(model, data)?;
    let fit = evaluate_at(model, &pop, values, Method::FoceI)?;
    let rows = diagnostics(model, &pop, &fit)?;
    let source = pk::population::tables::TableSource {
        model,
        dataset: data,
        data: &pop,
        fit: &fit,
        rows: &rows,
        npde: &[],
    };
    if let Some(path) = out.table {
        write_text(Some(path), &source.sdtab()?, inputs)?;
    }
    if let Some(path) = out.patab {
        write_text(Some(path), &source.patab()?, inputs)?;
    }
    if let Some(path) = out.phi {
        let occasions = pop.subjects.iter().map(|s| s.data.n_occasions).max().unwrap_or(0);
        let map = pk::nonmem::lower::params::ParameterMap::of_model(model).with_occasions(occasions);
        write_text(Some(path), &super::popfit::phi_file_text(&map, &pop, &fit), inputs)?;
    }
    Ok(())
}

fn plots(dir: &str, prior: &Prior<'_>, data: &Dataset, fits: &Fits) -> Result<()> {
    pk::output::create_output_dir(dir)?;
    let model = prior.model;
    let u = &model.units;
    let v = &prior.values;
    let n_eta = v.omega.nrows();
    for (id, fit) in fits {
        let Ok(f) = fit else { continue };
        let Some(subject) = data.subjects.iter().find(|s| s.id == *id) else {
            continue;
        };
        let t1 = subject.records.iter().map(|r| r.time).fold(0.0, f64::max);
        let times: Vec<f64> = (0..=1000).map(|i| t1 * i as f64 / 1000.0).collect();
        let curve = |b: &[f64]| {
            let (eta, kappa) = b.split_at(n_eta.min(b.len()));
            let values = Values {
                theta: &v.theta,
                eta,
                kappa,
                sigma_sd: &v.sigma_sd,
            };
            super::fit::model_curve(model, data, subject, &values, &times)
        };
        let individual = curve(&f.eta)?;
        let typical = curve(&vec![0.0; f.eta.len()])?;
        let path = Path::new(dir).join(format!("map_subject_{id}.svg"));
        concentration_time(
            &path.to_string_lossy(),
            &PlotLabels {
                title: format!("Subject {id}: MAP fit with prior {}", model.name()),
                x: format!("Time ({})", u.time),
                y: format!("Concentration ({})", u.concentration),
            },
            &[
                Curve {
                    label: "MAP (individual)".into(),
                    points: individual,
                },
                Curve {
                    label: "typical for covariates".into(),
                    points: typical,
                },
            ],
            &f.observations.iter().map(|o| (o.1, o.2)).collect::<Vec<_>>(),
        )?;
    }
    eprintln!("plots written to {dir}");
    Ok(())
}
