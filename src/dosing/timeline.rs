//! The timeline of a subject: dose records, observations and resets expanded
//! into primitive actions (bolus, infusion on/off, steady state, observe) in
//! the order NONMEM processes them.
//!
//! Ordering at equal times: events implied by earlier records (additional doses,
//! lagged doses, infusion ends) come before the records at that time; records
//! keep their file order, and a record's own dose precedes its prediction.
//! A reset (EVID 3/4, or SS=1) cancels doses and infusions still pending from
//! earlier records. Time may go back only at a reset record.

use super::dose::{Dose, Input, SteadyState};

/// One event of a subject's history, in record order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A prediction is wanted at `time`, written to output slot `slot`.
    Observe {
        /// Time.
        time: f64,
        /// Output slot.
        slot: usize,
    },
    /// A dose record (EVID 1), or with `reset` a reset-and-dose record (EVID 4).
    Dose {
        /// The dose.
        dose: Dose,
        /// Whether the system is reset first (EVID 4).
        reset: bool,
    },
    /// A reset record (EVID 3).
    Reset {
        /// Time.
        time: f64,
    },
    /// From here on (after the records at `time`), parameter set `set` applies.
    Switch {
        /// Time.
        time: f64,
        /// Parameter set.
        set: usize,
    },
}

impl Event {
    /// Time of the event record.
    pub fn time(&self) -> f64 {
        match self {
            Event::Observe { time, .. } | Event::Reset { time } | Event::Switch { time, .. } => *time,
            Event::Dose { dose, .. } => dose.time,
        }
    }
}

/// What the steady-state action must establish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SteadyStateSpec {
    /// The repeated dose (its `time` is the phase origin).
    pub dose: Dose,
    /// Reset to, or add, the steady state.
    pub mode: SteadyState,
}

/// A primitive action of the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActionKind {
    /// Record the central concentration in output slot.
    Observe(usize),
    /// Add an amount to a state.
    Bolus {
        /// State index.
        target: usize,
        /// Amount.
        amount: f64,
    },
    /// Start infusion `id`.
    InfusionOn {
        /// Infusion id.
        id: usize,
        /// State index.
        target: usize,
        /// Rate.
        rate: f64,
    },
    /// Stop infusion `id` if it is still running.
    InfusionOff {
        /// Infusion id.
        id: usize,
    },
    /// Zero all states and stop all infusions.
    Reset,
    /// Establish the steady state `Timeline::steady_states[index]`.
    SteadyState(usize),
    /// Switch to parameter set `set` (see [`Event::Switch`]).
    Switch(usize),
}

/// An action at a time, tagged with the reset epoch it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Action {
    /// Time.
    pub time: f64,
    /// Reset epoch at which the action was scheduled; doses of an earlier epoch
    /// than the current one are cancelled.
    pub epoch: u32,
    /// What to do.
    pub kind: ActionKind,
}

/// A subject's actions in processing order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// The actions.
    pub actions: Vec<Action>,
    /// Number of output slots.
    pub n_slots: usize,
    /// Steady states referred to by `ActionKind::SteadyState` (kept apart so
    /// that actions stay small).
    pub steady_states: Vec<SteadyStateSpec>,
}

/// Sort key: time, then implied events (0) before records (1), then sequence.
type Keyed = (f64, u8, usize, Action);

struct Builder {
    keyed: Vec<Keyed>,
    steady_states: Vec<SteadyStateSpec>,
    seq: usize,
    next_infusion: usize,
    epoch: u32,
}

impl Builder {
    fn push(&mut self, time: f64, implied: bool, kind: ActionKind) {
        self.seq += 1;
        let action = Action {
            time,
            epoch: self.epoch,
            kind,
        };
        self.keyed.push((time, u8::from(!implied), self.seq, action));
    }

    /// Schedules one administration of `dose` at `start` (already lagged).
    fn administer(&mut self, dose: &Dose, start: f64, implied: bool) {
        match dose.input {
            Input::Bolus => {
                if dose.amount != 0.0 {
                    self.push(
                        start,
                        implied,
                        ActionKind::Bolus {
                            target: dose.target,
                            amount: dose.amount,
                        },
                    );
                }
            }
            Input::Infusion { rate, duration } => {
                if rate == 0.0 || duration <= 0.0 {
                    return;
                }
                let id = self.next_infusion;
                self.next_infusion += 1;
                self.push(
                    start,
                    implied,
                    ActionKind::InfusionOn {
                        id,
                        target: dose.target,
                        rate,
                    },
                );
                if duration.is_finite() {
                    self.push(start + duration, true, ActionKind::InfusionOff { id });
                }
            }
        }
    }

