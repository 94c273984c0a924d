//! `pk._pk`: the native part of the Python package `pk`.
//!
//! A thin layer over the engine's library: it takes and gives plain Python
//! objects (strings, numbers, lists, dicts, CSV text) and the Python package
//! (`pk/__init__.py`) turns them into pandas DataFrames and NumPy arrays.
//! Every computation runs with the GIL released; every engine error becomes
//! `pk.PkError` with the message the CLI prints after `error: `.

mod data;
mod fit;
mod interrupt;
mod nca;
mod popfit;
mod simulate;

use pk::model::Model;
use pk::nonmem::import::Import;
use pk::nonmem::ControlStream;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::path::Path;

create_exception!(
    _pk,
    PkError,
    PyException,
    "An error of the pk engine: bad input (data, model, arguments) or a failed computation. \
     The message is the one the `pk` command line prints."
);

/// The engine's error as `pk.PkError`.
pub(crate) fn to_py(e: pk::Error) -> PyErr {
    PkError::new_err(e.to_string())
}

/// A model: a file in the model language, or a NONMEM control stream.
// One per pk.Model: the size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind {
    /// A model in the model language.
    Language(Model),
    /// A NONMEM control stream (parsed, not lowered: it is lowered with its
    /// data, the `$DATA` file or a DataFrame read as `$INPUT` says).
    ControlStream(Box<ControlStream>),
}

/// A model loaded with `pk.load_model`.
#[pyclass(name = "Model", module = "pk._pk", frozen)]
pub(crate) struct PyModel {
    pub(crate) kind: Kind,
    /// The text of the model or control stream.
    source: String,
    /// Where it was read from (path, bundled name, or `<text>`).
    origin: String,
}

#[pymethods]
impl PyModel {
    /// The model's name (a control stream: its file).
    #[getter]
    fn name(&self) -> String {
        match &self.kind {
            Kind::Language(m) => m.name(),
            Kind::ControlStream(c) => c.file.clone(),
        }
    }

    /// The text of the model file or control stream.
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }

    /// Where the model was read from: a path, a bundled name, or `<text>`.
    #[getter]
    fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the model is a NONMEM control stream.
    #[getter]
    fn is_control_stream(&self) -> bool {
        matches!(self.kind, Kind::ControlStream(_))
    }

    /// θ names (model language only; a control stream's are known once lowered).
    #[getter]
    fn theta_names(&self) -> Vec<String> {
        match &self.kind {
            Kind::Language(m) => m.code.thetas.iter().map(|t| t.name.clone()).collect(),
            Kind::ControlStream(_) => Vec::new(),
        }
    }

    /// Initial θ (model language only).
    #[getter]
    fn theta_init(&self) -> Vec<f64> {
        match &self.kind {
            Kind::Language(m) => m.theta_init(),
            Kind::ControlStream(_) => Vec::new(),
        }
    }

    /// η names (model language only).
    #[getter]
    fn eta_names(&self) -> Vec<String> {
        match &self.kind {
            Kind::Language(m) => m.code.omega.names.clone(),
            Kind::ControlStream(_) => Vec::new(),
        }
    }

    /// σ names (model language only).
    #[getter]
    fn sigma_names(&self) -> Vec<String> {
        match &self.kind {
            Kind::Language(m) => m.code.sigmas.iter().map(|s| s.name.clone()).collect(),
            Kind::ControlStream(_) => Vec::new(),
        }
    }

    fn __repr__(&self) -> String {
        let kind = match self.kind {
            Kind::Language(_) => "model",
            Kind::ControlStream(_) => "NONMEM control stream",
        };
        format!("<pk.Model {} ({kind}, from {})>", self.name(), self.origin)
    }
}

/// Whether `text` is the text of a control stream (first record `$PROBLEM`).
fn looks_like_control_stream(text: &str) -> bool {
    text.lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.to_ascii_uppercase().starts_with("$PRO"))
}

/// Loads a model: a path to a model file (`.pk`) or a NONMEM control stream
/// (`.ctl`, `.mod`, `.con`, or a text starting with `$PROBLEM`), a bundled
/// model name, or the text of either.
#[pyfunction]
#[pyo3(signature = (path_or_text, /))]
fn load_model(py: Python<'_>, path_or_text: String) -> PyResult<PyModel> {
    py.detach(move || -> pk::Result<PyModel> {
        let is_text = path_or_text.contains('\n');
        if !is_text && Path::new(&path_or_text).is_file() {
            if pk::nonmem::import::is_control_stream(&path_or_text) {
                let control = ControlStream::read(&path_or_text)?;
                let source = std::fs::read_to_string(&path_or_text).map_err(|e| pk::Error::io(&path_or_text, e))?;
                return Ok(PyModel {
                    kind: Kind::ControlStream(Box::new(control)),
                    source,
                    origin: path_or_text,
                });
            }
            let model = load_language_model(&path_or_text)?;
            let source = model.source.clone();
            return Ok(PyModel {
                kind: Kind::Language(model),
                source,
                origin: path_or_text,
            });
        }
        if is_text {
            let origin = "<text>".to_string();
            if looks_like_control_stream(&path_or_text) {
                let control = ControlStream::parse(&path_or_text, &origin)?;
                return Ok(PyModel {
                    kind: Kind::ControlStream(Box::new(control)),
                    source: path_or_text,
                    origin,
                });
            }
            let model = Model::from_text(&path_or_text, &origin)?;
            return Ok(PyModel {
                kind: Kind::Language(model),
                source: path_or_text,
                origin,
            });
        }
        // A bundled name, or the CLI's message for a missing file.
        let model = load_language_model(&path_or_text)?;
        Ok(PyModel {
            source: model.source.clone(),
            kind: Kind::Language(model),
            origin: path_or_text,
        })
    })
    .map_err(to_py)
}

/// A model in the model language; a TOML model file is refused as the CLI
/// refuses it.
fn load_language_model(path_or_name: &str) -> pk::Result<Model> {
    if path_or_name.ends_with(".toml") {
        return Err(pk::Error::Model {
            model: path_or_name.to_string(),
            message: "a TOML model file; every subcommand reads models in the model language \
                      (.pk, docs/model_language.md), e.g. models/clofarabine_bonate2004.pk or a bundled name"
                .into(),
        });
    }
    Model::load(path_or_name)
}

/// The names of the bundled models (usable as `pk.load_model(name)`).
#[pyfunction]
fn bundled_models() -> Vec<&'static str> {
    Model::bundled_names()
}

/// A control stream lowered with its data: the `$DATA` file (`data` None),
/// or CSV text read as `$INPUT` and `$DATA` say (`data` the text and its name).
pub(crate) fn import_control_stream(control: &ControlStream, data: Option<(&str, &str)>) -> pk::Result<Import> {
    let records = match data {
        None => pk::nonmem::dataset::read_dataset(control)?,
        Some((text, name)) => pk::nonmem::dataset::parse_dataset(control, text, name)?,
    };
    Import::build(control.clone(), records)
}

/// The native module.
#[pymodule]
fn _pk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PkError", m.py().get_type::<PkError>())?;
    m.add_class::<PyModel>()?;
    m.add_class::<popfit::PopFit>()?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(bundled_models, m)?)?;
    m.add_function(wrap_pyfunction!(popfit::popfit, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit, m)?)?;
    m.add_function(wrap_pyfunction!(nca::nca, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::model_units, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
