//! ODE integration for user-written models: dy/dt = f(t, y) with a
//! dimension fixed when the integrator is built, independent of any PK
//! concept. The caller (an event engine) drives it from stop to stop.
//!
//! # Contract of [`Integrator::advance`]
//!
//! `advance(sys, t0, y, t1, stop)` integrates from (t0, y) to t1 and returns
//! y(t1) in `y`. Between calls the integrator keeps its own position: the end
//! of its last accepted step, with the state and the derivative there, and
//! the step size it would try next.
//!
//! * [`Stop::Hard`]: the integrator lands exactly on t1 (the step that would
//!   pass it is shortened, or stretched by at most 1 %, to end there). The
//!   caller may then change y or the system; the next call always restarts
//!   the first stage from the caller's (t0, y), keeping the step size (no
//!   initial-step heuristic except on the very first step or after
//!   [`Integrator::reset_all`]).
//! * [`Stop::Soft`] `{ horizon }`: steps may pass t1 but never `horizon`
//!   (the caller's next hard stop); y(t1) comes from the continuous extension
//!   of the step covering t1 (order 4 for Dopri5, 3 for RODAS). The next call
//!   resumes the step in flight, and so costs nothing while its target is
//!   still inside that step, if and only if
//!   - its `t0` equals the previous t1 and its `y` is bit-for-bit the value
//!     returned (the caller changed nothing),
//!   - [`Integrator::reset`] was not called in between, and
//!   - the step in flight does not extend past the new call's horizon.
//!
//!   Otherwise it restarts from (t0, y): a caller that adds a dose to y at an
//!   output time without declaring a hard stop gets a correct result, at the
//!   price of a restart. What the integrator cannot see is a change of the
//!   *system* (an infusion rate) at a soft output time with y unchanged: the
//!   caller must call [`Integrator::reset`] then, or better make that time a
//!   hard stop.
//! * On error `y` is left as passed and the next call restarts.
//!
//! ```
//! use pk::ode::{Integrator, Method, OdeSystem, Stop, Tolerances};
//! /// One compartment with a zero-order input: dA/dt = rate − k·A.
//! struct OneCmt { k: f64, rate: f64 }
//! impl OdeSystem for OneCmt {
//!     fn dim(&self) -> usize { 1 }
//!     fn rhs(&mut self, _t: f64, a: &[f64], da: &mut [f64]) { da[0] = self.rate - self.k * a[0]; }
//! }
//! let mut sys = OneCmt { k: 0.1, rate: 10.0 }; // infusion running from t = 0 to 2
//! let mut it = Integrator::new(1, Method::Auto, Tolerances { rtol: 1e-6, atol: 1e-9 }).unwrap();
//! let mut a = [0.0];
//! it.advance(&mut sys, 0.0, &mut a, 1.0, Stop::Soft { horizon: 2.0 }).unwrap(); // output at 1 h
//! it.advance(&mut sys, 1.0, &mut a, 2.0, Stop::Hard).unwrap(); // infusion ends at 2 h
//! sys.rate = 0.0;
//! it.advance(&mut sys, 2.0, &mut a, 5.0, Stop::Soft { horizon: f64::INFINITY }).unwrap();
//! let exact = 100.0 * (1.0 - (-0.2f64).exp()) * (-0.3f64).exp();
//! assert!((a[0] - exact).abs() < 1e-5 * exact);
//! ```
//!
//! # Methods, and which one [`Method::Auto`] picks
//!
//! * **Dopri5**: Dormand–Prince 5(4) as in Hairer's DOPRI5 (PI step control,
//!   β = 0.04), with its order-4 continuous extension. Right for PK models:
//!   linear, saturable (Michaelis–Menten), absorption and transit chains.
//! * **Rodas4**: the Rosenbrock method RODAS of Hairer & Wanner (order 4(3),
//!   L-stable, stiffly accurate, order-3 continuous extension; `rodas.f`
//!   coefficients). One Jacobian (analytic from [`OdeSystem::jacobian`] or
//!   forward differences) and one LU factorisation per step, no Newton
//!   iteration. Right for stiff models: target-mediated disposition, fast
//!   binding or receptor equilibria, stiff PD.
//! * **Auto** runs Dopri5 and applies Hairer's stiffness test after every
//!   accepted step; once h·|λ| > 3.25 on 15 steps (6 consecutive non-stiff
//!   steps clear the count) it switches to RODAS for the rest of the
//!   integrator's life ([`Stats::stiff_from`] records when), until
//!   [`Integrator::reset_all`]. It never switches back: in the models meant
//!   (binding, TMDD) the fast time scale persists across the profile, and a
//!   switch back would need a second test and risk oscillating. Measured: the
//!   2-compartment profile below stays on Dopri5; the TMDD profile switches
//!   within its first hour, Robertson's problem at t ≈ 0.045.
//!
//! Tolerances are scalar (`rtol`, `atol` in state units); a step is accepted
//! when the RMS over states of err / (atol + rtol·|y|) is ≤ 1. Dimensions 1–6
//! run kernels unrolled at compile time (const-generic dispatch), larger ones
//! a general loop. Nothing is allocated after [`Integrator::new`].
//!
//! # Why these methods are implemented here (measured, 2026-11)
//!
//! **`ode_solvers` 0.6** (already a dependency; read from its source): a
//! `Dopri5` object owns the system, the state and the end time, and
//! `integrate()` runs from start to end in one call. There is no public way to
//! take a step, move the end time, or keep the step size and the last stage
//! for the next call, so every event *and every output* needs a new solver:
//! a new initial-step estimate, a new first stage, output points forced onto
//! step boundaries, and 7 stage vectors allocated per call. Its dense output
//! is either a fixed grid or a `ContinuousOutputModel` storing every step
//! (5 vectors allocated per step); the engine's `model::ode` notes a wrong
//! final point with it in 0.6.2. `System::system` takes `&self` (an evaluator
//! that keeps registers needs interior mutability), there is no stiff
//! method and its stiffness test aborts the integration. On the bench
//! profile, driven the only way it allows, it takes 3 168 right-hand-side
//! calls against 1 469 here, and about 2.6× the time (table below).
//!
//! **`diffsol` 0.18** (tried in a scratch crate, not added): it builds here,
//! even with only its `nalgebra` feature, but adds 58 crates to the engine's
//! dependency tree (`faer`, 6 `gemm` and 7 `nano-gemm` crates, `pulp`,
//! `petgraph`, a second `nalgebra` 0.35 and `simba` beside the engine's
//! 0.34, …); a fresh release build of the scratch crate (diffsol and all its
//! dependencies) took 1 min 24 s wall, 2 min 15 s CPU, on this 2-core
//! machine. Its API can serve
//! events (`set_stop_time`, `step`, `interpolate`, `state_mut`), but the
//! problem owns the right-hand side as `Fn` closures and the solver borrows
//! the problem for its whole life, so the caller's `&mut` system cannot be
//! lent per call (event-changed rates need `Rc<Cell<…>>`), and after a dose
//! the derivative in the solver state must be recomputed by hand (its
//! `state_mut` does not refresh it, read from the source). Measured on
//! the same profiles (right-hand sides natively in Rust, best of 3–5 runs,
//! loaded machine): 2-compartment TSIT45 43 µs (1 316 calls), BDF 159 µs,
//! TR-BDF2 467 µs; TMDD BDF 518 µs (1 158 steps, analytic Jacobian–vector
//! products), ESDIRK34 1 216 µs, TR-BDF2 1 431 µs — against 26–27 µs and
//! 290–355 µs here. For systems of a few states its generic linear-algebra
//! layers cost more than the arithmetic.
//!
//! Hence a compact Dormand–Prince and a compact Rosenbrock method, each a
//! few hundred lines, tested against exact solutions (`src/ode/tests.rs`,
//! `tests/ode_integrator.rs`).
//!
//! # Speed (`cargo bench --bench ode`)
//!
//! 2-compartment IV model in amounts (CL 20, V1 50, Q 30, V2 130), 5 infusions
//! of 100 mg over 2 h every 24 h (10 hard stops), 100 soft outputs over
//! 0–120 h, rtol 1e-6, atol 1e-9; right-hand side in Rust; criterion medians
//! of two consecutive runs on the shared 2-core machine (load average ≈ 3):
//!
//! | integration | rhs calls | time per profile |
//! |---|---|---|
//! | Dopri5 (and Auto, which stays on it) | 1 469 (226 steps + 17 rejected) | 26.2–27.1 µs (≈163 000 instructions) |
//! | Dopri5 with every output a hard stop | 1 915 | 31.6–35.0 µs |
//! | RODAS on the same (not stiff) model | 2 886 (finite-difference Jacobian) | 59–66 µs |
//! | `ode_solvers` Dopri5 rebuilt per segment | 3 168 | 68–71 µs |
//!
//! TMDD (3 states, kon·R up to 10⁴/h), two 100 nM boluses, 100 outputs over
//! 0–168 h, same tolerances: RODAS 1 353 steps, 12 142 calls (8 110 with the
//! analytic Jacobian), 318–355 µs (290–304 µs analytic); Auto the same after
//! switching, 290–301 µs; Dopri5 alone 72 331 steps, 434 031 calls, 7.0–7.2 ms.
//!
//! What made it fast: the continuous extension (outputs cost no steps and no
//! stage evaluations), the warm step size and last stage, stage loops unrolled
//! for small dimensions (−18 % instructions for 2 states; RODAS on 3 states
//! 2.5× fewer), the controller's powers as exp(a·ln x) (`powf` was a fifth of
//! the time), the accepted state swapped rather than copied, the continuous
//! extension built only for steps that contain an output, and reciprocal
//! pivots in the LU solves.

