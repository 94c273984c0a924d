//! `pk.nca`: non-compartmental analysis of every subject and dosing interval,
//! as `pk nca` does it, giving the rows of its `--csv` table (CDISC PP codes).

use crate::data::{read_data, DataSource};
use crate::to_py;
use pk::nca::data::{subject_nca, BlqAs, BlqRules, DoseScale, IntervalNca, NegativeAs};
use pk::nca::{AucRule, LambdaZChoice, NcaOptions, Route, UnitKind};
use pk::units::{AmountUnit, ConcentrationUnit, TimeUnit};
use pk::{Error, Result};
use pyo3::prelude::*;
use std::fmt::Write;

fn span(text: &str, what: &str) -> Result<(f64, f64)> {
    let parse = |s: &str| s.trim().parse::<f64>().ok();
    match text.split_once(':').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(a), Some(b))) if b > a => Ok((a, b)),
        _ => Err(Error::Argument(format!(
            "{what} '{text}': expected START:END with END > START, e.g. 0:24"
        ))),
    }
}

/// The unit text of a kind of value, as `pk nca` writes it.
fn unit_of(kind: UnitKind, c: &str, t: &str) -> String {
    match kind {
        UnitKind::Conc => c.to_string(),
        UnitKind::Time => t.to_string(),
        UnitKind::PerTime => format!("1/{t}"),
        UnitKind::ConcTime => format!("{c}*{t}"),
        UnitKind::ConcTime2 => format!("{c}*{t}^2"),
        UnitKind::Clearance => format!("L/{t}"),
        UnitKind::Volume => "L".into(),
        UnitKind::Percent => "%".into(),
        UnitKind::Ratio | UnitKind::Count => String::new(),
    }
}

struct Options {
    rule: String,
    route: String,
    lambda_z_points: Option<usize>,
    lambda_z_range: Option<String>,
    partial: Vec<String>,
    tau: Option<f64>,
    lloq_column: Option<String>,
    blq_column: Option<String>,
    blq_before: String,
    blq_after: String,
    negative: String,
    conc_unit: String,
    amount_unit: String,
    time_unit: String,
    drop: Vec<String>,
}

