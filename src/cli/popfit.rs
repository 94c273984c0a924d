//! `pk popfit`: population estimation (FOCE-I or FO) with a population model file.

use super::model_args::DataSelection;
use super::output::{num, refuse_input, write_text};
use clap::Args;

use pk::plot::{scatter, PlotLabels, ReferenceLine};
use pk::population::foce::{
    covariance, diagnostics, estimate, reported, standard_errors, EstimationOptions, Method, ObservationRow,
    Parameters, PopulationData, PopulationFit,
};
use pk::population::map::shrinkage;
use pk::population::PopulationModel;
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Arguments of `pk popfit`.
#[derive(Debug, Args)]
pub struct PopfitArgs {
    /// NONMEM-style data file.
    data: String,
    /// Population model file with initial estimates (e.g. models/two_cmt_pop.toml).
    #[arg(long)]
    model: String,
    /// Estimation method: foce-i or fo.
    #[arg(long, default_value = "foce-i")]
    method: String,
    /// Largest number of outer iterations.
    #[arg(long, default_value_t = 300)]
    max_iterations: u64,
    /// Skip the covariance step.
    #[arg(long)]
    no_covariance: bool,
    #[command(flatten)]
    selection: DataSelection,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
    /// CSV with one row per observation: ID, TIME, DV, PRED, IPRED, CWRES, IWRES.
    #[arg(long)]
    table: Option<String>,
    /// Directory for the diagnostic plots (SVG).
    #[arg(long)]
    plots: Option<String>,
}

/// Runs `pk popfit`.
pub fn run(args: PopfitArgs) -> Result<()> {
    let inputs = [args.data.as_str(), args.model.as_str()];
    for p in [&args.json, &args.table].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let method = Method::parse(&args.method)?;
    let model = PopulationModel::load(&args.model)?;
    let data = args.selection.read(&args.data)?;
    let pop = PopulationData::new(&model, &data)?;
    let started = std::time::Instant::now();
    let options = EstimationOptions {
        method,
        max_iterations: args.max_iterations,
        progress: true,
    };
    let fit = estimate(&model, &pop, &options)?;
    let elapsed = started.elapsed().as_secs_f64();
    let cov = if args.no_covariance {
        Err("not requested (--no-covariance)".to_string())
    } else {
        match covariance(&model, &pop, method, &fit)? {
            Some(c) => Ok(standard_errors(&model, &fit, &c)?),
            None => Err("the Hessian of the OFV is not positive definite: no standard errors \
                         (the model may be over-parameterised, or the fit not at a minimum)"
                .to_string()),
        }
    };
    let rows = diagnostics(&fit.model, &pop, &fit)?;
    let report = Report::new(&model, &pop, &fit, cov, elapsed)?;
    write_text(None, &report.text(), &inputs)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), &inputs)?;
    }
    if let Some(path) = &args.table {
        write_text(Some(path), &table(&rows), &inputs)?;
    }
    if let Some(dir) = &args.plots {
        plots(dir, &fit.model, &rows)?;
    }
    if !fit.converged {
        return Err(Error::Argument(format!(
            "the {method} estimation did not converge: {}; the numbers above are not estimates",
            fit.message
        )));
    }
    Ok(())
}

struct Report<'a> {
    fit: &'a PopulationFit,
    names: Vec<String>,
    values: Vec<f64>,
    se: std::result::Result<Vec<f64>, String>,
    n_subjects: usize,
    n_obs: usize,
    shrinkage: Vec<f64>,
    ids: Vec<String>,
    seconds: f64,
}

impl<'a> Report<'a> {
    fn new(
        base: &PopulationModel,
        pop: &PopulationData<'_>,
        fit: &'a PopulationFit,
        se: std::result::Result<Vec<f64>, String>,
        seconds: f64,
    ) -> Result<Self> {
        let params = Parameters::of(base)?;
        let (names, values): (Vec<String>, Vec<f64>) = reported(&fit.model, &params).into_iter().unzip();
        let etas: Vec<Vec<f64>> = fit.evaluation.estimates.iter().map(|e| e.eta.clone()).collect();
        Ok(Report {
            fit,
            names,
            values,
            se,
            n_subjects: pop.subjects.len(),
            n_obs: pop.n_obs,
            shrinkage: shrinkage(&etas, &fit.model.omega_sd()),
            ids: pop.subjects.iter().map(|s| s.id().to_string()).collect(),
            seconds,
        })
    }

