//! popfit's goodness-of-fit output: `--plots DIR` (every figure as SVG and
//! PNG) and `--report FILE` (one self-contained HTML page, written whole).

use super::Report;
use pk::data::{Dataset, Evid};
use pk::model::Model;
use pk::plot::figure::Figure;
use pk::plot::gof::{gof_figures, subject_covariates, GofInput};
use pk::population::estimation::{ObservationRow, PopulationData, PopulationFit};
use pk::report::{html, EstimateRow, ReportFigure, RunReport};
use pk::Result;
use rayon::prelude::*;
use std::path::Path;

/// What the figures and the report are drawn from.
pub(super) struct Diagnostics<'a> {
    pub model: &'a Model,
    /// The model's text and where it comes from (file or bundled name; control stream).
    pub model_text: (String, String),
    pub dataset: &'a Dataset,
    pub pop: &'a PopulationData,
    pub fit: &'a PopulationFit,
    pub rows: &'a [ObservationRow],
    /// Replicates of the report's VPCs (0: none) and their seed.
    pub vpc: (usize, u64),
}

impl<'a> Diagnostics<'a> {
    /// The diagnostics of a fit of a model file (its text read from `model.origin`).
    pub fn new(
        model: &'a Model,
        dataset: &'a Dataset,
        pop: &'a PopulationData,
        fit: &'a PopulationFit,
        rows: &'a [ObservationRow],
    ) -> Self {
        Diagnostics {
            model,
            model_text: model_text(&model.origin),
            dataset,
            pop,
            fit,
            rows,
            vpc: (0, 1),
        }
    }

    /// The same, with the report's VPCs from `replicates` simulated data sets drawn from `seed`.
    pub fn with_vpc(mut self, replicates: usize, seed: u64) -> Self {
        self.vpc = (replicates, seed);
        self
    }
}

/// The report's VPC and pcVPC (time on x, automatic bins) at the estimates,
/// as PNG figures; none when `d.vpc.0` is 0.
fn vpc_figures(d: &Diagnostics<'_>) -> Result<Vec<ReportFigure>> {
    use pk::vpc::binning::Binning;
    use pk::vpc::plot::{draw_vpc, size, VpcPlotStyle};
    use pk::vpc::{PredCorrection, VpcOptions, XAxis};
    let (n, seed) = d.vpc;
    if n == 0 {
        return Ok(Vec::new());
    }
    let values = &d.fit.values;
    let obs = pk::vpc::observations(d.model, d.dataset, d.pop, values, None)?;
    let sims = pk::vpc::simulate(d.model, d.pop, values, n, seed)?;
    let mut out = Vec::new();
    for (name, pred_corr, label) in [
        ("vpc", None, "VPC"),
        ("pcvpc", Some(PredCorrection::Proportional), "pcVPC"),
    ] {
        let options = VpcOptions {
            x: XAxis::Time,
            binning: Binning::Auto,
            pred_corr,
            level: 0.95,
        };
        let vpc = pk::vpc::compute(&obs, &sims, &options)?;
        let (inside, checks) = vpc.coverage();
        let title = format!(
            "{label}, {n} replicates: {:.1}% of {checks} observed percentiles inside the 95% intervals",
            100.0 * inside
        );
        let style = VpcPlotStyle {
            title: title.clone(),
            y_label: if pred_corr.is_some() {
                "prediction-corrected DV"
            } else {
                "DV"
            }
            .into(),
            log_y: false,
        };
        let size = size(vpc.strata.len());
        let png = pk::plot::render::png_bytes(name, size, |a| draw_vpc(a, &vpc, &style).map_err(|e| e.to_string()))?;
        out.push(ReportFigure {
            name: name.into(),
            title,
            png,
            width: size.0,
        });
    }
    Ok(out)
}

/// The model's text: the file at `origin`, else a note that it is bundled.
fn model_text(origin: &str) -> (String, String) {
    match std::fs::read_to_string(origin) {
        Ok(text) => (origin.to_string(), text),
        Err(_) => (
            format!("bundled model {origin}"),
            format!("(bundled model `{origin}`: `pk models show {origin}` prints it)"),
        ),
    }
}

/// The goodness-of-fit figures of the fit.
fn figures(d: &Diagnostics<'_>) -> Vec<Figure> {
    let n_eta = d.fit.values.omega.nrows();
    let ids: Vec<String> = d.pop.subjects.iter().map(|s| s.data.id.clone()).collect();
    let input = GofInput {
        rows: d.rows,
        concentration_unit: d.model.units.concentration.to_string(),
        time_unit: d.model.units.time.to_string(),
        eta_names: d.model.code.omega.names.clone(),
        omega_sd: (0..n_eta).map(|i| d.fit.values.omega[(i, i)].sqrt()).collect(),
        etas: d
            .fit
            .evaluation
            .estimates
            .iter()
            .map(|e| e.eta.iter().take(n_eta).copied().collect())
            .collect(),
        covariates: subject_covariates(d.dataset, &ids),
        ids,
    };
    gof_figures(&input)
}

