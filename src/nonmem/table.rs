//! `$TABLE` files of an imported control stream, in NONMEM's layout: a
//! `TABLE NO.  n` line, a header of the item names, and one row per data
//! record (the first of each individual with `FIRSTONLY`) in `1PE11.4`, each
//! field 12 characters wide. `DV PRED RES WRES` are appended unless
//! `NOAPPEND`, as NONMEM does; the header is repeated every 900 rows unless
//! `ONEHEADER`, and left out with `NOHEADER`.
//!
//! Items: data items of `$INPUT` (by name or synonym), `PRED`, `IPRED`
//! (`IPRE`), `RES`, `WRES`, `CWRES`, `IWRES` (`IWRE`), `ETA(n)`/`ETAn`, and
//! the variables of the individual-parameter code (`CL`, `V`, …), and `TAD`
//! (time after dose) where no data item or variable has that name. Weighted
//! residuals are those of the observation records and 0 on the others, as in
//! NONMEM. An item the engine cannot compute (e.g. `NPDE`, or a variable of
//! `$ERROR`) is left out, and said so in the returned notes.

use super::import::Import;
use super::lower::params::EtaTarget;
use super::tasks::Table;
use crate::error::{Error, Result};
use crate::population::estimation::{ObservationRow, PopulationData, PopulationFit};
use std::collections::HashMap;

/// Rows per header when the header repeats (NONMEM's page of 900 records).
const ROWS_PER_HEADER: usize = 900;

/// What one record knows: data values, predictions, residuals, η, variables.
struct RecordValues {
    id: String,
    line: usize,
    tad: f64,
    pred: f64,
    ipred: f64,
    /// (RES, WRES, CWRES, IWRES) of an observation record.
    residuals: Option<[f64; 4]>,
    /// NONMEM η values of the subject, in `$OMEGA` order.
    eta: Vec<f64>,
    /// Variables of the record's parameter set.
    variables: Vec<(String, f64)>,
}

/// A column of the table: how to get its value from a record.
enum Item {
    Data(usize),
    Tad,
    Pred,
    Ipred,
    Residual(usize),
    Eta(usize),
    Variable(String),
}

/// The text of `$TABLE` number `number` and the notes on items left out.
pub fn table_text(
    table: &Table,
    number: usize,
    import: &Import,
    pop: &PopulationData,
    fit: &PopulationFit,
    rows: &[ObservationRow],
) -> Result<(String, Vec<String>)> {
    let records = record_values(import, pop, fit, rows)?;
    let mut names: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.synonym.clone().unwrap_or_else(|| c.item.clone()))
        .collect();
    let mut wanted: Vec<String> = table.columns.iter().map(|c| c.item.clone()).collect();
    if !table.noappend {
        for n in ["DV", "PRED", "RES", "WRES"] {
            names.push(n.to_string());
            wanted.push(n.to_string());
        }
    }
    let mut notes = Vec::new();
    let mut columns = Vec::new();
    for (name, item) in names.into_iter().zip(&wanted) {
        match resolve(item, import, records.first()) {
            Some(i) => columns.push((name, i)),
            None => notes.push(format!(
                "$TABLE (line {}): {item} is left out of the table: the engine does not compute it (data items, PRED, IPRED, RES, WRES, CWRES, IWRES, ETA(n), TAD and the variables of $PK are written)",
                table.line
            )),
        }
    }
    let header = || {
        let mut h = String::new();
        for (n, _) in &columns {
            h.push_str(&format!(" {n:<11}"));
        }
        h.push('\n');
        h
    };
    let mut text = String::new();
    let mut previous_id: Option<&str> = None;
    let mut written = 0usize;
    for r in &records {
        if table.firstonly && previous_id == Some(r.id.as_str()) {
            continue;
        }
        previous_id = Some(r.id.as_str());
        if !table.noheader && (written == 0 || (!table.oneheader && written % ROWS_PER_HEADER == 0)) {
            text.push_str(&format!("TABLE NO.  {number}\n"));
            text.push_str(&header());
        }
        for (_, item) in &columns {
            text.push_str(&format!(" {:>11}", table_number(value(item, r, import))));
        }
        text.push('\n');
        written += 1;
    }
    Ok((text, notes))
}