/// `$this.$method::<N, $s>($args)` with the dimension `$n` as a constant for
/// N = 1..6 (the stage loops unroll), or N = 0 (dimension known at run time).
macro_rules! by_dimension {
    ($n:expr, $this:ident . $method:ident :: <$s:ty> ($args:expr)) => {
        match $n {
            1 => $this.$method::<1, $s>($args),
            2 => $this.$method::<2, $s>($args),
            3 => $this.$method::<3, $s>($args),
            4 => $this.$method::<4, $s>($args),
            5 => $this.$method::<5, $s>($args),
            6 => $this.$method::<6, $s>($args),
            _ => $this.$method::<0, $s>($args),
        }
    };
}

mod dopri5;
mod lu;
mod rodas;
#[cfg(test)]
mod tests;

use dopri5::Dopri5;
use rodas::Rodas;

/// A right-hand side dy/dt = f(t, y), dimension fixed for the system's life.
pub trait OdeSystem {
    /// Number of states.
    fn dim(&self) -> usize;
    /// Writes f(t, y) into `dy` (both of length [`OdeSystem::dim`]).
    fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]);
    /// Optional analytic Jacobian ∂f/∂y at (t, y), row-major: `jac[i * dim + j] = ∂fᵢ/∂yⱼ`.
    /// Returns `false` (the default) when not provided: the stiff method then
    /// uses forward differences (`dim` extra right-hand-side calls per step).
    fn jacobian(&mut self, _t: f64, _y: &[f64], _jac: &mut [f64]) -> bool {
        false
    }
    /// Whether f does not depend on t explicitly between two hard stops.
    /// The default, `false`, is always safe; `true` saves the stiff method one
    /// right-hand-side call per step (its ∂f/∂t term).
    fn autonomous(&self) -> bool {
        false
    }
}

