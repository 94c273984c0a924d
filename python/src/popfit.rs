//! `pk.popfit`: population estimation as `pk popfit` does it (FOCE-I, FOCE,
//! FO, Laplacian; the covariance step; diagnostics; sdtab and patab), from a
//! data file or CSV text, with a model file or a NONMEM control stream.

use crate::data::{read_data, DataSource};
use crate::{import_control_stream, to_py, Kind, PyModel};
use nalgebra::DMatrix;
use pk::data::Dataset;
use pk::model::Model;
use pk::nonmem::lower::params::{EtaTarget, NmStandardErrors, NmValues};
use pk::population::covariance::{covariance_step, CovarianceMatrix, CovarianceStep};
use pk::population::estimation::{
    diagnostics, epsilon_shrinkage, estimate_with, evaluate_at, reported, EstimationOptions, Method, ObservationRow,
    Parameters, PopValues, PopulationData, PopulationFit,
};
use pk::population::tables::TableSource;
use pk::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A population fit and what its tables are made from.
#[pyclass(name = "PopFit", module = "pk._pk", frozen)]
pub struct PopFit {
    model: Model,
    dataset: Dataset,
    pop: PopulationData,
    fit: PopulationFit,
    rows: Vec<ObservationRow>,
    /// The covariance step, or why there is none.
    cov: std::result::Result<CovarianceStep, String>,
    matrix: CovarianceMatrix,
    seconds: f64,
    evaluate_only: bool,
    /// Notes as the CLI prints them on standard error (lowering, BLQ).
    notes: Vec<String>,
    /// A control stream's θ, Ω, Σ in its numbering, their names and SEs.
    nonmem: Option<NonmemView>,
}

struct NonmemView {
    values: NmValues,
    theta_names: Vec<String>,
    eta_labels: Vec<String>,
    eps_names: Vec<String>,
    se: Option<NmStandardErrors>,
}

fn rows_of(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
        .collect()
}

/// The censoring notes of `pk popfit` (standard error there).
fn censoring_notes(data: &PopulationData) -> Vec<String> {
    let mut notes = Vec::new();
    if data.n_dropped_blq > 0 {
        notes.push(format!(
            "{} observations below the quantification limit left out (the model says `blq m1`)",
            data.n_dropped_blq
        ));
    }
    if data.n_censored > 0 {
        notes.push(format!(
            "{} observations below the quantification limit enter as P(y < LLOQ) (Beal's M3)",
            data.n_censored
        ));
    }
    notes
}

/// The η of a control stream as the CLI labels them.
fn eta_labels(imported: &pk::nonmem::import::Import) -> Vec<String> {
    let c = &imported.model.code;
    imported
        .lowered
        .parameters
        .eta
        .iter()
        .map(|t| match t {
            EtaTarget::Omega(i) => c.omega.names[*i].clone(),
            EtaTarget::Kappa { index, occasion } => format!(
                "{} (occasion {})",
                c.iov
                    .as_ref()
                    .map_or(String::new(), |v| v.effects.names[*index].clone()),
                occasion + 1
            ),
            EtaTarget::Removed => "0 (fixed)".into(),
        })
        .collect()
}

/// What a fit needs, from a model file or a control stream.
struct Problem {
    model: Model,
    dataset: Dataset,
    pop: PopulationData,
    start: PopValues,
    method: Method,
    evaluate: bool,
    covariance_requested: bool,
    matrix_default: Option<String>,
    notes: Vec<String>,
    imported: Option<pk::nonmem::import::Import>,
}

struct Options {
    method: Option<String>,
    max_iterations: u64,
    covariance: Option<bool>,
    cov_matrix: Option<String>,
    evaluate: bool,
    drop: Vec<String>,
    accept: Vec<(String, f64)>,
    inits_from: Option<String>,
    /// Called with each outer step's line (the CLI's progress line), GIL taken for the call.
    progress: Option<Py<PyAny>>,
}

fn parse_method(text: &str) -> Result<Method> {
    if text.eq_ignore_ascii_case("saem") {
        return Err(Error::Argument(
            "method 'saem' is not available from Python yet: use `pk popfit --method saem`".into(),
        ));
    }
    Method::parse(text)
}

