//! Simulation: predictions of a model for a dosing history, on a time grid or
//! at a dataset's records.

use crate::data::{subject_events, Dataset, Subject};
use crate::dosing::{predict, Dose, EngineError, Event, Timeline};
use crate::error::{Error, Result};
use crate::model::{
    Kinetics, ModalKinetics, ModelDefinition, OdeKinetics, OdeTolerances, PkParams, Rates, Solver, State, Structure,
};

/// The kinetics chosen for a model: the closed form where one exists, else the ODE solver.
/// (One is built per parameter set and lives on the stack: the size difference is harmless.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum AnyKinetics {
    /// Closed form (modal decomposition).
    Modal(ModalKinetics),
    /// Numerical integration.
    Ode(OdeKinetics),
}

impl AnyKinetics {
    /// Chooses the solver for `params` under the model's solver setting.
    pub fn new(solver: Solver, params: &PkParams) -> Result<Self> {
        match solver {
            Solver::Ode => Ok(AnyKinetics::Ode(OdeKinetics::new(*params, OdeTolerances::default()))),
            Solver::Analytic | Solver::Auto => match ModalKinetics::new(params) {
                Some(m) => Ok(AnyKinetics::Modal(m)),
                None if solver == Solver::Auto => {
                    Ok(AnyKinetics::Ode(OdeKinetics::new(*params, OdeTolerances::default())))
                }
                None => Err(Error::Argument("the analytic solver needs linear elimination".into())),
            },
        }
    }
}

impl Kinetics for AnyKinetics {
    fn set_rates(&mut self, rates: &Rates) {
        match self {
            AnyKinetics::Modal(k) => k.set_rates(rates),
            AnyKinetics::Ode(k) => k.set_rates(rates),
        }
    }
    fn advance(&mut self, state: &mut State, dt: f64) -> std::result::Result<(), String> {
        match self {
            AnyKinetics::Modal(k) => k.advance(state, dt),
            AnyKinetics::Ode(k) => k.advance(state, dt),
        }
    }
    fn add_amount(&self, state: &mut State, target: usize, amount: f64) {
        match self {
            AnyKinetics::Modal(k) => k.add_amount(state, target, amount),
            AnyKinetics::Ode(k) => k.add_amount(state, target, amount),
        }
    }
    fn concentration(&self, state: &State) -> f64 {
        match self {
            AnyKinetics::Modal(k) => k.concentration(state),
            AnyKinetics::Ode(k) => k.concentration(state),
        }
    }
    fn amounts(&self, state: &State) -> State {
        match self {
            AnyKinetics::Modal(k) => k.amounts(state),
            AnyKinetics::Ode(k) => k.amounts(state),
        }
    }
    fn is_linear(&self) -> bool {
        match self {
            AnyKinetics::Modal(k) => k.is_linear(),
            AnyKinetics::Ode(k) => k.is_linear(),
        }
    }
}

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

/// Simulates `doses` for a model at `times`.
pub fn simulate(
    model: &ModelDefinition,
    params: &PkParams,
    doses: &[Dose],
    times: &[f64],
    with_amounts: bool,
) -> Result<Profile> {
    let schedule = Schedule::new(doses, times);
    run(
        model,
        params,
        schedule.timeline(),
        times.to_vec(),
        with_amounts,
        "simulation",
    )
}

/// Predictions at every record of a subject (one value per record, in file order).
pub fn simulate_subject(
    model: &ModelDefinition,
    params: &PkParams,
    data: &Dataset,
    subject: &Subject,
    with_amounts: bool,
) -> Result<Profile> {
    let events = subject_events(model, params, data, subject)?;
    let times = subject.records.iter().map(|r| r.time).collect();
    let timeline = Timeline::build(&events);
    run(model, params, &timeline, times, with_amounts, &subject.id)
}

/// Predictions for a subject's dosing history (doses and resets from its
/// records) at `times` instead of at its records. Times are merged into the
/// history in time order; an output time equal to a dose time sees the dose.
pub fn simulate_subject_at(
    model: &ModelDefinition,
    params: &PkParams,
    data: &Dataset,
    subject: &Subject,
    times: &[f64],
    with_amounts: bool,
) -> Result<Profile> {
    let history: Vec<Event> = subject_events(model, params, data, subject)?
        .into_iter()
        .filter(|e| !matches!(e, Event::Observe { .. }))
        .collect();
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
    let mut events = Vec::with_capacity(history.len() + times.len());
    let mut next = order.iter().peekable();
    for e in history {
        while let Some(&&slot) = next.peek() {
            if times[slot] >= e.time() {
                break;
            }
            events.push(Event::Observe {
                time: times[slot],
                slot,
            });
            next.next();
        }
        events.push(e);
    }
    events.extend(next.map(|&slot| Event::Observe {
        time: times[slot],
        slot,
    }));
    let schedule = Schedule::from_events(&events, times.to_vec());
    run(
        model,
        params,
        schedule.timeline(),
        times.to_vec(),
        with_amounts,
        &subject.id,
    )
}

fn run(
    model: &ModelDefinition,
    params: &PkParams,
    timeline: &Timeline,
    times: Vec<f64>,
    with_amounts: bool,
    who: &str,
) -> Result<Profile> {
    let mut k = AnyKinetics::new(model.solver, params)?;
    let mut conc = vec![f64::NAN; times.len()];
    let mut amounts = with_amounts.then(|| vec![[0.0; crate::model::MAX_STATES]; times.len()]);
    let active = active_states(&model.structure);
    predict(
        &mut k,
        timeline,
        active,
        model.units.concentration_scale(),
        &mut conc,
        amounts.as_deref_mut(),
    )
    .map_err(|e| Error::Solver {
        subject: who.to_string(),
        time: e.time,
        message: e.message,
    })?;
    Ok(Profile { times, conc, amounts })
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
