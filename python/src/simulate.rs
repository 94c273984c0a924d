//! `pk.simulate` of one model (no population draws yet): concentrations for
//! a regimen text or the dosing records of data, as `pk simulate --model`.

use crate::data::{read_data, DataSource};
use crate::{to_py, Kind, PyModel};
use pk::dosing::bsa::BsaFormula;
use pk::dosing::regimen::{BodySize, Regimen};
use pk::model::scenario::{grid_scenario, regimen_scenario, Scenario};
use pk::model::{Model, Values};
use pk::population::montecarlo::regimen_doses;
use pk::simulate::parse_grid;
use pk::units::TimeUnit;
use pk::{Error, Result};
use pyo3::prelude::*;

/// Columns of the simulated profiles: ID (empty for a regimen), TIME, CONC,
/// and the amounts per state when asked for.
type Columns = (Vec<String>, Vec<f64>, Vec<f64>, Option<Vec<Vec<f64>>>);

struct Options {
    regimen: Option<String>,
    params: Vec<(String, f64)>,
    covariates: Vec<(String, f64)>,
    grid: Option<String>,
    at_records: bool,
    amounts: bool,
    bsa: Option<f64>,
    weight: Option<f64>,
    height: Option<f64>,
    bsa_formula: String,
}

/// θ and η: the model's initial θ and zero η, with `params` set by name.
fn parameter_values(model: &Model, items: &[(String, f64)]) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = &model.code;
    let mut theta = model.theta_init();
    let mut eta = vec![0.0; c.omega.names.len()];
    for (name, value) in items {
        if let Some(k) = c.thetas.iter().position(|t| t.name == *name) {
            theta[k] = *value;
        } else if let Some(k) = c.omega.names.iter().position(|n| n == name) {
            eta[k] = *value;
        } else {
            let settable: Vec<&str> = c
                .thetas
                .iter()
                .map(|t| t.name.as_str())
                .chain(c.omega.names.iter().map(String::as_str))
                .collect();
            let computed = c.variables.iter().any(|(n, _)| n == name);
            return Err(Error::Argument(format!(
                "parameter {name}: model {} {}; params sets a θ or an η by name: {}",
                model.name(),
                if computed {
                    "computes it in its code"
                } else {
                    "has no such parameter"
                },
                settable.join(", ")
            )));
        }
    }
    Ok((theta, eta))
}

fn body_size(o: &Options) -> Result<BodySize> {
    let formula = BsaFormula::parse(&o.bsa_formula)?;
    let bsa = match (o.bsa, o.weight, o.height) {
        (Some(b), _, _) => {
            if !(b > 0.0 && b.is_finite()) {
                return Err(Error::Argument(format!("bsa must be a positive number of m², got {b}")));
            }
            Some(b)
        }
        (None, Some(w), Some(h)) => Some(formula.bsa(w, h)?),
        _ => None,
    };
    if let Some(w) = o.weight {
        if !(w > 0.0 && w.is_finite()) {
            return Err(Error::Argument(format!(
                "weight must be a positive number of kg, got {w}"
            )));
        }
    }
    Ok(BodySize { bsa, weight: o.weight })
}

fn push_profile(
    out: &mut Columns,
    id: &str,
    model: &Model,
    values: &Values<'_>,
    s: &Scenario,
    amounts: bool,
) -> Result<()> {
    let subject = model.subject(&s.data, s.subject())?;
    let (p, a) = model.predict_at(&subject, values, &s.slots, amounts, false)?;
    let times = s.times();
    out.0.extend(std::iter::repeat_n(id.to_string(), times.len()));
    out.1.extend(times);
    out.2.extend(p.f);
    if let (Some(all), Some(a)) = (out.3.as_mut(), a) {
        all.extend(a);
    }
    Ok(())
}

