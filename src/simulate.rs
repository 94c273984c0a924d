//! Simulation with a closed-form kernel on its own: a dosing history and
//! output times, predicted for one parameter set (the derived exposures of a
//! fit, the example dataset generator, tests of the kernels).

use crate::dosing::{predict, Dose, EngineError, Event, Timeline};
use crate::error::{Error, Result};
use crate::model::{Kinetics, ModalKinetics, PkParams, State, Structure};
use crate::units::Units;

/// State indices a structure uses (depot if present, then the compartments).
pub fn active_states(s: &Structure) -> &'static [usize] {
    const ALL: [usize; 4] = [0, 1, 2, 3];
    let first = if s.has_depot() { 0 } else { 1 };
    &ALL[first..=s.compartments.min(3)]
}

/// A dosing history with output times, built once and evaluated for many
/// parameter sets.
#[derive(Debug, Clone)]
pub struct Schedule {
    timeline: Timeline,
    times: Vec<f64>,
}

impl Schedule {
    /// Doses (all before or at any time) and output times (in any order).
    pub fn new(doses: &[Dose], times: &[f64]) -> Self {
        let mut events: Vec<Event> = doses.iter().map(|d| Event::Dose { dose: *d, reset: false }).collect();
        events.extend(
            times
                .iter()
                .enumerate()
                .map(|(slot, &time)| Event::Observe { time, slot }),
        );
        events.sort_by(|a, b| a.time().total_cmp(&b.time()));
        Schedule {
            timeline: Timeline::build(&events),
            times: times.to_vec(),
        }
    }

    /// From already-ordered events (e.g. a subject's records).
    pub fn from_events(events: &[Event], times: Vec<f64>) -> Self {
        Schedule {
            timeline: Timeline::build(events),
            times,
        }
    }

    /// Output times, by slot.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Concentrations at the output times, in the reported unit (`scale` × amount/volume).
    pub fn concentrations<K: Kinetics>(
        &self,
        k: &mut K,
        structure: &Structure,
        scale: f64,
        out: &mut [f64],
    ) -> std::result::Result<(), EngineError> {
        predict(k, &self.timeline, active_states(structure), scale, out, None)
    }
}

/// A simulated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Output times.
    pub times: Vec<f64>,
    /// Concentrations in the model's reported unit.
    pub conc: Vec<f64>,
    /// Compartment amounts per time (depot, central, peripheral…), if asked for.
    pub amounts: Option<Vec<State>>,
}

/// Simulates `doses` with the closed-form kernel of `params` at `times`;
/// concentrations in the reported unit of `units` (amount/volume ×
/// [`Units::concentration_scale`]). Anything beyond a bare kernel (code,
/// covariates, ODEs) is simulated through a language model ([`crate::model::Model`]).
pub fn simulate(
    params: &PkParams,
    units: &Units,
    doses: &[Dose],
    times: &[f64],
    with_amounts: bool,
) -> Result<Profile> {
    let mut k = ModalKinetics::new(params);
    let schedule = Schedule::new(doses, times);
    let mut conc = vec![f64::NAN; times.len()];
    let mut amounts = with_amounts.then(|| vec![[0.0; crate::model::MAX_STATES]; times.len()]);
    predict(
        &mut k,
        schedule.timeline(),
        active_states(&params.structure),
        units.concentration_scale(),
        &mut conc,
        amounts.as_deref_mut(),
    )
    .map_err(|e| Error::Solver {
        subject: "simulation".to_string(),
        time: e.time,
        message: e.message,
    })?;
    Ok(Profile {
        times: times.to_vec(),
        conc,
        amounts,
    })
}

/// Output times `start:step:end` (inclusive of `end` within rounding).
pub fn parse_grid(text: &str) -> Result<Vec<f64>> {
    let err = || {
        Error::Argument(format!(
            "grid '{text}': expected start:step:end with step > 0 and end >= start, e.g. 0:0.25:120"
        ))
    };
    let parts: Vec<f64> = text
        .split(':')
        .map(|p| p.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| err())?;
    let [start, step, end] = parts[..] else {
        return Err(err());
    };
    if !(step > 0.0 && end >= start && start.is_finite() && end.is_finite()) {
        return Err(err());
    }
    let n = ((end - start) / step + 1e-9).floor() as usize;
    if n > 10_000_000 {
        return Err(Error::Argument(format!(
            "grid '{text}' has more than 10 million points"
        )));
    }
    Ok((0..=n).map(|i| start + i as f64 * step).collect())
}
