//! Speed of the control-stream import: reading, lowering and compiling
//! runN049 (ADVAN3 TRANS4, 7920 records) against reading the same data with
//! the engine's reader; and the FOCE-I objective of the imported model against
//! the same model written in the language (models/two_cmt_pop.pk) on the
//! same data.

use criterion::{criterion_group, criterion_main, Criterion};
use pk::data::{read_dataset, ReadOptions};
use pk::model::Model;
use pk::nonmem::import::Import;
use pk::population::estimation::{objective, Method, PopulationData};
use std::hint::black_box;

const DIR: &str = "fixtures/nonmem_runs/nlmixr2test_runN049_advan3_infusion";

fn import(c: &mut Criterion) {
    let ctl = format!("{DIR}/runN049.ctl");
    let csv = format!("{DIR}/INFUSION_2CPT.csv");
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let mut group = c.benchmark_group("nonmem_import");
    group.sample_size(20);
    group.bench_function("runN049_import", |b| b.iter(|| black_box(Import::read(&ctl).unwrap())));
    group.bench_function("runN049_engine_reader", |b| {
        b.iter(|| black_box(read_dataset(&csv, &options).unwrap()))
    });
    // The objective at NONMEM's estimates: imported model and the hand-written one.
    let imported = Import::read(&ctl).unwrap();
    let pop = PopulationData::new(&imported.model, &imported.data).unwrap();
    let values = imported.values_from_ext(format!("{DIR}/runN049.ext")).unwrap();
    let hand = Model::load("models/two_cmt_pop.pk").unwrap();
    let data = read_dataset(&csv, &options).unwrap();
    let hand_pop = PopulationData::new(&hand, &data).unwrap();
    let mut hand_values = pk::population::estimation::PopValues::initial(&hand);
    for k in 0..4 {
        hand_values.theta[k] = values.theta[k].exp();
        hand_values.omega[(k, k)] = values.omega[(k, k)];
    }
    hand_values.sigma_sd = vec![values.theta[4]];
    group.sample_size(10);
    group.bench_function("runN049_objective_imported", |b| {
        b.iter(|| {
            black_box(
                objective(&imported.model, &pop, &values, Method::FoceI, &[])
                    .unwrap()
                    .ofv,
            )
        })
    });
    group.bench_function("runN049_objective_language", |b| {
        b.iter(|| {
            black_box(
                objective(&hand, &hand_pop, &hand_values, Method::FoceI, &[])
                    .unwrap()
                    .ofv,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
