//! The data of a control stream as the engine reads it: the records that
//! `$INPUT`/`$DATA` keep ([`crate::nonmem::dataset`]) become a
//! [`crate::data::Dataset`], with NONMEM's conventions (a null field is 0;
//! an ID that comes back after other subjects is a new individual), the data
//! items the code reads as covariates, the output each observation goes to
//! (a DVID column) and the observations censored by an M3 `$ERROR`.

use super::expr::number_text;
use super::expr::E;
use crate::data::nonmem::ITEMS;
use crate::data::{dataset_from_values, Dataset as EngineDataset, RecordValues};
use crate::error::{Error, Location, Result};
use crate::nonmem::dataset::{DataRow, Dataset};

/// Items the engine's reader interprets (the others are covariates).
const ENGINE_ITEMS: &[&str] = &[
    "ID", "TIME", "DV", "AMT", "RATE", "EVID", "MDV", "CMT", "ADDL", "II", "SS",
];
/// PREDPP items: plain data under `$PRED`.
const PREDPP_ITEMS: &[&str] = &["AMT", "RATE", "EVID", "CMT", "ADDL", "II", "SS"];

/// Chooses the output of an observation (and whether it is censored).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// Conditions on data items that must all hold (condition, truth).
    pub conditions: Vec<(E, bool)>,
    /// The DVID of the output.
    pub dvid: i64,
    /// For an M3 `PHI` branch: the quantification limit (an expression of data items).
    pub censored_limit: Option<E>,
    /// Line of the `Y =` statement.
    pub line: usize,
}

/// How the data are passed to the engine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataPlan {
    /// `$PRED`: AMT, RATE, CMT, … are ordinary data items (no doses).
    pub pred: bool,
    /// Data items read by the code: (model-language covariate name, data item label).
    pub covariates: Vec<(String, String)>,
    /// Output choice per observation, in `$ERROR` order (the last that holds
    /// wins, as the last assignment of Y does); empty for one output without censoring.
    pub selectors: Vec<Selector>,
    /// The occasion column of IOV and the values the control stream gives an η.
    pub occasions: Option<(String, Vec<f64>)>,
    /// The DVID column the code reads must equal the chosen output's.
    pub code_reads_dvid: bool,
}

/// Whether a data record is an observation, as NONMEM decides it: EVID 0
/// (when there is an EVID item), else MDV 0 (when there is an MDV item), else no dose.
pub fn is_observation(ds: &Dataset, row: &DataRow, pred: bool) -> bool {
    let get = |name: &str| ds.column_index(name).map(|k| row.nonmem(k));
    if let Some(mdv) = get("MDV") {
        if mdv != 0.0 {
            return false;
        }
    }
    if pred {
        return true;
    }
    match get("EVID") {
        Some(e) => e == 0.0,
        None => get("MDV").is_some() || get("AMT").is_none_or(|a| a == 0.0),
    }
}

fn value_of(ds: &Dataset, row: &DataRow, label: &str) -> Option<f64> {
    ds.column_index(label).map(|k| row.nonmem(k))
}

