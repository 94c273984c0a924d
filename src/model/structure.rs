//! Model structures (compartments, absorption, elimination) and the typed
//! parameter set that the kinetics need, built from named parameter values.

use crate::error::{Error, Result};
use serde::Deserialize;

/// How drug enters the central compartment besides direct IV input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Absorption {
    /// IV only: bolus or zero-order infusion into a disposition compartment.
    None,
    /// First-order absorption from a depot compartment with rate constant KA.
    FirstOrder,
}

/// How drug leaves the central compartment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Elimination {
    /// Linear clearance CL.
    Linear,
    /// Michaelis–Menten: rate = VMAX·C/(KM + C), KM in the reported concentration unit.
    MichaelisMenten,
}

/// Which solver computes the predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Closed form where one exists (linear models), otherwise the ODE solver.
    #[default]
    Auto,
    /// Closed form (modal decomposition); linear elimination only.
    Analytic,
    /// Numerical integration with `ode_solvers` (Dormand–Prince 8(5,3)).
    Ode,
}

/// A mammillary compartment structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Structure {
    /// Number of disposition compartments: 1, 2 or 3.
    pub compartments: usize,
    /// Absorption route.
    pub absorption: Absorption,
    /// Elimination from the central compartment.
    pub elimination: Elimination,
}

/// Parameters that may be added to any structure.
pub const OPTIONAL_PARAMETERS: &[(&str, &str)] = &[
    ("F", "bioavailability of doses into the default dose compartment"),
    ("ALAG", "lag time of doses into the default dose compartment"),
    ("R", "modelled infusion rate, used by records with RATE = -1"),
    ("D", "modelled infusion duration, used by records with RATE = -2"),
];

impl Structure {
    /// The parameter names this structure requires, in their conventional order.
    pub fn required_parameters(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        match self.elimination {
            Elimination::Linear => names.push("CL"),
            Elimination::MichaelisMenten => names.extend(["VMAX", "KM"]),
        }
        match self.compartments {
            1 => names.push("V"),
            2 => names.extend(["V1", "Q", "V2"]),
            _ => names.extend(["V1", "Q2", "V2", "Q3", "V3"]),
        }
        if self.absorption == Absorption::FirstOrder {
            names.push("KA");
        }
        names
    }

    /// Whether `name` is a parameter of this structure (required or optional).
    pub fn has_parameter(&self, name: &str) -> bool {
        self.required_parameters().contains(&name) || OPTIONAL_PARAMETERS.iter().any(|(n, _)| *n == name)
    }

    /// Number of states: the depot (index 0, unused without absorption) and the
    /// disposition compartments (indices 1..=compartments).
    pub fn n_states(&self) -> usize {
        1 + self.compartments
    }

    /// State index for a NONMEM CMT number (1-based; depot is CMT 1 when present).
    /// CMT 0 (or missing) means the default dose compartment.
    pub fn state_of_cmt(&self, cmt: i64) -> Option<usize> {
        if cmt == 0 {
            return Some(self.default_dose_state());
        }
        let idx = match self.absorption {
            Absorption::FirstOrder => cmt - 1,
            Absorption::None => cmt,
        };
        (idx >= 0 && (idx as usize) < self.n_states() && (idx != 0 || self.has_depot())).then_some(idx as usize)
    }

    /// The state that doses go into by default: the depot, or the central compartment.
    pub fn default_dose_state(&self) -> usize {
        if self.has_depot() {
            0
        } else {
            1
        }
    }

    /// Whether the structure has a depot compartment.
    pub fn has_depot(&self) -> bool {
        self.absorption == Absorption::FirstOrder
    }

    /// The NONMEM CMT number of a state index.
    pub fn cmt_of_state(&self, state: usize) -> usize {
        if self.has_depot() {
            state + 1
        } else {
            state
        }
    }

    /// Number of compartments a NONMEM CMT column may name.
    pub fn n_cmt(&self) -> usize {
        self.compartments + usize::from(self.has_depot())
    }
}

/// A parameter name resolved once, for fast repeated updates of [`PkParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamId {
    /// CL.
    Cl,
    /// V or V1.
    V1,
    /// V2.
    V2,
    /// V3.
    V3,
    /// Q or Q2.
    Q2,
    /// Q3.
    Q3,
    /// KA.
    Ka,
    /// VMAX.
    Vmax,
    /// KM.
    Km,
    /// F.
    F,
    /// ALAG.
    Alag,
    /// R (modelled rate).
    Rate,
    /// D (modelled duration).
    Duration,
}

impl ParamId {
    /// Resolves a parameter name (`CL`, `V`, `V1`, `Q`, `Q2`, …); `None` if unknown.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "CL" => ParamId::Cl,
            "V" | "V1" => ParamId::V1,
            "V2" => ParamId::V2,
            "V3" => ParamId::V3,
            "Q" | "Q2" => ParamId::Q2,
            "Q3" => ParamId::Q3,
            "KA" => ParamId::Ka,
            "VMAX" => ParamId::Vmax,
            "KM" => ParamId::Km,
            "F" => ParamId::F,
            "ALAG" => ParamId::Alag,
            "R" => ParamId::Rate,
            "D" => ParamId::Duration,
            _ => return None,
        })
    }

    /// Whether a change of this parameter changes the dosing events (F, ALAG, R, D).
    pub fn affects_doses(self) -> bool {
        matches!(self, ParamId::F | ParamId::Alag | ParamId::Rate | ParamId::Duration)
    }
}

