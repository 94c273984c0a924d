//! Right-hand sides shared by tests/ode_integrator.rs and benches/ode.rs
//! (included there with `#[path]`), with the profile that drives the stiff one.

use pk::ode::{Integrator, OdeSystem, Stop};

/// Clearance, L/h.
pub const CL: f64 = 20.0;
/// Central volume, L.
pub const V1: f64 = 50.0;
/// Inter-compartmental clearance, L/h.
pub const Q: f64 = 30.0;
/// Peripheral volume, L.
pub const V2: f64 = 130.0;

/// Two-compartment IV model in amounts (mg): CL 20 L/h, V1 50 L, Q 30 L/h,
/// V2 130 L, with an infusion `rate` (mg/h) into the central compartment.
pub struct TwoCmt {
    /// Input rate into the central compartment, mg/h.
    pub rate: f64,
}

impl OdeSystem for TwoCmt {
    fn dim(&self) -> usize {
        2
    }
    fn rhs(&mut self, _t: f64, a: &[f64], da: &mut [f64]) {
        let c1 = a[0] / V1;
        let flow = Q * (c1 - a[1] / V2);
        da[0] = self.rate - CL * c1 - flow;
        da[1] = flow;
    }
    fn autonomous(&self) -> bool {
        true
    }
}

/// Target-mediated drug disposition rate constants (1/h, 1/(nM·h), nM/h).
pub const KEL: f64 = 0.1;
/// Association rate constant.
pub const KON: f64 = 100.0;
/// Dissociation rate constant.
pub const KOFF: f64 = 1.0;
/// Internalisation rate constant of the complex.
pub const KINT: f64 = 0.2;
/// Target synthesis rate.
pub const KSYN: f64 = 1.0;
/// Target degradation rate constant.
pub const KDEG: f64 = 0.1;

/// Target-mediated disposition (free drug, free target, complex): stiff
/// (binding time scale 1/(kon·C) ≈ 10⁻⁴ h). With `analytic_jacobian` the
/// Jacobian is given, else the integrator differentiates numerically.
pub struct Tmdd {
    /// Whether `jacobian` supplies the exact Jacobian.
    pub analytic_jacobian: bool,
}

impl OdeSystem for Tmdd {
    fn dim(&self) -> usize {
        3
    }
    fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
        let (c, r, rc) = (y[0], y[1], y[2]);
        let bind = KON * c * r - KOFF * rc;
        dy[0] = -KEL * c - bind;
        dy[1] = KSYN - KDEG * r - bind;
        dy[2] = bind - KINT * rc;
    }
    fn jacobian(&mut self, _t: f64, y: &[f64], j: &mut [f64]) -> bool {
        if self.analytic_jacobian {
            let (c, r) = (y[0], y[1]);
            j.copy_from_slice(&[
                -KEL - KON * r,
                -KON * c,
                KOFF,
                -KON * r,
                -KDEG - KON * c,
                KOFF,
                KON * r,
                KON * c,
                -KOFF - KINT,
            ]);
        }
        self.analytic_jacobian
    }
    fn autonomous(&self) -> bool {
        true
    }
}

/// TMDD profile from the target's baseline ksyn/kdeg: 100 nM boluses at 0
/// and 84 h, 50 outputs after each (every 1.68 h to 168 h); `visit` gets the
/// output index and the state there.
pub fn tmdd_profile(it: &mut Integrator, analytic_jacobian: bool, mut visit: impl FnMut(usize, [f64; 3])) {
    let mut sys = Tmdd { analytic_jacobian };
    let mut y = [0.0, KSYN / KDEG, 0.0];
    let mut t = 0.0;
    for (d, (dose_time, end)) in [(0.0, 84.0), (84.0, 168.0)].into_iter().enumerate() {
        it.advance(&mut sys, t, &mut y, dose_time, Stop::Hard).unwrap();
        t = dose_time;
        y[0] += 100.0;
        for i in 1..=50 {
            let t1 = dose_time + (end - dose_time) * i as f64 / 50.0;
            let stop = if t1 == end {
                Stop::Hard
            } else {
                Stop::Soft { horizon: end }
            };
            it.advance(&mut sys, t, &mut y, t1, stop).unwrap();
            t = t1;
            visit(50 * d + i - 1, y);
        }
    }
}
