//! `pk vpc`: visual predictive check of a population model at its estimates
//! (a model file whose initial values are the estimates, or a NONMEM
//! control stream with `--inits-from RUN.ext`); see [`pk::vpc`].

use super::model_args::DataSelection;
use super::output::{refuse_input, write_text, StreamedOutput};
use super::population_input;
use clap::Args;
use pk::vpc::binning::Binning;
use pk::vpc::plot::VpcPlotStyle;
use pk::vpc::{PredCorrection, Vpc, VpcObservation, VpcOptions, XAxis};
use pk::{Error, Result};

/// The leading columns of `--csv`, as issue 16 names them.
pub const CSV_COLUMNS: &str =
    "bin,x,p05_obs,p05_sim,p05_lo,p05_hi,p50_obs,p50_sim,p50_lo,p50_hi,p95_obs,p95_sim,p95_lo,p95_hi";

/// Arguments of `pk vpc`.
#[derive(Debug, Args)]
pub struct VpcArgs {
    /// NONMEM-style data file (with --model), or a NONMEM control stream (.ctl, .mod, .con).
    data: String,
    /// Model file whose initial values are the estimates (e.g. written by popfit), or a bundled name.
    #[arg(long)]
    model: Option<String>,
    /// Control stream: the estimates from the final row of a NONMEM .ext file.
    #[arg(long)]
    inits_from: Option<String>,
    #[command(flatten)]
    selection: DataSelection,
    /// Number of simulated replicates of the data set.
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Seed of the simulations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// x axis: time or tad (time after dose).
    #[arg(long, default_value = "time")]
    x: String,
    /// Number of bins of about equal numbers of observations (default: one bin per sampling time when at most 100 with at least 10 observations each, else 10).
    #[arg(long, conflicts_with = "bin_breaks")]
    bins: Option<usize>,
    /// Bin edges on x, comma-separated (e.g. 0,1,2,4,8,24); the outer ones are widened to the data.
    #[arg(long, value_delimiter = ',')]
    bin_breaks: Option<Vec<f64>>,
    /// Prediction-corrected VPC (Bergstrand 2011): Y·PRED_bin/PRED.
    #[arg(long)]
    pred_corr: bool,
    /// With --pred-corr: the DV are log-transformed, correct additively (Y + PRED_bin − PRED).
    #[arg(long, requires = "pred_corr")]
    log_dv: bool,
    /// Statistics per value of this data column (one panel each).
    #[arg(long)]
    stratify: Option<String>,
    /// Level of the simulated intervals, in percent.
    #[arg(long, default_value_t = 95.0)]
    ci: f64,
    /// CSV with the bin statistics (standard output when not given).
    #[arg(long)]
    csv: Option<String>,
    /// Plot of the VPC: PNG when the name ends in .png, else SVG.
    #[arg(long)]
    plot: Option<String>,
    /// Logarithmic y axis in the plot.
    #[arg(long)]
    log_y: bool,
    /// CSV with the simulated data (REP,ID,TIME,TAD,DV,PRED), e.g. for R's vpc package.
    #[arg(long)]
    replicates: Option<String>,
}

impl VpcArgs {
    /// The VPC options these arguments ask for.
    fn options(&self) -> Result<VpcOptions> {
        if !(self.ci > 0.0 && self.ci < 100.0) {
            return Err(Error::Argument(format!(
                "--ci {}: expected a level in percent between 0 and 100",
                self.ci
            )));
        }
        if self.n < 2 {
            return Err(Error::Argument(format!(
                "--n {}: a VPC needs at least 2 replicates (500 is usual)",
                self.n
            )));
        }
        let binning = match (&self.bins, &self.bin_breaks) {
            (Some(k), _) => Binning::Quantiles(*k),
            (None, Some(b)) => Binning::Breaks(b.clone()),
            (None, None) => Binning::Auto,
        };
        Ok(VpcOptions {
            x: XAxis::parse(&self.x)?,
            binning,
            pred_corr: match (self.pred_corr, self.log_dv) {
                (false, _) => None,
                (true, false) => Some(PredCorrection::Proportional),
                (true, true) => Some(PredCorrection::Additive),
            },
            level: self.ci / 100.0,
        })
    }
}

