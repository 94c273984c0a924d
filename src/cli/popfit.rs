//! `pk popfit`: population estimation (FOCE-I, FOCE, FO, Laplacian) of a
//! model written in the model language.

use super::model_args::DataSelection;
use super::output::{num, refuse_input, write_text};
use clap::Args;

use nalgebra::DMatrix;
use pk::model::Model;
use pk::plot::{scatter, PlotLabels, ReferenceLine};
use pk::population::estimation::{
    covariance, diagnostics, estimate, reported, standard_errors, EstimationOptions, Method, ObservationRow,
    Parameters, PopValues, PopulationData, PopulationFit, Reported,
};
use pk::population::map::shrinkage;
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Arguments of `pk popfit`.
#[derive(Debug, Args)]
pub struct PopfitArgs {
    /// NONMEM-style data file.
    data: String,
    /// Model file in the model language with initial estimates (e.g. models/two_cmt_pop.pk), or a bundled name.
    #[arg(long)]
    model: String,
    /// Estimation method: foce-i, foce, fo or laplace.
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
    /// CSV with one row per observation: ID, TIME, OUTPUT, DV, PRED, IPRED, CWRES, IWRES.
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
    let model = Model::load(&args.model)?;
    let data = args.selection.read(&args.data)?;
    let pop = PopulationData::new(&model, &data)?;
    if pop.n_dropped_blq > 0 {
        eprintln!(
            "{} observations below the quantification limit left out (the model says `blq m1`)",
            pop.n_dropped_blq
        );
    }
    if pop.n_censored > 0 {
        eprintln!(
            "{} observations below the quantification limit enter as P(y < LLOQ) (Beal's M3)",
            pop.n_censored
        );
    }
    let start = PopValues::initial(&model);
    let started = std::time::Instant::now();
    let options = EstimationOptions {
        method,
        max_iterations: args.max_iterations,
        progress: true,
    };
    let fit = estimate(&model, &pop, &start, &options)?;
    let elapsed = started.elapsed().as_secs_f64();
    let se = if args.no_covariance {
        Err("not requested (--no-covariance)".to_string())
    } else {
        match covariance(&model, &pop, &start, &fit)? {
            Some(c) => Ok(standard_errors(&model, &start, &fit, &c)?),
            None => Err("the Hessian of the OFV is not positive definite: no standard errors \
                         (the model may be over-parameterised, or the fit not at a minimum)"
                .to_string()),
        }
    };
    let rows = diagnostics(&model, &pop, &fit)?;
    let report = Report::new(&model, &pop, &fit, se, elapsed);
    write_text(None, &report.text(), &inputs)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), &inputs)?;
    }
    if let Some(path) = &args.table {
        write_text(Some(path), &table(&rows), &inputs)?;
    }
    if let Some(dir) = &args.plots {
        plots(dir, &model, &rows)?;
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
    model: &'a Model,
    fit: &'a PopulationFit,
    estimates: Vec<Reported>,
    se: std::result::Result<Vec<f64>, String>,
    n_subjects: usize,
    n_obs: usize,
    n_censored: usize,
    n_dropped_blq: usize,
    shrinkage: Vec<f64>,
    ids: Vec<String>,
    seconds: f64,
}

impl<'a> Report<'a> {
    fn new(
        model: &'a Model,
        pop: &PopulationData,
        fit: &'a PopulationFit,
        se: std::result::Result<Vec<f64>, String>,
        seconds: f64,
    ) -> Self {
        let params = Parameters::of(model);
        let n_eta = fit.values.omega.nrows();
        let etas: Vec<Vec<f64>> = fit
            .evaluation
            .estimates
            .iter()
            .map(|e| e.eta[..n_eta].to_vec())
            .collect();
        let omega_sd: Vec<f64> = (0..n_eta).map(|i| fit.values.omega[(i, i)].sqrt()).collect();
        Report {
            model,
            fit,
            estimates: reported(model, &params, &fit.values),
            se,
            n_subjects: pop.subjects.len(),
            n_obs: pop.n_obs,
            n_censored: pop.n_censored,
            n_dropped_blq: pop.n_dropped_blq,
            shrinkage: shrinkage(&etas, &omega_sd),
            ids: pop.subjects.iter().map(|s| s.data.id.clone()).collect(),
            seconds,
        }
    }

    fn n_parameters(&self) -> usize {
        self.estimates.len()
    }

    fn aic(&self) -> f64 {
        self.fit.evaluation.ofv + 2.0 * self.n_parameters() as f64
    }

    fn bic(&self) -> f64 {
        self.fit.evaluation.ofv + self.n_parameters() as f64 * (self.n_obs as f64).ln()
    }

    fn se_of(&self, name: &str) -> Option<f64> {
        let i = self.estimates.iter().position(|e| e.name == name)?;
        self.se.as_ref().ok().map(|s| s[i])
    }

    fn text(&self) -> String {
        let f = self.fit;
        let mut t = format!(
            "{} population fit of {} ({} subjects, {} observations){}\n{}\n",
            f.method,
            self.model.name(),
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
            if f.method == Method::Fo {
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
            "\n{:<28} {:>14} {:>12} {:>8}\n",
            "parameter", "estimate", "SE", "RSE%"
        ));
        for (i, e) in self.estimates.iter().enumerate() {
            let se = self.se.as_ref().ok().map(|s| s[i]);
            t.push_str(&format!(
                "{:<28} {:>14.6} {:>12} {:>8}\n",
                e.name,
                e.value,
                se.map_or("-".into(), |s| format!("{s:.5}")),
                se.map_or("-".into(), |s| format!("{:.1}", 100.0 * s / e.value.abs()))
            ));
        }
        t.push_str("\nη-shrinkage:");
        for (n, s) in self.model.code.omega.names.iter().zip(&self.shrinkage) {
            t.push_str(&format!(" {n} {:.1}%", 100.0 * s));
        }
        t.push('\n');
        t
    }

