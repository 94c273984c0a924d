//! Closed-form solution of linear mammillary models by modal decomposition.
//!
//! In concentrations the disposition system is `V ċ = −M c + input`, with `M`
//! symmetric (CL + ΣQ on the central diagonal, Qₚ on the peripheral diagonal,
//! −Qₚ off the diagonal). So `S = −V^{-1/2} M V^{-1/2}` is symmetric with an
//! orthogonal eigenbasis `U` and eigenvalues λᵢ = −αᵢ < 0. In the modal
//! coordinates `y = Uᵀ V^{-1/2} A` every mode decays on its own:
//!
//! `yᵢ(t+h) = e^{λᵢh} yᵢ(t) + h·φ1(λᵢh)·rᵢ (+ depot input)`
//!
//! and the central concentration is Σ cᵢ yᵢ: exactly the textbook sum of
//! exponentials A·e^{−αt} + B·e^{−βt}, but with bounded coefficients (U is
//! orthogonal), so it stays accurate when two exponents come close. The depot
//! enters through divided differences of exp ([`super::expfn`]).

use super::kinetics::{Kinetics, Rates, State, MAX_STATES};
use super::structure::PkParams;
use crate::autodiff::Real;

/// Per-step factors, reused while steps have the same length.
#[derive(Debug, Clone, Copy)]
struct StepFactors<T> {
    dt: f64,
    /// Largest |step − dt| these factors absorb by first-order correction.
    reuse: f64,
    /// e^{λᵢ h}
    decay: [T; 3],
    /// h·φ1(λᵢ h): response of mode i to a unit constant input over h.
    constant_input: [T; 3],
    /// e^{−ka h}
    depot_decay: T,
    /// h·φ1(−ka h)
    depot_constant_input: T,
    /// ka·h·e[λᵢh, −ka h]: response of mode i to a unit depot amount.
    from_depot: [T; 3],
    /// ka·h²·e[0, λᵢh, −ka h]: response of mode i to a unit depot input rate.
    from_depot_rate: [T; 3],
}

impl<T: Real> StepFactors<T> {
    fn empty() -> Self {
        let z = T::zero();
        StepFactors {
            dt: f64::NAN,
            reuse: -1.0,
            decay: [z; 3],
            constant_input: [z; 3],
            depot_decay: z,
            depot_constant_input: z,
            from_depot: [z; 3],
            from_depot_rate: [z; 3],
        }
    }
}

/// Closed-form kinetics of a 1-, 2- or 3-compartment linear model with optional
/// first-order absorption, in values (`T = f64`) or carrying derivatives with
/// respect to the parameters' seeds (`T = Dual`, [`crate::autodiff`]).
#[derive(Debug, Clone)]
pub struct ModalKinetics<T: Real = f64> {
    n: usize,
    /// Eigenvalues λᵢ (negative).
    lambda: [T; 3],
    /// Central concentration per unit modal amplitude: U₀ᵢ/√V₁.
    out: [T; 3],
    /// `input[j][i]`: modal amplitude added by a unit amount into disposition compartment j.
    input: [[T; 3]; 3],
    /// `amount[j][i]`: amount in compartment j per unit modal amplitude i.
    amount: [[T; 3]; 3],
    ka: Option<T>,
    /// Two cached step lengths: a regular grid step survives the odd steps
    /// around doses and infusion ends.
    cache: [StepFactors<T>; 2],
    /// Which cache slot was used last.
    last: usize,
    /// Current input rates in modal coordinates (direct inputs), and into the depot.
    modal_rates: [T; 3],
    depot_rate: T,
    /// max(|λᵢ|, ka): bounds the step difference that cached factors absorb.
    fastest_rate: f64,
}

impl<T: Real> ModalKinetics<T> {
    /// Builds the modal form of the structure's rate matrix.
    pub fn new(p: &PkParams<T>) -> Self {
        let n = p.structure.compartments;
        let (lambda, u) = symmetric_modes(n, p);
        let z = T::zero();
        let mut out = [z; 3];
        let mut input = [[z; 3]; 3];
        let mut amount = [[z; 3]; 3];
        for i in 0..n {
            out[i] = u[0][i] / p.v[0].sqrt();
            for j in 0..n {
                input[j][i] = u[j][i] / p.v[j].sqrt();
                amount[j][i] = u[j][i] * p.v[j].sqrt();
            }
        }
        let ka = p.structure.has_depot().then_some(p.ka);
        let fastest_rate = lambda[..n]
            .iter()
            .map(|l| l.val().abs())
            .fold(ka.map_or(0.0, |k| k.val()), f64::max);
        ModalKinetics {
            n,
            lambda,
            out,
            input,
            amount,
            ka,
            cache: [StepFactors::empty(); 2],
            last: 0,
            fastest_rate,
            modal_rates: [z; 3],
            depot_rate: z,
        }
    }