    fn dose(&mut self, dose: &Dose) {
        let t = dose.time;
        let constant_infusion = is_constant_infusion(dose);
        if constant_infusion || (dose.steady_state != SteadyState::No && dose.interval > 0.0) {
            if dose.steady_state == SteadyState::Reset {
                self.epoch += 1;
            }
            self.steady_states.push(SteadyStateSpec {
                dose: *dose,
                mode: dose.steady_state,
            });
            self.push(t, false, ActionKind::SteadyState(self.steady_states.len() - 1));
            self.spill_over(dose);
        }
        if constant_infusion {
            return;
        }
        for k in 0..=dose.additional {
            let start = t + f64::from(k) * dose.interval + dose.lag;
            let implied = k > 0 || dose.lag > 0.0;
            self.administer(dose, start, implied);
        }
    }

    /// Infusions of past steady-state doses still running at the dose time.
    fn spill_over(&mut self, dose: &Dose) {
        let Input::Infusion { rate, duration } = dose.input else {
            return;
        };
        if duration.is_infinite() {
            // NONMEM sets the steady state of a constant infusion (SS=1, AMT=0)
            // but does not continue the infusion after the record: the
            // concentration decays from the steady state (nmtests ID 29).
            return;
        }
        let ii = dose.interval;
        let mut k = 1u32;
        loop {
            let start = dose.time + dose.lag - f64::from(k) * ii;
            let end = start + duration;
            if end <= dose.time {
                break;
            }
            if start < dose.time {
                let id = self.next_infusion;
                self.next_infusion += 1;
                self.push(
                    dose.time,
                    false,
                    ActionKind::InfusionOn {
                        id,
                        target: dose.target,
                        rate,
                    },
                );
                self.push(end, true, ActionKind::InfusionOff { id });
            }
            k += 1;
            if k > 100_000 {
                break;
            }
        }
    }
}

/// A steady-state constant infusion: SS=1, AMT=0, RATE>0 (sets the state only).
fn is_constant_infusion(dose: &Dose) -> bool {
    matches!(dose.input, Input::Infusion { duration, .. } if duration.is_infinite())
        && dose.steady_state != SteadyState::No
}

impl Timeline {
    /// Builds the timeline from events in record order. Times must not
    /// decrease except at a reset (the caller validates this with record
    /// locations; here a decrease simply starts a new segment).
    pub fn build(events: &[Event]) -> Timeline {
        let mut b = Builder {
            steady_states: Vec::new(),
            keyed: Vec::with_capacity(events.len() * 2),
            seq: 0,
            next_infusion: 0,
            epoch: 0,
        };
        let mut segments: Vec<Vec<Keyed>> = Vec::new();
        let mut n_slots = 0;
        for ev in events {
            match ev {
                Event::Observe { time, slot } => {
                    n_slots = n_slots.max(slot + 1);
                    b.push(*time, false, ActionKind::Observe(*slot));
                }
                Event::Switch { time, set } => b.push(*time, false, ActionKind::Switch(*set)),
                Event::Reset { time } => {
                    segments.push(std::mem::take(&mut b.keyed));
                    b.epoch += 1;
                    b.push(*time, false, ActionKind::Reset);
                }
                Event::Dose { dose, reset } => {
                    if *reset {
                        segments.push(std::mem::take(&mut b.keyed));
                        b.epoch += 1;
                        b.push(dose.time, false, ActionKind::Reset);
                    }
                    b.dose(dose);
                }
            }
        }
        segments.push(b.keyed);
        let last = segments.len() - 1;
        for seg in &mut segments[..last] {
            // Implied events after a segment's last record would fall after the
            // reset that closes it: they are cancelled by that reset.
            let last_record = seg
                .iter()
                .filter(|k| k.1 == 1)
                .map(|k| k.0)
                .fold(f64::NEG_INFINITY, f64::max);
            seg.retain(|k| k.1 == 1 || k.0 <= last_record);
        }
        let mut actions = Vec::with_capacity(segments.iter().map(Vec::len).sum());
        for mut seg in segments {
            seg.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            actions.extend(seg.into_iter().map(|k| k.3));
        }
        Timeline {
            actions,
            n_slots,
            steady_states: b.steady_states,
        }
    }
}
