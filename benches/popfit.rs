//! Speed of population estimation: the FOCE-I fit of nlmixr2's Infusion_2CPT
//! (120 subjects, 6960 observations, two-compartment, exponential η on CL, V1,
//! Q, V2, proportional error) from the starting values of
//! models/two_cmt_pop.pk to convergence, without the covariance step.

use criterion::{criterion_group, criterion_main, Criterion};
use pk::data::{read_dataset, ReadOptions};
use pk::model::Model;
use pk::population::estimation::{estimate, objective, EstimationOptions, Method, PopValues, PopulationData};
use std::hint::black_box;

fn popfit(c: &mut Criterion) {
    let model = Model::load("models/two_cmt_pop.pk").unwrap();
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options).unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    let start = PopValues::initial(&model);
    let fit = estimate(&model, &pop, &start, &EstimationOptions::default()).unwrap();
    eprintln!(
        "Infusion_2CPT FOCE-I: OFV {:.4}, {} outer iterations, {} objective evaluations",
        fit.evaluation.ofv, fit.iterations, fit.objective_evaluations
    );
    let mut group = c.benchmark_group("popfit");
    group.sample_size(10);
    group.bench_function("infusion_2cpt_focei_fit", |b| {
        b.iter(|| {
            black_box(
                estimate(&model, &pop, &start, &EstimationOptions::default())
                    .unwrap()
                    .evaluation
                    .ofv,
            )
        })
    });
    group.bench_function("infusion_2cpt_focei_objective_cold", |b| {
        b.iter(|| black_box(objective(&model, &pop, &fit.values, Method::FoceI, &[]).unwrap().ofv))
    });
    group.finish();
}

criterion_group!(benches, popfit);
criterion_main!(benches);