    /// A matrix as rows, and the matching SE matrix (null where not estimated).
    fn matrix(&self, m: &DMatrix<f64>, names: &[String], se_name: impl Fn(usize, usize) -> String) -> (Value, Value) {
        let n = m.nrows();
        let values: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| m[(i, j)]).collect()).collect();
        let ses: Vec<Vec<Option<f64>>> = (0..n)
            .map(|i| (0..n).map(|j| self.se_of(&se_name(i.max(j), i.min(j)))).collect())
            .collect();
        let _ = names;
        (json!(values), json!(ses))
    }

    fn json(&self) -> Value {
        let f = self.fit;
        let c = &self.model.code;
        let v = &f.values;
        let eta_names = &c.omega.names;
        let omega_se_name = |i: usize, j: usize| {
            if i == j {
                format!("OMEGA({})", eta_names[i])
            } else {
                format!("OMEGA({},{})", eta_names[i], eta_names[j])
            }
        };
        let (omega, omega_se) = self.matrix(&v.omega, eta_names, omega_se_name);
        let sigma_names: Vec<String> = c.sigmas.iter().map(|s| s.name.clone()).collect();
        let sigma_m = DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            v.sigma_sd.len(),
            v.sigma_sd.iter().map(|s| s * s),
        ));
        let (sigma, sigma_se) = self.matrix(&sigma_m, &sigma_names, |i, j| {
            if i == j {
                format!("SIGMA({})", sigma_names[i])
            } else {
                String::new()
            }
        });
        let theta_se: Vec<Option<f64>> = c.thetas.iter().map(|t| self.se_of(&t.name)).collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model.name()));
        body.insert("method".into(), json!(f.method.to_string()));
        body.insert("converged".into(), json!(f.converged));
        body.insert("message".into(), json!(f.message));
        body.insert("ofv".into(), json!(f.evaluation.ofv));
        body.insert("aic".into(), json!(self.aic()));
        body.insert("bic".into(), json!(self.bic()));
        body.insert("n_subjects".into(), json!(self.n_subjects));
        body.insert("n_observations".into(), json!(self.n_obs));
        body.insert("n_censored".into(), json!(self.n_censored));
        body.insert("n_dropped_blq".into(), json!(self.n_dropped_blq));
        body.insert("n_parameters".into(), json!(self.n_parameters()));
        body.insert("iterations".into(), json!(f.iterations));
        body.insert("objective_evaluations".into(), json!(f.objective_evaluations));
        body.insert("seconds".into(), json!(self.seconds));
        body.insert(
            "covariance".into(),
            match &self.se {
                Ok(_) => json!("R matrix: 2·(∇²OFV)⁻¹, central differences"),
                Err(m) => json!(m),
            },
        );
        body.insert(
            "theta_names".into(),
            json!(c.thetas.iter().map(|t| &t.name).collect::<Vec<_>>()),
        );
        body.insert("theta".into(), json!(v.theta));
        body.insert("omega_names".into(), json!(eta_names));
        body.insert("omega".into(), omega);
        body.insert("sigma_names".into(), json!(sigma_names));
        body.insert("sigma".into(), sigma);
        if let Some(iov) = &c.iov {
            let names = &iov.effects.names;
            let (m, _) = self.matrix(&v.omega_iov, names, |_, _| String::new());
            body.insert("omega_iov_names".into(), json!(names));
            body.insert("omega_iov".into(), m);
        }
        if self.se.is_ok() {
            body.insert(
                "se".into(),
                json!({"theta": theta_se, "omega": omega_se, "sigma": sigma_se}),
            );
        }
        let estimates: Vec<Value> = self
            .estimates
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let se = self.se.as_ref().ok().map(|s| s[i]);
                json!({"name": e.name, "estimate": e.value, "se": se,
                       "rse_percent": se.map(|s| 100.0 * s / e.value.abs())})
            })
            .collect();
        body.insert("estimates".into(), json!(estimates));
        let mut shrink = Map::new();
        for (n, s) in eta_names.iter().zip(&self.shrinkage) {
            shrink.insert(n.clone(), json!(s));
        }
        body.insert("eta_shrinkage".into(), Value::Object(shrink));
        let etas: Vec<Value> = self
            .ids
            .iter()
            .zip(&f.evaluation.estimates)
            .map(|(id, e)| {
                let mut m = Map::new();
                m.insert("id".into(), json!(id));
                for (n, x) in eta_names.iter().zip(&e.eta) {
                    m.insert(n.clone(), json!(x));
                }
                Value::Object(m)
            })
            .collect();
        body.insert("etas".into(), json!(etas));
        Value::Object(body)
    }
}

fn table(rows: &[ObservationRow]) -> String {
    let mut t = String::from("ID,TIME,OUTPUT,DV,PRED,IPRED,CWRES,IWRES\n");
    for r in rows {
        t.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.id,
            num(r.time),
            r.output,
            num(r.dv),
            num(r.pred),
            num(r.ipred),
            num(r.cwres),
            num(r.iwres)
        ));
    }
    t
}

fn plots(dir: &str, model: &Model, rows: &[ObservationRow]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let u = &model.units;
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
