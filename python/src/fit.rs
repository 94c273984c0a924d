//! `pk.fit`: every subject fitted separately (θ and σ, η = 0), as `pk fit`
//! does it, with the CLI's JSON document, residual table and text report.

use crate::data::{read_data, DataSource};
use crate::{to_py, Kind, PyModel};
use pk::fit::report;
use pk::fit::{fit_dataset, ErrorChoice, ErrorSpec, FitOptions};
use pk::model::Model;
use pk::{Error, Result};
use pyo3::prelude::*;

/// Where the residual error model comes from, in words (as `pk fit` says it).
fn error_source(choice: &ErrorChoice, model: &Model) -> String {
    match (choice.replace, choice.weighting) {
        (_, Some(w)) => {
            format!("none: classical weighted least squares (w = {w}), the model's error models are not used")
        }
        (Some(r), None) => format!(
            "--error {r} replaces the model file's error models: {}",
            outputs_text(model)
        ),
        (None, None) => format!("the model file's: {}", outputs_text(model)),
    }
}

/// Each output with its error model, as written in the model file.
fn outputs_text(model: &Model) -> String {
    let source = &model.code.source;
    model
        .code
        .outputs
        .iter()
        .map(|o| {
            let line = source.get(o.pos.line.saturating_sub(1)).map_or("", |l| l.as_str());
            let error = line
                .split('#')
                .next()
                .unwrap_or("")
                .split('~')
                .nth(1)
                .unwrap_or("?")
                .trim();
            format!("{} ~ {error}", o.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `pk.fit` returns: the JSON document of `pk fit --json`, the table of
/// `--table` and the printed report.
type FitTexts = (String, String, String);

struct Options {
    error: Option<String>,
    weight: Option<String>,
    init: Vec<(String, f64)>,
    fix: Vec<(String, f64)>,
    starts: usize,
    tau: Option<f64>,
    bsa_column: Option<String>,
    drop: Vec<String>,
    accept: Vec<(String, f64)>,
    ids: Vec<String>,
}

fn run(model: &Model, data: &DataSource, o: &Options) -> Result<FitTexts> {
    let choice = ErrorChoice::parse(o.error.as_deref(), o.weight.as_deref())?;
    let model = choice.apply(model)?;
    let options = FitOptions {
        weighting: choice.weighting,
        init: o.init.clone(),
        fixed: o.fix.clone(),
        starts: o.starts.max(1),
        tau: o.tau,
        bsa_column: o.bsa_column.clone().unwrap_or_else(|| "BSA".into()),
    };
    options.validate(&model)?;
    let criterion = ErrorSpec::of(&model, options.weighting)?.criterion;
    let source = error_source(&choice, &model);
    let mut dataset = read_data(data, &o.drop, &o.accept)?;
    dataset.require_dv()?;
    if let Some(c) = &o.bsa_column {
        if dataset.covariate_index(c).is_none() {
            return Err(Error::Argument(format!(
                "bsa_column {c}: {} has no column {c} (its other columns: {})",
                data.name(),
                dataset.covariate_names.join(", ")
            )));
        }
    }
    if !o.ids.is_empty() {
        if let Some(missing) = o.ids.iter().find(|id| !dataset.subjects.iter().any(|s| s.id == **id)) {
            return Err(Error::Argument(format!(
                "ids {missing}: no such subject in {}",
                data.name()
            )));
        }
        dataset.subjects.retain(|s| o.ids.contains(&s.id));
    }
    let outcomes = fit_dataset(&model, &dataset, &options);
    let header = format!(
        "Model {} ({}); residual error: {source}\n\n",
        model.name(),
        model.origin
    );
    let text = header + &report::text(&model, &outcomes);
    let mut json = String::new();
    report::write_json(
        &model,
        &criterion.to_string(),
        &[("error_model_source", serde_json::Value::from(source))],
        &outcomes,
        &mut |t| {
            json.push_str(t);
            Ok(())
        },
    )?;
    let table = report::residual_table(&model, &outcomes);
    if !outcomes.is_empty() && outcomes.iter().all(|(_, o)| !o.as_ref().is_ok_and(|f| f.converged)) {
        let reasons: Vec<String> = outcomes
            .iter()
            .map(|(id, o)| match o {
                Ok(f) => format!("{id}: {}", f.message),
                Err(e) => format!("{id}: {e}"),
            })
            .collect();
        return Err(Error::Argument(format!(
            "no subject of {} was fitted to convergence ({})",
            data.name(),
            reasons.join("; ")
        )));
    }
    Ok((json, table, text))
}

/// Fits every subject separately (the native call behind `pk.fit`).
#[pyfunction]
#[pyo3(signature = (model, data_path=None, data_text=None, data_name=None, error=None, weight=None,
                    init=Vec::new(), fix=Vec::new(), starts=4, tau=None, bsa_column=None,
                    drop=Vec::new(), accept=Vec::new(), ids=Vec::new()))]
#[allow(clippy::too_many_arguments)]
pub fn fit(
    py: Python<'_>,
    model: &PyModel,
    data_path: Option<String>,
    data_text: Option<String>,
    data_name: Option<String>,
    error: Option<String>,
    weight: Option<String>,
    init: Vec<(String, f64)>,
    fix: Vec<(String, f64)>,
    starts: usize,
    tau: Option<f64>,
    bsa_column: Option<String>,
    drop: Vec<String>,
    accept: Vec<(String, f64)>,
    ids: Vec<String>,
) -> PyResult<FitTexts> {
    let Kind::Language(m) = &model.kind else {
        return Err(to_py(Error::Argument(
            "pk.fit takes a model in the model language (a NONMEM control stream is for pk.popfit)".into(),
        )));
    };
    let data = DataSource::of(data_path, data_text, data_name).map_err(to_py)?;
    if matches!(data, DataSource::Default) {
        return Err(to_py(Error::Argument(
            "no data: give data (a DataFrame or a file)".into(),
        )));
    }
    let options = Options {
        error,
        weight,
        init,
        fix,
        starts,
        tau,
        bsa_column,
        drop,
        accept,
        ids,
    };
    py.detach(|| run(m, &data, &options)).map_err(to_py)
}