/// `--plots DIR` and `--report FILE`, when asked for. `report` is the
/// printed report's values (`None` for SAEM, whose summary is `summary`).
pub(super) fn write(
    plots: Option<&str>,
    report_path: Option<&str>,
    d: &Diagnostics<'_>,
    report: Option<&Report<'_>>,
    summary: &str,
    inputs: &[&str],
) -> Result<()> {
    if plots.is_none() && report_path.is_none() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let figures = figures(d);
    if let Some(dir) = plots {
        write_plots(dir, &figures)?;
    }
    if let Some(path) = report_path {
        let pngs: Vec<Vec<u8>> = figures.par_iter().map(Figure::png).collect::<Result<_>>()?;
        let mut figures: Vec<ReportFigure> = figures
            .iter()
            .zip(pngs)
            .map(|(f, png)| ReportFigure {
                name: f.name.clone(),
                title: f.title.clone(),
                png,
                width: f.size().0,
            })
            .collect();
        figures.extend(vpc_figures(d)?);
        let page = html(&run_report(d, report, summary, figures));
        super::write_text(Some(path), &page, inputs)?;
        eprintln!(
            "report written to {path} ({} kB; figures and report in {:.2} s)",
            page.len() / 1024,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Every figure as `DIR/NAME.svg` and `DIR/NAME.png`.
fn write_plots(dir: &str, figures: &[Figure]) -> Result<()> {
    pk::output::create_output_dir(dir)?;
    figures.par_iter().try_for_each(|f| {
        let path = |ext: &str| Path::new(dir).join(format!("{}.{ext}", f.name));
        pk::output::write_atomically(path("svg"), f.svg()?.as_bytes())?;
        pk::output::write_atomically(path("png"), &f.png()?)
    })?;
    eprintln!("{} plots written to {dir} (SVG and PNG)", figures.len());
    Ok(())
}

/// Subjects, observations, dose records and BLQ counts.
fn data_summary(d: &Diagnostics<'_>) -> Vec<(String, String)> {
    let records = d.dataset.subjects.iter().flat_map(|s| &s.records);
    let doses = records
        .clone()
        .filter(|r| matches!(r.evid, Evid::Dose | Evid::ResetDose))
        .count();
    let additional: u64 = records.map(|r| u64::from(r.addl)).sum();
    let mut rows = vec![
        ("data file".to_string(), d.dataset.file.clone()),
        ("subjects".into(), d.pop.subjects.len().to_string()),
        ("observations".into(), d.pop.n_obs.to_string()),
        ("dose records".into(), doses.to_string()),
    ];
    if additional > 0 {
        rows.push(("additional doses (ADDL)".into(), additional.to_string()));
    }
    rows.push(("BLQ observations (censored, M3)".into(), d.pop.n_censored.to_string()));
    rows.push(("BLQ observations left out (M1)".into(), d.pop.n_dropped_blq.to_string()));
    rows
}

/// The report's content: the printed report's values, the data summary, the figures.
fn run_report(
    d: &Diagnostics<'_>,
    report: Option<&Report<'_>>,
    summary: &str,
    figures: Vec<ReportFigure>,
) -> RunReport {
    let fit = d.fit;
    let mut r = RunReport {
        title: format!("pk popfit: {}", d.model.name()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        model_source: d.model_text.0.clone(),
        model_text: d.model_text.1.clone(),
        data: data_summary(d),
        method: fit.method.to_string(),
        converged: fit.converged,
        message: fit.message.clone(),
        summary_text: summary.to_string(),
        figures,
        ..RunReport::default()
    };
    let Some(rep) = report else {
        r.method = "SAEM".into();
        r.covariance = "not computed by SAEM".into();
        return r;
    };
    r.objective = vec![
        (
            "OFV (−2LL without N·ln 2π)".into(),
            format!("{:.4}", fit.evaluation.ofv),
        ),
        ("AIC".into(), format!("{:.4}", rep.aic())),
        ("BIC".into(), format!("{:.4}", rep.bic())),
        ("parameters".into(), rep.n_parameters().to_string()),
        ("outer iterations".into(), fit.iterations.to_string()),
        ("objective evaluations".into(), fit.objective_evaluations.to_string()),
        ("estimation time (s)".into(), format!("{:.2}", rep.seconds)),
    ];
    let cov = rep.cov.as_ref().ok();
    r.covariance = match &rep.cov {
        Ok(_) => format!("standard errors from the {} matrix", rep.matrix),
        Err(why) => why.clone(),
    };
    let rse = cov.map(|c| c.relative_standard_errors());
    r.estimates = rep
        .estimates
        .iter()
        .enumerate()
        .map(|(i, e)| EstimateRow {
            name: e.name.clone(),
            value: e.value,
            se: rep.se.as_ref().map(|s| s[i]),
            rse_percent: rse.as_ref().and_then(|r| r[i]),
            scale: cov.map(|c| c.scales[i].clone()),
        })
        .collect();
    r.eta_shrinkage = d
        .model
        .code
        .omega
        .names
        .iter()
        .cloned()
        .zip(rep.shrinkage.iter().copied())
        .collect();
    r.eps_shrinkage = Some(rep.eps_shrinkage);
    r
}
