//! A dose after resolution of bioavailability, lag time, rate and duration.

/// How a dose enters its compartment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// Instantaneous.
    Bolus,
    /// Zero-order at `rate` (amount/time) for `duration`; `duration` is infinite
    /// for a steady-state constant infusion (SS=1 with AMT=0).
    Infusion {
        /// Amount per unit time.
        rate: f64,
        /// Length of the infusion.
        duration: f64,
    },
}

/// NONMEM's SS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteadyState {
    /// SS=0: an ordinary dose.
    No,
    /// SS=1: reset the system to the steady state of this dose repeated every II.
    Reset,
    /// SS=2: add the steady state of this dose to the current state.
    Add,
}

/// A resolved dose: its amount already multiplied by the bioavailability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dose {
    /// Time of the dose record (before the lag time).
    pub time: f64,
    /// State index receiving the dose (0 depot, 1 central, …).
    pub target: usize,
    /// Amount entering the system (F × AMT).
    pub amount: f64,
    /// Bolus or infusion.
    pub input: Input,
    /// Lag time: the dose enters at `time + lag`.
    pub lag: f64,
    /// Steady-state mode.
    pub steady_state: SteadyState,
    /// Interdose interval for ADDL and SS.
    pub interval: f64,
    /// Number of additional doses every `interval` after this one.
    pub additional: u32,
}

impl Dose {
    /// An ordinary bolus of `amount` into `target` at `time`.
    pub fn bolus(time: f64, target: usize, amount: f64) -> Self {
        Dose {
            time,
            target,
            amount,
            input: Input::Bolus,
            lag: 0.0,
            steady_state: SteadyState::No,
            interval: 0.0,
            additional: 0,
        }
    }

    /// An ordinary infusion of `amount` over `duration` into `target` at `time`.
    pub fn infusion(time: f64, target: usize, amount: f64, duration: f64) -> Self {
        Dose {
            input: Input::Infusion {
                rate: amount / duration,
                duration,
            },
            ..Dose::bolus(time, target, amount)
        }
    }

    /// Repeats the dose `additional` more times every `interval`.
    pub fn repeated(mut self, interval: f64, additional: u32) -> Self {
        self.interval = interval;
        self.additional = additional;
        self
    }
}