/// The engine's dataset for a lowered control stream.
pub fn engine_dataset(
    ds: &Dataset,
    plan: &DataPlan,
    covariate_item: &dyn Fn(&str) -> Option<String>,
) -> Result<EngineDataset> {
    let file = ds.file.clone();
    let err_at = |line: usize, column: Option<&str>, message: String| {
        let mut l = Location::line(&file, line);
        if let Some(c) = column {
            l = l.with_column(c);
        }
        Error::data(l, message)
    };
    let id_k = ds.column_index("ID").ok_or_else(|| {
        err_at(
            1,
            None,
            "$INPUT has no ID item: the engine needs one subject per ID".into(),
        )
    })?;
    let multiple = !plan.selectors.is_empty();
    let dvid_col = multiple;
    let cens_col = plan.selectors.iter().any(|s| s.censored_limit.is_some());
    // Columns: the engine's items, and the others as covariates.
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(ds.columns.len());
    let mut covariate_names: Vec<String> = Vec::new();
    let mut covariate_columns: Vec<usize> = Vec::new();
    for (k, c) in ds.columns.iter().enumerate() {
        let n = c.name.as_str();
        let engine_item = ENGINE_ITEMS.contains(&n) && !(plan.pred && PREDPP_ITEMS.contains(&n));
        if engine_item {
            slots.push(ITEMS.iter().position(|s| *s == n));
            continue;
        }
        slots.push(None);
        let name = if n == "DVID" && (dvid_col || !plan.code_reads_dvid) {
            // A DVID item routes observations only when the model's outputs follow it.
            "DVID (data)".to_string()
        } else if matches!(n, "BLQ" | "LLOQ" | "CENS") {
            // Censoring comes from $ERROR (M3), through the CENS column below.
            format!("{n} (data)")
        } else {
            n.to_string()
        };
        covariate_names.push(name);
        covariate_columns.push(k);
    }
    // The data items the code reads under other names or that the engine keeps to itself (AMT, CMT, …).
    let mut extra: Vec<usize> = Vec::new();
    for (name, item) in &plan.covariates {
        if covariate_names.iter().any(|n| n == name) {
            continue;
        }
        let col = ds.column_index(item).ok_or_else(|| {
            err_at(
                1,
                None,
                format!("the model reads the data item {item}, which $INPUT does not list"),
            )
        })?;
        covariate_names.push(name.clone());
        extra.push(col);
    }
    if dvid_col {
        covariate_names.push("DVID".into());
    }
    if cens_col {
        covariate_names.push("CENS".into());
    }
    let dv_k = ds.column_index("DV");
    let mut seen: Vec<f64> = Vec::new();
    let mut last_id: Option<f64> = None;
    let mut occurrence = 0usize;
    let mut records = Vec::with_capacity(ds.rows.len());
    for row in &ds.rows {
        let id = row.nonmem(id_k);
        if last_id != Some(id) {
            occurrence = seen.iter().filter(|x| **x == id).count();
            seen.push(id);
            last_id = Some(id);
        }
        let id_s = if occurrence == 0 {
            number_text(id)
        } else {
            format!("{}#{}", number_text(id), occurrence + 1)
        };
        let lookup = |n: &str| -> Option<f64> {
            let item = covariate_item(n).unwrap_or_else(|| n.to_string());
            value_of(ds, row, &item)
        };
        let observation = is_observation(ds, row, plan.pred);
        // The output chosen by the selectors, and censoring.
        let mut chosen: Option<&Selector> = None;
        if observation && (multiple || cens_col) {
            for s in &plan.selectors {
                let mut holds = true;
                for (c, truth) in &s.conditions {
                    let v = c.eval(&lookup).ok_or_else(|| {
                        err_at(
                            row.line,
                            None,
                            format!(
                                "the condition {c} (line {} of the control stream) cannot be evaluated on this record",
                                s.line
                            ),
                        )
                    })?;
                    if (v != 0.0) != *truth {
                        holds = false;
                        break;
                    }
                }
                if holds {
                    chosen = Some(s);
                }
            }
            if chosen.is_none() {
                return Err(err_at(
                    row.line,
                    None,
                    "no Y of $ERROR applies to this observation (every Y = … is under an IF that does not hold here)"
                        .into(),
                ));
            }
        }
        if let Some((col, values)) = &plan.occasions {
            if let Some(v) = value_of(ds, row, col) {
                if !values.contains(&v) {
                    return Err(err_at(
                        row.line,
                        Some(col),
                        format!(
                            "{col} = {v}: the control stream gives inter-occasion η only for {col} in {{{}}} (IF ({col}.EQ.…) … = ETA(…)); the model language gives every occasion its own κ",
                            values.iter().map(|x| number_text(*x)).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        // NONMEM reads a null field as 0.
        let mut items: [Option<f64>; 12] = [None; 12];
        for (k, slot) in slots.iter().enumerate() {
            if let Some(i) = slot {
                items[*i] = Some(row.nonmem(k));
            }
        }
        items[0] = None;
        if ds.column_index("TIME").is_none() {
            items[1] = Some(0.0);
        }
        if let (Some(_), Some(limit)) = (dv_k, chosen.and_then(|s| s.censored_limit.as_ref())) {
            let l = limit.eval(&lookup).ok_or_else(|| {
                err_at(
                    row.line,
                    None,
                    format!("the quantification limit {limit} cannot be evaluated on this record"),
                )
            })?;
            items[2] = Some(l);
        }
        let mut covariates: Vec<f64> = covariate_columns.iter().map(|k| row.nonmem(*k)).collect();
        covariates.extend(extra.iter().map(|k| row.nonmem(*k)));
        if dvid_col {
            let data_dvid = value_of(ds, row, "DVID");
            let v = match (chosen, data_dvid) {
                (Some(s), Some(d)) if plan.code_reads_dvid && d != s.dvid as f64 => {
                    return Err(err_at(
                        row.line,
                        Some("DVID"),
                        format!(
                            "DVID = {d}, but $ERROR gives this observation the Y of line {} (output DVID {}); the code reads DVID, so the two must agree",
                            s.line, s.dvid
                        ),
                    ))
                }
                (Some(s), _) => s.dvid as f64,
                (None, Some(d)) => d,
                (None, None) => 0.0,
            };
            covariates.push(v);
        }
        if cens_col {
            let censored = chosen.is_some_and(|s| s.censored_limit.is_some());
            covariates.push(if censored { 1.0 } else { 0.0 });
        }
        records.push(RecordValues {
            line: row.line,
            id: id_s,
            items,
            covariates,
        });
    }
    dataset_from_values(&file, covariate_names, records)
}
