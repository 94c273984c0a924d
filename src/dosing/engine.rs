//! Runs a [`Timeline`] through a model's [`Kinetics`]: advance the state from
//! action to action with the current infusion rates, apply doses, record
//! predictions. Linear in the number of events: the state is propagated, past
//! doses are never re-summed.

use super::steady_state::steady_state;
use super::timeline::{ActionKind, Timeline};
use crate::autodiff::Real;
use crate::dosing::dose::SteadyState;
use crate::model::{Kinetics, Rates, State, MAX_STATES};

/// Where and why a prediction failed.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineError {
    /// Time of the failing step.
    pub time: f64,
    /// Message.
    pub message: String,
}

/// Running infusions.
struct Infusions<T: Real> {
    running: Vec<(usize, usize, f64)>,
    rates: Rates<T>,
}

impl<T: Real> Infusions<T> {
    fn new() -> Self {
        Infusions {
            running: Vec::new(),
            rates: [T::zero(); MAX_STATES],
        }
    }
    fn start(&mut self, id: usize, target: usize, rate: f64) {
        self.running.push((id, target, rate));
        self.recompute();
    }
    /// Stops infusion `id`; returns whether it was running.
    fn stop(&mut self, id: usize) -> bool {
        match self.running.iter().position(|r| r.0 == id) {
            Some(pos) => {
                self.running.swap_remove(pos);
                self.recompute();
                true
            }
            None => false,
        }
    }
    fn clear(&mut self) {
        self.running.clear();
        self.rates = [T::zero(); MAX_STATES];
    }
    /// Sums rates afresh, so that a stopped infusion leaves exactly zero.
    fn recompute(&mut self) {
        self.rates = [T::zero(); MAX_STATES];
        for &(_, target, rate) in &self.running {
            self.rates[target] += T::cst(rate);
        }
    }
}

/// Predicts central concentrations (model amount/volume × `scale`) into
/// `conc[slot]` for every Observe action, and optionally compartment amounts.
/// `active` lists the state indices the model uses. Generic in the scalar:
/// values, or duals carrying derivatives ([`crate::autodiff`]).
pub fn predict<T: Real, K: Kinetics<T>>(
    k: &mut K,
    timeline: &Timeline,
    active: &[usize],
    scale: f64,
    conc: &mut [T],
    mut amounts: Option<&mut [State<T>]>,
) -> Result<(), EngineError> {
    let mut state: State<T> = [T::zero(); MAX_STATES];
    let mut infusions = Infusions::<T>::new();
    let mut epoch = 0u32;
    let mut t = timeline.actions.first().map_or(0.0, |a| a.time);
    k.set_rates(&infusions.rates);
    let actions = &timeline.actions;
    // Index of the next action that changes the state or the inputs.
    let mut next_change = 0;
    for (i, a) in actions.iter().enumerate() {
        if a.time > t {
            k.at_time(t);
            next_change = next_change.max(i);
            while next_change < actions.len() && matches!(actions[next_change].kind, ActionKind::Observe(_)) {
                next_change += 1;
            }
            let horizon = actions.get(next_change).map_or(f64::INFINITY, |c| c.time);
            let advanced = if horizon > a.time {
                k.advance_to_output(&mut state, a.time - t, horizon - t)
            } else {
                k.advance(&mut state, a.time - t)
            };
            advanced.map_err(|message| EngineError { time: t, message })?;
        }
        t = a.time;
        match a.kind {
            ActionKind::Observe(slot) => {
                if let Some(c) = conc.get_mut(slot) {
                    *c = k
                        .observe(slot, &state, t)
                        .map_err(|message| EngineError { time: t, message })?
                        * scale;
                }
                if let Some(am) = amounts.as_deref_mut() {
                    if let Some(x) = am.get_mut(slot) {
                        *x = k.amounts(&state);
                    }
                }
            }
            ActionKind::Bolus { target, amount } => {
                if a.epoch == epoch {
                    k.add_amount(&mut state, target, T::cst(amount));
                }
            }
            ActionKind::InfusionOn { id, target, rate } => {
                if a.epoch == epoch {
                    infusions.start(id, target, rate);
                    k.set_rates(&infusions.rates);
                }
            }
            ActionKind::InfusionOff { id } => {
                if infusions.stop(id) {
                    k.set_rates(&infusions.rates);
                }
            }
            ActionKind::Switch(set) => {
                k.switch(set, &mut state)
                    .map_err(|message| EngineError { time: t, message })?;
                k.set_rates(&infusions.rates);
            }
            ActionKind::Reset => {
                state = [T::zero(); MAX_STATES];
                infusions.clear();
                k.set_rates(&infusions.rates);
                epoch = a.epoch;
            }
            ActionKind::SteadyState(index) => {
                let spec = &timeline.steady_states[index];
                let ss = steady_state(k, &spec.dose, active).map_err(|message| EngineError { time: t, message })?;
                if spec.mode == SteadyState::Reset {
                    state = ss;
                    infusions.clear();
                    epoch = a.epoch;
                } else {
                    for (s, x) in state.iter_mut().zip(ss) {
                        *s += x;
                    }
                }
                // The steady-state computation changed the rates: restore them.
                k.set_rates(&infusions.rates);
            }
        }
    }
    Ok(())
}
