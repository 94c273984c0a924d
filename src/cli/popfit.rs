//! `pk popfit`: population estimation (FOCE-I, FOCE, FO, Laplacian) of a
//! model written in the model language, or of a NONMEM control stream
//! (lowered onto the language; data, method and covariance step as the
//! control stream says).

mod control_stream;
mod report;
mod saem;

use super::model_args::DataSelection;
use super::output::{refuse_input, write_text};
use clap::Args;

use nalgebra::DMatrix;
use pk::data::Dataset;
use pk::model::Model;
use pk::population::covariance::{covariance_step, CovarianceMatrix, CovarianceStep};
use pk::population::estimation::{
    diagnostics, epsilon_shrinkage, reported, EstimationOptions, IterationRecord, Method, ObservationRow, Parameters,
    PopValues, PopulationData, PopulationFit, Reported,
};
use pk::population::map::shrinkage;
use pk::population::npde::Npde;
use pk::population::tables::TableSource;
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Arguments of `pk popfit`.
#[derive(Debug, Args)]
pub struct PopfitArgs {
    /// NONMEM-style data file, or a NONMEM control stream (.ctl, .mod, .con:
    /// model, data, method and covariance step as it says).
    data: String,
    /// Model file in the model language with initial estimates (e.g. models/two_cmt_pop.pk), or a bundled name.
    #[arg(long)]
    model: Option<String>,
    /// Estimation method: foce-i, foce, fo, laplace or saem (default foce-i, or the control stream's $ESTIMATION).
    #[arg(long)]
    method: Option<String>,
    /// SAEM: burn-in iterations (default 300, or the control stream's NBURN).
    #[arg(long)]
    burn_in: Option<usize>,
    /// SAEM: averaging iterations (default 300, or the control stream's NITER).
    #[arg(long)]
    averaging: Option<usize>,
    /// SAEM: Markov chains per subject (default: enough for 200 chains in all, or the ISAMPLE of $EST METHOD=SAEM).
    #[arg(long)]
    chains: Option<usize>,
    /// SAEM: importance samples per subject for the −2LL (default 1000, or the ISAMPLE of $EST METHOD=IMP EONLY=1).
    #[arg(long)]
    isample: Option<usize>,
    /// Seed of the random streams: SAEM's chains (default 11456, or the control stream's SEED)
    /// and the simulations of the NPDE in --table (default 1).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated data sets per subject for the NPDE and EPRED columns of --table (0: none).
    #[arg(long, default_value_t = 1000)]
    npde_samples: usize,
    /// Largest number of outer iterations.
    #[arg(long, default_value_t = 300)]
    max_iterations: u64,
    /// Skip the covariance step.
    #[arg(long)]
    no_covariance: bool,
    /// Run the covariance step with --evaluate too (it is skipped there by
    /// default: a central-difference Hessian costs ~2n² objective evaluations).
    #[arg(long, conflicts_with = "no_covariance")]
    covariance: bool,
    /// Covariance matrix of the standard errors: sandwich (R⁻¹SR⁻¹, NONMEM's
    /// default), r or s (default: sandwich, or the control stream's $COVARIANCE MATRIX=).
    #[arg(long)]
    cov_matrix: Option<String>,
    /// Write the covariance matrix of the estimates in NONMEM's .cov layout
    /// (θ, Σ and Ω elements numbered as NONMEM numbers them).
    #[arg(long, conflicts_with = "no_covariance")]
    cov: Option<String>,
    #[command(flatten)]
    selection: DataSelection,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
    /// sdtab-like CSV with one row per data record: ID, TIME, TAD, DV, MDV, EVID, AMT, CMT, DVID
    /// (when the data have one), OUTPUT, PRED, IPRED, RES, WRES, CWRES, IWRES, EPRED, NPDE (see
    /// --npde-samples), BLQ; residuals on the observations (MDV 0) only, `.` elsewhere.
    #[arg(long)]
    table: Option<String>,
    /// patab-like CSV with one row per subject and parameter set: ID, TIME, the individual
    /// parameters, the η̂ (and κ̂ of the set's occasion), the model's covariates.
    #[arg(long)]
    patab: Option<String>,
    /// Directory for the goodness-of-fit plots, each as SVG and PNG.
    #[arg(long)]
    plots: Option<String>,
    /// One self-contained HTML report of the run: model, data summary, estimates
    /// with SE, RSE and shrinkage, convergence, every goodness-of-fit plot inline.
    #[arg(long)]
    report: Option<String>,
    /// Replicates of the VPC and pcVPC in --report (0: none), drawn from --seed (default 1).
    #[arg(long, default_value_t = 200)]
    report_vpc: usize,
    /// Compute the objective at the initial estimates without estimating (as NONMEM's MAXEVAL=0).
    #[arg(long)]
    evaluate: bool,
    /// Control stream: initial estimates from the final row of a NONMEM .ext file (as PsN's update_inits).
    #[arg(long)]
    inits_from: Option<String>,
    /// Write the result as a NONMEM .ext file (final estimates, SEs, fixed flags), θ, Σ and Ω
    /// numbered as the control stream numbers them (for a model file: in declaration order).
    #[arg(long)]
    ext: Option<String>,
    /// Write a NONMEM .phi file: per subject its η̂ (the conditional modes), their conditional
    /// covariance (ETC) and its OFV contribution (OBJ).
    #[arg(long)]
    phi: Option<String>,
    /// Write the model in the model language with the final estimates as its initial values (a model
    /// file: its own text with the declarations' values replaced; a control stream: translated), ready
    /// for `pk simulate --population`, `pk vpc` or another fit.
    #[arg(long)]
    write_model: Option<String>,
    /// Control stream: write its $TABLE files into this existing directory,
    /// under their FILE= names (a $TABLE without FILE= as table<n>), in NONMEM's layout.
    #[arg(long)]
    tables: Option<String>,
}

