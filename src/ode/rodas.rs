//! RODAS (Hairer & Wanner, *Solving ODEs II*, 2nd ed., §IV.7, and their code
//! `rodas.f`, coefficient set METH = 1): a 6-stage Rosenbrock method of order
//! 4 with an embedded order-3 estimate, L-stable and stiffly accurate, with a
//! continuous extension of order 3. One Jacobian and one LU factorisation per
//! step (the factorisation is redone, the Jacobian reused, after a rejection);
//! no Newton iteration.
//!
//! In the W-transformed form used by `rodas.f`, with E = I/(γh) − J:
//! E·kᵢ = f(t + αᵢh, y + Σⱼ aᵢⱼkⱼ) + Σⱼ (cᵢⱼ/h)·kⱼ + h·dᵢ·∂f/∂t, y₁ = y + Σ… (the
//! last two stages are the solution and its error estimate).

use super::{lu, norm_scaled, OdeSystem, Tolerances};

const GAMMA: f64 = 0.25;
const ALPHA2: f64 = 0.386;
const ALPHA3: f64 = 0.21;
const ALPHA4: f64 = 0.63;
// γᵢ sums, multiplying h·∂f/∂t.
const D1: f64 = 0.25;
const D2: f64 = -0.1043;
const D3: f64 = 0.1035;
const D4: f64 = -0.362_000_000_000_002_3e-1;
const A21: f64 = 0.1544e1;
const A31: f64 = 0.946_678_528_081_582_6;
const A32: f64 = 0.255_701_169_898_328_4;
const A41: f64 = 0.331_482_518_706_852_1e1;
const A42: f64 = 0.289_612_401_597_220_1e1;
const A43: f64 = 0.998_641_913_997_781_7;
const A51: f64 = 0.122_122_450_922_664_1e1;
const A52: f64 = 0.601_913_448_128_862_9e1;
const A53: f64 = 0.125_370_833_293_208_7e2;
const A54: f64 = -0.687_886_036_105_895;
const C21: f64 = -0.56688e1;
const C31: f64 = -0.243_009_335_683_387_5e1;
const C32: f64 = -0.206_359_915_709_191_5;
const C41: f64 = -0.107_352_905_815_137_5;
const C42: f64 = -0.959_456_225_102_335_5e1;
const C43: f64 = -0.204_702_861_480_961_6e2;
const C51: f64 = 0.749_644_331_396_764_7e1;
const C52: f64 = -0.102_468_043_146_435_2e2;
const C53: f64 = -0.339_999_035_281_990_5e2;
const C54: f64 = 0.117_089_089_320_616e2;
const C61: f64 = 0.808_324_679_592_152_2e1;
const C62: f64 = -0.798_113_298_806_489_3e1;
const C63: f64 = -0.315_215_943_287_437_1e2;
const C64: f64 = 0.163_193_054_312_313_6e2;
const C65: f64 = -0.605_881_823_883_405_4e1;
// Continuous extension.
const E21: f64 = 0.101_262_350_834_458_6e2;
const E22: f64 = -0.748_799_587_761_016_7e1;
const E23: f64 = -0.348_009_186_155_574_7e2;
const E24: f64 = -0.799_277_170_756_882_3e1;
const E25: f64 = 0.102_513_772_329_566_2e1;
const E31: f64 = -0.676_280_339_280_125_3;
const E32: f64 = 0.608_771_465_168_001_5e1;
const E33: f64 = 0.164_308_432_089_247_8e2;
const E34: f64 = 0.247_672_251_141_838_6e2;
const E35: f64 = -0.659_438_912_571_687_2e1;

/// ln 10⁻²: the predictive controller's floor on the previous error.
const LN_ERR_FLOOR: f64 = -4.605_170_185_988_091;

/// Why a Rosenbrock step could not be computed.
pub(super) enum Failure {
    /// E = I/(γh) − J is singular: retry with a smaller step.
    Singular,
}

/// Stages, Jacobian, factors and controller memory of RODAS.
#[derive(Debug, Clone)]
pub(super) struct Rodas {
    n: usize,
    /// ∂f/∂y at the step's start, row-major.
    jac: Vec<f64>,
    /// ∂f/∂t at the step's start (zero for autonomous systems).
    dfdt: Vec<f64>,
    /// Whether `jac`/`dfdt` belong to the current step's start.
    pub(super) jac_current: bool,
    /// LU factors of E.
    e: Vec<f64>,
    piv: Vec<usize>,
    k: [Vec<f64>; 6],
    arg: Vec<f64>,
    fval: Vec<f64>,
    /// The solution at t + h.
    pub(super) y_new: Vec<f64>,
    /// Step and error of the last accepted step (Gustafsson's predictive controller).
    h_acc: f64,
    ln_err_acc: f64,
    has_accepted: bool,
}