/// How to compute `item` (upper case), or `None` when the engine cannot.
fn resolve(item: &str, import: &Import, sample: Option<&RecordValues>) -> Option<Item> {
    if let Some(k) = import.records.column_index(item) {
        return Some(Item::Data(k));
    }
    let eta_index = |rest: &str| -> Option<usize> {
        let n = rest.trim_start_matches('(').trim_end_matches(')');
        n.parse::<usize>().ok().filter(|&n| n >= 1)
    };
    match item {
        "PRED" => return Some(Item::Pred),
        "IPRED" | "IPRE" => return Some(Item::Ipred),
        "RES" => return Some(Item::Residual(0)),
        "WRES" => return Some(Item::Residual(1)),
        "CWRES" => return Some(Item::Residual(2)),
        "IWRES" | "IWRE" => return Some(Item::Residual(3)),
        _ => {}
    }
    if let Some(rest) = item.strip_prefix("ETA") {
        if let Some(n) = eta_index(rest) {
            return (n <= import.lowered.parameters.eta.len()).then_some(Item::Eta(n - 1));
        }
    }
    let known = sample.is_some_and(|r| r.variables.iter().any(|(n, _)| n.eq_ignore_ascii_case(item)));
    if known {
        Some(Item::Variable(item.to_string()))
    } else {
        (item == "TAD").then_some(Item::Tad)
    }
}

fn value(item: &Item, r: &RecordValues, import: &Import) -> f64 {
    match item {
        Item::Data(k) => import
            .records
            .rows
            .iter()
            .find(|row| row.line == r.line)
            .map_or(0.0, |row| row.nonmem(*k)),
        Item::Tad => r.tad,
        Item::Pred => r.pred,
        Item::Ipred => r.ipred,
        Item::Residual(k) => r.residuals.map_or(0.0, |x| x[*k]),
        Item::Eta(k) => r.eta.get(*k).copied().unwrap_or(0.0),
        Item::Variable(n) => r
            .variables
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(n))
            .map_or(0.0, |(_, v)| *v),
    }
}

/// Every record of every subject with its predictions, residuals, η and variables.
fn record_values(
    import: &Import,
    pop: &PopulationData,
    fit: &PopulationFit,
    rows: &[ObservationRow],
) -> Result<Vec<RecordValues>> {
    let model = &import.model;
    let n_eta = fit.values.omega.nrows();
    let n_kappa = fit.values.omega_iov.nrows();
    let mut by_subject: HashMap<&str, Vec<&ObservationRow>> = HashMap::new();
    for r in rows {
        by_subject.entry(r.id.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (s, est) in pop.subjects.iter().zip(&fit.evaluation.estimates) {
        let (eta, kappa) = est.eta.split_at(n_eta.min(est.eta.len()));
        let zero_eta = vec![0.0; eta.len()];
        let zero_kappa = vec![0.0; kappa.len()];
        let failed = |e: Error| Error::Fit {
            subject: s.data.id.clone(),
            message: format!("$TABLE: {e}"),
        };
        let pred = model
            .predict_records(&s.data, &fit.values_with(&zero_eta, &zero_kappa))
            .map_err(failed)?
            .f;
        let individual = fit.values_with(eta, kappa);
        let ipred = model.predict_records(&s.data, &individual).map_err(failed)?.f;
        let sets = model.individual_parameters(&s.data, &individual).map_err(failed)?;
        let nm_eta: Vec<f64> = import
            .lowered
            .parameters
            .eta
            .iter()
            .map(|t| match t {
                EtaTarget::Omega(i) => eta.get(*i).copied().unwrap_or(0.0),
                EtaTarget::Kappa { index, occasion } => kappa.get(occasion * n_kappa + index).copied().unwrap_or(0.0),
                EtaTarget::Removed => 0.0,
            })
            .collect();
        let observed = by_subject.get(s.data.id.as_str()).cloned().unwrap_or_default();
        let obs_of_record: HashMap<usize, usize> = s.data.obs.iter().enumerate().map(|(k, o)| (o.record, k)).collect();
        let tad = s.data.record_tad();
        for (ri, line) in s.data.record_lines().into_iter().enumerate() {
            let set = sets.iter().rev().find(|p| p.line <= line).or(sets.first());
            let residuals = obs_of_record
                .get(&ri)
                .and_then(|&k| observed.get(k))
                .map(|o| [o.res, o.wres, o.cwres, o.iwres]);
            out.push(RecordValues {
                id: s.data.id.clone(),
                line,
                tad: tad[ri],
                pred: pred[ri],
                ipred: ipred[ri],
                residuals,
                eta: nm_eta.clone(),
                variables: set.map(|p| p.values.clone()).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// A value as NONMEM's `1PE11.4`: `1.2345E+01`, `-1.2345E-03`.
fn table_number(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{v:.4E}");
    let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[cfg(test)]
mod tests {
    use super::table_number;

    #[test]
    fn numbers_as_nonmem_prints_them() {
        assert_eq!(table_number(1.0), "1.0000E+00");
        assert_eq!(table_number(-0.0012345), "-1.2345E-03");
        assert_eq!(table_number(0.0), "0.0000E+00");
        assert_eq!(table_number(17.3), "1.7300E+01");
    }
}
