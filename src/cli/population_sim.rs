//! `pk simulate --population`: virtual patients drawn from a population model,
//! percentiles per time, exposures and target attainment, regimens side by side,
//! and a visual predictive check over a data file.

use super::output::{num, refuse_input, write_text, Progress};
use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::dosing::regimen::Regimen;
use pk::fit::exposure::Exposure;
use pk::model::Model;
use pk::plot::{prediction_bands, Band, Curve, PlotLabels};
use pk::population::montecarlo::{
    draw_patients, patient_exposures, percentiles, quantile, simulate_patients, CovariateDraw, CovariateSource, Dosing,
    Metric, MonteCarlo, SizeRule, Target,
};
use pk::simulate::parse_grid;
use pk::units::TimeUnit;
use pk::{Error, Result};

/// Options of a population simulation, as given on the command line.
#[derive(Debug)]
pub struct PopulationRun<'a> {
    /// Population model file.
    pub population: &'a str,
    /// Regimen texts (one or more), or none with a data file.
    pub regimens: &'a [String],
    /// Data file: covariates (and dosing, without regimens) per subject; observed points on the plot.
    pub data: Option<&'a str>,
    /// `NAME=VALUE` or `NAME=LOW..HIGH`.
    pub covariates: &'a [String],
    /// Number of virtual patients.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Typical patients only.
    pub omega_zero: bool,
    /// Add residual error.
    pub residual_error: bool,
    /// Extra percentiles (0–100) beyond 5, 50, 95.
    pub percentiles: &'a [f64],
    /// Targets such as `CMAX<500`.
    pub targets: &'a [String],
    /// Body size for per-m² and per-kg doses.
    pub size: SizeRule,
    /// Output time grid.
    pub grid: Option<&'a str>,
    /// Output CSV (stdout if absent).
    pub out: Option<&'a str>,
    /// Per-patient exposures CSV.
    pub exposures: Option<&'a str>,
    /// SVG of the prediction bands.
    pub plot: Option<&'a str>,
}

/// Parses `NAME=VALUE` or `NAME=LOW..HIGH`.
pub fn parse_covariates(items: &[String]) -> Result<Vec<(String, CovariateDraw)>> {
    items
        .iter()
        .map(|s| {
            let err = || {
                Error::Argument(format!(
                    "--covariate '{s}': expected NAME=VALUE or NAME=LOW..HIGH, e.g. WT=40 or WT=10..60"
                ))
            };
            let (name, v) = s.split_once('=').ok_or_else(err)?;
            let number = |t: &str| t.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(err);
            let draw = match v.split_once("..") {
                Some((lo, hi)) => {
                    let (lo, hi) = (number(lo)?, number(hi)?);
                    if lo > hi {
                        return Err(err());
                    }
                    CovariateDraw::Uniform(lo, hi)
                }
                None => CovariateDraw::Fixed(number(v)?),
            };
            Ok((name.trim().to_string(), draw))
        })
        .collect()
}

fn probabilities(extra: &[f64]) -> Result<Vec<f64>> {
    let mut p = vec![5.0, 50.0, 95.0];
    for &q in extra {
        if !(q > 0.0 && q < 100.0) {
            return Err(Error::Argument(format!(
                "--percentile {q}: expected a number between 0 and 100"
            )));
        }
        if !p.contains(&q) {
            p.push(q);
        }
    }
    p.sort_by(f64::total_cmp);
    Ok(p)
}

fn percentile_name(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("P{:02}", p as u32)
    } else {
        format!("P{p}")
    }
}

