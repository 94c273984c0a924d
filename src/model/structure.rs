//! Linear mammillary structures (compartments, absorption) and the typed
//! parameter set of the closed-form kernels.

use crate::error::{Error, Result};

/// How drug enters the central compartment besides direct IV input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorption {
    /// IV only: bolus or zero-order infusion into a disposition compartment.
    None,
    /// First-order absorption from a depot compartment with rate constant KA.
    FirstOrder,
}

/// A linear mammillary compartment structure: elimination by clearance from
/// the central compartment, peripherals exchanging with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Structure {
    /// Number of disposition compartments: 1, 2 or 3.
    pub compartments: usize,
    /// Absorption route.
    pub absorption: Absorption,
}

impl Structure {
    /// Number of states: the depot (index 0, unused without absorption) and the
    /// disposition compartments (indices 1..=compartments).
    pub fn n_states(&self) -> usize {
        1 + self.compartments
    }

    /// Whether the structure has a depot compartment.
    pub fn has_depot(&self) -> bool {
        self.absorption == Absorption::FirstOrder
    }
}

/// Typed parameter values of a linear compartment model (model units:
/// amount, volume, time); values, or duals carrying derivatives
/// ([`crate::autodiff`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PkParams<T = f64> {
    /// Structure these parameters belong to.
    pub structure: Structure,
    /// Clearance from the central compartment.
    pub cl: T,
    /// Volumes of the central and peripheral compartments (unused entries are 1).
    pub v: [T; 3],
    /// Inter-compartmental clearances to peripheral compartments 2 and 3.
    pub q: [T; 2],
    /// Absorption rate constant (first-order absorption only).
    pub ka: T,
}

impl PkParams {
    /// The parameters of a mammillary model: clearance `cl`, the volumes
    /// (central first; 1 to 3 of them), one inter-compartmental clearance per
    /// peripheral, and `ka` for first-order absorption from a depot. Every
    /// value must be a positive finite number.
    pub fn mammillary(cl: f64, volumes: &[f64], clearances: &[f64], ka: Option<f64>) -> Result<Self> {
        let n = volumes.len();
        if !(1..=3).contains(&n) || clearances.len() + 1 != n {
            return Err(Error::Argument(format!(
                "a mammillary model has 1 to 3 volumes and one clearance per peripheral, got {n} volumes and {} clearances",
                clearances.len()
            )));
        }
        let named = std::iter::once(("CL", cl))
            .chain(volumes.iter().map(|&v| ("V", v)))
            .chain(clearances.iter().map(|&q| ("Q", q)))
            .chain(ka.map(|k| ("KA", k)));
        for (name, value) in named {
            if !(value > 0.0) || !value.is_finite() {
                return Err(Error::parameter(
                    name,
                    format!("must be a positive finite number (volumes, clearances and rate constants), got {value}"),
                ));
            }
        }
        let mut p = PkParams {
            structure: Structure {
                compartments: n,
                absorption: if ka.is_some() {
                    Absorption::FirstOrder
                } else {
                    Absorption::None
                },
            },
            cl,
            v: [1.0; 3],
            q: [0.0; 2],
            ka: ka.unwrap_or(0.0),
        };
        p.v[..n].copy_from_slice(volumes);
        p.q[..n - 1].copy_from_slice(clearances);
        Ok(p)
    }

    /// Two-compartment IV parameters (CL, V1, Q, V2), the project's central model.
    pub fn two_cmt_iv(cl: f64, v1: f64, q: f64, v2: f64) -> Result<Self> {
        Self::mammillary(cl, &[v1, v2], &[q], None)
    }
}