    /// The state (modal amplitudes) holding compartment amounts `a`
    /// (depot, central, peripheral…): the inverse of [`Kinetics::amounts`].
    pub fn state_of_amounts(&self, a: &State<T>) -> State<T> {
        let mut s = [T::zero(); MAX_STATES];
        s[0] = a[0];
        for j in 0..self.n {
            self.add_amount(&mut s, j + 1, a[j + 1]);
        }
        s
    }

    /// The amount in state index `j` (0 depot, 1 central, …): one row of [`Kinetics::amounts`].
    #[inline]
    pub fn amount_in(&self, s: &State<T>, j: usize) -> T {
        if j == 0 {
            return s[0];
        }
        let row = &self.amount[j - 1];
        let mut a = T::zero();
        for i in 0..self.n {
            a += row[i] * s[1 + i];
        }
        a
    }

    /// The slot holding factors for a step near `dt`, and the difference δ
    /// between `dt` and that slot's step, computing fresh factors into the
    /// older slot when no slot is near. Grids such as 24·i/99 are equidistant
    /// only to rounding; reusing factors with a first-order correction in δ is
    /// exact to double precision while |δ|·max(|λ|, ka) ≤ 1e-8, since the
    /// neglected term is of order (λδ)²/2 ≤ 5e-17.
    #[inline]
    fn factors(&mut self, dt: f64) -> (usize, f64) {
        let near = |c: &StepFactors<T>| (dt - c.dt).abs() <= c.reuse;
        if near(&self.cache[self.last]) {
            return (self.last, dt - self.cache[self.last].dt);
        }
        let other = 1 - self.last;
        if !near(&self.cache[other]) {
            self.refresh(other, dt);
        }
        self.last = other;
        (other, dt - self.cache[other].dt)
    }

    /// The modal update for N modes, with or without a depot (monomorphised
    /// so that the loops unroll and the depot terms vanish when absent).
    #[inline(always)]
    fn advance_n<const N: usize, const DEPOT: bool>(&mut self, s: &mut State<T>, dt: f64) {
        let (slot, delta) = self.factors(dt);
        let c = &self.cache[slot];
        let depot = s[0];
        let ka = self.ka.unwrap_or(T::zero());
        for i in 0..N {
            let l = self.lambda[i];
            // Factors at c.dt + δ to first order: (e^{λh})' = λe^{λh}, (hφ1(λh))' = e^{λh}.
            let decay = c.decay[i] + l * delta * c.decay[i];
            let constant_input = c.constant_input[i] + c.decay[i] * delta;
            let mut y = decay * s[1 + i] + constant_input * self.modal_rates[i];
            if DEPOT {
                // (ka∫e^{λ(h−s)}e^{−ka s}ds)' = ka·e^{−ka h} + λ·(…),
                // (∫e^{λ(h−s)}(1 − e^{−ka s})ds)' = 1 − e^{−ka h} + λ·(…).
                let from_depot = c.from_depot[i] + (ka * c.depot_decay + l * c.from_depot[i]) * delta;
                let from_rate = c.from_depot_rate[i] + (-c.depot_decay + 1.0 + l * c.from_depot_rate[i]) * delta;
                y += self.input[0][i] * (depot * from_depot + self.depot_rate * from_rate);
            }
            s[1 + i] = y;
        }
        if DEPOT {
            let depot_decay = c.depot_decay - ka * delta * c.depot_decay;
            let depot_input = c.depot_constant_input + c.depot_decay * delta;
            s[0] = depot * depot_decay + self.depot_rate * depot_input;
        }
    }

    fn refresh(&mut self, slot: usize, dt: f64) {
        let c = &mut self.cache[slot];
        c.dt = dt;
        c.reuse = (1e-9 * dt).min(1e-8 / self.fastest_rate.max(1e-300));
        for i in 0..self.n {
            let x = self.lambda[i] * dt;
            c.decay[i] = x.exp();
            c.constant_input[i] = x.phi1() * dt;
        }
        if let Some(ka) = self.ka {
            let y = -ka * dt;
            c.depot_decay = y.exp();
            c.depot_constant_input = y.phi1() * dt;
            for i in 0..self.n {
                let x = self.lambda[i] * dt;
                c.from_depot[i] = ka * dt * x.dd1(y);
                c.from_depot_rate[i] = ka * dt * dt * x.dd2_at_zero(y);
            }
        }
    }
}