fn problem(kind: &Kind, data: &DataSource, o: &Options) -> Result<Problem> {
    match kind {
        Kind::Language(model) => {
            if o.inits_from.is_some() {
                return Err(Error::Argument("inits_from is for NONMEM control streams".into()));
            }
            let method = parse_method(o.method.as_deref().unwrap_or("foce-i"))?;
            let dataset = read_data(data, &o.drop, &o.accept)?;
            let pop = PopulationData::new(model, &dataset)?;
            let notes = censoring_notes(&pop);
            Ok(Problem {
                start: PopValues::initial(model),
                model: model.clone(),
                dataset,
                pop,
                method,
                evaluate: o.evaluate,
                covariance_requested: true,
                matrix_default: None,
                notes,
                imported: None,
            })
        }
        Kind::ControlStream(control) => {
            if !o.drop.is_empty() || !o.accept.is_empty() {
                return Err(Error::Argument(
                    "drop and accept are for data files: a control stream selects its data with $INPUT (DROP) and $DATA (IGNORE, ACCEPT)"
                        .into(),
                ));
            }
            let imported = match data {
                DataSource::Default => import_control_stream(control, None)?,
                DataSource::Text(text, name) => import_control_stream(control, Some((text, name)))?,
                DataSource::Path(p) => {
                    let text = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                    import_control_stream(control, Some((&String::from_utf8_lossy(&text), p)))?
                }
            };
            let lowered = &imported.lowered;
            let mut notes: Vec<String> = lowered.notes.iter().chain(&lowered.estimation.notes).cloned().collect();
            let method = match &o.method {
                Some(m) => parse_method(m)?,
                None if lowered.estimation.saem.is_some() => {
                    return Err(Error::Argument(
                        "the control stream's $ESTIMATION is SAEM, not available from Python yet: pass method=\"foce-i\" (or another), or use `pk popfit`".into(),
                    ))
                }
                None => lowered.estimation.method,
            };
            let pop = PopulationData::new(&imported.model, &imported.data)?;
            notes.extend(censoring_notes(&pop));
            let start = match &o.inits_from {
                Some(p) => imported.values_from_ext(p)?,
                None => imported.initial_values(),
            };
            Ok(Problem {
                model: imported.model.clone(),
                dataset: imported.data.clone(),
                pop,
                start,
                method,
                evaluate: o.evaluate || lowered.estimation.evaluate_only,
                covariance_requested: lowered.estimation.covariance,
                matrix_default: lowered.estimation.covariance_matrix.clone(),
                notes,
                imported: Some(imported),
            })
        }
    }
}

fn run(kind: &Kind, data: DataSource, o: Options) -> Result<PopFit> {
    let p = problem(kind, &data, &o)?;
    let started = std::time::Instant::now();
    let fit = if p.evaluate {
        evaluate_at(&p.model, &p.pop, &p.start, p.method)?
    } else {
        let options = EstimationOptions {
            method: p.method,
            max_iterations: o.max_iterations,
            progress: false,
        };
        // Once per outer iteration, with the GIL: the progress callback, and
        // Python's signal handlers (Ctrl-C stops the fit there).
        let observe = |step: pk::population::estimation::OuterStep| {
            let interrupted = Python::attach(|py| {
                if let Some(callback) = &o.progress {
                    // An exception in the callback is printed and ignored: the fit goes on.
                    let line = step.to_string();
                    if let Err(e) = callback.call1(py, (line, step.iteration, step.ofv, step.evaluations)) {
                        e.print(py);
                    }
                }
                py.check_signals().err()
            });
            if let Some(e) = interrupted {
                crate::interrupt::raise(e);
            }
        };
        estimate_with(&p.model, &p.pop, &p.start, &options, &observe)?
    };
    let seconds = started.elapsed().as_secs_f64();
    let matrix = match (&o.cov_matrix, &p.matrix_default) {
        (Some(m), _) | (None, Some(m)) => CovarianceMatrix::parse(m)?,
        (None, None) => CovarianceMatrix::Sandwich,
    };
    // As the CLI: run unless not asked for (covariance=False, a control
    // stream without $COVARIANCE) or evaluating only (unless covariance=True).
    let skip = match o.covariance {
        Some(false) => Some("not requested (covariance=False)".to_string()),
        Some(true) => None,
        None if !p.covariance_requested => Some("not requested (no $COVARIANCE)".to_string()),
        None if p.evaluate => {
            Some("not run with evaluate (pass covariance=True to run it at these estimates)".to_string())
        }
        None => None,
    };
    let cov = match skip {
        Some(why) => Err(why),
        None => covariance_step(&p.model, &p.pop, &p.start, &fit, matrix)?.map_err(|f| f.to_string()),
    };
    let rows = diagnostics(&p.model, &p.pop, &fit)?;
    let nonmem = p.imported.as_ref().map(|imported| {
        let params = &imported.lowered.parameters;
        let values = params.nm_values(&fit.values, &imported.lowered.initial);
        let se = cov.as_ref().ok().map(|c| {
            let names: Vec<String> = c.names.clone();
            params.nm_standard_errors(&p.model, &names, &c.standard_errors())
        });
        NonmemView {
            values,
            theta_names: params.theta_names.clone(),
            eta_labels: eta_labels(imported),
            eps_names: params.eps_names.clone(),
            se,
        }
    });
    Ok(PopFit {
        model: p.model,
        dataset: p.dataset,
        pop: p.pop,
        fit,
        rows,
        cov,
        matrix,
        seconds,
        evaluate_only: p.evaluate,
        notes: p.notes,
        nonmem,
    })
}

