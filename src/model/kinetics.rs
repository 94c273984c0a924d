//! The interface between the dosing-event engine and a model's solution: a
//! state that can be advanced over an interval with constant input rates,
//! receive bolus amounts, and report the central concentration.

use crate::autodiff::Real;

/// Maximum number of states: a depot plus three disposition compartments for
/// the closed forms, and up to this many for user ODEs.
pub const MAX_STATES: usize = 12;

/// A model state. Its meaning is private to each [`Kinetics`]
/// (modal amplitudes for the closed form, amounts for the ODE path).
pub type State<T = f64> = [T; MAX_STATES];

/// Zero-order input rates per state index (0 depot, 1 central, 2–3 peripheral), amount/time.
pub type Rates<T = f64> = [T; MAX_STATES];

/// A model solution that the event engine can drive from event to event, in
/// values (`T = f64`) or carrying derivatives (`T = Dual`, [`crate::autodiff`]).
pub trait Kinetics<T: Real = f64> {
    /// Sets the zero-order input rates that apply from now on.
    fn set_rates(&mut self, rates: &Rates<T>);
    /// Advances `state` by `dt` (≥ 0) under the current input rates.
    /// Returns a message if the solver fails.
    fn advance(&mut self, state: &mut State<T>, dt: f64) -> Result<(), String>;
    /// Adds an amount instantaneously to state index `target`.
    fn add_amount(&self, state: &mut State<T>, target: usize, amount: T);
    /// Central concentration in model amount/volume units.
    fn concentration(&self, state: &State<T>) -> T;
    /// Compartment amounts (depot, central, peripheral…) in model amount units.
    fn amounts(&self, state: &State<T>) -> State<T>;
    /// Whether the state evolves linearly (superposition and exact steady state hold).
    fn is_linear(&self) -> bool;
    /// Tells the kinetics the time at which the next advance starts (for
    /// right-hand sides that read the time).
    fn at_time(&mut self, _t: f64) {}
    /// Advances `state` by `dt` to an output time only: nothing changes there,
    /// and the next change of state or input comes `horizon` (≥ dt) from now.
    /// A numerical solver may step past the output and interpolate.
    fn advance_to_output(&mut self, state: &mut State<T>, dt: f64, _horizon: f64) -> Result<(), String> {
        self.advance(state, dt)
    }
    /// Switches to parameter set `set` (a record whose parameters differ from
    /// the previous one's), converting `state` if its meaning changes.
    fn switch(&mut self, _set: usize, _state: &mut State<T>) -> Result<(), String> {
        Ok(())
    }
    /// The value reported for output slot `slot` at time `t`: by default the
    /// central concentration.
    fn observe(&mut self, _slot: usize, state: &State<T>, _t: f64) -> Result<T, String> {
        Ok(self.concentration(state))
    }
}
