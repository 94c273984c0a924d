//! `pk simulate`: concentrations for a regimen text or the dosing records of a
//! data file, as a CSV table and an SVG plot.

use super::model_args::UnitArgs;
use super::output::{num, refuse_input, StreamedOutput};
use super::population_sim::parse_covariates;
use super::population_sim::PopulationRun;
use clap::Args;
use pk::data::{read_dataset, ReadOptions};
use pk::dosing::bsa::BsaFormula;
use pk::dosing::regimen::{BodySize, Regimen};
use pk::model::scenario::{grid_scenario, regimen_scenario, Scenario};
use pk::model::{Model, Values};
use pk::plot::{concentration_time, Curve, PlotLabels};
use pk::population::montecarlo::{regimen_doses, CovariateDraw, SizeRule};
use pk::simulate::parse_grid;
use pk::units::TimeUnit;
use pk::{Error, Result};

/// Arguments of `pk simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Model file in the model language (.pk) or bundled model name (two_cmt_iv, one_cmt_oral, …).
    #[arg(long, required_unless_present = "population", conflicts_with = "population")]
    model: Option<String>,
    /// Population model (.pk file or bundled name): simulate virtual patients drawn from its Ω.
    #[arg(long)]
    population: Option<String>,
    /// Number of virtual patients (with --population) [default: 1000].
    #[arg(long, requires = "population")]
    n: Option<usize>,
    /// Seed of the random draws (with --population) [default: 1].
    #[arg(long, requires = "population")]
    seed: Option<u64>,
    /// Covariate NAME=VALUE (repeatable), or with --population NAME=LOW..HIGH drawn uniformly.
    #[arg(long = "covariate", value_name = "NAME=VALUE")]
    covariates: Vec<String>,
    /// Set every η and κ to zero: the typical patient (with --population).
    #[arg(long, requires = "population")]
    omega_zero: bool,
    /// Add residual error from the model's output error models (σ) to the predictions.
    #[arg(long, requires = "population")]
    residual_error: bool,
    /// Extra percentile to report besides 5, 50 and 95 (repeatable; with --population).
    #[arg(long = "percentile", requires = "population")]
    percentiles: Vec<f64>,
    /// Target such as CMAX<500 or AUC0_24>=2000: the fraction of patients meeting it (repeatable).
    #[arg(long = "target", requires = "population")]
    targets: Vec<String>,
    /// Per-patient exposures CSV (with --population).
    #[arg(long, requires = "population")]
    exposures: Option<String>,
    /// Parameter value NAME=VALUE (repeatable): a θ or an η of the model by name; unset θ take
    /// the model's initial values, unset η zero.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Regimen text, e.g. "52 mg/m2 over 2 h every 24 h x 5" (repeatable with --population:
    /// regimens side by side for the same virtual patients).
    #[arg(long)]
    regimen: Vec<String>,
    /// NONMEM-style data file whose dosing records are simulated (one profile per subject).
    /// With --population: covariates per subject, and observed points on the plot (a VPC).
    #[arg(long)]
    data: Option<String>,
    /// Body-surface area in m² (for doses per m²).
    #[arg(long)]
    bsa: Option<f64>,
    /// Body weight in kg (doses per kg; BSA with --height).
    #[arg(long)]
    weight: Option<f64>,
    /// Height in cm (BSA from weight and height).
    #[arg(long)]
    height: Option<f64>,
    /// BSA formula: mosteller or dubois.
    #[arg(long, default_value = "mosteller")]
    bsa_formula: String,
    /// Output time grid start:step:end, in the model's time unit.
    #[arg(long)]
    grid: Option<String>,
    /// With --data: also predict at every record time of the data.
    #[arg(long)]
    at_records: bool,
    /// Output CSV (standard output if absent).
    #[arg(long)]
    out: Option<String>,
    /// Also write compartment amounts (A1, A2, … by NONMEM CMT number).
    #[arg(long)]
    amounts: bool,
    /// SVG plot with linear and semi-log panels.
    #[arg(long)]
    plot: Option<String>,
    #[command(flatten)]
    units: UnitArgs,
}

