//! What a population command reads: a NONMEM control stream (model, data,
//! method and initial estimates as it says), or a data file with a model in
//! the model language (`--model`). The same checks and messages as
//! `pk popfit`, so that popfit can be switched to this loader.

use super::model_args::DataSelection;
use clap::Args;
use pk::data::Dataset;
use pk::model::Model;
use pk::population::estimation::{Method, PopValues, PopulationData};
use pk::{Error, Result};

/// A population problem ready to estimate.
#[derive(Debug)]
pub struct PopulationInput {
    /// The model (a control stream's lowered onto the language).
    pub model: Model,
    /// The data as read (covariate columns by name, subjects in file order).
    pub dataset: Dataset,
    /// The data prepared for the model: `dataset`'s subjects, in its order.
    pub data: PopulationData,
    /// Initial estimates: the model file's, the control stream's, or an `.ext` file's.
    pub start: PopValues,
    /// The method when none is asked for: FOCE-I, or the control stream's `$ESTIMATION`.
    pub default_method: Method,
    /// Whether the control stream only evaluates the objective (`MAXEVAL=0`).
    pub evaluate_only: bool,
    /// The files read (never to be written): the data, the model or control
    /// stream, its data file, the `.ext` file.
    pub inputs: Vec<String>,
}

/// The command-line arguments of a command that fits a population model as
/// `pk popfit` does (bootstrap, SIR): the model, the method, the data
/// selection and the initial estimates.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Model file in the model language, or a bundled name (with a data file).
    #[arg(long)]
    pub model: Option<String>,
    /// Estimation method: foce-i, foce, fo or laplace (default foce-i, or the control stream's $ESTIMATION).
    #[arg(long)]
    pub method: Option<String>,
    /// Largest number of outer iterations of each fit.
    #[arg(long, default_value_t = 300)]
    pub max_iterations: u64,
    /// Control stream: initial estimates from the final row of a NONMEM .ext file.
    #[arg(long)]
    pub inits_from: Option<String>,
    #[command(flatten)]
    pub selection: DataSelection,
}

impl FitArgs {
    /// Reads `path` with these arguments ([`load`]).
    pub fn load(&self, path: &str) -> Result<PopulationInput> {
        load(path, self.model.as_deref(), &self.selection, self.inits_from.as_deref())
    }

    /// The method asked for, else the input's default.
    pub fn method(&self, input: &PopulationInput) -> Result<Method> {
        match &self.method {
            Some(m) => Method::parse(m),
            None => Ok(input.default_method),
        }
    }
}

/// Reads `path` (a control stream, or a data file with `model`), with the
/// data selection of a data file and the initial estimates of `inits_from`
/// (control streams only). Notes about the data (BLQ handling, lowering
/// notes) go to standard error.
pub fn load(
    path: &str,
    model: Option<&str>,
    selection: &DataSelection,
    inits_from: Option<&str>,
) -> Result<PopulationInput> {
    if pk::nonmem::import::is_control_stream(path) {
        return load_control_stream(path, model, selection, inits_from);
    }
    let Some(model_path) = model else {
        return Err(Error::Argument(format!(
            "{path}: give the model with --model FILE (or pass a NONMEM control stream, .ctl or .mod)"
        )));
    };
    if inits_from.is_some() {
        return Err(Error::Argument("--inits-from is for NONMEM control streams".into()));
    }
    let model = Model::load(model_path)?;
    let dataset = selection.read(path)?;
    let data = PopulationData::new(&model, &dataset)?;
    report_censoring(&data);
    let start = PopValues::initial(&model);
    Ok(PopulationInput {
        model,
        dataset,
        data,
        start,
        default_method: Method::FoceI,
        evaluate_only: false,
        inputs: vec![path.to_string(), model_path.to_string()],
    })
}

/// Reads a control stream for a population command: refuses `--model` and
/// the data selection flags (the control stream carries its model and
/// selects its data), prints the lowering notes.
pub fn read_control_stream(
    path: &str,
    model: Option<&str>,
    selection: &DataSelection,
) -> Result<pk::nonmem::import::Import> {
    if model.is_some() {
        return Err(Error::Argument(format!(
            "{path} is a NONMEM control stream: it carries its model, --model is for data files"
        )));
    }
    if !selection.is_empty() {
        return Err(Error::Argument(
            "--drop and --accept are for data files: a control stream selects its data with $INPUT (DROP) and $DATA (IGNORE, ACCEPT)"
                .into(),
        ));
    }
    let imported = pk::nonmem::import::Import::read(path)?;
    let lowered = &imported.lowered;
    for n in lowered.notes.iter().chain(&lowered.estimation.notes) {
        eprintln!("note: {n}");
    }
    Ok(imported)
}

/// A control stream: its model, data, method and initial estimates.
fn load_control_stream(
    path: &str,
    model: Option<&str>,
    selection: &DataSelection,
    inits_from: Option<&str>,
) -> Result<PopulationInput> {
    let imported = read_control_stream(path, model, selection)?;
    let lowered = &imported.lowered;
    let data = PopulationData::new(&imported.model, &imported.data)?;
    report_censoring(&data);
    let start = match inits_from {
        Some(p) => imported.values_from_ext(p)?,
        None => imported.initial_values(),
    };
    let mut inputs = vec![path.to_string(), imported.records.file.clone()];
    inputs.extend(inits_from.map(str::to_string));
    Ok(PopulationInput {
        default_method: lowered.estimation.method,
        evaluate_only: lowered.estimation.evaluate_only,
        model: imported.model,
        dataset: imported.data,
        data,
        start,
        inputs,
    })
}

/// Notes on standard error about observations below the quantification limit.
pub fn report_censoring(data: &PopulationData) {
    if data.n_dropped_blq > 0 {
        eprintln!(
            "{} observations below the quantification limit left out (the model says `blq m1`)",
            data.n_dropped_blq
        );
    }
    if data.n_censored > 0 {
        eprintln!(
            "{} observations below the quantification limit enter as P(y < LLOQ) (Beal's M3)",
            data.n_censored
        );
    }
}