    fn n_parameters(&self) -> usize {
        self.values.len()
    }

    fn aic(&self) -> f64 {
        self.fit.evaluation.ofv + 2.0 * self.n_parameters() as f64
    }

    fn bic(&self) -> f64 {
        self.fit.evaluation.ofv + self.n_parameters() as f64 * (self.n_obs as f64).ln()
    }

    fn se(&self, i: usize) -> Option<f64> {
        self.se.as_ref().ok().map(|s| s[i])
    }

    /// RSE in %: of the natural-scale value for log θ (SE(θ)/θ = SE(log θ)).
    fn rse(&self, name: &str, v: f64, se: f64) -> f64 {
        if name.starts_with("log ") {
            100.0 * se
        } else {
            100.0 * se / v.abs()
        }
    }

    fn text(&self) -> String {
        let f = self.fit;
        let mut t = format!(
            "{} population fit of {} ({} subjects, {} observations){}\n{}\n",
            f.method,
            f.model.name,
            self.n_subjects,
            self.n_obs,
            if f.converged { "" } else { ": NOT CONVERGED" },
            f.message
        );
        t.push_str(&format!(
            "OFV {:.4} (−2LL without N·ln 2π)  AIC {:.4}  BIC {:.4}  ({} parameters)\n",
            f.evaluation.ofv,
            self.aic(),
            self.bic(),
            self.n_parameters()
        ));
        t.push_str(&format!(
            "{} outer iterations, {} objective evaluations, {:.2} s{}\n",
            f.iterations,
            f.objective_evaluations,
            self.seconds,
            if f.method == pk::population::foce::Method::Fo {
                "; η̂ are post-hoc (MAP) estimates"
            } else {
                ""
            }
        ));
        match &self.se {
            Ok(_) => t.push_str("Standard errors: R matrix, 2·(∇²OFV)⁻¹ by central differences\n"),
            Err(m) => t.push_str(&format!("Covariance step: {m}\n")),
        }
        t.push_str(&format!(
            "\n{:<22} {:>14} {:>14} {:>12} {:>8}\n",
            "parameter", "estimate", "natural", "SE", "RSE%"
        ));
        for (i, (n, v)) in self.names.iter().zip(&self.values).enumerate() {
            let natural = if n.starts_with("log ") { v.exp() } else { *v };
            let se = self.se(i);
            t.push_str(&format!(
                "{:<22} {:>14.6} {:>14.6} {:>12} {:>8}\n",
                n,
                v,
                natural,
                se.map_or("-".into(), |s| format!("{s:.5}")),
                se.map_or("-".into(), |s| format!("{:.1}", self.rse(n, *v, s)))
            ));
        }
        t.push_str("\nη-shrinkage:");
        for (n, s) in f.model.eta_names().iter().zip(&self.shrinkage) {
            t.push_str(&format!(" {n} {:.1}%", 100.0 * s));
        }
        t.push('\n');
        t
    }