/// Parses `NAME=VALUE` pairs.
pub fn parse_params(items: &[String]) -> Result<Vec<(String, f64)>> {
    items
        .iter()
        .map(|s| {
            let (n, v) = s
                .split_once('=')
                .ok_or_else(|| Error::Argument(format!("--param '{s}': expected NAME=VALUE, e.g. CL=20")))?;
            let value = v
                .trim()
                .parse::<f64>()
                .map_err(|_| Error::Argument(format!("--param '{s}': value '{v}' is not a number")))?;
            Ok((n.trim().to_string(), value))
        })
        .collect()
}

fn body_size(args: &SimulateArgs) -> Result<BodySize> {
    let formula = BsaFormula::parse(&args.bsa_formula)?;
    let bsa = match (args.bsa, args.weight, args.height) {
        (Some(b), _, _) => {
            if !(b > 0.0 && b.is_finite()) {
                return Err(Error::Argument(format!(
                    "--bsa must be a positive number of m², got {b}"
                )));
            }
            Some(b)
        }
        (None, Some(w), Some(h)) => {
            let b = formula.bsa(w, h)?;
            eprintln!("BSA {b:.4} m² from weight {w} kg and height {h} cm ({formula} formula)");
            Some(b)
        }
        _ => None,
    };
    if let Some(w) = args.weight {
        if !(w > 0.0 && w.is_finite()) {
            return Err(Error::Argument(format!(
                "--weight must be a positive number of kg, got {w}"
            )));
        }
    }
    Ok(BodySize {
        bsa,
        weight: args.weight,
    })
}

/// A simulated profile: output times, predictions, amounts per model state.
struct Profile {
    times: Vec<f64>,
    conc: Vec<f64>,
    amounts: Option<Vec<Vec<f64>>>,
}

/// θ and η values: the model's initial θ and zero η, with `--param` values set
/// by name (θ first, then η). A name the code computes, or no name at all, is refused.
fn parameter_values(model: &Model, items: &[String]) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = &model.code;
    let mut theta = model.theta_init();
    let mut eta = vec![0.0; c.omega.names.len()];
    for (name, value) in parse_params(items)? {
        if let Some(k) = c.thetas.iter().position(|t| t.name == name) {
            theta[k] = value;
        } else if let Some(k) = c.omega.names.iter().position(|n| *n == name) {
            eta[k] = value;
        } else {
            let settable: Vec<&str> = c
                .thetas
                .iter()
                .map(|t| t.name.as_str())
                .chain(c.omega.names.iter().map(String::as_str))
                .collect();
            let computed = c.variables.iter().any(|(n, _)| *n == name);
            return Err(Error::Argument(format!(
                "parameter {name}: model {} {}; --param sets a θ or an η by name: {}",
                model.name(),
                if computed {
                    "computes it in its code"
                } else {
                    "has no such parameter"
                },
                settable.join(", ")
            )));
        }
    }
    Ok((theta, eta))
}

/// Fixed covariates from `--covariate NAME=VALUE` (ranges are for --population).
fn fixed_covariates(items: &[String]) -> Result<(Vec<String>, Vec<f64>)> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (name, draw) in parse_covariates(items)? {
        let CovariateDraw::Fixed(v) = draw else {
            return Err(Error::Argument(format!(
                "--covariate {name}: a range is drawn only with --population; give NAME=VALUE"
            )));
        };
        names.push(name);
        values.push(v);
    }
    Ok((names, values))
}