/// Runs `pk vpc`.
pub fn run(args: VpcArgs) -> Result<()> {
    let options = args.options()?;
    let input = population_input::load(
        &args.data,
        args.model.as_deref(),
        &args.selection,
        args.inits_from.as_deref(),
    )?;
    let inputs: Vec<&str> = input.inputs.iter().map(String::as_str).collect();
    for p in [&args.csv, &args.plot, &args.replicates].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let (model, data, values) = (&input.model, &input.data, &input.start);
    let obs = pk::vpc::observations(model, &input.dataset, data, values, args.stratify.as_deref())?;
    let started = std::time::Instant::now();
    let sims = pk::vpc::simulate(model, data, values, args.n, args.seed)?;
    let vpc = pk::vpc::compute(&obs, &sims, &options)?;
    let (inside, checks) = vpc.coverage();
    eprintln!(
        "VPC: {} observations, {} replicates ({:.2} s), {} bins; observed percentiles inside the simulated {}% intervals: {:.1}% of {checks}",
        obs.len(),
        args.n,
        started.elapsed().as_secs_f64(),
        vpc.bins.len(),
        args.ci,
        100.0 * inside
    );
    write_text(args.csv.as_deref(), &bin_csv(&vpc), &inputs)?;
    if let Some(path) = &args.plot {
        let style = VpcPlotStyle {
            title: title(&args, &vpc),
            y_label: if args.pred_corr {
                "prediction-corrected DV"
            } else {
                "DV"
            }
            .into(),
            log_y: args.log_y,
        };
        pk::vpc::plot::write_plot(path, &vpc, &style)?;
    }
    if let Some(path) = &args.replicates {
        write_replicates(path, &obs, &sims, &inputs)?;
    }
    Ok(())
}

/// The plot's title: the model, the data and what was done.
fn title(args: &VpcArgs, vpc: &Vpc) -> String {
    let model = args.model.as_deref().unwrap_or(&args.data);
    let kind = if args.pred_corr { "pcVPC" } else { "VPC" };
    let (inside, _) = vpc.coverage();
    format!(
        "{kind} of {model}: {} replicates, {:.0}% of observed percentiles inside the {}% intervals",
        args.n,
        100.0 * inside,
        args.ci
    )
}

/// A CSV field: the number, or empty when unknown.
fn field(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        super::output::num(v)
    }
}

/// The bin statistics as CSV: [`CSV_COLUMNS`], then n_obs, n_censored,
/// x_lo, x_hi, pred_bin, blq_obs, blq_sim, blq_lo, blq_hi, and stratum when
/// stratified. Unknown values are empty fields.
pub fn bin_csv(vpc: &Vpc) -> String {
    let stratified = vpc.strata.iter().any(|s| !s.is_empty());
    let mut t = format!("{CSV_COLUMNS},n_obs,n_censored,x_lo,x_hi,pred_bin,blq_obs,blq_sim,blq_lo,blq_hi");
    if stratified {
        t.push_str(",stratum");
    }
    t.push('\n');
    for b in &vpc.bins {
        let mut row = vec![b.bin.to_string(), field(b.x)];
        for k in 0..3 {
            let s = b.simulated[k];
            row.extend([b.observed[k], s.median, s.lo, s.hi].map(field));
        }
        row.extend([b.n_obs.to_string(), b.n_censored.to_string()]);
        row.extend([b.x_lo, b.x_hi, b.pred_bin].map(field));
        match b.blq {
            Some((o, s)) => row.extend([o, s.median, s.lo, s.hi].map(field)),
            None => row.extend(std::iter::repeat_n(String::new(), 4)),
        }
        if stratified {
            row.push(csv_text(&b.stratum));
        }
        t.push_str(&row.join(","));
        t.push('\n');
    }
    t
}

/// A text field, quoted when it holds a comma or a quote.
fn csv_text(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The simulated data sets: REP, ID, TIME, TAD, DV, PRED (and STRATUM when stratified).
fn write_replicates(path: &str, obs: &[VpcObservation], sims: &[Vec<f64>], inputs: &[&str]) -> Result<()> {
    let stratified = obs.iter().any(|o| !o.stratum.is_empty());
    let mut out = StreamedOutput::open(Some(path), inputs)?;
    out.write(if stratified {
        "REP,ID,TIME,TAD,DV,PRED,STRATUM\n"
    } else {
        "REP,ID,TIME,TAD,DV,PRED\n"
    })?;
    for (r, sim) in sims.iter().enumerate() {
        let mut chunk = String::new();
        for (o, y) in obs.iter().zip(sim) {
            chunk.push_str(&format!(
                "{},{},{},{},{},{}",
                r + 1,
                csv_text(&o.id),
                field(o.time),
                field(o.tad),
                field(*y),
                field(o.pred)
            ));
            if stratified {
                chunk.push(',');
                chunk.push_str(&csv_text(&o.stratum));
            }
            chunk.push('\n');
        }
        out.write(&chunk)?;
    }
    out.finish()
}
