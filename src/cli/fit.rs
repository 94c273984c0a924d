//! `pk fit`: fits a model written in the model language to every subject of a
//! NONMEM-style data file (θ and σ, η = 0) and reports estimates, precision,
//! derived parameters and plots.

use super::model_args::{DataSelection, UnitArgs};
use super::output::{refuse_input, sanitize, write_text, StreamedOutput};
use super::simulate::parse_params;
use clap::Args;
use pk::data::{Dataset, Subject};
use pk::fit::report::{self, Outcome};
use pk::fit::{fit_dataset, ErrorChoice, FitOptions, SubjectFit};
use pk::model::scenario::grid_scenario;
use pk::model::{Model, Values};
use pk::plot::{concentration_time, scatter, Curve, PlotLabels, ReferenceLine};
use pk::population::compare::individuals_from_value;
use pk::{Error, Result};
use std::path::Path;

/// Arguments of `pk fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// NONMEM-style data file (ID, TIME, DV, AMT, RATE/DUR, EVID, MDV, CMT, ADDL, II, SS, covariates).
    data: String,
    /// Model file (`.pk`, the model language) or bundled model name (`pk models` lists them); required.
    #[arg(long)]
    model: Option<String>,
    /// Population model (model language, `.pk`, or a bundled name) used as prior:
    /// maximum a posteriori fits of each subject's η (θ, Ω and σ from the file).
    #[arg(long, conflicts_with_all = ["model", "error", "weight", "init", "fix"])]
    prior: Option<String>,
    /// Population model to compare the fitted individuals with (as `pk compare`).
    #[arg(long)]
    population: Option<String>,
    /// With --population: forest plot (SVG) of the individual/typical ratios.
    #[arg(long, requires = "population")]
    forest: Option<String>,
    /// Replace every output's error model: additive (add(sigma_add)), proportional
    /// (prop(sigma_prop)), combined (both); or wls (classical weighted least squares).
    /// Default: the model file's error models.
    #[arg(long)]
    error: Option<String>,
    /// Weights for --error wls: 1, 1/y, 1/y2, 1/f, 1/f2 (f = prediction, iteratively reweighted).
    #[arg(long)]
    weight: Option<String>,
    /// Initial value NAME=VALUE (repeatable); the others are found from the data.
    #[arg(long = "init", value_name = "NAME=VALUE")]
    init: Vec<String>,
    /// Fix a parameter NAME=VALUE (repeatable).
    #[arg(long = "fix", value_name = "NAME=VALUE")]
    fix: Vec<String>,
    /// Number of starts from the automatic initial estimates.
    #[arg(long, default_value_t = 4)]
    starts: usize,
    /// Dosing interval for the steady-state values, when the data do not imply one.
    #[arg(long)]
    tau: Option<f64>,
    /// Column with body-surface area (m²) for per-m² values [default: BSA, when the data have it].
    #[arg(long)]
    bsa_column: Option<String>,
    #[command(flatten)]
    selection: DataSelection,
    /// Fit only these subject IDs (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
    /// CSV with one row per observation: ID, TIME, DV, PRED, RES, WRES. With --prior: the sdtab of
    /// `pk popfit --table` (a row per record; PRED at η = 0, IPRED at the MAP η̂, CWRES, IWRES).
    #[arg(long)]
    table: Option<String>,
    /// With --prior: the patab of `pk popfit --patab` (ID, TIME, individual parameters, MAP η̂,
    /// covariates).
    #[arg(long)]
    patab: Option<String>,
    /// With --prior: NONMEM's .phi of the MAP fits (per subject η̂, their conditional covariance
    /// ETC, and the objective OBJ), as `pk popfit --phi`.
    #[arg(long)]
    phi: Option<String>,
    /// Directory for SVG plots (per subject, observed vs predicted, residuals vs time).
    #[arg(long)]
    plots: Option<String>,
    #[command(flatten)]
    units: UnitArgs,
}

