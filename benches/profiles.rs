//! Speed of one concentration profile.
//!
//! Two-compartment IV infusion, CL 20 L/h, V1 50 L, Q 30 L/h, V2 130 L,
//! 100 mg over 2 h, 100 time points over 0–24 h; and the same over a 5-dose
//! regimen (every 24 h, 100 points over 0–120 h). Each measured iteration
//! builds the model from the parameters and computes the whole profile.

use criterion::{criterion_group, criterion_main, Criterion};
use pk::dosing::Dose;
use pk::model::{ModalKinetics, PkParams};
use pk::simulate::Schedule;
use std::hint::black_box;

fn profile(c: &mut Criterion) {
    let p = PkParams::two_cmt_iv(20.0, 50.0, 30.0, 130.0).unwrap();
    let one_dose = [Dose::infusion(0.0, 1, 100.0, 2.0)];
    let times: Vec<f64> = (0..100).map(|i| 24.0 * i as f64 / 99.0).collect();
    let single = Schedule::new(&one_dose, &times);
    let five = [Dose::infusion(0.0, 1, 100.0, 2.0).repeated(24.0, 4)];
    let times5: Vec<f64> = (0..100).map(|i| 120.0 * i as f64 / 99.0).collect();
    let multiple = Schedule::new(&five, &times5);
    let mut out = vec![0.0; 100];

    c.bench_function("two_cmt_infusion_100_points_single_dose", |b| {
        b.iter(|| {
            let mut k = ModalKinetics::new(black_box(&p));
            single.concentrations(&mut k, &p.structure, 1000.0, &mut out).unwrap();
            black_box(out[50])
        })
    });
    c.bench_function("two_cmt_infusion_100_points_5_doses", |b| {
        b.iter(|| {
            let mut k = ModalKinetics::new(black_box(&p));
            multiple.concentrations(&mut k, &p.structure, 1000.0, &mut out).unwrap();
            black_box(out[50])
        })
    });
    c.bench_function("two_cmt_schedule_build_and_profile_5_doses", |b| {
        b.iter(|| {
            let schedule = Schedule::new(black_box(&five), &times5);
            let mut k = ModalKinetics::new(&p);
            schedule.concentrations(&mut k, &p.structure, 1000.0, &mut out).unwrap();
            black_box(out[50])
        })
    });
}

criterion_group!(benches, profile);
criterion_main!(benches);