/// The CSV of `pk nca --csv`, and the problems `pk nca` reports on standard error.
fn run(data: &DataSource, o: &Options) -> Result<(String, Vec<String>)> {
    let rule = AucRule::parse(&o.rule).map_err(Error::Argument)?;
    let bolus_route = match o.route.to_ascii_lowercase().as_str() {
        "extravascular" | "ev" | "oral" => Route::Extravascular,
        "iv-bolus" | "iv" | "bolus" => Route::IvBolus,
        other => {
            return Err(Error::Argument(format!(
                "route '{other}': expected extravascular or iv-bolus"
            )))
        }
    };
    let lambda_z = match (o.lambda_z_points, &o.lambda_z_range) {
        (Some(_), Some(_)) => {
            return Err(Error::Argument(
                "give lambda_z_points or lambda_z_range, not both".into(),
            ))
        }
        (Some(n), _) if n < 3 => {
            return Err(Error::Argument(format!(
                "lambda_z_points {n}: λz needs at least 3 points"
            )))
        }
        (Some(n), _) => LambdaZChoice::Points(n),
        (None, Some(r)) => {
            let (a, b) = span(r, "lambda_z_range")?;
            LambdaZChoice::Range(a, b)
        }
        (None, None) => LambdaZChoice::BestFit,
    };
    let partial = o
        .partial
        .iter()
        .map(|p| span(p, "partial"))
        .collect::<Result<Vec<_>>>()?;
    if let Some(t) = o.tau.filter(|t| !(*t > 0.0 && t.is_finite())) {
        return Err(Error::Argument(format!("tau must be a positive interval, got {t}")));
    }
    let options = NcaOptions {
        rule,
        lambda_z,
        partial,
        tau: o.tau,
    };
    let blq = BlqRules {
        lloq_column: o.lloq_column.clone(),
        flag_column: o.blq_column.clone(),
        before_first: BlqAs::parse(&o.blq_before)?,
        after_first: BlqAs::parse(&o.blq_after)?,
        negative: NegativeAs::parse(&o.negative)?,
    };
    let conc = ConcentrationUnit::parse(&o.conc_unit)?;
    let amount = AmountUnit::parse(&o.amount_unit)?;
    let time = TimeUnit::parse(&o.time_unit)?;
    let scale = DoseScale(amount.grams() / conc.grams_per_litre());
    let (c, t) = (conc.to_string(), time.to_string());
    let dataset = read_data(data, &o.drop, &[])?;
    dataset.require_dv()?;
    for (what, column) in [("blq_column", &o.blq_column), ("lloq_column", &o.lloq_column)] {
        if let Some(col) = column {
            if dataset.covariate_index(col).is_none() {
                return Err(Error::Argument(format!(
                    "{what} {col}: {} has no column {col} (its other columns: {})",
                    data.name(),
                    dataset.covariate_names.join(", ")
                )));
            }
        }
    }
    let results: Vec<(String, Result<Vec<IntervalNca>>)> = dataset
        .subjects
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                subject_nca(&dataset, s, bolus_route, &blq, &options, scale),
            )
        })
        .collect();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut csv = String::from("ID,DOSE_TIME,PPTESTCD,PPORRES,PPORRESU\n");
    for (id, r) in &results {
        match r {
            Err(e) => problems.push(format!("subject {id} not analysed: {e}")),
            Ok(intervals) => {
                for iv in intervals {
                    for w in &iv.warnings {
                        if seen.insert(w.clone()) {
                            problems.push(format!("warning: {w}"));
                        }
                    }
                    match &iv.result {
                        Err(e) => problems.push(format!("subject {id}, dose at {}: not analysed: {e}", iv.dose_time)),
                        Ok(n) => {
                            for (code, v, kind) in n.values(iv.route) {
                                if let Some(v) = v {
                                    let _ = writeln!(csv, "{id},{},{code},{v},{}", iv.dose_time, unit_of(kind, &c, &t));
                                }
                            }
                            for (a, b, v) in &n.partial {
                                let _ = writeln!(
                                    csv,
                                    "{id},{},AUCINT_{a}_{b},{v},{}",
                                    iv.dose_time,
                                    unit_of(UnitKind::ConcTime, &c, &t)
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    let analysed = results
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|ivs| ivs.iter().any(|iv| iv.result.is_ok())));
    if !analysed {
        return Err(Error::Argument(format!(
            "no subject of {} could be analysed ({})",
            data.name(),
            problems.join("; ")
        )));
    }
    Ok((csv, problems))
}

/// Non-compartmental analysis (the native call behind `pk.nca`).
#[pyfunction]
#[pyo3(signature = (data_path=None, data_text=None, data_name=None, rule="linear-up-log-down".to_string(),
                    route="extravascular".to_string(), lambda_z_points=None, lambda_z_range=None,
                    partial=Vec::new(), tau=None, lloq_column=None, blq_column=None,
                    blq_before="zero".to_string(), blq_after="missing".to_string(), negative="keep".to_string(),
                    conc_unit="ng/mL".to_string(), amount_unit="mg".to_string(), time_unit="h".to_string(),
                    drop=Vec::new()))]
#[allow(clippy::too_many_arguments)]
pub fn nca(
    py: Python<'_>,
    data_path: Option<String>,
    data_text: Option<String>,
    data_name: Option<String>,
    rule: String,
    route: String,
    lambda_z_points: Option<usize>,
    lambda_z_range: Option<String>,
    partial: Vec<String>,
    tau: Option<f64>,
    lloq_column: Option<String>,
    blq_column: Option<String>,
    blq_before: String,
    blq_after: String,
    negative: String,
    conc_unit: String,
    amount_unit: String,
    time_unit: String,
    drop: Vec<String>,
) -> PyResult<(String, Vec<String>)> {
    let data = DataSource::of(data_path, data_text, data_name).map_err(to_py)?;
    if matches!(data, DataSource::Default) {
        return Err(to_py(Error::Argument(
            "no data: give data (a DataFrame or a file)".into(),
        )));
    }
    let options = Options {
        rule,
        route,
        lambda_z_points,
        lambda_z_range,
        partial,
        tau,
        lloq_column,
        blq_column,
        blq_before,
        blq_after,
        negative,
        conc_unit,
        amount_unit,
        time_unit,
        drop,
    };
    py.detach(|| run(&data, &options)).map_err(to_py)
}