/// Fits a population model (the native call behind `pk.popfit`).
#[pyfunction]
#[pyo3(signature = (model, data_path=None, data_text=None, data_name=None, method=None, max_iterations=300,
                    covariance=None, cov_matrix=None, evaluate=false, drop=Vec::new(), accept=Vec::new(),
                    inits_from=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn popfit(
    py: Python<'_>,
    model: &PyModel,
    data_path: Option<String>,
    data_text: Option<String>,
    data_name: Option<String>,
    method: Option<String>,
    max_iterations: u64,
    covariance: Option<bool>,
    cov_matrix: Option<String>,
    evaluate: bool,
    drop: Vec<String>,
    accept: Vec<(String, f64)>,
    inits_from: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PopFit> {
    let data = DataSource::of(data_path, data_text, data_name).map_err(to_py)?;
    let options = Options {
        method,
        max_iterations,
        covariance,
        cov_matrix,
        evaluate,
        drop,
        accept,
        inits_from,
        progress,
    };
    py.detach(|| crate::interrupt::catch(|| run(&model.kind, data, options)))
}

impl PopFit {
    fn n_eta(&self) -> usize {
        self.fit.values.omega.nrows()
    }
}

#[pymethods]
impl PopFit {
    /// Everything but the tables, as plain Python objects.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let f = &self.fit;
        let c = &self.model.code;
        let v = &f.values;
        let estimates = reported(&self.model, &Parameters::of(&self.model), v);
        let n_par = estimates.len();
        let se: Option<Vec<f64>> = self.cov.as_ref().ok().map(|c| c.standard_errors());
        d.set_item("model", self.model.name())?;
        d.set_item("method", f.method.to_string())?;
        d.set_item("converged", f.converged)?;
        d.set_item("message", &f.message)?;
        d.set_item("ofv", f.evaluation.ofv)?;
        d.set_item("aic", f.evaluation.ofv + 2.0 * n_par as f64)?;
        d.set_item("bic", f.evaluation.ofv + n_par as f64 * (self.pop.n_obs as f64).ln())?;
        d.set_item("n_subjects", self.pop.subjects.len())?;
        d.set_item("n_observations", self.pop.n_obs)?;
        d.set_item("n_censored", self.pop.n_censored)?;
        d.set_item("n_dropped_blq", self.pop.n_dropped_blq)?;
        d.set_item("n_parameters", n_par)?;
        d.set_item("iterations", f.iterations)?;
        d.set_item("objective_evaluations", f.objective_evaluations)?;
        d.set_item("seconds", self.seconds)?;
        d.set_item("evaluate_only", self.evaluate_only)?;
        d.set_item("notes", &self.notes)?;
        match &self.nonmem {
            None => {
                d.set_item(
                    "theta_names",
                    c.thetas.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                )?;
                d.set_item("theta", &v.theta)?;
                d.set_item("omega_names", &c.omega.names)?;
                d.set_item("omega", rows_of(&v.omega))?;
                d.set_item(
                    "sigma_names",
                    c.sigmas.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
                )?;
                let sigma = DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
                    v.sigma_sd.len(),
                    v.sigma_sd.iter().map(|s| s * s),
                ));
                d.set_item("sigma", rows_of(&sigma))?;
                if let Some(iov) = &c.iov {
                    d.set_item("omega_iov_names", &iov.effects.names)?;
                    d.set_item("omega_iov", rows_of(&v.omega_iov))?;
                }
            }
            Some(nm) => {
                d.set_item("theta_names", &nm.theta_names)?;
                d.set_item("theta", &nm.values.theta)?;
                d.set_item("omega_names", &nm.eta_labels)?;
                d.set_item("omega", rows_of(&nm.values.omega))?;
                d.set_item("sigma_names", &nm.eps_names)?;
                d.set_item("sigma", rows_of(&nm.values.sigma))?;
                if let Some((t, o, s)) = &nm.se {
                    let se = PyDict::new(py);
                    se.set_item("theta", t)?;
                    se.set_item("omega", o)?;
                    se.set_item("sigma", s)?;
                    d.set_item("se_nonmem", se)?;
                }
            }
        }
        let rse = self.cov.as_ref().ok().map(|c| c.relative_standard_errors());
        let est: Vec<(String, f64, Option<f64>, Option<f64>)> = estimates
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    e.name.clone(),
                    e.value,
                    se.as_ref().map(|s| s[i]),
                    rse.as_ref().and_then(|r| r[i]),
                )
            })
            .collect();
        d.set_item("estimates", est)?;
        match &self.cov {
            Ok(step) => {
                let cov = PyDict::new(py);
                cov.set_item("matrix", self.matrix.short_name())?;
                cov.set_item("names", &step.names)?;
                cov.set_item("covariance", rows_of(&step.covariance))?;
                cov.set_item("correlation", rows_of(&step.correlation()))?;
                cov.set_item("estimated_scales", &step.scales)?;
                cov.set_item("covariance_estimated_scale", rows_of(&step.phi_covariance))?;
                cov.set_item("eigenvalues", step.eigenvalues())?;
                cov.set_item("condition_number", step.condition_number())?;
                d.set_item("covariance", cov)?;
                d.set_item("covariance_failure", py.None())?;
            }
            Err(why) => {
                d.set_item("covariance", py.None())?;
                d.set_item("covariance_failure", why)?;
            }
        }
        let n_eta = self.n_eta();
        let etas: Vec<Vec<f64>> = f.evaluation.estimates.iter().map(|e| e.eta[..n_eta].to_vec()).collect();
        let omega_sd: Vec<f64> = (0..n_eta).map(|i| v.omega[(i, i)].sqrt()).collect();
        d.set_item("eta_names", &c.omega.names)?;
        d.set_item("eta_shrinkage", pk::population::map::shrinkage(&etas, &omega_sd))?;
        d.set_item("eps_shrinkage", epsilon_shrinkage(&self.rows))?;
        d.set_item(
            "ids",
            self.pop.subjects.iter().map(|s| s.data.id.clone()).collect::<Vec<_>>(),
        )?;
        d.set_item("etas", etas)?;
        d.set_item("ofv_contributions", &f.evaluation.contributions)?;
        Ok(d)
    }

    /// The sdtab (one row per data record) as CSV text; NPDE and EPRED from
    /// `npde_samples` simulations per subject (0: none) with `seed`.
    #[pyo3(signature = (npde_samples=1000, seed=1))]
    fn sdtab(&self, py: Python<'_>, npde_samples: usize, seed: u64) -> PyResult<String> {
        py.detach(|| {
            let npde: Vec<pk::population::npde::Npde> = if npde_samples == 0 {
                Vec::new()
            } else {
                pk::population::npde::npde(&self.model, &self.pop, &self.fit.values, npde_samples, seed)
                    .into_iter()
                    .flatten()
                    .collect()
            };
            self.source(&npde).sdtab()
        })
        .map_err(to_py)
    }

    /// The patab (one row per subject and parameter set) as CSV text.
    fn patab(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.source(&[]).patab()).map_err(to_py)
    }
}

impl PopFit {
    fn source<'a>(&'a self, npde: &'a [pk::population::npde::Npde]) -> TableSource<'a> {
        TableSource {
            model: &self.model,
            dataset: &self.dataset,
            data: &self.pop,
            fit: &self.fit,
            rows: &self.rows,
            npde,
        }
    }
}