/// Runs `pk fit`.
pub fn run(args: FitArgs) -> Result<()> {
    if let Some(prior) = &args.prior {
        return run_prior(&args, prior);
    }
    if args.patab.is_some() || args.phi.is_some() {
        return Err(Error::Argument(
            "--patab and --phi need --prior (a population model: MAP η̂ per subject)".into(),
        ));
    }
    let Some(model_name) = args.model.as_deref() else {
        return Err(Error::Argument(format!(
            "give the model with --model FILE.pk or a bundled name ({}; `pk models` shows their structure){}",
            pk::model::Model::bundled_names().join(", "),
            route_hint(&args.data)
        )));
    };
    let choice = ErrorChoice::parse(args.error.as_deref(), args.weight.as_deref())?;
    let mut model = choice.apply(&super::model_args::load_language_model(model_name)?)?;
    args.units.apply(&mut model)?;
    let mut inputs = vec![args.data.as_str(), model_name];
    inputs.extend(args.population.as_deref());
    for p in [&args.json, &args.table, &args.forest].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    if let Some(dir) = &args.plots {
        pk::output::check_writable(dir)?;
    }
    let population = args
        .population
        .as_deref()
        .map(super::model_args::load_language_model)
        .transpose()?;
    let options = FitOptions {
        weighting: choice.weighting,
        init: parse_params(&args.init)?,
        fixed: parse_params(&args.fix)?,
        starts: args.starts.max(1),
        tau: args.tau,
        bsa_column: args.bsa_column().to_string(),
    };
    options.validate(&model)?;
    let criterion = pk::fit::ErrorSpec::of(&model, options.weighting)?.criterion;
    let source = error_source(&choice, &model);
    let data = load_data(&args)?;
    let outcomes = fit_dataset(&model, &data, &options);
    let header = format!(
        "Model {} ({}); residual error: {source}\n\n",
        model.name(),
        model.origin
    );
    write_text(None, &(header + &report::text(&model, &outcomes)), &inputs)?;
    if let Some(path) = &args.json {
        // Written subject by subject: the document is never held whole.
        let mut out = StreamedOutput::open(Some(path), &inputs)?;
        report::write_json(
            &model,
            &criterion.to_string(),
            &[("error_model_source", serde_json::Value::from(source))],
            &outcomes,
            &mut |text| out.write(text),
        )?;
        out.finish()?;
    }
    if let Some(pop) = &population {
        let mut individuals = Vec::with_capacity(outcomes.len());
        for o in &outcomes {
            let one = serde_json::json!({"model": model.name(), "subjects": [report::outcome_json(o)]});
            individuals.extend(individuals_from_value(&one, &args.data)?);
        }
        super::compare::report(pop, &individuals, args.forest.as_deref(), None, &inputs)?;
    }
    if let Some(path) = &args.table {
        write_text(Some(path), &report::residual_table(&model, &outcomes), &inputs)?;
    }
    if let Some(dir) = &args.plots {
        write_plots(dir, &model, &data, &outcomes)?;
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| !o.as_ref().is_ok_and(|f| f.converged))
        .map(|(id, _)| id.as_str())
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "{} of {} subjects not fitted or not converged: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    if failed.len() == outcomes.len() {
        return Err(Error::Argument(format!(
            "no subject of {} was fitted to convergence (the reasons are above)",
            args.data
        )));
    }
    Ok(())
}

/// Where the residual error model comes from, in words.
fn error_source(choice: &ErrorChoice, model: &Model) -> String {
    match (choice.replace, choice.weighting) {
        (_, Some(w)) => {
            format!("none: classical weighted least squares (w = {w}), the model's error models are not used")
        }
        (Some(r), None) => format!(
            "--error {r} replaces the model file's error models: {}",
            outputs_text(model)
        ),
        (None, None) => format!("the model file's: {}", outputs_text(model)),
    }
}