/// Why the covariance step is not run, if it is not: `--no-covariance`; a
/// control stream without `$COVARIANCE` (`requested` false); or `--evaluate`
/// without `--covariance`.
fn skip_reason(args: &PopfitArgs, requested: bool) -> Option<String> {
    if args.no_covariance {
        Some("not requested (--no-covariance)".into())
    } else if !requested {
        Some("not requested (no $COVARIANCE)".into())
    } else if args.evaluate && !args.covariance {
        Some("not run with --evaluate (add --covariance to run it at these estimates)".into())
    } else {
        None
    }
}

/// The covariance step, or why there is none (not run, or failed in NONMEM's words).
fn run_covariance_step(
    model: &Model,
    pop: &PopulationData,
    start: &PopValues,
    fit: &PopulationFit,
    skip: Option<String>,
    matrix: CovarianceMatrix,
) -> Result<std::result::Result<CovarianceStep, String>> {
    if let Some(why) = skip {
        return Ok(Err(why));
    }
    Ok(covariance_step(model, pop, start, fit, matrix)?.map_err(|failure| failure.to_string()))
}

/// `--cov FILE`: the covariance matrix in NONMEM's `.cov` layout, or a
/// refusal when the covariance step did not run or failed.
fn cov_file(
    path: Option<&str>,
    map: &pk::nonmem::lower::params::ParameterMap,
    model: &Model,
    report: &Report,
    inputs: &[&str],
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let step = report
        .cov
        .as_ref()
        .map_err(|why| Error::Argument(format!("--cov {path}: there is no covariance matrix to write: {why}")))?;
    let positions = map.nm_positions(model, &step.names);
    let text = pk::nonmem::lower::params::cov_text(&nonmem_title(report.fit.method), &positions, &step.covariance);
    write_text(Some(path), &text, inputs)
}

/// The covariance matrix: `--cov-matrix`, else the control stream's
/// `$COVARIANCE MATRIX=` (`from_control_stream`), else the sandwich.
fn covariance_matrix(args: &PopfitArgs, from_control_stream: Option<&str>) -> Result<CovarianceMatrix> {
    match (&args.cov_matrix, from_control_stream) {
        (Some(m), _) => CovarianceMatrix::parse(m),
        (None, Some(m)) => CovarianceMatrix::parse(m),
        (None, None) => Ok(CovarianceMatrix::Sandwich),
    }
}