/// Runs `pk simulate`.
pub fn run(args: SimulateArgs) -> Result<()> {
    if let Some(population) = &args.population {
        return run_population(&args, population);
    }
    let Some(model_file) = args.model.as_deref() else {
        return Err(Error::Argument("give --model FILE or --population FILE".into()));
    };
    // clap's `requires` is not enforced on these (a model is given instead): checked here.
    for (flag, given) in [
        ("--n", args.n.is_some()),
        ("--seed", args.seed.is_some()),
        ("--omega-zero", args.omega_zero),
        ("--residual-error", args.residual_error),
        ("--percentile", !args.percentiles.is_empty()),
        ("--target", !args.targets.is_empty()),
        ("--exposures", args.exposures.is_some()),
    ] {
        if given {
            return Err(Error::Argument(format!(
                "{flag} applies to virtual patients drawn with --population FILE; with --model one profile is simulated"
            )));
        }
    }
    let model = args.units.load_lang_model(model_file)?;
    let (theta, eta) = parameter_values(&model, &args.params)?;
    let sigma_sd = model.sigma_sd_init();
    let values = Values {
        theta: &theta,
        eta: &eta,
        kappa: &[],
        sigma_sd: &sigma_sd,
    };
    let mut inputs = vec![model_file];
    if let Some(d) = &args.data {
        inputs.push(d.as_str());
    }
    for p in [&args.out, &args.plot].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let grid = args.grid.as_deref().map(parse_grid).transpose()?;
    if args.regimen.len() > 1 {
        return Err(Error::Argument(
            "several --regimen are compared with --population; give one regimen with --model".into(),
        ));
    }
    if !args.regimen.is_empty() && args.data.is_some() {
        return Err(Error::Argument(
            "give either --regimen or --data with --model, not both".into(),
        ));
    }
    if args.regimen.is_empty() && args.data.is_none() {
        return Err(Error::Argument(
            "give a dosing history: --regimen TEXT or --data FILE".into(),
        ));
    }
    // Rows are written as each profile is computed (a data file's subjects one
    // by one); profiles are kept only for the plot.
    let mut out = StreamedOutput::open(args.out.as_deref(), &inputs)?;
    out.write(&csv_header(&model, args.data.is_some(), args.amounts))?;
    let mut kept = Vec::new();
    let mut emit = |id: Option<String>, p: Profile| -> Result<()> {
        out.write(&csv_rows(id.as_deref(), &p, args.amounts))?;
        if args.plot.is_some() {
            kept.push((id, p));
        }
        Ok(())
    };
    if let Some(text) = args.regimen.first() {
        emit(None, regimen_profile(&args, &model, &values, text, grid)?)?;
    } else if let Some(file) = &args.data {
        data_profiles(&args, &model, &values, file, grid, &mut emit)?;
    }
    out.finish()?;
    if let Some(path) = &args.plot {
        plot(path, &args, &model, &kept)?;
    }
    Ok(())
}

fn plot(path: &str, args: &SimulateArgs, model: &Model, profiles: &[(Option<String>, Profile)]) -> Result<()> {
    let curves: Vec<Curve> = profiles
        .iter()
        .map(|(id, p)| Curve {
            label: id.as_ref().map_or(String::new(), |i| format!("ID {i}")),
            points: p.times.iter().copied().zip(p.conc.iter().copied()).collect(),
        })
        .collect();
    let labels = PlotLabels {
        title: format!(
            "{} — {}",
            model.name(),
            args.regimen
                .first()
                .map(String::as_str)
                .unwrap_or_else(|| args.data.as_deref().unwrap_or(""))
        ),
        x: format!("Time ({})", model.units.time),
        y: format!("Concentration ({})", model.units.concentration),
    };
    concentration_time(path, &labels, &curves, &[])
}

fn run_population(args: &SimulateArgs, population: &str) -> Result<()> {
    if !args.params.is_empty() {
        return Err(Error::Argument(
            "--param sets a single model's parameters; with --population the values come from the population model"
                .into(),
        ));
    }
    let size = body_size(args)?;
    let mut inputs = vec![population];
    if let Some(d) = &args.data {
        inputs.push(d.as_str());
    }
    let run = PopulationRun {
        population,
        regimens: &args.regimen,
        data: args.data.as_deref(),
        covariates: &args.covariates,
        n: args.n.unwrap_or(1000),
        seed: args.seed.unwrap_or(1),
        omega_zero: args.omega_zero,
        residual_error: args.residual_error,
        percentiles: &args.percentiles,
        targets: &args.targets,
        size: SizeRule {
            bsa: size.bsa,
            weight: size.weight,
        },
        grid: args.grid.as_deref(),
        out: args.out.as_deref(),
        exposures: args.exposures.as_deref(),
        plot: args.plot.as_deref(),
    };
    super::population_sim::run(&run, &inputs)
}