/// Integration method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Dormand–Prince 5(4), explicit, with a continuous extension of order 4.
    /// For non-stiff problems (linear and saturable PK).
    Dopri5,
    /// RODAS, a Rosenbrock method of order 4(3): L-stable, stiffly accurate,
    /// continuous extension of order 3. For stiff problems (target-mediated
    /// disposition, fast binding equilibria).
    Rodas4,
    /// Starts with [`Method::Dopri5`] and switches to [`Method::Rodas4`] for
    /// the rest of the integrator's life (until [`Integrator::reset_all`]) once
    /// Hairer's stiffness test fires: the estimate of h·|λ| from the last two
    /// Dormand–Prince stages exceeds 3.25 on 15 accepted steps with fewer than
    /// 6 consecutive non-stiff steps in between.
    Auto,
}

/// Error tolerances: a step is accepted when the root-mean-square over the
/// states of errᵢ / (atol + rtol·|yᵢ|) is at most 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance, in [0, 1).
    pub rtol: f64,
    /// Absolute tolerance (state units), > 0.
    pub atol: f64,
}

/// Limits of the integration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Largest step size (default: unbounded).
    pub h_max: f64,
    /// Most step attempts (accepted or rejected) in one [`Integrator::advance`]
    /// call before [`OdeError::TooManySteps`] (default 500 000).
    pub max_steps: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            h_max: f64::INFINITY,
            max_steps: 500_000,
        }
    }
}

