//! Options shared by the subcommands that load a model: unit overrides.

use clap::Args;
use pk::model::ModelDefinition;
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
    /// Loads a model file or bundled model and applies the overrides.
    pub fn load_model(&self, path_or_name: &str) -> Result<ModelDefinition> {
        let mut model = ModelDefinition::load(path_or_name)?;
        if let Some(u) = &self.conc_unit {
            model.units.concentration = ConcentrationUnit::parse(u)?;
        }
        if let Some(u) = &self.amount_unit {
            model.units.amount = AmountUnit::parse(u)?;
        }
        if let Some(u) = &self.time_unit {
            model.units.time = TimeUnit::parse(u)?;
        }
        Ok(model)
    }
}