/// Runs the population simulation.
pub fn run(o: &PopulationRun<'_>, inputs: &[&str]) -> Result<()> {
    for p in [o.out, o.exposures, o.plot].into_iter().flatten() {
        refuse_input(p, inputs)?;
    }
    let model = super::model_args::load_language_model(o.population)?;
    let data = o.data.map(|f| read_dataset(f, &ReadOptions::default())).transpose()?;
    let regimens: Vec<Regimen> = o.regimens.iter().map(|t| Regimen::parse(t)).collect::<Result<_>>()?;
    if regimens.is_empty() && data.is_none() {
        return Err(Error::Argument(
            "give a dosing history: one or more --regimen TEXT, or --data FILE".into(),
        ));
    }
    let source = covariate_source(&model, o.covariates, data.as_ref())?;
    let mc = MonteCarlo {
        n: o.n,
        seed: o.seed,
        omega_zero: o.omega_zero,
        residual_error: o.residual_error,
    };
    let times = match o.grid {
        Some(g) => parse_grid(g)?,
        None => default_grid(&model, &regimens, data.as_ref())?,
    };
    // One patients × times matrix is held at a time (one regimen after another).
    let gigabytes = o.n as f64 * times.len() as f64 * 8.0 / 1e9;
    if gigabytes > 3.2 {
        return Err(Error::Argument(format!(
            "{} patients × {} times would hold {gigabytes:.1} GB of concentrations; use fewer patients or a coarser --grid",
            o.n,
            times.len()
        )));
    }
    let probs = probabilities(o.percentiles)?;
    let patients = draw_patients(&model, &mc, &source)?;
    let fractions: Vec<f64> = probs.iter().map(|p| p / 100.0).collect();
    let targets: Vec<Target> = o.targets.iter().map(|t| Target::parse(t)).collect::<Result<_>>()?;
    let progress = Progress::new("simulating", o.n * regimens.len().max(1), o.n >= 20_000);

    let mut tables = Vec::new();
    if regimens.is_empty() {
        if let Some(d) = &data {
            let conc = simulate_patients(&model, &patients, Dosing::Subjects(d), &times, &mc, &|k| {
                progress.add(k)
            })?;
            tables.push((format!("dosing of {}", d.file), percentiles(&conc, &fractions)));
        }
    }
    let mut exposures: Vec<(String, Vec<Exposure>)> = Vec::new();
    for r in &regimens {
        let conc = simulate_patients(&model, &patients, Dosing::Regimen(r, o.size), &times, &mc, &|k| {
            progress.add(k)
        })?;
        tables.push((r.text.clone(), percentiles(&conc, &fractions)));
        exposures.push((r.text.clone(), patient_exposures(&model, &patients, r, o.size, &mc)?));
    }
    progress.finish();

    let csv = if o.n == 1 {
        single_patient_csv(&times, &tables, &model.units)
    } else {
        percentile_csv(&times, &probs, &tables, &model.units)
    };
    write_text(o.out, &csv, inputs)?;
    if let Some(path) = o.exposures {
        write_text(Some(path), &exposure_csv(&exposures, &model.units), inputs)?;
    }
    eprint!("{}", summary(&model, &mc, &exposures, &targets, &probs));
    if let Some(path) = o.plot {
        plot(path, &model, o, &times, &probs, &tables, data.as_ref())?;
    }
    Ok(())
}

fn covariate_source(model: &Model, given: &[String], data: Option<&Dataset>) -> Result<CovariateSource> {
    let drawn = parse_covariates(given)?;
    match data {
        Some(d) if drawn.is_empty() => {
            if let Some(n) = model.code.covariates.iter().find(|n| d.covariate_index(n).is_none()) {
                return Err(Error::Argument(format!(
                    "population model {} needs covariate {n}, but {} has no {n} column (columns: {}); \
                     add the column or give --covariate NAME=VALUE for every subject",
                    model.name(),
                    d.file,
                    d.covariate_names.join(", ")
                )));
            }
            Ok(CovariateSource::from_dataset(d))
        }
        _ => Ok(CovariateSource::Drawn(drawn)),
    }
}

fn default_grid(model: &Model, regimens: &[Regimen], data: Option<&Dataset>) -> Result<Vec<f64>> {
    let to_model = TimeUnit::hour().to(&model.units.time);
    let end = match (regimens.iter().map(|r| r.last_dose_hours()).reduce(f64::max), data) {
        (Some(h), _) => (h + 24.0) * to_model,
        (None, Some(d)) => d
            .subjects
            .iter()
            .flat_map(|s| s.records.iter().map(|r| r.time))
            .fold(0.0, f64::max),
        (None, None) => 24.0 * to_model,
    };
    let end = if end > 0.0 { end } else { 24.0 * to_model };
    parse_grid(&format!("0:{}:{}", end / 200.0, end))
}

fn single_patient_csv(times: &[f64], tables: &[(String, ndarray::Array2<f64>)], u: &pk::units::Units) -> String {
    let several = tables.len() > 1;
    let mut t = String::from(if several { "REGIMEN," } else { "" });
    t.push_str(&format!("TIME ({}),CONC ({})\n", u.time, u.concentration));
    for (label, table) in tables {
        for (i, time) in times.iter().enumerate() {
            if several {
                t.push_str(&format!("\"{label}\","));
            }
            // With one patient every percentile is its concentration.
            t.push_str(&format!("{},{}\n", num(*time), num(table[(i, 0)])));
        }
    }
    t
}