/// Runs `pk popfit`.
pub fn run(args: PopfitArgs) -> Result<()> {
    if pk::nonmem::import::is_control_stream(&args.data) {
        return control_stream::run_control_stream(args);
    }
    if args.tables.is_some() {
        return Err(Error::Argument("--tables is for NONMEM control streams".into()));
    }
    let use_saem = saem::requested(args.method.as_deref());
    let method = if use_saem {
        Method::FoceI
    } else {
        saem::refuse_flags(&args)?;
        Method::parse(args.method.as_deref().unwrap_or("foce-i"))?
    };
    let input = super::population_input::load(
        &args.data,
        args.model.as_deref(),
        &args.selection,
        args.inits_from.as_deref(),
    )?;
    let inputs: Vec<&str> = input.inputs.iter().map(String::as_str).collect();
    for p in [
        &args.json,
        &args.table,
        &args.patab,
        &args.cov,
        &args.ext,
        &args.phi,
        &args.write_model,
        &args.report,
    ]
    .into_iter()
    .flatten()
    {
        refuse_input(p, &inputs)?;
    }
    if let Some(dir) = &args.plots {
        pk::output::check_writable(dir)?;
    }
    let (model, dataset, pop, start) = (input.model, input.dataset, input.data, input.start);
    let started = std::time::Instant::now();
    let options = EstimationOptions {
        method,
        max_iterations: args.max_iterations,
        progress: true,
    };
    if use_saem {
        return run_saem(&args, &model, (&dataset, &pop), &start, &inputs);
    }
    let fit = if args.evaluate {
        pk::population::estimation::evaluate_at(&model, &pop, &start, method)?
    } else {
        estimate_with_progress(&model, &pop, &start, &options)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    let matrix = covariance_matrix(&args, None)?;
    let cov = run_covariance_step(&model, &pop, &start, &fit, skip_reason(&args, true), matrix)?;
    let rows = diagnostics(&model, &pop, &fit)?;
    let report = Report::new(&model, &pop, &fit, cov, matrix, elapsed, epsilon_shrinkage(&rows));
    let summary = report.text();
    write_text(None, &summary, &inputs)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), &inputs)?;
    }
    write_tables(&args, &model, (&dataset, &pop), &fit, &rows, &inputs)?;
    let d =
        report::Diagnostics::new(&model, &dataset, &pop, &fit, &rows).with_vpc(args.report_vpc, args.seed.unwrap_or(1));
    report::write(
        args.plots.as_deref(),
        args.report.as_deref(),
        &d,
        Some(&report),
        &summary,
        &inputs,
    )?;
    let map = pk::nonmem::lower::params::ParameterMap::of_model(&model);
    if let Some(path) = &args.ext {
        let nm = map.nm_values(&fit.values, &map.zero_values());
        let names: Vec<String> = report.estimates.iter().map(|e| e.name.clone()).collect();
        let nm_se = report.se.as_ref().map(|s| map.nm_standard_errors(&model, &names, s));
        let title = nonmem_title(method);
        let text = ext_file_text(&map, &nm, nm_se.as_ref(), (&title, fit.evaluation.ofv), &fit.history);
        write_text(Some(path), &text, &inputs)?;
    }
    if let Some(path) = &args.phi {
        let occasions = pop.subjects.iter().map(|s| s.data.n_occasions).max().unwrap_or(0);
        let map = map.with_occasions(occasions);
        write_text(Some(path), &phi_file_text(&map, &pop, &fit), &inputs)?;
    }
    cov_file(args.cov.as_deref(), &map, &model, &report, &inputs)?;
    if let Some(path) = &args.write_model {
        let header = format!(
            "# Estimates of `pk popfit {} --model {}` ({}, OFV {:.4}{}{}) as initial values\n",
            args.data,
            model.origin,
            fit.method,
            fit.evaluation.ofv,
            if args.evaluate { ", evaluated only" } else { "" },
            if fit.converged { "" } else { ", NOT CONVERGED" }
        );
        write_text(Some(path), &fitted_model_text(&model, &fit.values, &header)?, &inputs)?;
    }
    if !fit.converged {
        return Err(Error::Argument(format!(
            "the {method} estimation did not converge: {}; the numbers above are not estimates",
            fit.message
        )));
    }
    Ok(())
}