/// What the target time of [`Integrator::advance`] is to the integration.
///
/// Richer than a `hard_stop: bool`: a soft stop must also know how far the
/// integration may step, or a step taken past an output could straddle a
/// dose the integrator has not yet been told about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// The state or the right-hand side changes at t1 (dose, infusion start or
    /// stop): the integrator lands exactly on t1 and the next call restarts
    /// from the caller's (t0, y) with a fresh first stage.
    Hard,
    /// t1 is an output time only. Steps may pass t1, up to `horizon` and never
    /// beyond it; y(t1) is then the continuous extension of the step that
    /// covers t1. `horizon` is the next time at which the state or the
    /// right-hand side will change (the next hard stop), or
    /// `f64::INFINITY` if none is known; it must be ≥ t1.
    Soft {
        /// Time the integration must not step past.
        horizon: f64,
    },
}

/// Counts of work since the integrator was built.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Right-hand-side evaluations (including finite-difference Jacobians).
    pub rhs_calls: u64,
    /// Jacobian evaluations (stiff method).
    pub jacobians: u64,
    /// LU factorisations (stiff method).
    pub factorizations: u64,
    /// Accepted steps.
    pub accepted_steps: u64,
    /// Rejected steps.
    pub rejected_steps: u64,
    /// Time at which [`Method::Auto`] switched to the stiff method, if it did.
    pub stiff_from: Option<f64>,
}

/// Why an integration failed or was refused. Failures during integration
/// carry the time reached.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum OdeError {
    /// The step size fell below what the time's floating-point resolution allows.
    #[error("ODE step size too small at t = {time}")]
    StepSizeTooSmall {
        /// Time reached.
        time: f64,
    },
    /// [`Options::max_steps`] step attempts in one call did not reach the target.
    #[error("too many ODE steps: stopped at t = {time}")]
    TooManySteps {
        /// Time reached.
        time: f64,
    },
    /// The right-hand side or the state became NaN or infinite.
    #[error("the ODE right-hand side or state is not finite at t = {time}")]
    NonFinite {
        /// Time reached (start of the step that failed).
        time: f64,
    },
    /// A tolerance, option or dimension was refused when the integrator was built.
    #[error("invalid ODE integrator setting: {reason}")]
    InvalidSetting {
        /// Which setting and why.
        reason: &'static str,
    },
    /// An argument of [`Integrator::advance`] was refused.
    #[error("invalid ODE integration request at t = {time}: {reason}")]
    InvalidCall {
        /// The call's start time.
        time: f64,
        /// Which argument and why.
        reason: &'static str,
    },
}

/// A warm, allocation-free (after construction) integrator for one system
/// dimension. It keeps its step size, its last accepted step and its
/// workspace between calls; see the module documentation for the contract.
#[derive(Debug, Clone)]
pub struct Integrator {
    dim: usize,
    method: Method,
    tol: Tolerances,
    opts: Options,
    /// The stiff method is the one stepping.
    stiff: bool,
    /// End of the last accepted step (the integration's own position).
    t: f64,
    y: Vec<f64>,
    /// f(t, y), valid when `f_valid`.
    f: Vec<f64>,
    f_valid: bool,
    /// Proposed next step size (0: unknown, estimated at the next step).
    h: f64,
    /// Continuous extension of the last accepted step [t_old, t_old + h_old].
    dense_valid: bool,
    dense_stiff: bool,
    /// `cont` holds the coefficients (built on the first output inside the step).
    dense_built: bool,
    t_old: f64,
    h_old: f64,
    cont: Vec<f64>,
    /// The caller's last soft output, which a next call may resume from.
    live: bool,
    t_ret: f64,
    y_ret: Vec<f64>,
    /// The previous attempt was rejected (and whether for a non-finite value).
    after_reject: bool,
    nonfinite_reject: bool,
    scratch_y: Vec<f64>,
    scratch_f: Vec<f64>,
    dopri: Dopri5,
    rodas: Option<Rodas>,
    stats: Stats,
}

impl Integrator {
    /// An integrator with default [`Options`]. Refuses a zero dimension,
    /// atol ≤ 0 and rtol outside [0, 1).
    pub fn new(dim: usize, method: Method, tol: Tolerances) -> Result<Self, OdeError> {
        Self::with_options(dim, method, tol, Options::default())
    }