/// Typed parameter values of a compartment model (model units: amount, volume, time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PkParams {
    /// Structure these parameters belong to.
    pub structure: Structure,
    /// Clearance (linear elimination).
    pub cl: f64,
    /// Volumes of the central and peripheral compartments (unused entries are 1).
    pub v: [f64; 3],
    /// Inter-compartmental clearances to peripheral compartments 2 and 3.
    pub q: [f64; 2],
    /// Absorption rate constant (first-order absorption only).
    pub ka: f64,
    /// Maximum elimination rate (Michaelis–Menten), amount/time.
    pub vmax: f64,
    /// Michaelis–Menten constant in model amount/volume units.
    pub km: f64,
    /// Bioavailability of doses into the default compartment.
    pub f: f64,
    /// Lag time of doses into the default compartment.
    pub alag: f64,
    /// Modelled infusion rate (RATE = −1), if given.
    pub rate: Option<f64>,
    /// Modelled infusion duration (RATE = −2), if given.
    pub duration: Option<f64>,
}

impl PkParams {
    /// Builds typed parameters from (name, value) pairs, checking that every
    /// required parameter is present, none is unknown, and values are valid.
    /// `km_scale` converts KM from reported concentration units to amount/volume.
    pub fn from_named(structure: Structure, values: &[(String, f64)], km_scale: f64) -> Result<Self> {
        let mut p = PkParams {
            structure,
            cl: 0.0,
            v: [1.0; 3],
            q: [0.0; 2],
            ka: 0.0,
            vmax: 0.0,
            km: 1.0,
            f: 1.0,
            alag: 0.0,
            rate: None,
            duration: None,
        };
        for (name, value) in values {
            if !structure.has_parameter(name) {
                return Err(Error::parameter(
                    name,
                    format!(
                        "the model has no such parameter; its parameters are {} (optional: {})",
                        structure.required_parameters().join(", "),
                        OPTIONAL_PARAMETERS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !value.is_finite() {
                return Err(Error::parameter(name, format!("value {value} is not a finite number")));
            }
        }
        let get = |name: &str| values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v);
        for name in structure.required_parameters() {
            let value =
                get(name).ok_or_else(|| Error::parameter(name, "missing: the model requires it".to_string()))?;
            if value <= 0.0 && name != "ALAG" {
                return Err(Error::parameter(
                    name,
                    format!("must be positive (volumes, clearances and rate constants), got {value}"),
                ));
            }
            match name {
                "CL" => p.cl = value,
                "V" | "V1" => p.v[0] = value,
                "V2" => p.v[1] = value,
                "V3" => p.v[2] = value,
                "Q" | "Q2" => p.q[0] = value,
                "Q3" => p.q[1] = value,
                "KA" => p.ka = value,
                "VMAX" => p.vmax = value,
                "KM" => p.km = value / km_scale,
                _ => {}
            }
        }
        if let Some(f) = get("F") {
            if f < 0.0 {
                return Err(Error::parameter("F", format!("must not be negative, got {f}")));
            }
            p.f = f;
        }
        if let Some(a) = get("ALAG") {
            if a < 0.0 {
                return Err(Error::parameter("ALAG", format!("must not be negative, got {a}")));
            }
            p.alag = a;
        }
        p.rate = get("R");
        p.duration = get("D");
        Ok(p)
    }

    /// Sets one parameter by id, without validation (for optimisers that have
    /// already checked names and bounds). KM is taken in model amount/volume units.
    pub fn set(&mut self, id: ParamId, value: f64) {
        match id {
            ParamId::Cl => self.cl = value,
            ParamId::V1 => self.v[0] = value,
            ParamId::V2 => self.v[1] = value,
            ParamId::V3 => self.v[2] = value,
            ParamId::Q2 => self.q[0] = value,
            ParamId::Q3 => self.q[1] = value,
            ParamId::Ka => self.ka = value,
            ParamId::Vmax => self.vmax = value,
            ParamId::Km => self.km = value,
            ParamId::F => self.f = value,
            ParamId::Alag => self.alag = value,
            ParamId::Rate => self.rate = Some(value),
            ParamId::Duration => self.duration = Some(value),
        }
    }

    /// The value of one parameter (KM in model amount/volume units; NaN for an unset R or D).
    pub fn get(&self, id: ParamId) -> f64 {
        match id {
            ParamId::Cl => self.cl,
            ParamId::V1 => self.v[0],
            ParamId::V2 => self.v[1],
            ParamId::V3 => self.v[2],
            ParamId::Q2 => self.q[0],
            ParamId::Q3 => self.q[1],
            ParamId::Ka => self.ka,
            ParamId::Vmax => self.vmax,
            ParamId::Km => self.km,
            ParamId::F => self.f,
            ParamId::Alag => self.alag,
            ParamId::Rate => self.rate.unwrap_or(f64::NAN),
            ParamId::Duration => self.duration.unwrap_or(f64::NAN),
        }
    }

    /// Two-compartment IV parameters (CL, V1, Q, V2), the project's central model.
    pub fn two_cmt_iv(cl: f64, v1: f64, q: f64, v2: f64) -> Result<Self> {
        let names = [("CL", cl), ("V1", v1), ("Q", q), ("V2", v2)];
        let values: Vec<(String, f64)> = names.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        PkParams::from_named(
            Structure {
                compartments: 2,
                absorption: Absorption::None,
                elimination: Elimination::Linear,
            },
            &values,
            1.0,
        )
    }
}