/// `pk popfit DATA --model FILE --method saem`: SAEM's summary block, JSON,
/// and popfit's table and plots at the SAEM estimates.
fn run_saem(
    args: &PopfitArgs,
    model: &Model,
    (dataset, pop): (&Dataset, &PopulationData),
    start: &PopValues,
    inputs: &[&str],
) -> Result<()> {
    for (flag, given) in [
        ("--evaluate", args.evaluate),
        ("--covariance", args.covariance),
        ("--cov-matrix", args.cov_matrix.is_some()),
        ("--cov", args.cov.is_some()),
        ("--ext", args.ext.is_some()),
        ("--phi", args.phi.is_some()),
    ] {
        if given {
            return Err(Error::Argument(format!("{flag} does not apply to --method saem")));
        }
    }
    let run = saem::run(model, pop, start, &saem::options(args, None)?)?;
    let summary = saem::text(model, pop, &run);
    write_text(None, &summary, inputs)?;
    if let Some(path) = &args.json {
        let doc = saem::json(model, pop, &run);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), inputs)?;
    }
    if let Some(path) = &args.write_model {
        let header = format!(
            "# Estimates of `pk popfit {} --model {} --method saem` (−2LL by importance sampling {:.4} ± {:.4}) as initial values\n",
            args.data, model.origin, run.fit.importance.ofv, run.fit.importance.se
        );
        write_text(
            Some(path),
            &fitted_model_text(model, &run.population.values, &header)?,
            inputs,
        )?;
    }
    if args.table.is_some() || args.patab.is_some() || args.plots.is_some() || args.report.is_some() {
        let rows = diagnostics(model, pop, &run.population)?;
        write_tables(args, model, (dataset, pop), &run.population, &rows, inputs)?;
        let d = report::Diagnostics::new(model, dataset, pop, &run.population, &rows)
            .with_vpc(args.report_vpc, args.seed.unwrap_or(1));
        report::write(
            args.plots.as_deref(),
            args.report.as_deref(),
            &d,
            None,
            &summary,
            inputs,
        )?;
    }
    Ok(())
}

struct Report<'a> {
    model: &'a Model,
    fit: &'a PopulationFit,
    estimates: Vec<Reported>,
    /// The covariance step, or why there is none.
    cov: std::result::Result<CovarianceStep, String>,
    /// Standard errors of `estimates`, when the covariance step gave them.
    se: Option<Vec<f64>>,
    /// The matrix the standard errors come from.
    matrix: CovarianceMatrix,
    n_subjects: usize,
    n_obs: usize,
    n_censored: usize,
    n_dropped_blq: usize,
    shrinkage: Vec<f64>,
    /// ε-shrinkage (NONMEM's EPSSHRINKSD).
    eps_shrinkage: f64,
    ids: Vec<String>,
    seconds: f64,
}