    /// An integrator with explicit [`Options`] (h_max > 0, max_steps ≥ 1).
    pub fn with_options(dim: usize, method: Method, tol: Tolerances, opts: Options) -> Result<Self, OdeError> {
        let invalid = |reason| Err(OdeError::InvalidSetting { reason });
        if dim == 0 {
            return invalid("the dimension must be at least 1");
        }
        if !(tol.rtol >= 0.0 && tol.rtol < 1.0) {
            return invalid("rtol must be in [0, 1)");
        }
        if !(tol.atol > 0.0) || !tol.atol.is_finite() {
            return invalid("atol must be positive and finite");
        }
        if !(opts.h_max > 0.0) {
            return invalid("h_max must be positive");
        }
        if opts.max_steps == 0 {
            return invalid("max_steps must be at least 1");
        }
        Ok(Integrator {
            dim,
            method,
            tol,
            opts,
            stiff: method == Method::Rodas4,
            t: 0.0,
            y: vec![0.0; dim],
            f: vec![0.0; dim],
            f_valid: false,
            h: 0.0,
            dense_valid: false,
            dense_stiff: false,
            dense_built: false,
            t_old: 0.0,
            h_old: 0.0,
            cont: vec![0.0; 5 * dim],
            live: false,
            t_ret: 0.0,
            y_ret: vec![0.0; dim],
            after_reject: false,
            nonfinite_reject: false,
            scratch_y: vec![0.0; dim],
            scratch_f: vec![0.0; dim],
            dopri: Dopri5::new(dim),
            rodas: (method != Method::Dopri5).then(|| Rodas::new(dim)),
            stats: Stats::default(),
        })
    }

    /// Integrates `y` from `t0` to `t1` (≥ t0); on success `y` holds y(t1).
    ///
    /// `y` is the state at `t0`. The integrator resumes its own in-flight
    /// step instead of restarting when (`t0`, `y`) are bit-for-bit the values
    /// the previous call returned for a [`Stop::Soft`] target, no
    /// [`Integrator::reset`] came in between and that step does not extend
    /// past this call's horizon; otherwise it restarts from (`t0`, `y`) with
    /// a fresh first stage, keeping its step size. On error `y` is left as
    /// passed and the next call restarts.
    pub fn advance<S: OdeSystem + ?Sized>(
        &mut self,
        sys: &mut S,
        t0: f64,
        y: &mut [f64],
        t1: f64,
        stop: Stop,
    ) -> Result<(), OdeError> {
        let bad = |reason| Err(OdeError::InvalidCall { time: t0, reason });
        if y.len() != self.dim || sys.dim() != self.dim {
            return bad("the state or the system does not have the integrator's dimension");
        }
        if !t0.is_finite() || !t1.is_finite() {
            return bad("times must be finite");
        }
        if t1 < t0 {
            return bad("t1 is before t0 (only forward integration)");
        }
        let horizon = match stop {
            Stop::Hard => t1,
            Stop::Soft { horizon } if horizon >= t1 => horizon,
            Stop::Soft { .. } => return bad("the horizon of a soft stop is before t1"),
        };
        let resume = self.live && t0 == self.t_ret && self.t <= horizon && *y == *self.y_ret;
        if !resume {
            self.restart_at(t0, y);
        }
        self.live = false;
        self.run(sys, t1, horizon, y)?;
        if let Stop::Soft { .. } = stop {
            self.live = true;
            self.t_ret = t1;
            self.y_ret.copy_from_slice(y);
        }
        Ok(())
    }

    /// Forgets the in-flight step: the next [`Integrator::advance`] restarts
    /// from its (t0, y) even if they match the last output. Needed only when
    /// the system itself changed at a soft output time (a change at a hard
    /// stop, or a changed y, is already a restart). Keeps the step size.
    pub fn reset(&mut self) {
        self.live = false;
        self.f_valid = false;
    }

    /// As [`Integrator::reset`], and also forgets the step size, the
    /// controllers' history and [`Method::Auto`]'s stiffness verdict: the next
    /// call starts as on a new integrator (e.g. for a new subject). The
    /// statistics are kept.
    pub fn reset_all(&mut self) {
        self.reset();
        self.h = 0.0;
        self.stiff = self.method == Method::Rodas4;
        self.dopri.clear_history();
        if let Some(r) = self.rodas.as_mut() {
            r.clear_history();
        }
    }

