//! `pk sir`: parameter uncertainty by sampling importance resampling
//! (Dosne et al. 2016) from the covariance step of a population fit.

use super::output::{refuse_input, write_text, Progress};
use super::population_input;
use clap::Args;
use pk::population::covariance::{covariance_step, CovarianceMatrix};
use pk::population::estimation::{objective, EstimationOptions, Method, Parameters, PopulationFit};
use pk::population::sir::{sir, SirOptions, SirResult};
use pk::{Error, Result};
use serde_json::json;

/// Arguments of `pk sir`.
#[derive(Debug, Args)]
pub struct SirArgs {
    /// NONMEM-style data file (with --model), or a NONMEM control stream (.ctl, .mod, .con).
    data: String,
    /// Draws per iteration, comma-separated (PsN's default).
    #[arg(long, value_delimiter = ',', default_value = "1000,1000,1000,2000,2000")]
    samples: Vec<usize>,
    /// Resamples per iteration, comma-separated, one per --samples entry.
    #[arg(long, value_delimiter = ',', default_value = "200,400,500,1000,1000")]
    resamples: Vec<usize>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Take the initial estimates as the estimates (no fit), e.g. NONMEM's with --inits-from.
    #[arg(long)]
    evaluate: bool,
    /// Covariance matrix of the first proposal: sandwich (default), r or s.
    #[arg(long, default_value = "sandwich")]
    cov_matrix: String,
    /// Confidence level of the intervals, in percent.
    #[arg(long, default_value_t = 95.0)]
    ci: f64,
    /// CSV with the final resample: one row per resampled parameter vector (with its dOFV).
    #[arg(long)]
    out: Option<String>,
    /// JSON with the intervals and the diagnostics of each iteration.
    #[arg(long)]
    json: Option<String>,
    #[command(flatten)]
    fit: population_input::FitArgs,
}

/// Runs `pk sir`.
pub fn run(args: SirArgs) -> Result<()> {
    if !(args.ci > 0.0 && args.ci < 100.0) {
        return Err(Error::Argument(format!(
            "--ci {}: expected a level in percent between 0 and 100",
            args.ci
        )));
    }
    let options = SirOptions {
        samples: args.samples.clone(),
        resamples: args.resamples.clone(),
        seed: args.seed,
    };
    options.check()?;
    let matrix = CovarianceMatrix::parse(&args.cov_matrix)?;
    let input = args.fit.load(&args.data)?;
    let inputs: Vec<&str> = input.inputs.iter().map(String::as_str).collect();
    for p in [&args.out, &args.json].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let method = args.fit.method(&input)?;
    let (model, data, start) = (&input.model, &input.data, &input.start);
    let fit = if args.evaluate || input.evaluate_only {
        let evaluation = objective(model, data, start, method, &[])?;
        PopulationFit {
            phi: Parameters::of(model).phi(model, start)?,
            history: Vec::new(),
            values: start.clone(),
            method,
            evaluation,
            converged: true,
            message: "the initial estimates taken as the estimates (--evaluate)".into(),
            iterations: 0,
            objective_evaluations: 1,
        }
    } else {
        let options = EstimationOptions {
            method,
            max_iterations: args.fit.max_iterations,
            progress: false,
        };
        let fit = pk::population::estimation::estimate(model, data, start, &options)?;
        if !fit.converged {
            return Err(Error::Argument(format!(
                "the {method} estimation did not converge ({}): SIR needs the estimates as its centre",
                fit.message
            )));
        }
        fit
    };
    eprintln!("{method}: OFV {:.4}; covariance step ({matrix})", fit.evaluation.ofv);
    let step = covariance_step(model, data, start, &fit, matrix)?.map_err(|failure| {
        Error::Argument(format!(
            "SIR needs the covariance step for its proposal, and it failed: {failure}"
        ))
    })?;
    let total: usize = options.samples.iter().sum();
    let progress = Progress::new("SIR", total, true);
    let result = sir(model, data, start, &fit, &step.phi_covariance, &options, &|k| {
        progress.add(k)
    });
    progress.finish();
    let result = result?;
    let level = args.ci / 100.0;
    let ses = step.standard_errors();
    let text = summary(&result, &ses, level, method, fit.evaluation.ofv);
    write_text(None, &text, &inputs)?;
    if let Some(path) = &args.out {
        write_text(Some(path), &resample_csv(&result)?, &inputs)?;
    }
    if let Some(path) = &args.json {
        let doc = json_summary(&result, &ses, level, &options, fit.evaluation.ofv);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), &inputs)?;
    }
    Ok(())
}

