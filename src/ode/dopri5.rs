//! Dormand–Prince 5(4) (Hairer, Nørsett & Wanner, *Solving ODEs I*, 2nd ed.,
//! §II.5 and the code DOPRI5): seven stages with the last one reused as the
//! first of the next step (FSAL), an embedded 4th-order error estimate, PI
//! step-size control and a continuous extension of order 4 (§II.6).

use super::{norm_scaled, OdeSystem, Tolerances};

// Nodes.
const C2: f64 = 0.2;
const C3: f64 = 0.3;
const C4: f64 = 0.8;
const C5: f64 = 8.0 / 9.0;
// Coupling coefficients.
const A21: f64 = 0.2;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
// 5th-order weights (the 7th stage's arguments).
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
// Difference between the 5th- and 4th-order weights (error estimate).
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
// Dense output (Hairer's CONTD5 coefficients).
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

/// ln 10⁻⁴: the PI controller's floor on the previous error.
const LN_ERR_FLOOR: f64 = -9.210_340_371_976_184;

/// Hairer's stiffness threshold on h·|λ| (the boundary of the stability region is near 3.3).
const STIFF_H_LAMBDA: f64 = 3.25;
/// Consecutive stiff verdicts before the problem is declared stiff (Hairer: 15).
const STIFF_COUNT: u32 = 15;
/// Non-stiff verdicts that clear the count (Hairer: 6).
const NON_STIFF_COUNT: u32 = 6;

/// Stages and controller memory of Dormand–Prince 5(4).
#[derive(Debug, Clone)]
pub(super) struct Dopri5 {
    k2: Vec<f64>,
    k3: Vec<f64>,
    k4: Vec<f64>,
    k5: Vec<f64>,
    k6: Vec<f64>,
    /// f(t + h, y_new): the next step's first stage.
    pub(super) k7: Vec<f64>,
    /// The 5th-order solution at t + h.
    pub(super) y_new: Vec<f64>,
    /// The 6th stage's argument, for the stiffness test.
    y_stiff: Vec<f64>,
    /// ln of the previous accepted error, at least ln 10⁻⁴ (PI controller).
    ln_fac_old: f64,
    stiff_count: u32,
    non_stiff_count: u32,
}

impl Dopri5 {
    pub(super) fn new(n: usize) -> Self {
        Dopri5 {
            k2: vec![0.0; n],
            k3: vec![0.0; n],
            k4: vec![0.0; n],
            k5: vec![0.0; n],
            k6: vec![0.0; n],
            k7: vec![0.0; n],
            y_new: vec![0.0; n],
            y_stiff: vec![0.0; n],
            ln_fac_old: LN_ERR_FLOOR,
            stiff_count: 0,
            non_stiff_count: 0,
        }
    }

    /// Forgets the controller's and the stiffness test's history.
    pub(super) fn clear_history(&mut self) {
        self.ln_fac_old = LN_ERR_FLOOR;
        self.stiff_count = 0;
        self.non_stiff_count = 0;
    }