    fn json(&self) -> Value {
        let f = self.fit;
        let mut theta = Map::new();
        let mut coefficients = Map::new();
        let mut omega = Map::new();
        let mut sigma = Map::new();
        for (i, (n, v)) in self.names.iter().zip(&self.values).enumerate() {
            let se = self.se(i);
            let rse = se.map(|s| self.rse(n, *v, s));
            if let Some(name) = n.strip_prefix("log ") {
                theta.insert(
                    name.to_string(),
                    json!({"log": v, "se_log": se, "estimate": v.exp(), "se": se.map(|s| s * v.exp()), "rse_percent": rse}),
                );
            } else if let Some(name) = n.strip_prefix("omega2 ") {
                let k = f.model.eta_names().iter().position(|e| *e == name).unwrap_or(0);
                omega.insert(
                    name.to_string(),
                    json!({"estimate": v, "se": se, "rse_percent": rse,
                           "cv_percent": 100.0 * (v.exp() - 1.0).sqrt(), "shrinkage": self.shrinkage.get(k)}),
                );
            } else if let Some(pair) = n.strip_prefix("omega ") {
                omega.insert(pair.to_string(), json!({"estimate": v, "se": se, "rse_percent": rse}));
            } else if n.starts_with("sigma") {
                sigma.insert(n.clone(), json!({"estimate": v, "se": se, "rse_percent": rse}));
            } else {
                coefficients.insert(n.clone(), json!({"estimate": v, "se": se, "rse_percent": rse}));
            }
        }
        let eta_names = f.model.eta_names();
        let etas: Vec<Value> = self
            .ids
            .iter()
            .zip(&f.evaluation.estimates)
            .map(|(id, e)| {
                let mut m = Map::new();
                m.insert("id".into(), json!(id));
                for (n, v) in eta_names.iter().zip(&e.eta) {
                    m.insert(n.to_string(), json!(v));
                }
                Value::Object(m)
            })
            .collect();
        json!({
            "method": f.method.to_string(),
            "model": f.model.name,
            "converged": f.converged,
            "message": f.message,
            "ofv": f.evaluation.ofv,
            "aic": self.aic(),
            "bic": self.bic(),
            "n_subjects": self.n_subjects,
            "n_obs": self.n_obs,
            "n_parameters": self.n_parameters(),
            "iterations": f.iterations,
            "objective_evaluations": f.objective_evaluations,
            "seconds": self.seconds,
            "covariance": match &self.se { Ok(_) => json!("R matrix: 2·(∇²OFV)⁻¹, central differences"), Err(m) => json!(m) },
            "theta": theta,
            "covariate_coefficients": coefficients,
            "omega": omega,
            "sigma": sigma,
            "residual_model": f.model.residual.kind.to_string(),
            "etas": etas,
        })
    }
}

fn table(rows: &[ObservationRow]) -> String {
    let mut t = String::from("ID,TIME,DV,PRED,IPRED,CWRES,IWRES\n");
    for r in rows {
        t.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.id,
            num(r.time),
            num(r.dv),
            num(r.pred),
            num(r.ipred),
            num(r.cwres),
            num(r.iwres)
        ));
    }
    t
}

fn plots(dir: &str, model: &PopulationModel, rows: &[ObservationRow]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let u = &model.structural.units;
    let join = |name: &str| Path::new(dir).join(name).to_string_lossy().into_owned();
    let conc = format!("({})", u.concentration);
    let draw = |file: &str, title: &str, x: String, y: String, points: Vec<(f64, f64)>, line| {
        let labels = PlotLabels {
            title: title.to_string(),
            x,
            y,
        };
        scatter(&join(file), &labels, &points, line)
    };
    let pred: Vec<f64> = rows.iter().map(|r| r.pred).collect();
    draw(
        "dv_vs_pred.svg",
        "Observed versus population prediction",
        format!("PRED {conc}"),
        format!("DV {conc}"),
        rows.iter().map(|r| (r.pred, r.dv)).collect(),
        ReferenceLine::Identity,
    )?;
    draw(
        "dv_vs_ipred.svg",
        "Observed versus individual prediction",
        format!("IPRED {conc}"),
        format!("DV {conc}"),
        rows.iter().map(|r| (r.ipred, r.dv)).collect(),
        ReferenceLine::Identity,
    )?;
    draw(
        "cwres_vs_time.svg",
        "Conditional weighted residuals versus time",
        format!("Time ({})", u.time),
        "CWRES".into(),
        rows.iter().map(|r| (r.time, r.cwres)).collect(),
        ReferenceLine::Zero,
    )?;
    draw(
        "cwres_vs_pred.svg",
        "Conditional weighted residuals versus PRED",
        format!("PRED {conc}"),
        "CWRES".into(),
        pred.iter().zip(rows).map(|(p, r)| (*p, r.cwres)).collect(),
        ReferenceLine::Zero,
    )?;
    eprintln!("plots written to {dir}");
    Ok(())
}
