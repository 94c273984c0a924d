//! Subjects built for simulation with a language model ([`Model`]): the doses
//! of a regimen as dose records with prediction records (EVID 2) at the output
//! times, or a data file's subject with prediction records added on a grid.
//!
//! An added record takes the covariates of the next record of the subject
//! (the last one's after the end): as in NONMEM's PREDPP, a record's values
//! govern the interval that ends at it, so the added records change nothing.
//! At the time of a record, it takes that record's covariates.
//! An output time equal to a dose time comes after the dose: it sees the dose.

use super::runtime::Model;
use crate::data::nonmem::{Dataset, Evid, Record, Subject};
use crate::dosing::{Dose, Input, SteadyState};
use crate::error::{Error, Result};

/// A one-subject dataset and the records to predict at.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The dataset (one subject).
    pub data: Dataset,
    /// Indices of the records to predict at, in time order.
    pub slots: Vec<usize>,
}

impl Scenario {
    /// The subject.
    pub fn subject(&self) -> &Subject {
        &self.data.subjects[0]
    }

    /// Times of the prediction records.
    pub fn times(&self) -> Vec<f64> {
        self.slots.iter().map(|&i| self.subject().records[i].time).collect()
    }
}

/// The model states a regimen's doses go to: (default, IV, oral), as indices
/// of the model's states. IV doses go to the state named `central` (else the
/// default one), oral doses to the state named `depot`, if there is one.
pub fn dose_states(model: &Model) -> (usize, usize, Option<usize>) {
    let c = &model.code;
    let find = |name: &str| c.states.iter().position(|s| s == name);
    (c.default_dose, find("central").unwrap_or(c.default_dose), find("depot"))
}

/// A dose record (CMT = model state + 1).
fn dose_record(line: usize, d: &Dose, covariates: &[f64]) -> Record {
    let mut r = Record::prediction(line, d.time, covariates.to_vec());
    r.evid = Evid::Dose;
    r.amt = d.amount;
    r.cmt = d.target as i64 + 1;
    if let Input::Infusion { rate, .. } = d.input {
        r.rate = rate;
    }
    r.ss = match d.steady_state {
        SteadyState::No => 0,
        SteadyState::Reset => 1,
        SteadyState::Add => 2,
    };
    r.ii = d.interval;
    r.addl = d.additional;
    r
}

/// A subject given `doses` (targets are model states, see [`dose_states`])
/// with prediction records at `times` (any order), and constant covariates
/// (`names`, `values`). Fails, naming the covariate, when the model reads one
/// that is not given.
pub fn regimen_scenario(
    model: &Model,
    doses: &[Dose],
    times: &[f64],
    names: &[String],
    values: &[f64],
) -> Result<Scenario> {
    let given = |n: &str| names.iter().any(|m| m.eq_ignore_ascii_case(n));
    if let Some(missing) = model.code.covariates.iter().find(|n| !given(n)) {
        return Err(Error::Argument(format!(
            "model {} needs covariate {missing}, which is not given: use --covariate {missing}=VALUE",
            model.name()
        )));
    }
    // Without an occasion column, the whole regimen is one occasion.
    let (mut names, mut values) = (names.to_vec(), values.to_vec());
    if let Some(iov) = model.code.iov.as_ref().filter(|i| !given(&i.occasion)) {
        names.push(iov.occasion.clone());
        values.push(1.0);
    }
    let values = values.as_slice();
    let mut sorted: Vec<&Dose> = doses.iter().collect();
    sorted.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
    let mut records = Vec::with_capacity(doses.len() + times.len());
    let mut slot_of_time = vec![0; times.len()];
    let mut next_dose = sorted.iter().peekable();
    for &k in &order {
        while let Some(d) = next_dose.next_if(|d| d.time <= times[k]) {
            records.push(dose_record(records.len() + 1, d, values));
        }
        slot_of_time[k] = records.len();
        records.push(Record::prediction(records.len() + 1, times[k], values.to_vec()));
    }
    for d in next_dose {
        records.push(dose_record(records.len() + 1, d, values));
    }
    Ok(Scenario {
        data: one_subject("regimen", names, records),
        slots: slot_of_time,
    })
}

fn one_subject(id: &str, covariate_names: Vec<String>, records: Vec<Record>) -> Dataset {
    let mut columns: Vec<String> = ["ID", "TIME", "AMT", "RATE", "EVID", "CMT"].map(String::from).to_vec();
    columns.extend(covariate_names.iter().cloned());
    Dataset {
        file: format!("(simulated {id})"),
        columns,
        covariate_names,
        subjects: vec![Subject {
            id: id.to_string(),
            records,
        }],
    }
}

/// A data file's subject with prediction records added at `times` (in
/// time order, after the records at the same time). The slots are the added
/// records, and with `keep_records` also the subject's own, all in time order.
pub fn grid_scenario(data: &Dataset, subject: &Subject, times: &[f64], keep_records: bool) -> Scenario {
    let mut grid: Vec<f64> = times.to_vec();
    grid.sort_by(f64::total_cmp);
    let own = &subject.records;
    let mut records = Vec::with_capacity(own.len() + grid.len());
    let mut slots = Vec::new();
    let mut g = grid.iter().peekable();
    for (i, r) in own.iter().enumerate() {
        while let Some(&t) = g.next_if(|t| **t < r.time) {
            // At the time of the previous record, its values; else the next record's.
            let from = match i.checked_sub(1).map(|j| &own[j]) {
                Some(p) if p.time == t => p,
                _ => r,
            };
            slots.push(records.len());
            records.push(Record::prediction(from.line, t, from.covariates.clone()));
        }
        if keep_records {
            slots.push(records.len());
        }
        records.push(r.clone());
        if i + 1 == own.len() {
            for &t in g.by_ref() {
                slots.push(records.len());
                records.push(Record::prediction(r.line, t, r.covariates.clone()));
            }
        }
    }
    let mut d = one_subject(&subject.id, data.covariate_names.clone(), records);
    d.file = data.file.clone();
    Scenario { data: d, slots }
}