    /// One attempted step from (t, y) with f(t, y) = `k1`, to `t_end` = t + h
    /// (given separately so that a step landing on a stop ends exactly there).
    /// Fills `y_new` and `k7`; returns the scaled error norm (not finite when
    /// the right-hand side produced a non-finite value).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attempt<S: OdeSystem + ?Sized>(
        &mut self,
        sys: &mut S,
        calls: &mut u64,
        t: f64,
        y: &[f64],
        k1: &[f64],
        h: f64,
        t_end: f64,
        tol: &Tolerances,
    ) -> f64 {
        let args = (sys, calls, t, y, k1, h, t_end, tol);
        by_dimension!(y.len(), self.attempt_n::<S>(args))
    }

    /// [`Dopri5::attempt`] for a dimension known at compile time (`N` > 0,
    /// the stage loops unroll: 18 % fewer instructions per profile for two
    /// states) or not (`N` = 0).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn attempt_n<const N: usize, S: OdeSystem + ?Sized>(
        &mut self,
        (sys, calls, t, y, k1, h, t_end, tol): (&mut S, &mut u64, f64, &[f64], &[f64], f64, f64, &Tolerances),
    ) -> f64 {
        let n = if N > 0 { N } else { y.len() };
        let (y, k1) = (&y[..n], &k1[..n]);
        // Equal-length slices let the compiler drop the bounds checks.
        let Dopri5 {
            k2,
            k3,
            k4,
            k5,
            k6,
            k7,
            y_new: w,
            y_stiff,
            ..
        } = self;
        let (k2, k3, k4, k5, k6, k7) = (
            &mut k2[..n],
            &mut k3[..n],
            &mut k4[..n],
            &mut k5[..n],
            &mut k6[..n],
            &mut k7[..n],
        );
        let (w, y_stiff) = (&mut w[..n], &mut y_stiff[..n]);
        for i in 0..n {
            w[i] = y[i] + h * A21 * k1[i];
        }
        sys.rhs(t + C2 * h, w, k2);
        for i in 0..n {
            w[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i]);
        }
        sys.rhs(t + C3 * h, w, k3);
        for i in 0..n {
            w[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
        }
        sys.rhs(t + C4 * h, w, k4);
        for i in 0..n {
            w[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
        }
        sys.rhs(t + C5 * h, w, k5);
        for i in 0..n {
            y_stiff[i] = y[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
        }
        sys.rhs(t_end, y_stiff, k6);
        for i in 0..n {
            w[i] = y[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i]);
        }
        sys.rhs(t_end, w, k7);
        *calls += 6;
        let (k3, k4, k5, k6, k7) = (&*k3, &*k4, &*k5, &*k6, &*k7);
        norm_scaled(tol, y, w, |i| {
            h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i])
        })
    }

    /// PI step-size control (Hairer's DOPRI5: β = 0.04, safety 0.9, new/old
    /// step ratio within [0.2, 10]). Returns the proposed next step size.
    /// Powers are taken as exp(a·ln x), with ln of the previous error kept:
    /// two `powf` calls per step were a fifth of the profile's time.
    pub(super) fn control(&mut self, err: f64, h: f64, accepted: bool, after_reject: bool) -> f64 {
        const BETA: f64 = 0.04;
        const EXPO: f64 = 0.2 - BETA * 0.75;
        const SAFE: f64 = 0.9;
        let ln_err = err.ln();
        if accepted {
            let fac = ((EXPO * ln_err - BETA * self.ln_fac_old).exp() / SAFE).clamp(0.1, 5.0);
            self.ln_fac_old = ln_err.max(LN_ERR_FLOOR);
            let h_new = h / fac;
            if after_reject {
                h_new.min(h)
            } else {
                h_new
            }
        } else {
            h / ((EXPO * ln_err).exp() / SAFE).min(5.0)
        }
    }

    /// Writes the continuous extension of the last accepted step of size h
    /// into `cont` (5 blocks of n), given its end value and derivative
    /// (`y_end`, `f_end`): by then `y_new` and `k7` hold the step's start value
    /// and derivative (the integrator swapped them).
    pub(super) fn dense(&self, y_end: &[f64], f_end: &[f64], h: f64, cont: &mut [f64]) {
        match y_end.len() {
            1 => self.dense_n::<1>(y_end, f_end, h, cont),
            2 => self.dense_n::<2>(y_end, f_end, h, cont),
            3 => self.dense_n::<3>(y_end, f_end, h, cont),
            4 => self.dense_n::<4>(y_end, f_end, h, cont),
            _ => self.dense_n::<0>(y_end, f_end, h, cont),
        }
    }

    #[inline(always)]
    fn dense_n<const N: usize>(&self, y_end: &[f64], f_end: &[f64], h: f64, cont: &mut [f64]) {
        let n = if N > 0 { N } else { y_end.len() };
        let (y_end, f_end) = (&y_end[..n], &f_end[..n]);
        let (y, k1) = (&self.y_new[..n], &self.k7[..n]);
        let (k3, k4, k5, k6) = (&self.k3[..n], &self.k4[..n], &self.k5[..n], &self.k6[..n]);
        let (c0, rest) = cont.split_at_mut(n);
        let (c1, rest) = rest.split_at_mut(n);
        let (c2, rest) = rest.split_at_mut(n);
        let (c3, c4) = rest.split_at_mut(n);
        let c4 = &mut c4[..n];
        for i in 0..n {
            let ydiff = y_end[i] - y[i];
            let bspl = h * k1[i] - ydiff;
            c0[i] = y[i];
            c1[i] = ydiff;
            c2[i] = bspl;
            c3[i] = ydiff - h * f_end[i] - bspl;
            c4[i] = h * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i] + D6 * k6[i] + D7 * f_end[i]);
        }
    }

    /// Hairer's stiffness test after an accepted step of size `h`: h·|λ| is
    /// estimated from the last two stages, which share their time. Returns
    /// true once it has exceeded 3.25 on 15 accepted steps without 6
    /// consecutive non-stiff verdicts in between.
    pub(super) fn stiffness_test(&mut self, h: f64) -> bool {
        let mut num = 0.0;
        let mut den = 0.0;
        for i in 0..self.k7.len() {
            let dk = self.k7[i] - self.k6[i];
            let dy = self.y_new[i] - self.y_stiff[i];
            num += dk * dk;
            den += dy * dy;
        }
        let h_lambda = if den > 0.0 { h.abs() * (num / den).sqrt() } else { 0.0 };
        if h_lambda > STIFF_H_LAMBDA {
            self.non_stiff_count = 0;
            self.stiff_count += 1;
            self.stiff_count >= STIFF_COUNT
        } else {
            self.non_stiff_count += 1;
            if self.non_stiff_count >= NON_STIFF_COUNT {
                self.stiff_count = 0;
            }
            false
        }
    }
}

/// Evaluates the continuous extension stored by [`Dopri5::dense`] at θ ∈ [0, 1].
pub(super) fn interpolate(cont: &[f64], theta: f64, out: &mut [f64]) {
    match out.len() {
        1 => interpolate_n::<1>(cont, theta, out),
        2 => interpolate_n::<2>(cont, theta, out),
        3 => interpolate_n::<3>(cont, theta, out),
        4 => interpolate_n::<4>(cont, theta, out),
        _ => interpolate_n::<0>(cont, theta, out),
    }
}

#[inline(always)]
fn interpolate_n<const N: usize>(cont: &[f64], theta: f64, out: &mut [f64]) {
    let n = if N > 0 { N } else { out.len() };
    let (out, cont) = (&mut out[..n], &cont[..5 * n]);
    let theta1 = 1.0 - theta;
    for (i, o) in out.iter_mut().enumerate() {
        *o = cont[i]
            + theta * (cont[n + i] + theta1 * (cont[2 * n + i] + theta * (cont[3 * n + i] + theta1 * cont[4 * n + i])));
    }
}