    /// Work counts since construction.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The method chosen at construction.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method stepping now: [`Method::Dopri5`] or [`Method::Rodas4`].
    pub fn active_method(&self) -> Method {
        if self.stiff {
            Method::Rodas4
        } else {
            Method::Dopri5
        }
    }

    /// The step size the next step will try (0 before the first step).
    pub fn step_size(&self) -> f64 {
        self.h
    }

    /// Starts the integration afresh at (t0, y).
    fn restart_at(&mut self, t0: f64, y: &[f64]) {
        self.t = t0;
        self.y.copy_from_slice(y);
        self.f_valid = false;
        self.dense_valid = false;
        self.after_reject = false;
        self.nonfinite_reject = false;
        if let Some(r) = self.rodas.as_mut() {
            r.clear_history();
        }
    }

    /// Steps until the integration reaches or passes t1 (never past
    /// `horizon`), then writes y(t1).
    fn run<S: OdeSystem + ?Sized>(
        &mut self,
        sys: &mut S,
        t1: f64,
        horizon: f64,
        y: &mut [f64],
    ) -> Result<(), OdeError> {
        let mut attempts = 0u64;
        while self.t < t1 {
            if attempts == self.opts.max_steps {
                return Err(OdeError::TooManySteps { time: self.t });
            }
            attempts += 1;
            self.attempt(sys, t1, horizon)?;
        }
        if self.t == t1 {
            y.copy_from_slice(&self.y);
        } else {
            debug_assert!(self.dense_valid && self.t_old <= t1);
            if !self.dense_built {
                if self.dense_stiff {
                    if let Some(r) = &self.rodas {
                        r.dense(&self.y, &mut self.cont);
                    }
                } else {
                    self.dopri.dense(&self.y, &self.f, self.h_old, &mut self.cont);
                }
                self.dense_built = true;
            }
            let s = (t1 - self.t_old) / self.h_old;
            if self.dense_stiff {
                rodas::interpolate(&self.cont, s, y);
            } else {
                dopri5::interpolate(&self.cont, s, y);
            }
        }
        Ok(())
    }

    /// One step attempt from the integration's position.
    fn attempt<S: OdeSystem + ?Sized>(&mut self, sys: &mut S, t1: f64, horizon: f64) -> Result<(), OdeError> {
        let t = self.t;
        if !self.f_valid {
            sys.rhs(t, &self.y, &mut self.f);
            self.stats.rhs_calls += 1;
            if !self.y.iter().chain(&self.f).all(|v| v.is_finite()) {
                return Err(OdeError::NonFinite { time: t });
            }
            self.f_valid = true;
        }
        if !(self.h > 0.0) {
            self.h = self.initial_step(sys, (t1 - t).min(self.opts.h_max));
        }
        let mut h = self.h.min(self.opts.h_max);
        let landing = t + 1.01 * h >= horizon;
        if landing {
            h = horizon - t;
        } else if 0.1 * h <= f64::EPSILON * t.abs() {
            return Err(if self.nonfinite_reject {
                OdeError::NonFinite { time: t }
            } else {
                OdeError::StepSizeTooSmall { time: t }
            });
        }
        let t_end = if landing { horizon } else { t + h };
        let err = if self.stiff {
            let r = self.rodas.get_or_insert_with(|| Rodas::new(self.dim));
            if !r.jac_current {
                r.jacobian(
                    sys,
                    &mut self.stats.rhs_calls,
                    &mut self.stats.jacobians,
                    t,
                    &self.y,
                    &self.f,
                );
            }
            r.attempt(
                sys,
                &mut self.stats.rhs_calls,
                &mut self.stats.factorizations,
                t,
                &self.y,
                &self.f,
                h,
                t_end,
                &self.tol,
            )
        } else {
            Ok(self
                .dopri
                .attempt(sys, &mut self.stats.rhs_calls, t, &self.y, &self.f, h, t_end, &self.tol))
        };
        match err {
            Ok(err) if err <= 1.0 => {
                self.accept(err, h, t_end, landing);
                Ok(())
            }
            Ok(err) => {
                self.nonfinite_reject = !err.is_finite();
                self.h = if self.nonfinite_reject {
                    0.2 * h
                } else if self.stiff {
                    self.rodas.as_mut().map_or(0.2 * h, |r| r.control(err, h, false, false))
                } else {
                    self.dopri.control(err, h, false, false)
                };
                self.after_reject = true;
                self.stats.rejected_steps += 1;
                Ok(())
            }
            Err(rodas::Failure::Singular) => {
                self.h = 0.5 * h;
                self.after_reject = true;
                self.nonfinite_reject = false;
                self.stats.rejected_steps += 1;
                Ok(())
            }
        }
    }

