//! Command-line interface: argument parsing and the subcommands.

mod bootstrap;
mod bootstrap_file;
mod compare;
mod fit;
mod fit_prior;
pub mod memory;
mod model_args;
mod models;
mod nca;
mod output;
mod popfit;
mod population_input;
mod population_sim;
mod simulate;
mod sir;
mod translate;
mod vpc;

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
    #[command(after_help = "Examples (from the repository root):
  pk simulate --model two_cmt_iv --regimen \"52 mg/m2 over 2 h every 24 h x 5\" --bsa 1.1 --out profile.csv
  pk simulate --model models/two_cmt_iv.pk --data fixtures/clofarabine/clofarabine_phase2.csv --grid 0:0.5:120
  pk simulate --population models/clofarabine_bonate2004.pk --covariate WT=15 --covariate WBC=10 --bsa 0.65 \\
      --regimen \"52 mg/m2 over 2 h every 24 h x 5\" --n 1000 --seed 7 --target \"CMAX<500\" --out sim.csv")]
    Simulate(simulate::SimulateArgs),
    /// Fit a compartment model to each subject of a NONMEM-style data file.
    #[command(after_help = "Examples (from the repository root):
  pk fit fixtures/clofarabine/clofarabine_phase2.csv --model two_cmt_iv --error proportional --json fit.json --plots plots/
  pk fit fixtures/clofarabine/clofarabine_phase2.csv --model two_cmt_iv --error combined --fix V2=70 --starts 8
  pk fit fixtures/clofarabine/clofarabine_phase2.csv --prior models/clofarabine_bonate2004.pk --json map.json

Exit status: 0 when at least one subject was fitted (failures are reported per subject), 1 otherwise
or on bad input, 2 on a bad command line.")]
    Fit(fit::FitArgs),
    /// Non-compartmental analysis (WinNonlin rules) of each subject and dosing interval.
    #[command(after_help = "Examples (from the repository root):
  pk nca fixtures/nca_winnonlin/theoph_nonmem.csv --rule linear-up-log-down --csv nca.csv --summary summary.csv
  pk nca fixtures/clofarabine/clofarabine_phase2.csv --tau 24 --plots lambda_z/

Exit status: 0 when at least one subject was analysed, 1 otherwise or on bad input.")]
    Nca(nca::NcaArgs),
    /// Compare fitted individuals with a population model (ratios, z-scores, forest plot).
    #[command(after_help = "Examples (from the repository root):
  pk fit fixtures/clofarabine/clofarabine_phase2.csv --model two_cmt_iv --json fit.json
  pk compare fit.json --population models/clofarabine_bonate2004.pk --published fixtures/clofarabine/published.toml --plot forest.svg")]
    Compare(compare::CompareArgs),
    /// Population estimation (FOCE-I, FOCE, FO, Laplacian) with a model file or a NONMEM control stream.
    #[command(after_help = "Examples (from the repository root):
  pk popfit fixtures/nlmixr2/Infusion_2CPT.csv --model two_cmt_pop --drop SS,II --json popfit.json --table sdtab.csv
  pk popfit fixtures/pheno/pheno_real.mod --json pheno.json --ext pheno.ext
  pk popfit fixtures/pheno/pheno_real.mod --inits-from fixtures/pheno/pheno_real.ext --evaluate --tables .

Exit status: 0 when the estimation converged, 1 when it did not (the estimates reached are printed) or on bad input.")]
    Popfit(popfit::PopfitArgs),
    /// Case bootstrap of a population fit: percentile and BCa intervals, shardable over machines.
    #[command(after_help = "Examples (from the repository root):
  pk bootstrap fixtures/pheno/pheno.csv --model pheno --samples 20 --seed 7 --no-bca --out boot.csv
  pk bootstrap fixtures/pheno/pheno_real.mod --samples 10 --seed 7 --shard 1/2 --out boot1.csv
  pk bootstrap fixtures/pheno/pheno_real.mod --samples 10 --seed 7 --shard 2/2 --out boot2.csv
  pk bootstrap --merge boot1.csv boot2.csv --out boot_all.csv --ci 90 --json boot.json

Replicate r draws its subjects from its own random stream (seed, r): K shards (--shard i/K, e.g.
--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT) merged with --merge give the unsharded
file byte for byte. BCa needs a jackknife: one refit per subject (--no-bca skips it).

Exit status: 0 when intervals were computed (or a shard was written), 1 on bad input, when the
original fit does not converge, or when no replicate has an included status.")]
    Bootstrap(bootstrap::BootstrapArgs),
    /// Parameter uncertainty by sampling importance resampling (SIR) from the covariance step.
    #[command(after_help = "Examples (from the repository root):
  pk sir fixtures/pheno/pheno.csv --model models/pheno.pk --seed 7 --out sir.csv --json sir.json
  pk sir fixtures/pheno/pheno_real.mod --samples 1000,2000 --resamples 200,1000

Exit status: 0 when the intervals were computed, 1 on bad input, when the fit does not converge
or the covariance step fails (SIR needs it as its first proposal).")]
    Sir(sir::SirArgs),
    /// Visual predictive check (VPC, pcVPC) of a population model at its estimates.
    #[command(after_help = "Examples (from the repository root):
  pk vpc fixtures/nlmixr2/Infusion_2CPT.csv --model models/two_cmt_pop_infusion_fit.pk --drop SS,II \\
      --n 500 --seed 1 --pred-corr --csv vpc.csv --plot vpc.svg
  pk vpc fixtures/nlmixr2/Infusion_2CPT.csv --model models/two_cmt_pop_infusion_fit.pk --drop SS,II \\
      --n 200 --stratify DOSE --x tad --log-y --csv vpc_dose.csv --plot vpc_dose.svg
  pk vpc fixtures/pheno/pheno_real.mod --inits-from fixtures/pheno/pheno_real.ext --n 200 --pred-corr --plot pcvpc.svg

The model's initial values are taken as the estimates (a model file written after a fit, or a
control stream with --inits-from RUN.ext). Bins: --bins N (equal numbers of observations, never
splitting a sampling time), --bin-breaks, or by default one bin per sampling time when there are
at most 100 with at least 10 observations each, else 10 quantile bins. Percentiles are type 7 as R's quantile(); x in the CSV is the
median x of the bin's observations; censored (BLQ) observations rank below every observed value
and an observed percentile that would use one is left empty.

Exit status: 0 when the VPC was written, 1 on bad input.")]
    Vpc(vpc::VpcArgs),
    /// Print a NONMEM control stream in the model language.
    #[command(after_help = "Example (from the repository root):
  pk translate fixtures/pheno/pheno_real.mod > pheno.pk")]
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
        Command::Bootstrap(args) => bootstrap::run(args),
        Command::Sir(args) => sir::run(args),
        Command::Vpc(args) => vpc::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Models(args) => models::run(args),
    }
}
