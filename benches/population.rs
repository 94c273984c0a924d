//! Speed of a population simulation (issue 5): 100 000 virtual patients drawn
//! from the Bonate 2004 clofarabine model (40 kg, WBC 10, BSA 1.3 m²),
//! 52 mg/m² over 2 h every 24 h × 5, 100 time points over 0–120 h: ten
//! million concentrations. Measured: the concentration matrix (η already
//! drawn), then the whole run with drawing and the 5/50/95th percentiles.

use criterion::{criterion_group, criterion_main, Criterion};
use pk::dosing::regimen::Regimen;
use pk::model::Model;
use pk::population::montecarlo::{
    draw_patients, percentiles, simulate_patients, CovariateDraw, CovariateSource, Dosing, MonteCarlo, SizeRule,
};
use std::hint::black_box;

fn population(c: &mut Criterion) {
    let model = Model::load("models/clofarabine_bonate2004.pk").unwrap();
    let source = CovariateSource::Drawn(vec![
        ("WT".into(), CovariateDraw::Fixed(40.0)),
        ("WBC".into(), CovariateDraw::Fixed(10.0)),
    ]);
    let mc = MonteCarlo {
        n: 100_000,
        seed: 7,
        omega_zero: false,
        residual_error: false,
    };
    let regimen = Regimen::parse("52 mg/m2 over 2 h every 24 h x 5").unwrap();
    let size = SizeRule {
        bsa: Some(1.3),
        weight: None,
    };
    let times: Vec<f64> = (0..100).map(|i| 120.0 * i as f64 / 99.0).collect();
    let patients = draw_patients(&model, &mc, &source).unwrap();
    let mut group = c.benchmark_group("population");
    group.sample_size(20);
    group.bench_function("100k_patients_5_infusions_100_points", |b| {
        b.iter(|| {
            let conc =
                simulate_patients(&model, &patients, Dosing::Regimen(&regimen, size), &times, &mc, &|_| {}).unwrap();
            black_box(conc[(99_999, 50)])
        })
    });
    group.bench_function("100k_patients_draw_simulate_percentiles", |b| {
        b.iter(|| {
            let patients = draw_patients(&model, &mc, &source).unwrap();
            let conc =
                simulate_patients(&model, &patients, Dosing::Regimen(&regimen, size), &times, &mc, &|_| {}).unwrap();
            black_box(percentiles(&conc, &[0.05, 0.5, 0.95]))
        })
    });
    group.finish();
}

criterion_group!(benches, population);
criterion_main!(benches);
