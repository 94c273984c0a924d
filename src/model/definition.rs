//! Model definition files (TOML, read with serde): structure, parameter names,
//! units, bounds and initial values, and optional data columns that carry
//! per-record lag time, bioavailability, rate and duration.

use super::structure::{Absorption, Elimination, PkParams, Solver, Structure};
use crate::error::{Error, Result};
use crate::units::{AmountUnit, ConcentrationUnit, TimeUnit, Units, VolumeUnit};
use serde::Deserialize;
use std::path::Path;

/// One parameter of a model file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Name (e.g. `CL`).
    pub name: String,
    /// Unit as text (e.g. `L/h`), for display.
    #[serde(default)]
    pub unit: String,
    /// Lower bound for estimation.
    pub lower: f64,
    /// Upper bound for estimation.
    pub upper: f64,
    /// Default initial value.
    pub init: f64,
    /// What the parameter means.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StructureSpec {
    compartments: usize,
    #[serde(default = "default_absorption")]
    absorption: Absorption,
    #[serde(default = "default_elimination")]
    elimination: Elimination,
    #[serde(default)]
    solver: Solver,
}

fn default_absorption() -> Absorption {
    Absorption::None
}
fn default_elimination() -> Elimination {
    Elimination::Linear
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnitsSpec {
    pub(crate) amount: Option<String>,
    pub(crate) volume: Option<String>,
    pub(crate) time: Option<String>,
    pub(crate) concentration: Option<String>,
}

/// Data columns that override dose attributes record by record (NONMEM's
/// `ALAGn = LAGT`, `Fn = BIOAV`, `Rn = RAT2`, `Dn = DUR2`).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataColumns {
    /// Column holding the lag time of each dose.
    pub lag: Option<String>,
    /// Column holding the bioavailability of each dose.
    pub bioavailability: Option<String>,
    /// Column holding the modelled rate, used when RATE = −1.
    pub rate: Option<String>,
    /// Column holding the modelled duration, used when RATE = −2.
    pub duration: Option<String>,
    /// CMT number whose doses these columns apply to (as NONMEM's `ALAG2`,
    /// `F2`); default: the default dose compartment.
    pub compartment: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    name: String,
    #[serde(default)]
    description: String,
    structure: StructureSpec,
    #[serde(default)]
    units: UnitsSpec,
    #[serde(rename = "parameter")]
    parameters: Vec<ParameterSpec>,
    #[serde(default)]
    data_columns: DataColumns,
}

/// A validated model definition.
#[derive(Debug, Clone)]
pub struct ModelDefinition {
    /// Model name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Compartment structure.
    pub structure: Structure,
    /// Solver choice.
    pub solver: Solver,
    /// Units of the model.
    pub units: Units,
    /// Parameters with bounds and initial values.
    pub parameters: Vec<ParameterSpec>,
    /// Per-record dose attributes taken from data columns.
    pub data_columns: DataColumns,
}

/// Model files bundled with the binary, usable by name.
const BUILTIN: &[(&str, &str)] = &[
    ("one_cmt_iv", include_str!("../../models/one_cmt_iv.toml")),
    ("two_cmt_iv", include_str!("../../models/two_cmt_iv.toml")),
    ("three_cmt_iv", include_str!("../../models/three_cmt_iv.toml")),
    ("one_cmt_oral", include_str!("../../models/one_cmt_oral.toml")),
    ("two_cmt_oral", include_str!("../../models/two_cmt_oral.toml")),
    ("one_cmt_mm_iv", include_str!("../../models/one_cmt_mm_iv.toml")),
];