impl ModalKinetics {
    /// Disposition rate constants αᵢ = −λᵢ, largest first.
    pub fn exponents(&self) -> Vec<f64> {
        let mut e: Vec<f64> = self.lambda[..self.n].iter().map(|l| -l).collect();
        e.sort_by(|a, b| b.total_cmp(a));
        e
    }
}

/// Eigen-decomposition of S = −V^{-1/2} M V^{-1/2}: eigenvalues and the
/// orthogonal eigenvector matrix (`u[compartment][mode]`).
fn symmetric_modes<T: Real>(n: usize, p: &PkParams<T>) -> ([T; 3], [[T; 3]; 3]) {
    let v = p.v;
    let (zero, one) = (T::zero(), T::cst(1.0));
    let mut lambda = [zero; 3];
    let mut u = [[zero; 3]; 3];
    match n {
        1 => {
            lambda[0] = -p.cl / v[0];
            u[0][0] = one;
        }
        2 => {
            let a = -(p.cl + p.q[0]) / v[0];
            let d = -p.q[0] / v[1];
            let c = p.q[0] / (v[0] * v[1]).sqrt();
            // One Jacobi rotation diagonalises a symmetric 2×2 matrix exactly and stably.
            let (cos, sin, t) = if c.val() == 0.0 && c.is_constant() {
                (one, zero, zero)
            } else {
                let tau = (d - a) / (c * 2.0);
                let t = T::cst(tau.val().signum()) / (tau.abs() + (tau * tau + 1.0).sqrt());
                let cos = one / (t * t + 1.0).sqrt();
                (cos, t * cos, t)
            };
            lambda[0] = a - t * c;
            lambda[1] = d + t * c;
            u[0][0] = cos;
            u[1][0] = -sin;
            u[0][1] = sin;
            u[1][1] = cos;
        }
        _ => {
            let (q2, q3) = (p.q[0], p.q[1]);
            let s01 = q2 / (v[0] * v[1]).sqrt();
            let s02 = q3 / (v[0] * v[2]).sqrt();
            let s = [
                [-(p.cl + q2 + q3) / v[0], s01, s02],
                [s01, -q2 / v[1], zero],
                [s02, zero, -q3 / v[2]],
            ];
            (lambda, u) = T::symmetric_eigen3(s);
        }
    }
    (lambda, u)
}

impl<T: Real> Kinetics<T> for ModalKinetics<T> {
    fn set_rates(&mut self, rates: &Rates<T>) {
        self.modal_rates = [T::zero(); 3];
        for j in 0..self.n {
            let r = rates[1 + j];
            if !(r.val() == 0.0 && r.is_constant()) {
                for i in 0..self.n {
                    self.modal_rates[i] += self.input[j][i] * r;
                }
            }
        }
        self.depot_rate = rates[0];
    }

    #[inline(always)]
    fn advance(&mut self, s: &mut State<T>, dt: f64) -> Result<(), String> {
        if dt <= 0.0 {
            return Ok(());
        }
        match (self.n, self.ka.is_some()) {
            (1, false) => self.advance_n::<1, false>(s, dt),
            (2, false) => self.advance_n::<2, false>(s, dt),
            (_, false) => self.advance_n::<3, false>(s, dt),
            (1, true) => self.advance_n::<1, true>(s, dt),
            (2, true) => self.advance_n::<2, true>(s, dt),
            (_, true) => self.advance_n::<3, true>(s, dt),
        }
        Ok(())
    }

    #[inline]
    fn add_amount(&self, s: &mut State<T>, target: usize, amount: T) {
        if target == 0 {
            s[0] += amount;
        } else {
            for i in 0..self.n {
                s[1 + i] += self.input[target - 1][i] * amount;
            }
        }
    }

    #[inline]
    fn concentration(&self, s: &State<T>) -> T {
        let mut c = T::zero();
        for i in 0..self.n {
            c += self.out[i] * s[1 + i];
        }
        c
    }

    fn amounts(&self, s: &State<T>) -> State<T> {
        let mut a = [T::zero(); MAX_STATES];
        a[0] = s[0];
        for j in 0..self.n {
            let mut sum = T::zero();
            for i in 0..self.n {
                sum += self.amount[j][i] * s[1 + i];
            }
            a[1 + j] = sum;
        }
        a
    }

    fn is_linear(&self) -> bool {
        true
    }
}