fn run(model: &Model, data: &DataSource, o: &Options) -> Result<Columns> {
    let (theta, eta) = parameter_values(model, &o.params)?;
    let sigma_sd = model.sigma_sd_init();
    let values = Values {
        theta: &theta,
        eta: &eta,
        kappa: &[],
        sigma_sd: &sigma_sd,
    };
    let grid = o.grid.as_deref().map(parse_grid).transpose()?;
    let mut out: Columns = (Vec::new(), Vec::new(), Vec::new(), o.amounts.then(Vec::new));
    match (&o.regimen, data) {
        (Some(_), DataSource::Path(_) | DataSource::Text(..)) => {
            return Err(Error::Argument("give either regimen or data, not both".into()))
        }
        (None, DataSource::Default) => {
            return Err(Error::Argument("give a dosing history: regimen TEXT or data".into()))
        }
        (Some(text), DataSource::Default) => {
            let regimen = Regimen::parse(text)?;
            let size = body_size(o)?;
            let doses = regimen_doses(model, &regimen, &size)?;
            let times = match grid {
                Some(g) => g,
                None => {
                    let end = (regimen.last_dose_hours() + 24.0) * TimeUnit::hour().to(&model.units.time);
                    parse_grid(&format!("0:{}:{}", end / 200.0, end))?
                }
            };
            let names: Vec<String> = o.covariates.iter().map(|c| c.0.clone()).collect();
            let covariates: Vec<f64> = o.covariates.iter().map(|c| c.1).collect();
            let s = regimen_scenario(model, &doses, &times, &names, &covariates)?;
            push_profile(&mut out, "", model, &values, &s, o.amounts)?;
        }
        (None, data) => {
            if !o.covariates.is_empty() {
                return Err(Error::Argument(
                    "with data the covariates come from the data; leave out covariates".into(),
                ));
            }
            let dataset = read_data(data, &[], &[])?;
            for subject in &dataset.subjects {
                let s = match &grid {
                    None => grid_scenario(&dataset, subject, &[], true),
                    Some(g) => grid_scenario(&dataset, subject, g, o.at_records),
                };
                push_profile(&mut out, &subject.id, model, &values, &s, o.amounts)?;
            }
        }
    }
    Ok(out)
}

/// Simulates one model (the native call behind `pk.simulate`).
#[pyfunction]
#[pyo3(signature = (model, regimen=None, data_path=None, data_text=None, data_name=None, params=Vec::new(),
                    covariates=Vec::new(), grid=None, at_records=false, amounts=false, bsa=None, weight=None,
                    height=None, bsa_formula="mosteller".to_string()))]
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    py: Python<'_>,
    model: &PyModel,
    regimen: Option<String>,
    data_path: Option<String>,
    data_text: Option<String>,
    data_name: Option<String>,
    params: Vec<(String, f64)>,
    covariates: Vec<(String, f64)>,
    grid: Option<String>,
    at_records: bool,
    amounts: bool,
    bsa: Option<f64>,
    weight: Option<f64>,
    height: Option<f64>,
    bsa_formula: String,
) -> PyResult<Columns> {
    let Kind::Language(m) = &model.kind else {
        return Err(to_py(Error::Argument(
            "pk.simulate takes a model in the model language (translate a control stream with `pk translate`)".into(),
        )));
    };
    let data = DataSource::of(data_path, data_text, data_name).map_err(to_py)?;
    let options = Options {
        regimen,
        params,
        covariates,
        grid,
        at_records,
        amounts,
        bsa,
        weight,
        height,
        bsa_formula,
    };
    py.detach(|| run(m, &data, &options)).map_err(to_py)
}

/// The model's units: time, concentration, amount (column labels of `pk.simulate`).
#[pyfunction]
pub fn model_units(model: &PyModel) -> PyResult<(String, String, String, usize)> {
    let Kind::Language(m) = &model.kind else {
        return Err(to_py(Error::Argument("a control stream has no units here".into())));
    };
    let u = &m.units;
    Ok((
        u.time.to_string(),
        u.concentration.to_string(),
        u.amount.to_string(),
        m.code.states.len(),
    ))
}