impl ModelDefinition {
    /// Loads a model from a TOML file, or a bundled model by name
    /// (`two_cmt_iv`, `one_cmt_oral`, …) when no such file exists.
    pub fn load(path_or_name: &str) -> Result<Self> {
        let path = Path::new(path_or_name);
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path_or_name, e))?;
            return Self::from_toml(&text, path_or_name);
        }
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == path_or_name) {
            return Self::from_toml(text, path_or_name);
        }
        Err(Error::Model {
            model: path_or_name.to_string(),
            message: format!(
                "no such file, and not a bundled model name (bundled: {})",
                Self::builtin_names().join(", ")
            ),
        })
    }

    /// Names of the bundled models.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// Parses and validates a model definition; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let err = |message: String| Error::Model {
            model: origin.to_string(),
            message,
        };
        let file: ModelFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let s = &file.structure;
        if !(1..=3).contains(&s.compartments) {
            return Err(err(format!(
                "structure.compartments must be 1, 2 or 3, got {}",
                s.compartments
            )));
        }
        let structure = Structure {
            compartments: s.compartments,
            absorption: s.absorption,
            elimination: s.elimination,
        };
        if s.solver == Solver::Analytic && s.elimination != Elimination::Linear {
            return Err(err(
                "the analytic solver needs linear elimination; use solver = \"ode\" or \"auto\"".into(),
            ));
        }
        let units = parse_units(&file.units)?;
        validate_parameters(&structure, &file.parameters).map_err(err)?;
        Ok(ModelDefinition {
            name: file.name,
            description: file.description,
            structure,
            solver: s.solver,
            units,
            parameters: file.parameters,
            data_columns: file.data_columns,
        })
    }

    /// The parameter spec named `name`.
    pub fn parameter(&self, name: &str) -> Option<&ParameterSpec> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// Parameter names in file order.
    pub fn parameter_names(&self) -> Vec<&str> {
        self.parameters.iter().map(|p| p.name.as_str()).collect()
    }

    /// Typed parameters from named values; names must be parameters of this model.
    /// Parameters not given take the model file's initial values.
    pub fn params(&self, values: &[(String, f64)]) -> Result<PkParams> {
        for (name, _) in values {
            if self.parameter(name).is_none() {
                return Err(Error::parameter(
                    name,
                    format!(
                        "model {} has no such parameter; its parameters are {}",
                        self.name,
                        self.parameter_names().join(", ")
                    ),
                ));
            }
        }
        let mut all: Vec<(String, f64)> = self.parameters.iter().map(|p| (p.name.clone(), p.init)).collect();
        all.extend(values.iter().cloned());
        PkParams::from_named(self.structure, &all, self.units.concentration_scale())
    }
}

pub(crate) fn parse_units(spec: &UnitsSpec) -> Result<Units> {
    let d = Units::default();
    Ok(Units {
        amount: spec
            .amount
            .as_deref()
            .map(AmountUnit::parse)
            .transpose()?
            .unwrap_or(d.amount),
        volume: spec
            .volume
            .as_deref()
            .map(VolumeUnit::parse)
            .transpose()?
            .unwrap_or(d.volume),
        time: spec.time.as_deref().map(TimeUnit::parse).transpose()?.unwrap_or(d.time),
        concentration: spec
            .concentration
            .as_deref()
            .map(ConcentrationUnit::parse)
            .transpose()?
            .unwrap_or(d.concentration),
    })
}

fn validate_parameters(structure: &Structure, params: &[ParameterSpec]) -> std::result::Result<(), String> {
    for p in params {
        if !structure.has_parameter(&p.name) {
            return Err(format!(
                "parameter {} is not a parameter of a {}-compartment model with {:?} absorption and {:?} elimination (expected {})",
                p.name,
                structure.compartments,
                structure.absorption,
                structure.elimination,
                structure.required_parameters().join(", ")
            ));
        }
        if params.iter().filter(|q| q.name == p.name).count() > 1 {
            return Err(format!("parameter {} is defined twice", p.name));
        }
        let ok_bounds = p.lower.is_finite() && p.upper.is_finite() && p.lower < p.upper;
        if !ok_bounds || p.init < p.lower || p.init > p.upper {
            return Err(format!(
                "parameter {}: need lower < upper and lower <= init <= upper, got lower {}, init {}, upper {}",
                p.name, p.lower, p.init, p.upper
            ));
        }
        if p.name != "ALAG" && p.lower <= 0.0 {
            return Err(format!(
                "parameter {}: lower bound must be positive (parameters are estimated on the log scale), got {}",
                p.name, p.lower
            ));
        }
    }
    for name in structure.required_parameters() {
        if !params.iter().any(|p| p.name == name) {
            return Err(format!("required parameter {name} is not defined"));
        }
    }
    Ok(())
}
