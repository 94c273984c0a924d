//! Options shared by the subcommands: unit overrides of a model, and which
//! records of a data file are read.

use clap::Args;
use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::model::Model;
use pk::units::{AmountUnit, ConcentrationUnit, TimeUnit};
use pk::Result;

/// Overrides of the model file's units.
#[derive(Debug, Args)]
pub struct UnitArgs {
    /// Override the model's concentration unit (e.g. ug/L).
    #[arg(long)]
    conc_unit: Option<String>,
    /// Override the model's amount unit (e.g. ug).
    #[arg(long)]
    amount_unit: Option<String>,
    /// Override the model's time unit (e.g. min).
    #[arg(long)]
    time_unit: Option<String>,
}

impl UnitArgs {
    /// Loads a model in the model language (file or bundled name) and applies the overrides.
    pub fn load_lang_model(&self, path_or_name: &str) -> Result<Model> {
        let mut model = load_language_model(path_or_name)?;
        self.apply(&mut model)?;
        Ok(model)
    }

    /// Applies the overrides to a model written in the model language.
    pub fn apply(&self, model: &mut Model) -> Result<()> {
        if let Some(u) = &self.conc_unit {
            model.units.concentration = ConcentrationUnit::parse(u)?;
        }
        if let Some(u) = &self.amount_unit {
            model.units.amount = AmountUnit::parse(u)?;
        }
        if let Some(u) = &self.time_unit {
            model.units.time = TimeUnit::parse(u)?;
        }
        Ok(())
    }
}

/// Loads a model in the model language; a TOML model file is refused with a
/// pointer to the language (every subcommand reads only the language).
pub fn load_language_model(path_or_name: &str) -> Result<Model> {
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

/// Which columns and records of a data file are read.
#[derive(Debug, Args)]
pub struct DataSelection {
    /// Columns to ignore, comma-separated (e.g. SS,II when they carry other codes).
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// Keep only records with COLUMN=VALUE (repeatable, all must hold), as NONMEM's ACCEPT.
    #[arg(long = "accept", value_name = "COLUMN=VALUE")]
    accept: Vec<String>,
}

impl DataSelection {
    /// Whether no column is dropped and no record selected.
    pub fn is_empty(&self) -> bool {
        self.drop.is_empty() && self.accept.is_empty()
    }

    /// Reads `path` without the dropped columns, keeping the accepted records.
    /// A dropped column that the file lacks is warned about.
    pub fn read(&self, path: &str) -> Result<Dataset> {
        let mut data = read_dataset(
            path,
            &ReadOptions {
                drop: self.drop.clone(),
            },
        )?;
        for d in &self.drop {
            if !header_has(path, d) {
                eprintln!("warning: --drop {d}: {path} has no column {d}; nothing is dropped for it");
            }
        }
        for rule in super::simulate::parse_params(&self.accept)? {
            data = data.accept(&rule.0, rule.1)?;
        }
        Ok(data)
    }
}

/// Whether the header of `path` (its first line that is neither blank nor
/// a `#` comment) names `column`.
fn header_has(path: &str, column: &str) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .is_some_and(|h| {
            h.split([',', ';', '\t', ' '])
                .any(|c| c.trim().trim_matches('"').eq_ignore_ascii_case(column))
        })
}
