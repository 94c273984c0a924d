//! Disposition quantities derived from a linear model's parameters: the
//! exponents (α, β, γ), half-lives, steady-state volume and mean residence time.

use super::analytic::ModalKinetics;
use super::structure::PkParams;

/// Derived disposition of a linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct Disposition {
    /// Exponents (rate constants of the phases), fastest first: α, β, (γ), 1/time.
    pub exponents: Vec<f64>,
    /// Half-lives ln 2/exponent, same order.
    pub half_lives: Vec<f64>,
    /// Volume of distribution at steady state: the sum of the compartment volumes.
    pub vss: f64,
    /// Mean residence time after an IV bolus: Vss/CL.
    pub mrt: f64,
    /// Elimination rate constant from the central compartment, CL/V1.
    pub k10: f64,
}

impl Disposition {
    /// Derives the disposition of a linear model.
    pub fn of(p: &PkParams) -> Self {
        let modal = ModalKinetics::new(p);
        let exponents = modal.exponents();
        let half_lives = exponents.iter().map(|e| std::f64::consts::LN_2 / e).collect();
        let vss: f64 = p.v[..p.structure.compartments].iter().sum();
        Disposition {
            exponents,
            half_lives,
            vss,
            mrt: vss / p.cl,
            k10: p.cl / p.v[0],
        }
    }
}
