//! A control stream ready to run: parsed, lowered onto the model language,
//! compiled, with its data read as `$INPUT` and `$DATA` say.
//!
//! ```no_run
//! use pk::nonmem::import::Import;
//! use pk::population::estimation::{objective, PopulationData};
//! let run = Import::read("run1.ctl").unwrap();
//! let pop = PopulationData::new(&run.model, &run.data).unwrap();
//! let values = run.values_from_ext("run1.ext").unwrap();
//! let e = objective(&run.model, &pop, &values, run.lowered.estimation.method, &[]).unwrap();
//! println!("OFV {}", e.ofv);
//! ```

use super::dataset::{parse_dataset, read_dataset, Dataset};
use super::ext::read_ext;
use super::lower::params::NmValues;
use super::lower::{data::engine_dataset, lower, Lowered};
use super::ControlStream;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::population::estimation::PopValues;
use nalgebra::DMatrix;
use std::path::Path;

/// A control stream with its model and data.
#[derive(Debug, Clone)]
pub struct Import {
    /// The parsed control stream.
    pub control: ControlStream,
    /// Its lowering onto the model language.
    pub lowered: Lowered,
    /// The compiled model.
    pub model: Model,
    /// The data records `$INPUT`/`$DATA` keep.
    pub records: Dataset,
    /// The data as the engine reads them.
    pub data: crate::data::Dataset,
}

/// Whether a file is a NONMEM control stream: extension `.ctl`, `.mod` or
/// `.con`, or a text whose first record is `$PROBLEM`.
pub fn is_control_stream(path: &str) -> bool {
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(ext.as_str(), "ctl" | "mod" | "con") {
        return true;
    }
    let Ok(bytes) = std::fs::read(path) else { return false };
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_string();
    text.lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.to_ascii_uppercase().starts_with("$PRO"))
}

impl Import {
    /// Reads a control stream and the data file its `$DATA` names.
    pub fn read(path: impl AsRef<Path>) -> Result<Import> {
        let control = ControlStream::read(path.as_ref())?;
        let records = read_dataset(&control)?;
        Self::build(control, records)
    }

    /// Reads a control stream with the data from another file (read as `$INPUT` and `$DATA` say).
    pub fn read_with_data(path: impl AsRef<Path>, data: impl AsRef<Path>) -> Result<Import> {
        let control = ControlStream::read(path.as_ref())?;
        Self::from_control_with_data(control, data)
    }

    /// A parsed control stream with the data from `data`.
    pub fn from_control_with_data(control: ControlStream, data: impl AsRef<Path>) -> Result<Import> {
        let p = data.as_ref();
        let name = p.display().to_string();
        let bytes = std::fs::read(p).map_err(|e| Error::io(&name, e))?;
        let records = parse_dataset(&control, &String::from_utf8_lossy(&bytes), &name)?;
        Self::build(control, records)
    }

    /// Lowers and compiles a parsed control stream with its data records.
    pub fn build(control: ControlStream, records: Dataset) -> Result<Import> {
        let lowered = lower(&control, Some(&records))?;
        let origin = format!("{} (lowered; see pk translate)", control.file);
        let model = Model::from_text(&lowered.text, &origin)?;
        let data = engine_dataset(&records, &lowered.data, &|n| lowered.covariate_item(n))?;
        Ok(Import {
            control,
            lowered,
            model,
            records,
            data,
        })
    }

    /// The model's values at the control stream's initial estimates.
    pub fn initial_values(&self) -> PopValues {
        self.lowered.parameters.pop_values(&self.model, &self.lowered.initial)
    }

    /// NONMEM values from the final row of the last table of an `.ext` file.
    pub fn ext_values(&self, path: impl AsRef<Path>) -> Result<NmValues> {
        let tables = read_ext(path.as_ref())?;
        let name = path.as_ref().display().to_string();
        let table = tables
            .last()
            .ok_or_else(|| Error::data(crate::error::Location::file(&name), "no table in the .ext file"))?;
        let e = table.final_estimates().ok_or_else(|| {
            Error::data(
                crate::error::Location::file(&name),
                "no final-estimate row (ITERATION -1000000000) in the last table",
            )
        })?;
        let p = &self.lowered.parameters;
        if e.theta.len() != p.theta_names.len() {
            return Err(Error::data(
                crate::error::Location::file(&name),
                format!(
                    "{} θ in the .ext file, {} in the control stream",
                    e.theta.len(),
                    p.theta_names.len()
                ),
            ));
        }
        let full = |map: &std::collections::BTreeMap<(usize, usize), f64>, n: usize| {
            let mut m = DMatrix::zeros(n, n);
            for (&(i, j), &v) in map {
                if i >= 1 && j >= 1 && i <= n && j <= n {
                    m[(i - 1, j - 1)] = v;
                    m[(j - 1, i - 1)] = v;
                }
            }
            m
        };
        Ok(NmValues {
            theta: e.theta.clone(),
            omega: full(&e.omega, p.eta.len()),
            sigma: full(&e.sigma, p.eps_names.len()),
        })
    }

    /// The model's values at the final estimates of an `.ext` file
    /// (PsN's update_inits).
    pub fn values_from_ext(&self, path: impl AsRef<Path>) -> Result<PopValues> {
        let nm = self.ext_values(path)?;
        Ok(self.lowered.parameters.pop_values(&self.model, &nm))
    }
}