impl Rodas {
    pub(super) fn new(n: usize) -> Self {
        Rodas {
            n,
            jac: vec![0.0; n * n],
            dfdt: vec![0.0; n],
            jac_current: false,
            e: vec![0.0; n * n],
            piv: vec![0; n],
            k: std::array::from_fn(|_| vec![0.0; n]),
            arg: vec![0.0; n],
            fval: vec![0.0; n],
            y_new: vec![0.0; n],
            h_acc: 0.0,
            ln_err_acc: 0.0,
            has_accepted: false,
        }
    }

    /// Forgets the controller's history.
    pub(super) fn clear_history(&mut self) {
        self.has_accepted = false;
        self.jac_current = false;
    }

    /// Evaluates ∂f/∂y (analytic when the system provides it, else forward
    /// differences with Hairer's increments √(ε·max(10⁻⁵, |yⱼ|))) and ∂f/∂t
    /// (forward difference, skipped for autonomous systems) at (t, y), f0 = f(t, y).
    pub(super) fn jacobian<S: OdeSystem + ?Sized>(
        &mut self,
        sys: &mut S,
        calls: &mut u64,
        jacobians: &mut u64,
        t: f64,
        y: &[f64],
        f0: &[f64],
    ) {
        let n = self.n;
        *jacobians += 1;
        if !sys.jacobian(t, y, &mut self.jac) {
            self.arg.copy_from_slice(y);
            for j in 0..n {
                let saved = self.arg[j];
                let delta = (f64::EPSILON * saved.abs().max(1e-5)).sqrt();
                self.arg[j] = saved + delta;
                let inv_delta = 1.0 / (self.arg[j] - saved);
                sys.rhs(t, &self.arg, &mut self.fval);
                self.arg[j] = saved;
                for (i, (f, f0)) in self.fval.iter().zip(f0).enumerate() {
                    self.jac[i * n + j] = (f - f0) * inv_delta;
                }
            }
            *calls += n as u64;
        }
        if sys.autonomous() {
            self.dfdt.fill(0.0);
        } else {
            let delta = (f64::EPSILON * t.abs().max(1e-5)).sqrt();
            let t1 = t + delta;
            sys.rhs(t1, y, &mut self.fval);
            *calls += 1;
            let delta = t1 - t;
            for ((d, f), f0) in self.dfdt.iter_mut().zip(&self.fval).zip(f0) {
                *d = (f - f0) / delta;
            }
        }
        self.jac_current = true;
    }