fn percentile_csv(
    times: &[f64],
    probs: &[f64],
    tables: &[(String, ndarray::Array2<f64>)],
    u: &pk::units::Units,
) -> String {
    let several = tables.len() > 1;
    let mut t = String::new();
    if several {
        t.push_str("REGIMEN,");
    }
    t.push_str(&format!("TIME ({})", u.time));
    for p in probs {
        t.push_str(&format!(",{} ({})", percentile_name(*p), u.concentration));
    }
    t.push('\n');
    for (label, table) in tables {
        for (i, time) in times.iter().enumerate() {
            if several {
                t.push_str(&format!("\"{label}\","));
            }
            t.push_str(&num(*time));
            for j in 0..probs.len() {
                t.push(',');
                t.push_str(&num(table[(i, j)]));
            }
            t.push('\n');
        }
    }
    t
}

/// The unit of an exposure metric: concentration, or concentration × time for AUCs.
fn metric_unit(m: Metric, u: &pk::units::Units) -> String {
    if m.is_auc() {
        format!("{}*{}", u.concentration, u.time)
    } else {
        u.concentration.to_string()
    }
}

fn exposure_csv(exposures: &[(String, Vec<Exposure>)], units: &pk::units::Units) -> String {
    let mut t = String::from("PATIENT,REGIMEN");
    for m in Metric::ALL {
        t.push_str(&format!(",{} ({})", m.name(), metric_unit(m, units)));
    }
    t.push('\n');
    for (label, list) in exposures {
        for (k, e) in list.iter().enumerate() {
            t.push_str(&format!("{},\"{label}\"", k + 1));
            for m in Metric::ALL {
                t.push(',');
                t.push_str(&m.of(e).map_or(".".into(), num));
            }
            t.push('\n');
        }
    }
    t
}

fn summary(
    model: &Model,
    mc: &MonteCarlo,
    exposures: &[(String, Vec<Exposure>)],
    targets: &[Target],
    probs: &[f64],
) -> String {
    let u = &model.units;
    let mut t = format!(
        "{} virtual patients from {} (seed {}{}{})\n",
        mc.n,
        model.name(),
        mc.seed,
        if mc.omega_zero { ", ω set to zero" } else { "" },
        if mc.residual_error { ", with residual error" } else { "" }
    );
    for (label, list) in exposures {
        t.push_str(&format!("\nRegimen: {label}\n{:<10} {:>12}", "metric", "unit"));
        for p in probs {
            t.push_str(&format!(" {:>11}", percentile_name(*p)));
        }
        t.push('\n');
        for m in Metric::ALL {
            let mut values: Vec<f64> = list.iter().filter_map(|e| m.of(e)).collect();
            if values.len() != list.len() || values.is_empty() {
                continue;
            }
            t.push_str(&format!("{:<10} {:>12}", m.name(), metric_unit(m, u)));
            for p in probs {
                t.push_str(&format!(" {:>11.4}", quantile(&mut values, p / 100.0)));
            }
            t.push('\n');
        }
        for target in targets {
            match target.attainment(list) {
                Some(f) => t.push_str(&format!("target {target}: {:.1}% of patients\n", 100.0 * f)),
                None => t.push_str(&format!("target {target}: the metric is not defined for this model\n")),
            }
        }
    }
    t
}

fn plot(
    path: &str,
    model: &Model,
    o: &PopulationRun<'_>,
    times: &[f64],
    probs: &[f64],
    tables: &[(String, ndarray::Array2<f64>)],
    data: Option<&Dataset>,
) -> Result<()> {
    let lo = probs.iter().position(|p| *p == 5.0).unwrap_or(0);
    let mid = probs.iter().position(|p| *p == 50.0).unwrap_or(0);
    let hi = probs.iter().position(|p| *p == 95.0).unwrap_or(0);
    let medians: Vec<Curve> = tables
        .iter()
        .map(|(label, t)| Curve {
            label: format!("{label} (median, 5–95% band)"),
            points: times.iter().enumerate().map(|(i, &x)| (x, t[(i, mid)])).collect(),
        })
        .collect();
    let bands: Vec<Band> = tables
        .iter()
        .map(|(_, t)| Band {
            points: times
                .iter()
                .enumerate()
                .map(|(i, &x)| (x, t[(i, lo)], t[(i, hi)]))
                .collect(),
        })
        .collect();
    let observed: Vec<(f64, f64)> = data
        .map(|d| {
            d.subjects
                .iter()
                .flat_map(|s| s.records.iter())
                .filter(|r| r.is_observation())
                .filter_map(|r| r.dv.map(|y| (r.time, y)))
                .collect()
        })
        .unwrap_or_default();
    let u = &model.units;
    let labels = PlotLabels {
        title: format!(
            "{}: {} virtual patients{}",
            model.name(),
            o.n,
            if observed.is_empty() {
                ""
            } else {
                " with observed data (VPC)"
            }
        ),
        x: format!("Time ({})", u.time),
        y: format!("Concentration ({})", u.concentration),
    };
    prediction_bands(path, &labels, &medians, &bands, &observed)
}