/// Each output with its error model, as written in the model file.
pub(super) fn outputs_text(model: &Model) -> String {
    let source = &model.code.source;
    model
        .code
        .outputs
        .iter()
        .map(|o| {
            let line = source.get(o.pos.line.saturating_sub(1)).map_or("", |l| l.as_str());
            let error = line
                .split('#')
                .next()
                .unwrap_or("")
                .split('~')
                .nth(1)
                .unwrap_or("?")
                .trim();
            format!("{} ~ {error}", o.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the data's doses suggest for the model (for the message when
/// --model is missing): infusions point to an IV model, doses into CMT 1
/// with observations in CMT 2 to an oral one. Empty when the data cannot be read.
fn route_hint(path: &str) -> String {
    let Ok(data) = pk::data::read_dataset(path, &pk::data::ReadOptions::default()) else {
        return String::new();
    };
    let records = || data.subjects.iter().flat_map(|s| &s.records);
    let infusions = records()
        .filter(|r| r.is_dose() && (r.rate != 0.0 || r.dur > 0.0))
        .count();
    let boluses = records()
        .filter(|r| r.is_dose() && r.rate == 0.0 && r.dur == 0.0)
        .count();
    let depot_like = records().any(|r| r.is_dose() && r.cmt == 1) && records().any(|r| !r.is_dose() && r.cmt == 2);
    if infusions > 0 && boluses == 0 {
        format!("; {path} has {infusions} infusions: an IV model (e.g. two_cmt_iv) fits them")
    } else if boluses > 0 && infusions == 0 && depot_like {
        format!("; {path} doses into CMT 1 and observes CMT 2: an oral model (one_cmt_oral, two_cmt_oral: CMT 1 is the depot)")
    } else {
        String::new()
    }
}

impl FitArgs {
    /// The column of body-surface areas: `--bsa-column`, else BSA.
    fn bsa_column(&self) -> &str {
        self.bsa_column.as_deref().unwrap_or("BSA")
    }
}

fn load_data(args: &FitArgs) -> Result<Dataset> {
    let mut data = args.selection.read(&args.data)?;
    data.require_dv()?;
    if let Some(c) = &args.bsa_column {
        if data.covariate_index(c).is_none() {
            return Err(Error::Argument(format!(
                "--bsa-column {c}: {} has no column {c} (its other columns: {})",
                args.data,
                data.covariate_names.join(", ")
            )));
        }
    }
    if !args.ids.is_empty() {
        if let Some(missing) = args.ids.iter().find(|id| !data.subjects.iter().any(|s| s.id == **id)) {
            return Err(Error::Argument(format!(
                "--id {missing}: no such subject in {}",
                args.data
            )));
        }
        data.subjects.retain(|s| args.ids.contains(&s.id));
    }
    Ok(data)
}

fn run_prior(args: &FitArgs, prior: &str) -> Result<()> {
    let mut inputs = vec![args.data.as_str(), prior];
    inputs.extend(args.population.as_deref());
    for p in [&args.json, &args.table, &args.patab, &args.phi, &args.forest]
        .into_iter()
        .flatten()
    {
        refuse_input(p, &inputs)?;
    }
    if let Some(dir) = &args.plots {
        pk::output::check_writable(dir)?;
    }
    let mut model = super::model_args::load_language_model(prior)?;
    args.units.apply(&mut model)?;
    let data = load_data(args)?;
    let outputs = super::fit_prior::Outputs {
        json: args.json.as_deref(),
        table: args.table.as_deref(),
        patab: args.patab.as_deref(),
        phi: args.phi.as_deref(),
        plots: args.plots.as_deref(),
        bsa_column: args.bsa_column(),
    };
    let doc = super::fit_prior::run(&model, &data, outputs, &inputs)?;
    if let Some(path) = &args.population {
        let pop = super::model_args::load_language_model(path)?;
        let individuals = individuals_from_value(&doc, &args.data)?;
        super::compare::report(&pop, &individuals, args.forest.as_deref(), None, &inputs)?;
    }
    Ok(())
}

fn write_plots(dir: &str, model: &Model, data: &Dataset, outcomes: &[Outcome]) -> Result<()> {
    pk::output::create_output_dir(dir)?;
    let u = &model.units;
    let mut obs_pred = Vec::new();
    let mut wres_time = Vec::new();
    for (id, outcome) in outcomes {
        let Ok(fit) = outcome else { continue };
        let Some(subject) = data.subjects.iter().find(|s| s.id == *id) else {
            continue;
        };
        let curve = fitted_curve(model, data, subject, fit)?;
        let observed: Vec<(f64, f64)> = fit.residuals.iter().map(|r| (r.time, r.dv)).collect();
        let path = Path::new(dir).join(format!("subject_{}.svg", sanitize(id)));
        let status = if fit.converged { "" } else { " (NOT CONVERGED)" };
        concentration_time(
            &path.to_string_lossy(),
            &PlotLabels {
                title: format!(
                    "Subject {id}: {} fit, {} error{status} (line: model, points: observed)",
                    model.name(),
                    fit.error_model
                ),
                x: format!("Time ({})", u.time),
                y: format!("Concentration ({})", u.concentration),
            },
            &[Curve {
                label: "fitted".into(),
                points: curve,
            }],
            &observed,
        )?;
        obs_pred.extend(fit.residuals.iter().map(|r| (r.pred, r.dv)));
        wres_time.extend(fit.residuals.iter().map(|r| (r.time, r.wres)));
    }
    let join = |name: &str| Path::new(dir).join(name).to_string_lossy().into_owned();
    scatter(
        &join("observed_vs_predicted.svg"),
        &PlotLabels {
            title: "Observed versus predicted".into(),
            x: format!("Predicted ({})", u.concentration),
            y: format!("Observed ({})", u.concentration),
        },
        &obs_pred,
        ReferenceLine::Identity,
    )?;
    scatter(
        &join("wres_vs_time.svg"),
        &PlotLabels {
            title: "Weighted residuals versus time".into(),
            x: format!("Time ({})", u.time),
            y: "Weighted residual".into(),
        },
        &wres_time,
        ReferenceLine::Zero,
    )?;
    eprintln!("plots written to {dir}");
    Ok(())
}

/// The fitted curve over the whole dosing history, on a fine grid: the
/// subject's records with prediction-only records (EVID 2) added at the grid
/// times, covariates carried forward from the record before.
fn fitted_curve(model: &Model, data: &Dataset, subject: &Subject, fit: &SubjectFit) -> Result<Vec<(f64, f64)>> {
    let t0 = subject.records.iter().map(|r| r.time).fold(f64::INFINITY, f64::min);
    let t1 = subject.records.iter().map(|r| r.time).fold(f64::NEG_INFINITY, f64::max);
    let n = 1500;
    let mut times: Vec<f64> = (0..=n).map(|i| t0 + (t1 - t0) * i as f64 / n as f64).collect();
    // Include the observation times so that peaks at sample times are drawn exactly.
    times.extend(fit.residuals.iter().map(|r| r.time));
    times.sort_by(f64::total_cmp);
    times.dedup();
    let values = Values {
        theta: &fit.theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &fit.sigma_sd,
    };
    model_curve(model, data, subject, &values, &times)
}

/// The model's predictions for `subject` at `times` (sorted), with `values`.
pub(super) fn model_curve(
    model: &Model,
    data: &Dataset,
    subject: &Subject,
    values: &Values<'_>,
    times: &[f64],
) -> Result<Vec<(f64, f64)>> {
    let scenario = grid_scenario(data, subject, times, false);
    let prepared = model.subject(&scenario.data, scenario.subject())?;
    let f = model.predict_records(&prepared, values)?.f;
    let records = &scenario.subject().records;
    Ok(scenario.slots.iter().map(|&k| (records[k].time, f[k])).collect())
}
