//! The data of a control stream as the engine reads it: the records that
//! `$INPUT`/`$DATA` keep ([`crate::nonmem::dataset`]) become a
//! [`crate::data::Dataset`], with NONMEM's conventions (a null field is 0;
//! an ID that comes back after other subjects is a new individual), the data
//! items the code reads as covariates, the output each observation goes to
//! (a DVID column) and the observations censored by an M3 `$ERROR`.

use super::expr::E;
use crate::data::{parse_dataset, Dataset as EngineDataset, ReadOptions};
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
    // Columns: the engine's items by name, the others under internal names.
    let mut header: Vec<String> = Vec::new();
    let mut internal: Vec<(String, String)> = Vec::new();
    for (k, c) in ds.columns.iter().enumerate() {
        let engine_item =
            ENGINE_ITEMS.contains(&c.name.as_str()) && !(plan.pred && PREDPP_ITEMS.contains(&c.name.as_str()));
        if engine_item {
            header.push(c.name.clone());
        } else {
            let n = format!("_C{k}");
            internal.push((n.clone(), c.name.clone()));
            header.push(n);
        }
    }
    let has = |n: &str| ds.column_index(n).is_some();
    if !has("ID") {
        return Err(err_at(
            1,
            None,
            "$INPUT has no ID item: the engine needs one subject per ID".into(),
        ));
    }
    let add_time = !has("TIME");
    if add_time {
        header.push("TIME".into());
    }
    let multiple = !plan.selectors.is_empty();
    let dvid_col = multiple;
    if dvid_col {
        header.push("DVID".into());
    }
    let cens_col = plan.selectors.iter().any(|s| s.censored_limit.is_some());
    if cens_col {
        header.push("CENS".into());
    }
    let mut text = header.join(",");
    text.push('\n');
    let id_k = ds.column_index("ID").unwrap_or(0);
    let dv_k = ds.column_index("DV");
    let mut seen: Vec<f64> = Vec::new();
    let mut last_id: Option<f64> = None;
    let mut occurrence = 0usize;
    let mut id_text: Vec<String> = Vec::with_capacity(ds.rows.len());
    for row in &ds.rows {
        let id = row.nonmem(id_k);
        if last_id != Some(id) {
            occurrence = seen.iter().filter(|x| **x == id).count();
            seen.push(id);
            last_id = Some(id);
        }
        let id_s = if occurrence == 0 {
            crate::nonmem::lower::expr::number_text(id)
        } else {
            format!("{}#{}", crate::nonmem::lower::expr::number_text(id), occurrence + 1)
        };
        id_text.push(id_s.clone());
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
        if let (Some((col, values)), true) = (&plan.occasions, observation || !plan.pred) {
            if let Some(v) = value_of(ds, row, col) {
                if !values.contains(&v) {
                    return Err(err_at(
                        row.line,
                        Some(col),
                        format!(
                            "{col} = {v}: the control stream gives inter-occasion η only for {col} in {{{}}} (IF ({col}.EQ.…) … = ETA(…)); the model language gives every occasion its own κ",
                            values.iter().map(|x| crate::nonmem::lower::expr::number_text(*x)).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        let mut fields: Vec<String> = Vec::with_capacity(header.len());
        for (k, c) in ds.columns.iter().enumerate() {
            let v = row.nonmem(k);
            if k == id_k {
                fields.push(id_s.clone());
                continue;
            }
            if Some(k) == dv_k {
                if let Some(limit) = chosen.and_then(|s| s.censored_limit.as_ref()) {
                    let l = limit.eval(&lookup).ok_or_else(|| {
                        err_at(
                            row.line,
                            None,
                            format!("the quantification limit {limit} cannot be evaluated on this record"),
                        )
                    })?;
                    fields.push(l.to_string());
                    continue;
                }
            }
            let _ = c;
            fields.push(v.to_string());
        }
        if add_time {
            fields.push("0".into());
        }
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
            fields.push(v.to_string());
        }
        if cens_col {
            let censored = chosen.is_some_and(|s| s.censored_limit.is_some());
            fields.push(if censored { "1" } else { "0" }.into());
        }
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let lines: Vec<usize> = ds.rows.iter().map(|r| r.line).collect();
    let rename_column = |c: &str| -> String {
        internal
            .iter()
            .find(|(n, _)| n == c)
            .map_or(c.to_string(), |(_, item)| item.clone())
    };
    let mut out = parse_dataset(&text, &file, &ReadOptions::default()).map_err(|e| match e {
        Error::Data { location, message } => {
            let line = location
                .line
                .and_then(|l| l.checked_sub(2))
                .and_then(|k| lines.get(k))
                .copied();
            let mut l = match line {
                Some(line) => Location::line(&file, line),
                None => Location::file(&file),
            };
            if let Some(c) = location.column {
                l = l.with_column(rename_column(&c));
            }
            Error::Data { location: l, message }
        }
        other => other,
    })?;
    // Original lines, and covariate names as the model reads them.
    let mut k = 0;
    for s in &mut out.subjects {
        for r in &mut s.records {
            r.line = lines.get(k).copied().unwrap_or(r.line);
            k += 1;
        }
    }
    for n in &mut out.covariate_names {
        let item = rename_column(n);
        // A DVID item routes observations only when the model's outputs follow it.
        let internal_name = n.starts_with("_C");
        *n = if internal_name && item == "DVID" && (dvid_col || !plan.code_reads_dvid) {
            "DVID (data)".into()
        } else if internal_name && matches!(item.as_str(), "BLQ" | "LLOQ" | "CENS") {
            // Censoring comes from $ERROR (M3), through the CENS column written above.
            format!("{item} (data)")
        } else {
            item
        };
    }
    // The data items the code reads that the engine keeps to itself (AMT, CMT, …).
    for (name, item) in &plan.covariates {
        if out.covariate_index(name).is_some() {
            continue;
        }
        let Some(col) = ds.column_index(item) else {
            return Err(err_at(
                1,
                None,
                format!("the model reads the data item {item}, which $INPUT does not list"),
            ));
        };
        out.covariate_names.push(name.clone());
        let mut k = 0;
        for s in &mut out.subjects {
            for r in &mut s.records {
                r.covariates.push(ds.rows[k].nonmem(col));
                k += 1;
            }
        }
    }
    // Covariate names the model uses for renamed items.
    for (name, item) in &plan.covariates {
        if let Some(i) = out.covariate_names.iter().position(|n| n == item) {
            if name != item && out.covariate_index(name).is_none() {
                out.covariate_names[i] = name.clone();
            }
        }
    }
    Ok(out)
}
