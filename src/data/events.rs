//! Turns a subject's data records into dosing events for the engine, resolving
//! each dose's compartment, bioavailability, lag time, rate and duration.

use super::nonmem::{Dataset, Evid, Record, Subject};
use crate::dosing::{Dose, Event, Input, SteadyState};
use crate::error::{Error, Location, Result};
use crate::model::{ModelDefinition, PkParams};

/// Dose attributes for one record: (bioavailability, lag, modelled rate, modelled duration).
struct DoseAttributes {
    f: f64,
    lag: f64,
    rate: Option<f64>,
    duration: Option<f64>,
}

/// Column indices of the per-record dose attributes in a dataset.
struct AttributeColumns {
    cmt: i64,
    f: Option<usize>,
    lag: Option<usize>,
    rate: Option<usize>,
    duration: Option<usize>,
}

fn attribute_columns(model: &ModelDefinition, data: &Dataset) -> Result<AttributeColumns> {
    let dc = &model.data_columns;
    let find = |name: &Option<String>| -> Result<Option<usize>> {
        match name {
            None => Ok(None),
            Some(n) => data.covariate_index(n).map(Some).ok_or_else(|| {
                Error::data(
                    Location::file(&data.file),
                    format!(
                        "model {} takes dose attributes from column {n}, which the data lack",
                        model.name
                    ),
                )
            }),
        }
    };
    let default_cmt = model.structure.cmt_of_state(model.structure.default_dose_state()) as i64;
    Ok(AttributeColumns {
        cmt: dc.compartment.unwrap_or(default_cmt),
        f: find(&dc.bioavailability)?,
        lag: find(&dc.lag)?,
        rate: find(&dc.rate)?,
        duration: find(&dc.duration)?,
    })
}

fn attributes(r: &Record, cmt: i64, default_cmt: i64, cols: &AttributeColumns, p: &PkParams) -> DoseAttributes {
    let mut a = DoseAttributes {
        f: 1.0,
        lag: 0.0,
        rate: None,
        duration: None,
    };
    if cmt == default_cmt {
        a.f = p.f;
        a.lag = p.alag;
        a.rate = p.rate;
        a.duration = p.duration;
    }
    if cmt == cols.cmt {
        let value = |c: Option<usize>| c.map(|i| r.covariates[i]).filter(|v| !v.is_nan());
        if let Some(v) = value(cols.f) {
            a.f = v;
        }
        if let Some(v) = value(cols.lag) {
            a.lag = v;
        }
        if let Some(v) = value(cols.rate) {
            a.rate = Some(v);
        }
        if let Some(v) = value(cols.duration) {
            a.duration = Some(v);
        }
    }
    a
}

/// Builds the events of `subject` (one output slot per record, in record order).
pub fn subject_events(
    model: &ModelDefinition,
    params: &PkParams,
    data: &Dataset,
    subject: &Subject,
) -> Result<Vec<Event>> {
    let cols = attribute_columns(model, data)?;
    let structure = &model.structure;
    let default_cmt = structure.cmt_of_state(structure.default_dose_state()) as i64;
    let mut events = Vec::with_capacity(subject.records.len() * 2);
    for (slot, r) in subject.records.iter().enumerate() {
        let err = |column: &str, message: String| Error::Dosing {
            subject: subject.id.clone(),
            location: Location::line(&data.file, r.line).with_column(column),
            message,
        };
        match r.evid {
            Evid::Reset => events.push(Event::Reset { time: r.time }),
            Evid::Dose | Evid::ResetDose => {
                let target = structure.state_of_cmt(r.cmt).ok_or_else(|| {
                    err(
                        "CMT",
                        format!(
                            "the model has compartments 1 to {}, the dose names {}",
                            structure.n_cmt(),
                            r.cmt
                        ),
                    )
                })?;
                let cmt = structure.cmt_of_state(target) as i64;
                let a = attributes(r, cmt, default_cmt, &cols, params);
                let dose = resolve_dose(r, target, &a).map_err(|(c, m)| err(c, m))?;
                events.push(Event::Dose {
                    dose,
                    reset: r.evid == Evid::ResetDose,
                });
            }
            Evid::Observation | Evid::Other => {}
        }
        events.push(Event::Observe { time: r.time, slot });
    }
    Ok(events)
}

fn resolve_dose(r: &Record, target: usize, a: &DoseAttributes) -> std::result::Result<Dose, (&'static str, String)> {
    if !(a.f >= 0.0) {
        return Err(("AMT", format!("bioavailability must be >= 0, got {}", a.f)));
    }
    if !(a.lag >= 0.0) {
        return Err(("TIME", format!("lag time must be >= 0, got {}", a.lag)));
    }
    let amount = r.amt * a.f;
    let input = if r.rate == -1.0 {
        let rate = a.rate.ok_or((
            "RATE",
            "RATE = -1 asks for a modelled rate, but the model defines none (parameter R or a rate column)".to_string(),
        ))?;
        if !(rate > 0.0) {
            return Err(("RATE", format!("the modelled rate (RATE = -1) must be > 0, got {rate}")));
        }
        Input::Infusion {
            rate,
            duration: amount / rate,
        }
    } else if r.rate == -2.0 {
        let duration = a.duration.ok_or((
            "RATE",
            "RATE = -2 asks for a modelled duration, but the model defines none (parameter D or a duration column)"
                .to_string(),
        ))?;
        if !(duration > 0.0) {
            return Err((
                "RATE",
                format!("a dose marked as infusion (RATE = -2) has a modelled duration of {duration}; it must be > 0"),
            ));
        }
        Input::Infusion {
            rate: amount / duration,
            duration,
        }
    } else if r.rate > 0.0 {
        let duration = if r.amt == 0.0 { f64::INFINITY } else { amount / r.rate };
        Input::Infusion { rate: r.rate, duration }
    } else if r.dur > 0.0 {
        Input::Infusion {
            rate: amount / r.dur,
            duration: r.dur,
        }
    } else {
        Input::Bolus
    };
    let steady_state = match r.ss {
        1 => SteadyState::Reset,
        2 => SteadyState::Add,
        _ => SteadyState::No,
    };
    Ok(Dose {
        time: r.time,
        target,
        amount,
        input,
        lag: a.lag,
        steady_state,
        interval: r.ii,
        additional: r.addl,
    })
}
