//! Command-line interface: argument parsing and the subcommands.

mod compare;
mod fit;
mod fit_prior;
mod model_args;
mod models;
mod nca;
mod output;
mod popfit;
mod population_sim;
mod simulate;
mod translate;

use clap::{Parser, Subcommand};
use pk::Result;

/// Pharmacokinetic modelling: fit and simulate compartment models on NONMEM-style data.
#[derive(Debug, Parser)]
#[command(name = "pk", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate concentrations for a regimen or a dataset's dosing records.
    Simulate(simulate::SimulateArgs),
    /// Fit a compartment model to each subject of a NONMEM-style data file.
    Fit(fit::FitArgs),
    /// Non-compartmental analysis (WinNonlin rules) of each subject and dosing interval.
    Nca(nca::NcaArgs),
    /// Compare fitted individuals with a population model (ratios, z-scores, forest plot).
    Compare(compare::CompareArgs),
    /// Population estimation (FOCE-I or FO) with a population model file.
    Popfit(popfit::PopfitArgs),
    /// Print a NONMEM control stream in the model language.
    Translate(translate::TranslateArgs),
    /// List the bundled models (usable by name wherever a model is taken).
    Models(models::ModelsArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Nca(args) => nca::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Popfit(args) => popfit::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Models(args) => models::run(args),
    }
}
