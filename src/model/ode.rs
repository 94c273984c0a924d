//! The mammillary structures integrated with `ode_solvers` (Dormand–Prince
//! 8(5,3)), an independent reference for the closed-form kernels in tests:
//! the established crate against the modal solution. The event engine
//! integrates from event to event, never across a dose. Language models with
//! user ODEs run on the project's own integrator ([`crate::ode`]).

use super::kinetics::{Kinetics, Rates, State, MAX_STATES};
use super::structure::PkParams;
use nalgebra::SVector;
use ode_solvers::dop853::Dop853;
use ode_solvers::dop_shared::{OutputType, System};

type Vec4 = SVector<f64, MAX_STATES>;

/// Tolerances of the ODE solver.
#[derive(Debug, Clone, Copy)]
pub struct OdeTolerances {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (amount units).
    pub atol: f64,
}

impl Default for OdeTolerances {
    fn default() -> Self {
        OdeTolerances {
            rtol: 1e-11,
            atol: 1e-14,
        }
    }
}

/// Kinetics integrated numerically. The state holds compartment amounts.
#[derive(Debug, Clone)]
pub struct OdeKinetics {
    params: PkParams,
    tol: OdeTolerances,
    rates: Rates,
}

struct Rhs {
    p: PkParams,
    rates: Rates,
}

impl System<f64, Vec4> for Rhs {
    fn system(&self, _t: f64, a: &Vec4, da: &mut Vec4) {
        let p = &self.p;
        let n = p.structure.compartments;
        let c1 = a[1] / p.v[0];
        let elimination = p.cl * c1;
        let absorbed = if p.structure.has_depot() { p.ka * a[0] } else { 0.0 };
        da[0] = self.rates[0] - absorbed;
        da[1] = self.rates[1] + absorbed - elimination;
        for k in 1..n {
            let flow = p.q[k - 1] * (c1 - a[1 + k] / p.v[k]);
            da[1] -= flow;
            da[1 + k] = self.rates[1 + k] + flow;
        }
        for k in (n + 1)..MAX_STATES {
            da[k] = 0.0;
        }
    }
}

impl OdeKinetics {
    /// ODE kinetics of a mammillary structure.
    pub fn new(params: PkParams, tol: OdeTolerances) -> Self {
        OdeKinetics {
            params,
            tol,
            rates: [0.0; MAX_STATES],
        }
    }
}

impl Kinetics for OdeKinetics {
    fn set_rates(&mut self, rates: &Rates) {
        self.rates = *rates;
    }

    fn advance(&mut self, s: &mut State, dt: f64) -> Result<(), String> {
        if dt <= 0.0 {
            return Ok(());
        }
        let rhs = Rhs {
            p: self.params,
            rates: self.rates,
        };
        let y0 = Vec4::from_column_slice(s);
        // Sparse output: the crate's dense output corrupts the final point
        // (ode_solvers 0.6.2; a 2-state linear decay over 10 h ends at −1e5).
        // The stiffness abort is disabled: error control keeps an explicit
        // method accurate on stiff segments, it only takes more steps.
        let mut solver = Dop853::from_param(
            rhs,
            0.0,
            dt,
            dt,
            y0,
            self.tol.rtol,
            self.tol.atol,
            0.9,
            0.0,
            0.333,
            6.0,
            dt,
            0.0,
            5_000_000,
            u32::MAX,
            OutputType::Sparse,
        );
        solver.integrate().map_err(|e| e.to_string())?;
        let y = solver.y_out().last().ok_or("the ODE solver returned no state")?;
        let t_end = solver.x_out().last().copied().unwrap_or(0.0);
        if (t_end - dt).abs() > 1e-9 * dt.max(1.0) {
            return Err(format!("integration stopped at {t_end} of a {dt} step"));
        }
        s.copy_from_slice(y.as_slice());
        Ok(())
    }

    fn add_amount(&self, s: &mut State, target: usize, amount: f64) {
        s[target] += amount;
    }

    fn concentration(&self, s: &State) -> f64 {
        s[1] / self.params.v[0]
    }

    fn amounts(&self, s: &State) -> State {
        *s
    }

    fn is_linear(&self) -> bool {
        true
    }
}