/// Predictions of `model` at the scenario's slots.
fn scenario_profile(model: &Model, values: &Values<'_>, s: &Scenario, amounts: bool) -> Result<Profile> {
    let subject = model.subject(&s.data, s.subject())?;
    let (p, a) = model.predict_at(&subject, values, &s.slots, amounts, false)?;
    Ok(Profile {
        times: s.times(),
        conc: p.f,
        amounts: a,
    })
}

fn regimen_profile(
    args: &SimulateArgs,
    model: &Model,
    values: &Values<'_>,
    text: &str,
    grid: Option<Vec<f64>>,
) -> Result<Profile> {
    let regimen = Regimen::parse(text)?;
    let size = body_size(args)?;
    let doses = regimen_doses(model, &regimen, &size)?;
    let times = match grid {
        Some(g) => g,
        None => {
            let end = (regimen.last_dose_hours() + 24.0) * TimeUnit::hour().to(&model.units.time);
            parse_grid(&format!("0:{}:{}", end / 200.0, end))?
        }
    };
    let (names, covariates) = fixed_covariates(&args.covariates)?;
    let s = regimen_scenario(model, &doses, &times, &names, &covariates)?;
    scenario_profile(model, values, &s, args.amounts)
}

/// The profile of each subject of the data file, given to `emit` in turn.
fn data_profiles(
    args: &SimulateArgs,
    model: &Model,
    values: &Values<'_>,
    file: &str,
    grid: Option<Vec<f64>>,
    emit: &mut dyn FnMut(Option<String>, Profile) -> Result<()>,
) -> Result<()> {
    if !args.covariates.is_empty() {
        return Err(Error::Argument(
            "with --data the covariates come from the data file; leave out --covariate".into(),
        ));
    }
    let data = read_dataset(file, &ReadOptions::default())?;
    let initial_amounts = model.code.initial_set.iter().any(|&set| set);
    for subject in &data.subjects {
        if !initial_amounts && !subject.records.iter().any(|r| r.is_dose()) {
            eprintln!(
                "warning: subject {} of {file} has no dose record (EVID 1 or 4 with AMT): its profile is zero",
                subject.id
            );
        }
        let s = match &grid {
            None => grid_scenario(&data, subject, &[], true),
            Some(g) => grid_scenario(&data, subject, g, args.at_records),
        };
        emit(
            Some(subject.id.clone()),
            scenario_profile(model, values, &s, args.amounts)?,
        )?;
    }
    Ok(())
}

/// The CSV header with the model's units: `ID,` with a data file, `TIME (h),CONC (ng/mL)`,
/// and `A1 (mg),A2 (mg),…` with amounts.
fn csv_header(model: &Model, with_id: bool, amounts: bool) -> String {
    let mut text = String::new();
    if with_id {
        text.push_str("ID,");
    }
    let u = &model.units;
    text.push_str(&format!("TIME ({}),CONC ({})", u.time, u.concentration));
    if amounts {
        for cmt in 1..=model.code.states.len() {
            text.push_str(&format!(",A{cmt} ({})", u.amount));
        }
    }
    text.push('\n');
    text
}

/// The CSV rows of one profile.
fn csv_rows(id: Option<&str>, p: &Profile, amounts: bool) -> String {
    let mut text = String::new();
    for i in 0..p.times.len() {
        if let Some(id) = id {
            text.push_str(id);
            text.push(',');
        }
        text.push_str(&format!("{},{}", num(p.times[i]), num(p.conc[i])));
        if let Some(a) = p.amounts.as_ref().filter(|_| amounts) {
            for x in &a[i] {
                text.push_str(&format!(",{}", num(*x)));
            }
        }
        text.push('\n');
    }
    text
}
