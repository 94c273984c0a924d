//! Speed of fitting one subject of the bundled clofarabine example
//! (two-compartment, 5 daily 2 h infusions, 20 samples, proportional error).
//!
//! - `fit_subject_complete`: everything `pk fit` does for a subject: automatic
//!   initial estimates, 4 local fits, precision (Hessian), derived exposure.
//! - `estimation_only_4_starts`: initial estimates and the multi-start fit
//!   (first start in full, the others screened).
//! - `one_model_evaluation_20_samples_5_doses`: predictions at the 20 samples.
//! - `local_fit_one_start`: one Levenberg–Marquardt fit from the best automatic start.

use criterion::{criterion_group, criterion_main, Criterion};
use pk::data::{read_dataset, ReadOptions};
use pk::fit::optimize::local_fit;
use pk::fit::{fit_subject, multi_start, starts, ErrorChoice, ErrorSpec, FitOptions, Parameterization, SubjectProblem};
use pk::model::Model;
use std::hint::black_box;

fn fit(c: &mut Criterion) {
    let file = Model::load("two_cmt_iv").unwrap();
    let model = ErrorChoice::parse(Some("proportional"), None)
        .unwrap()
        .apply(&file)
        .unwrap();
    let data = read_dataset("fixtures/clofarabine/clofarabine_phase2.csv", &ReadOptions::default()).unwrap();
    let subject = &data.subjects[1];
    let options = FitOptions::new();
    let spec = || ErrorSpec::of(&model, None).unwrap();
    let em = spec().criterion;
    let problem = SubjectProblem::new(
        &model,
        &data,
        subject,
        spec(),
        Parameterization::new(&model, &[]).unwrap(),
    )
    .unwrap();
    let x0 = starts(&problem, &options).unwrap();
    let once = fit_subject(&model, &data, subject, &options).unwrap();
    eprintln!(
        "subject {}: {} model evaluations over {} starts; one start: {}",
        subject.id,
        once.evaluations,
        x0.len(),
        local_fit(&problem, em, &x0[0]).evaluations
    );

    c.bench_function("fit_subject_complete", |b| {
        b.iter(|| {
            black_box(
                fit_subject(&model, &data, black_box(subject), &options)
                    .unwrap()
                    .objective
                    .m2ll,
            )
        })
    });
    c.bench_function("estimation_only_4_starts", |b| {
        b.iter(|| {
            let problem = SubjectProblem::new(
                &model,
                &data,
                subject,
                spec(),
                Parameterization::new(&model, &[]).unwrap(),
            )
            .unwrap();
            let x0 = starts(&problem, &options).unwrap();
            let best = multi_start(&problem, em, &x0)
                .iter()
                .map(|f| f.objective)
                .fold(f64::INFINITY, f64::min);
            black_box(best)
        })
    });
    let mut out = vec![0.0; problem.obs.len()];
    c.bench_function("one_model_evaluation_20_samples_5_doses", |b| {
        b.iter(|| {
            problem.predict(black_box(&x0[0]), &mut out).unwrap();
            black_box(out[3])
        })
    });
    c.bench_function("local_fit_one_start", |b| {
        b.iter(|| black_box(local_fit(&problem, em, black_box(&x0[0])).objective))
    });
}

criterion_group!(benches, fit);
criterion_main!(benches);
