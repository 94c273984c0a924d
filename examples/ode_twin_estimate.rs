//! Times the FOCE-I estimation of Infusion_2CPT with the ODE twin of the
//! two-compartment model integrated numerically (forward sensitivities for the
//! η-derivatives), from the model's starting values; prints OFV and time.
//! `cargo run --release --example ode_twin_estimate` (BENCHMARKS.md).

use pk::data::{read_dataset, ReadOptions};
use pk::model::Model;
use pk::population::estimation::{estimate, EstimationOptions, PopValues, PopulationData};

fn main() -> pk::Result<()> {
    let model = Model::load("models/two_cmt_pop_ode.pk")?.integrated_numerically();
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options)?;
    let pop = PopulationData::new(&model, &data)?;
    let t0 = std::time::Instant::now();
    let fit = estimate(&model, &pop, &PopValues::initial(&model), &EstimationOptions::default())?;
    println!(
        "ODE twin integrated: OFV {:.4} ({}), {} outer iterations, {} objective evaluations, {:.1} s",
        fit.evaluation.ofv,
        fit.message,
        fit.iterations,
        fit.objective_evaluations,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