impl<'a> Report<'a> {
    fn new(
        model: &'a Model,
        pop: &PopulationData,
        fit: &'a PopulationFit,
        cov: std::result::Result<CovarianceStep, String>,
        matrix: CovarianceMatrix,
        seconds: f64,
        eps_shrinkage: f64,
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
            se: cov.as_ref().ok().map(|c| c.standard_errors()),
            cov,
            matrix,
            n_subjects: pop.subjects.len(),
            n_obs: pop.n_obs,
            n_censored: pop.n_censored,
            n_dropped_blq: pop.n_dropped_blq,
            shrinkage: shrinkage(&etas, &omega_sd),
            eps_shrinkage,
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
        self.se.as_ref().map(|s| s[i])
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
        match &self.cov {
            Ok(_) => t.push_str(&format!(
                "Standard errors: {} (R = ∇²OFV, S = Σ gᵢgᵢᵀ of the subjects' OFV gradients, by central differences)\n",
                self.matrix
            )),
            Err(m) => t.push_str(&format!("Covariance step: {m}\n")),
        }
        t.push_str(&format!(
            "\n{:<28} {:>14} {:>12} {:>8}   {:<24} {:>10}\n",
            "parameter", "estimate", "SE", "RSE%", "estimated on scale", "SE there"
        ));
        let cov = self.cov.as_ref().ok();
        let rse = cov.map(|c| c.relative_standard_errors());
        let se_phi = cov.map(|c| c.estimated_scale_standard_errors());
        for (i, e) in self.estimates.iter().enumerate() {
            let se = self.se.as_ref().map(|s| s[i]);
            t.push_str(&format!(
                "{:<28} {:>14.6} {:>12} {:>8}   {:<24} {:>10}\n",
                e.name,
                e.value,
                se.map_or("-".into(), |s| format!("{s:.5}")),
                rse.as_ref()
                    .and_then(|r| r[i])
                    .map_or("-".into(), |r| format!("{r:.1}")),
                cov.map_or("-".into(), |c| c.scales[i].clone()),
                se_phi.as_ref().map_or("-".into(), |s| format!("{:.5}", s[i]))
            ));
        }
        if let Some(c) = cov {
            t.push_str(&correlation_text(c));
        }
        t.push_str("\nη-shrinkage:");
        for (n, s) in self.model.code.omega.names.iter().zip(&self.shrinkage) {
            t.push_str(&format!(" {n} {:.1}%", 100.0 * s));
        }
        t.push_str(&format!("  ε-shrinkage: {:.1}%\n", 100.0 * self.eps_shrinkage));
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
        body.insert("covariance".into(), covariance_json(&self.cov, self.matrix));
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
        if self.se.is_some() {
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
                let c = self.cov.as_ref().ok();
                json!({"name": e.name, "estimate": e.value,
                       "se": self.se.as_ref().map(|s| s[i]),
                       "rse_percent": c.and_then(|c| c.relative_standard_errors()[i]),
                       "estimated_scale": c.map(|c| c.scales[i].clone()),
                       "se_estimated_scale": c.map(|c| c.estimated_scale_standard_errors()[i])})
            })
            .collect();
        body.insert("estimates".into(), json!(estimates));
        let mut shrink = Map::new();
        for (n, s) in eta_names.iter().zip(&self.shrinkage) {
            shrink.insert(n.clone(), json!(s));
        }
        body.insert("eta_shrinkage".into(), Value::Object(shrink));
        body.insert("eps_shrinkage".into(), json!(self.eps_shrinkage));
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

/// The correlation matrix of the estimates (lower triangle, estimates
/// numbered as in the table above), its eigenvalues and condition number.
fn correlation_text(c: &CovarianceStep) -> String {
    let r = c.correlation();
    let n = r.nrows();
    let mut t = String::from("\nCorrelation matrix of the estimates:\n");
    t.push_str(&format!("{:<32}", ""));
    for j in 0..n {
        t.push_str(&format!(" {:>7}", j + 1));
    }
    t.push('\n');
    for i in 0..n {
        t.push_str(&format!("{:>3} {:<28}", i + 1, c.names[i]));
        for j in 0..=i {
            t.push_str(&format!(" {:>7.3}", r[(i, j)]));
        }
        t.push('\n');
    }
    let e = c.eigenvalues();
    t.push_str("Eigenvalues of the correlation matrix:");
    for x in &e {
        t.push_str(&format!(" {x:.4}"));
    }
    t.push_str(&format!(
        "\nCondition number (largest/smallest eigenvalue): {:.1}\n",
        c.condition_number()
    ));
    t
}

/// The covariance step in JSON: the matrix used, the covariance and
/// correlation matrices of the reported estimates, the covariance on the
/// estimated scale, eigenvalues and condition number; or why there are none.
fn covariance_json(cov: &std::result::Result<CovarianceStep, String>, matrix: CovarianceMatrix) -> Value {
    let rows = |m: &DMatrix<f64>| -> Value {
        json!((0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<_>>())
            .collect::<Vec<_>>())
    };
    match cov {
        Ok(c) => json!({
            "matrix": matrix.short_name(),
            "names": c.names,
            "covariance": rows(&c.covariance),
            "correlation": rows(&c.correlation()),
            "estimated_scales": c.scales,
            "covariance_estimated_scale": rows(&c.phi_covariance),
            "eigenvalues": c.eigenvalues(),
            "condition_number": c.condition_number(),
        }),
        Err(why) => json!({"matrix": matrix.short_name(), "failure": why}),
    }
}

/// The estimation with its outer iterations shown (a spinner on a terminal,
/// a line each otherwise).
fn estimate_with_progress(
    model: &Model,
    pop: &PopulationData,
    start: &PopValues,
    options: &EstimationOptions,
) -> Result<pk::population::estimation::PopulationFit> {
    let progress = super::output::IterationProgress::new();
    let fit =
        pk::population::estimation::estimate_with(model, pop, start, options, &|step| progress.step(&step.to_string()));
    progress.finish();
    fit
}

/// The text of a NONMEM `.ext` file of these estimates and standard errors,
/// with a row per outer iteration of `history` before the final rows.
fn ext_file_text(
    map: &pk::nonmem::lower::params::ParameterMap,
    nm: &pk::nonmem::lower::params::NmValues,
    se: Option<&pk::nonmem::lower::params::NmStandardErrors>,
    (title, ofv): (&str, f64),
    history: &[IterationRecord],
) -> String {
    let (theta_fixed, sigma_fixed, omega_fixed) = map.fixed_flags();
    let se_ref = se.map(|(t, o, s)| (t.as_slice(), s.as_slice(), o.as_slice()));
    let iterations: Vec<(i64, pk::nonmem::lower::params::NmValues, f64)> = history
        .iter()
        .map(|h| (h.iteration as i64, map.nm_values(&h.values, nm), h.ofv))
        .collect();
    pk::nonmem::lower::params::ext_text(
        title,
        nm,
        ofv,
        se_ref,
        (&theta_fixed, &sigma_fixed, &omega_fixed),
        &iterations,
    )
}

/// The text of a NONMEM `.phi` file of a fit: the conditional modes, their
/// conditional covariance (the inverse of half the information matrix whose
/// determinant enters the objective) and each subject's OFV contribution.
pub(super) fn phi_file_text(
    map: &pk::nonmem::lower::params::ParameterMap,
    pop: &PopulationData,
    fit: &PopulationFit,
) -> String {
    use pk::nonmem::lower::params::{phi_text, PhiSubject};
    let n_eta = fit.values.omega.nrows();
    let n_kappa = fit.values.omega_iov.nrows();
    let covariances: Vec<DMatrix<f64>> = fit
        .evaluation
        .estimates
        .iter()
        .map(|e| {
            e.half_information
                .clone()
                .try_inverse()
                .unwrap_or_else(|| DMatrix::from_element(e.eta.len(), e.eta.len(), f64::NAN))
        })
        .collect();
    let subjects: Vec<PhiSubject<'_>> = pop
        .subjects
        .iter()
        .zip(&fit.evaluation.estimates)
        .zip(&covariances)
        .zip(&fit.evaluation.contributions)
        .map(|(((s, e), c), obj)| PhiSubject {
            id: &s.data.id,
            b: &e.eta,
            covariance: c,
            occasions: s.data.n_occasions,
            objective: *obj,
        })
        .collect();
    phi_text(&nonmem_title(fit.method), map, n_eta, n_kappa, &subjects)
}

/// The model file's text with `values` as its initial values.
fn fitted_model_text(model: &Model, values: &PopValues, header: &str) -> Result<String> {
    let sigma_variance: Vec<f64> = values.sigma_sd.iter().map(|s| s * s).collect();
    model.text_with_values(
        &pk::lang::rewrite::DeclaredValues {
            theta: &values.theta,
            omega: &values.omega,
            omega_iov: &values.omega_iov,
            sigma_variance: &sigma_variance,
        },
        header,
    )
}

/// `--table` (sdtab) and `--patab` of a fit.
pub(super) fn write_tables(
    args: &PopfitArgs,
    model: &Model,
    (dataset, data): (&Dataset, &PopulationData),
    fit: &PopulationFit,
    rows: &[ObservationRow],
    inputs: &[&str],
) -> Result<()> {
    if args.table.is_none() && args.patab.is_none() {
        return Ok(());
    }
    let npde = table_npde(args, model, data, fit);
    let source = TableSource {
        model,
        dataset,
        data,
        fit,
        rows,
        npde: &npde,
    };
    if let Some(path) = &args.table {
        write_text(Some(path), &source.sdtab()?, inputs)?;
    }
    if let Some(path) = &args.patab {
        write_text(Some(path), &source.patab()?, inputs)?;
    }
    Ok(())
}

/// NPDE and EPRED of every observation (in the order of the diagnostics'
/// rows) for `--table`, from `--npde-samples` simulations per subject.
fn table_npde(args: &PopfitArgs, model: &Model, pop: &PopulationData, fit: &PopulationFit) -> Vec<Npde> {
    if args.table.is_none() || args.npde_samples == 0 {
        return Vec::new();
    }
    let seed = args.seed.unwrap_or(1);
    pk::population::npde::npde(model, pop, &fit.values, args.npde_samples, seed)
        .into_iter()
        .flatten()
        .collect()
}

/// The method as NONMEM titles its `.ext` tables.
fn nonmem_title(method: Method) -> String {
    match method {
        Method::Fo => "First Order",
        Method::Foce => "First Order Conditional Estimation",
        Method::FoceI => "First Order Conditional Estimation with Interaction",
        Method::Laplace => "Laplacian Conditional Estimation with Interaction",
    }
    .to_string()
}