    /// One attempted step from (t, y), f0 = f(t, y), with the Jacobian from
    /// [`Rodas::jacobian`] at (t, y). Fills `y_new`; returns the scaled error
    /// norm (not finite when the right-hand side produced a non-finite value).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attempt<S: OdeSystem + ?Sized>(
        &mut self,
        sys: &mut S,
        calls: &mut u64,
        factorizations: &mut u64,
        t: f64,
        y: &[f64],
        f0: &[f64],
        h: f64,
        t_end: f64,
        tol: &Tolerances,
    ) -> Result<f64, Failure> {
        let args = (sys, calls, factorizations, t, y, f0, h, t_end, tol);
        by_dimension!(self.n, self.attempt_n::<S>(args))
    }

    /// [`Rodas::attempt`] for a dimension known at compile time (`N` > 0:
    /// the LU factorisation, the solves and the stage loops unroll) or not
    /// (`N` = 0).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn attempt_n<const N: usize, S: OdeSystem + ?Sized>(
        &mut self,
        (sys, calls, factorizations, t, y, f0, h, t_end, tol): (
            &mut S,
            &mut u64,
            &mut u64,
            f64,
            &[f64],
            &[f64],
            f64,
            f64,
            &Tolerances,
        ),
    ) -> Result<f64, Failure> {
        let n = if N > 0 { N } else { self.n };
        let (y, f0) = (&y[..n], &f0[..n]);
        let (e, piv) = (&mut self.e[..n * n], &mut self.piv[..n]);
        let diag = 1.0 / (GAMMA * h);
        for (e, j) in e.iter_mut().zip(&self.jac[..n * n]) {
            *e = -j;
        }
        for i in 0..n {
            e[i * n + i] += diag;
        }
        *factorizations += 1;
        if !lu::factor(e, piv, n) {
            return Err(Failure::Singular);
        }
        let (e, piv) = (&*e, &*piv);
        let inv_h = 1.0 / h;
        let [k1, k2, k3, k4, k5, k6] = &mut self.k;
        let (k1, k2, k3, k4, k5, k6) = (
            &mut k1[..n],
            &mut k2[..n],
            &mut k3[..n],
            &mut k4[..n],
            &mut k5[..n],
            &mut k6[..n],
        );
        let (arg, fval, dfdt) = (&mut self.arg[..n], &mut self.fval[..n], &self.dfdt[..n]);
        let y_new = &mut self.y_new[..n];
        // Stage 1.
        for i in 0..n {
            k1[i] = f0[i] + h * D1 * dfdt[i];
        }
        lu::solve(e, piv, n, k1);
        // Stage 2.
        for i in 0..n {
            arg[i] = y[i] + A21 * k1[i];
        }
        sys.rhs(t + ALPHA2 * h, arg, fval);
        for i in 0..n {
            k2[i] = fval[i] + h * D2 * dfdt[i] + C21 * k1[i] * inv_h;
        }
        lu::solve(e, piv, n, k2);
        // Stage 3.
        for i in 0..n {
            arg[i] = y[i] + A31 * k1[i] + A32 * k2[i];
        }
        sys.rhs(t + ALPHA3 * h, arg, fval);
        for i in 0..n {
            k3[i] = fval[i] + h * D3 * dfdt[i] + (C31 * k1[i] + C32 * k2[i]) * inv_h;
        }
        lu::solve(e, piv, n, k3);
        // Stage 4.
        for i in 0..n {
            arg[i] = y[i] + A41 * k1[i] + A42 * k2[i] + A43 * k3[i];
        }
        sys.rhs(t + ALPHA4 * h, arg, fval);
        for i in 0..n {
            k4[i] = fval[i] + h * D4 * dfdt[i] + (C41 * k1[i] + C42 * k2[i] + C43 * k3[i]) * inv_h;
        }
        lu::solve(e, piv, n, k4);
        // Stage 5 (at t + h; its argument is the embedded order-3 solution).
        for i in 0..n {
            arg[i] = y[i] + A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i];
        }
        sys.rhs(t_end, arg, fval);
        for i in 0..n {
            k5[i] = fval[i] + (C51 * k1[i] + C52 * k2[i] + C53 * k3[i] + C54 * k4[i]) * inv_h;
        }
        lu::solve(e, piv, n, k5);
        // Stage 6 (at t + h); k6 is the error estimate, y_new = argument + k6.
        for i in 0..n {
            arg[i] += k5[i];
        }
        sys.rhs(t_end, arg, fval);
        for i in 0..n {
            k6[i] = fval[i] + (C61 * k1[i] + C62 * k2[i] + C63 * k3[i] + C64 * k4[i] + C65 * k5[i]) * inv_h;
        }
        lu::solve(e, piv, n, k6);
        for i in 0..n {
            y_new[i] = arg[i] + k6[i];
        }
        *calls += 5;
        let k6 = &*k6;
        Ok(norm_scaled(tol, y, y_new, |i| k6[i]))
    }

    /// Step-size control of `rodas.f`: h_new/h within [0.2, 6], safety 0.9,
    /// with Gustafsson's predictive correction after an accepted step. Powers
    /// are taken as exp(a·ln x).
    pub(super) fn control(&mut self, err: f64, h: f64, accepted: bool, after_reject: bool) -> f64 {
        const SAFE: f64 = 0.9;
        const FAC_MIN: f64 = 1.0 / 6.0; // at most ×6
        const FAC_MAX: f64 = 5.0; // at most ÷5
        let ln_err = err.ln();
        let mut fac = ((0.25 * ln_err).exp() / SAFE).clamp(FAC_MIN, FAC_MAX);
        if !accepted {
            return h / fac;
        }
        if self.has_accepted {
            let gus = (self.h_acc / h * (0.25 * (2.0 * ln_err - self.ln_err_acc)).exp() / SAFE).clamp(FAC_MIN, FAC_MAX);
            fac = fac.max(gus);
        }
        self.has_accepted = true;
        self.h_acc = h;
        self.ln_err_acc = ln_err.max(LN_ERR_FLOOR);
        let h_new = h / fac;
        if after_reject {
            h_new.min(h)
        } else {
            h_new
        }
    }

    /// Writes the continuous extension of the last accepted step into `cont`
    /// (4 blocks of n), given its end value `y_end`: by then `y_new` holds
    /// the step's start value (the integrator swapped the two).
    pub(super) fn dense(&self, y_end: &[f64], cont: &mut [f64]) {
        let n = self.n;
        let [k1, k2, k3, k4, k5, _] = &self.k;
        for i in 0..n {
            cont[i] = self.y_new[i];
            cont[n + i] = y_end[i];
            cont[2 * n + i] = E21 * k1[i] + E22 * k2[i] + E23 * k3[i] + E24 * k4[i] + E25 * k5[i];
            cont[3 * n + i] = E31 * k1[i] + E32 * k2[i] + E33 * k3[i] + E34 * k4[i] + E35 * k5[i];
        }
    }
}

/// Evaluates the continuous extension stored by [`Rodas::dense`] at s ∈ [0, 1].
pub(super) fn interpolate(cont: &[f64], s: f64, out: &mut [f64]) {
    let n = out.len();
    let s1 = 1.0 - s;
    for (i, o) in out.iter_mut().enumerate() {
        *o = cont[i] * s1 + s * (cont[n + i] + s1 * (cont[2 * n + i] + s * cont[3 * n + i]));
    }
}