/// The intervals and the diagnostics of each iteration, as text.
fn summary(r: &SirResult, se: &[f64], level: f64, method: Method, ofv: f64) -> String {
    let mut t = format!(
        "SIR of the {method} estimates (OFV {ofv:.4}), {} estimated parameters\n\n",
        r.n_parameters
    );
    t.push_str(&format!(
        "{:>9} {:>9} {:>7} {:>12} {:>11} {:>10}\n",
        "iteration", "samples", "failed", "ESS", "max weight", "mean dOFV"
    ));
    for (k, it) in r.iterations.iter().enumerate() {
        t.push_str(&format!(
            "{:>9} {:>9} {:>7} {:>12.1} {:>10.2}% {:>10.2}\n",
            k + 1,
            format!("{}→{}", it.samples, it.resamples),
            it.failed,
            it.effective_samples,
            100.0 * it.max_weight_share,
            it.mean_dofv
        ));
    }
    t.push_str(&format!(
        "(the resampled dOFV of a well-behaved problem follows χ²({}), mean {})\n\n",
        r.n_parameters, r.n_parameters
    ));
    let pct = 100.0 * level;
    t.push_str(&format!(
        "{:<28} {:>13} {:>11} {:>11} {:>13} {:>13}\n",
        "parameter",
        "estimate",
        "SE (cov)",
        "SE (SIR)",
        format!("{:.3}%", 50.0 - pct / 2.0),
        format!("{:.3}%", 50.0 + pct / 2.0)
    ));
    for (k, name) in r.names.iter().enumerate() {
        let (lo, hi) = r.interval(k, level);
        t.push_str(&format!(
            "{:<28} {:>13.6} {:>11.5} {:>11.5} {:>13.6} {:>13.6}\n",
            name,
            r.estimates[k],
            se[k],
            r.standard_error(k),
            lo,
            hi
        ));
    }
    t
}

/// The final resample: one row per parameter vector (names quoted where
/// they hold a comma, numbers in their shortest exact form).
fn resample_csv(r: &SirResult) -> Result<String> {
    let csv_error = |e: csv::Error| Error::Argument(format!("writing the resample file: {e}"));
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut header = vec!["resample".to_string(), "dofv".to_string()];
    header.extend(r.names.iter().cloned());
    w.write_record(&header).map_err(csv_error)?;
    for (k, (row, dofv)) in r.resampled.iter().zip(&r.resampled_dofv).enumerate() {
        let mut record = vec![(k + 1).to_string(), dofv.to_string()];
        record.extend(row.iter().map(f64::to_string));
        w.write_record(&record).map_err(csv_error)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Argument(format!("writing the resample file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Argument(format!("writing the resample file: {e}")))
}

fn json_summary(r: &SirResult, se: &[f64], level: f64, options: &SirOptions, ofv: f64) -> serde_json::Value {
    let parameters: Vec<serde_json::Value> = r
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let (lo, hi) = r.interval(k, level);
            json!({"name": name, "estimate": r.estimates[k], "se_covariance_step": se[k],
                   "se_sir": r.standard_error(k), "lower": lo, "upper": hi})
        })
        .collect();
    let iterations: Vec<serde_json::Value> = r
        .iterations
        .iter()
        .map(|it| {
            json!({"samples": it.samples, "resamples": it.resamples, "failed": it.failed,
                   "effective_samples": it.effective_samples, "max_weight_share": it.max_weight_share,
                   "mean_dofv": it.mean_dofv})
        })
        .collect();
    json!({"ofv": ofv, "level": level, "seed": options.seed, "n_parameters": r.n_parameters,
           "parameters": parameters, "iterations": iterations})
}
