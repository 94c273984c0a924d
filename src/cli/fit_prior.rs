//! `pk fit --prior`: maximum a posteriori fits with a population model as prior.

use super::output::{num, write_text};
use pk::data::Dataset;
use pk::model::Disposition;
use pk::plot::{concentration_time, Curve, PlotLabels};
use pk::population::bayes::{map_fit_dataset, map_shrinkage, MapFit};
use pk::population::PopulationModel;
use pk::simulate::simulate_subject_at;
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Outputs asked for.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    /// JSON file.
    pub json: Option<&'a str>,
    /// Per-observation CSV.
    pub table: Option<&'a str>,
    /// Plot directory.
    pub plots: Option<&'a str>,
    /// Column with BSA (m²).
    pub bsa_column: &'a str,
}

/// Fits every subject by MAP; returns the JSON document (for `--population`).
pub fn run(model: &PopulationModel, data: &Dataset, out: Outputs<'_>, inputs: &[&str]) -> Result<Value> {
    let fits = map_fit_dataset(model, data)?;
    let shrink = map_shrinkage(model, &fits);
    write_text(None, &text(model, &fits, &shrink), inputs)?;
    let doc = json_doc(model, data, &fits, &shrink, out.bsa_column)?;
    if let Some(path) = out.json {
        let t = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(t + "\n"), inputs)?;
    }
    if let Some(path) = out.table {
        write_text(Some(path), &table(model, &fits), inputs)?;
    }
    if let Some(dir) = out.plots {
        plots(dir, model, data, &fits)?;
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

fn text(model: &PopulationModel, fits: &[(String, Result<MapFit>)], shrink: &[f64]) -> String {
    let mut t = format!(
        "Maximum a posteriori fits with prior {} ({} residual error, σ fixed at {:?})\n",
        model.name,
        model.residual.kind,
        model.residual.sigmas()
    );
    let names: Vec<&str> = model.typical.iter().map(|p| p.name.as_str()).collect();
    t.push_str(&format!("{:<8} {:>4}", "ID", "NOBS"));
    for n in &names {
        t.push_str(&format!(" {:>10} {:>10}", n, format!("TV_{n}")));
    }
    t.push_str(&format!(" {:>12}\n", "objective"));
    for (id, fit) in fits {
        match fit {
            Ok(f) => {
                t.push_str(&format!("{:<8} {:>4}", id, f.observations.len()));
                for (v, tv) in f.values.iter().zip(&f.typical) {
                    t.push_str(&format!(" {:>10.4} {:>10.4}", v, tv));
                }
                t.push_str(&format!(" {:>12.4}\n", f.estimate.objective));
            }
            Err(e) => t.push_str(&format!("{id:<8} not fitted: {e}\n")),
        }
    }
    t.push_str("η-shrinkage (1 − SD(η̂)/ω):");
    for (n, s) in model.eta_names().iter().zip(shrink) {
        t.push_str(&format!(" {n} {:.1}%", 100.0 * s));
    }
    t.push('\n');
    t
}

fn json_doc(
    model: &PopulationModel,
    data: &Dataset,
    fits: &[(String, Result<MapFit>)],
    shrink: &[f64],
    bsa_column: &str,
) -> Result<Value> {
    let u = &model.structural.units;
    let bsa_index = data.covariate_index(bsa_column);
    let mut subjects = Vec::new();
    for (id, fit) in fits {
        let Ok(f) = fit else {
            let message = fit.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
            subjects.push(json!({"id": id, "converged": false, "message": message}));
            continue;
        };
        let mut parameters = Map::new();
        for (p, t) in model.typical.iter().enumerate() {
            let k = model.eta_parameters.iter().position(|&e| e == p);
            parameters.insert(
                t.name.clone(),
                json!({
                    "estimate": f.values[p],
                    "typical": f.typical[p],
                    "eta": k.map(|k| f.eta[k]),
                    "eta_se": k.map(|k| f.eta_se[k]).filter(|v| v.is_finite()),
                }),
            );
        }
        let params = model.params(&f.values)?;
        let d = Disposition::of(&params);
        let subject = data.subjects.iter().find(|s| s.id == *id);
        let bsa = bsa_index.and_then(|j| subject.and_then(|s| s.records.first()).map(|r| r.covariates[j]));
        let covariates: Map<String, Value> = match subject.and_then(|s| s.records.first()) {
            Some(r) => data
                .covariate_names
                .iter()
                .cloned()
                .zip(r.covariates.iter().map(|v| json!(v)))
                .collect(),
            None => Map::new(),
        };
        subjects.push(json!({
            "id": id,
            "converged": true,
            "n_obs": f.observations.len(),
            "objective": f.estimate.objective,
            "parameters": parameters,
            "covariates": covariates,
            "derived": {
                "vss": d.as_ref().map(|d| d.vss),
                "t_half_beta": d.as_ref().and_then(|d| d.half_lives.last().copied()),
            },
            "per_m2": bsa.filter(|b| *b > 0.0).map(|b| json!({"bsa": b, "cl": params.cl / b})),
        }));
    }
    Ok(json!({
        "method": "maximum a posteriori",
        "prior": model.name,
        "residual": {"model": model.residual.kind.to_string(), "sigma": model.residual.sigmas()},
        "units": {
            "concentration": u.concentration.to_string(),
            "amount": u.amount.to_string(),
            "volume": u.volume.to_string(),
            "time": u.time.to_string(),
        },
        "shrinkage": model.eta_names().iter().zip(shrink).map(|(n, s)| (n.to_string(), json!(s))).collect::<Map<_, _>>(),
        "subjects": subjects,
    }))
}

fn table(model: &PopulationModel, fits: &[(String, Result<MapFit>)]) -> String {
    let mut t = String::from("ID,TIME,DV,IPRED,IWRES,LINE\n");
    for (id, fit) in fits {
        let Ok(f) = fit else { continue };
        for (i, (line, time, dv)) in f.observations.iter().enumerate() {
            let fi = f.estimate.f[i];
            let ipred = if model.residual.log_scale() { fi.exp() } else { fi };
            let y = if model.residual.log_scale() { dv.ln() } else { *dv };
            let iwres = (y - fi) / f.estimate.r[i].sqrt();
            t.push_str(&format!(
                "{id},{},{},{},{},{line}\n",
                num(*time),
                num(*dv),
                num(ipred),
                num(iwres)
            ));
        }
    }
    t
}

fn plots(dir: &str, model: &PopulationModel, data: &Dataset, fits: &[(String, Result<MapFit>)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let u = &model.structural.units;
    for (id, fit) in fits {
        let Ok(f) = fit else { continue };
        let Some(subject) = data.subjects.iter().find(|s| s.id == *id) else {
            continue;
        };
        let t1 = subject.records.iter().map(|r| r.time).fold(0.0, f64::max);
        let times: Vec<f64> = (0..=1000).map(|i| t1 * i as f64 / 1000.0).collect();
        let individual = simulate_subject_at(
            &model.structural,
            &model.params(&f.values)?,
            data,
            subject,
            &times,
            false,
        )?;
        let typical = simulate_subject_at(
            &model.structural,
            &model.params(&f.typical)?,
            data,
            subject,
            &times,
            false,
        )?;
        let path = Path::new(dir).join(format!("map_subject_{id}.svg"));
        concentration_time(
            &path.to_string_lossy(),
            &PlotLabels {
                title: format!("Subject {id}: MAP fit with prior {}", model.name),
                x: format!("Time ({})", u.time),
                y: format!("Concentration ({})", u.concentration),
            },
            &[
                Curve {
                    label: "MAP (individual)".into(),
                    points: times.iter().copied().zip(individual.conc).collect(),
                },
                Curve {
                    label: "typical for covariates".into(),
                    points: times.iter().copied().zip(typical.conc).collect(),
                },
            ],
            &f.observations.iter().map(|o| (o.1, o.2)).collect::<Vec<_>>(),
        )?;
    }
    eprintln!("plots written to {dir}");
    Ok(())
}