    /// Takes the attempted step of size h ending at `t_end`. The new state
    /// is swapped in, not copied; the continuous extension is built only if
    /// an output falls inside the step.
    fn accept(&mut self, err: f64, h: f64, t_end: f64, landing: bool) {
        let h_next;
        if self.stiff {
            let r = self.rodas.as_mut().expect("the stiff method has a workspace");
            h_next = r.control(err, h, true, self.after_reject);
            std::mem::swap(&mut self.y, &mut r.y_new);
            r.jac_current = false;
            self.f_valid = false;
            self.dense_stiff = true;
        } else {
            h_next = self.dopri.control(err, h, true, self.after_reject);
            if self.method == Method::Auto && self.dopri.stiffness_test(h) {
                self.stiff = true;
                self.stats.stiff_from = Some(t_end);
            }
            std::mem::swap(&mut self.y, &mut self.dopri.y_new);
            std::mem::swap(&mut self.f, &mut self.dopri.k7);
            self.f_valid = true;
            self.dense_stiff = false;
        }
        self.dense_valid = true;
        self.dense_built = false;
        self.t_old = self.t;
        self.h_old = h;
        self.t = t_end;
        // A step shortened to land on a stop says nothing against the longer
        // step the controller had proposed.
        self.h = if landing { h_next.max(self.h) } else { h_next };
        self.after_reject = false;
        self.nonfinite_reject = false;
        self.stats.accepted_steps += 1;
    }

    /// Hairer's starting step (HINIT in DOPRI5): from the sizes of y, f and an
    /// estimate of the second derivative, capped by `cap`. One extra
    /// right-hand-side call.
    fn initial_step<S: OdeSystem + ?Sized>(&mut self, sys: &mut S, cap: f64) -> f64 {
        let order = if self.stiff { 4.0 } else { 5.0 };
        let (t, y, f0) = (self.t, &self.y, &self.f);
        let mut dnf = 0.0;
        let mut dny = 0.0;
        for i in 0..self.dim {
            let sk = self.tol.atol + self.tol.rtol * y[i].abs();
            dnf += (f0[i] / sk).powi(2);
            dny += (y[i] / sk).powi(2);
        }
        let mut h = if dnf <= 1e-10 || dny <= 1e-10 {
            1e-6
        } else {
            (dny / dnf).sqrt() * 0.01
        };
        h = h.min(cap);
        for i in 0..self.dim {
            self.scratch_y[i] = y[i] + h * f0[i];
        }
        sys.rhs(t + h, &self.scratch_y, &mut self.scratch_f);
        self.stats.rhs_calls += 1;
        let mut der2 = 0.0;
        for i in 0..self.dim {
            let sk = self.tol.atol + self.tol.rtol * y[i].abs();
            der2 += ((self.scratch_f[i] - f0[i]) / sk).powi(2);
        }
        let der2 = der2.sqrt() / h;
        let der12 = der2.max(dnf.sqrt());
        let h1 = if !(der12 > 1e-15) {
            (h * 1e-3).max(1e-6)
        } else {
            (0.01 / der12).powf(1.0 / order)
        };
        let h = (100.0 * h).min(h1).min(cap);
        if h > 0.0 {
            h
        } else {
            cap.min(1e-6)
        }
    }
}

/// Root-mean-square of errᵢ / (atol + rtol·max(|yᵢ|, |y_newᵢ|)); NaN when the
/// new state is not finite.
fn norm_scaled(tol: &Tolerances, y: &[f64], y_new: &[f64], err: impl Fn(usize) -> f64) -> f64 {
    let mut sum = 0.0;
    for i in 0..y.len() {
        if !y_new[i].is_finite() {
            return f64::NAN;
        }
        let sk = tol.atol + tol.rtol * y[i].abs().max(y_new[i].abs());
        let e = err(i) / sk;
        sum += e * e;
    }
    (sum / y.len() as f64).sqrt()
}
