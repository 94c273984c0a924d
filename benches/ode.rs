//! Speed of the ODE integrator (`pk::ode`) on whole profiles, with the
//! right-hand side written natively in Rust.
//!
//! * Two-compartment IV model in amounts (CL 20 L/h, V1 50 L, Q 30 L/h,
//!   V2 130 L), 5 infusions of 100 mg over 2 h every 24 h, 100 soft outputs
//!   equally spaced over 0–120 h, rtol 1e-6, atol 1e-9 mg: each infusion start
//!   and end is a hard stop. Compared with every output made a hard stop, and
//!   with `ode_solvers` 0.6 Dopri5 rebuilt for every segment between events and
//!   outputs (the only way that crate can be driven through events).
//! * Target-mediated disposition (3 states, stiff): two 100 nM boluses 84 h
//!   apart, 100 outputs over 0–168 h, rtol 1e-6, atol 1e-9 nM.
//!
//! The right-hand-side calls per profile are printed once before measuring.

use criterion::{criterion_group, criterion_main, Criterion};
use ode_solvers::dop_shared::{OutputType, System};
use pk::ode::{Integrator, Method, Stop, Tolerances};
use std::hint::black_box;

#[path = "../tests/support/ode_systems.rs"]
mod ode_systems;
use ode_systems::{tmdd_profile, TwoCmt, CL, Q, V1, V2};

const TOL: Tolerances = Tolerances { rtol: 1e-6, atol: 1e-9 };

/// Infusion starts (rate 50 mg/h) and ends, sorted.
fn infusion_stops() -> Vec<(f64, f64)> {
    (0..5)
        .flat_map(|k| [(24.0 * k as f64, 50.0), (24.0 * k as f64 + 2.0, 0.0)])
        .collect()
}

fn outputs() -> Vec<f64> {
    (0..100).map(|i| 120.0 * i as f64 / 99.0).collect()
}

/// One profile: hard stops where the rate changes, soft (or, with
/// `all_hard`, hard) stops at the outputs; central amounts into `out`.
fn two_cmt_profile(it: &mut Integrator, stops: &[(f64, f64)], times: &[f64], all_hard: bool, out: &mut [f64]) {
    let mut sys = TwoCmt { rate: 0.0 };
    let mut y = [0.0, 0.0];
    let mut t = 0.0;
    let mut next = 0;
    for &(ts, rate) in stops.iter().chain(&[(f64::INFINITY, 0.0)]) {
        while next < times.len() && times[next] < ts {
            let stop = if all_hard {
                Stop::Hard
            } else {
                Stop::Soft { horizon: ts }
            };
            it.advance(&mut sys, t, &mut y, times[next], stop).unwrap();
            t = times[next];
            out[next] = y[0];
            next += 1;
        }
        if ts.is_finite() {
            it.advance(&mut sys, t, &mut y, ts, Stop::Hard).unwrap();
            t = ts;
            sys.rate = rate;
        }
    }
}

/// The same profile with `ode_solvers` Dopri5, a new solver per segment.
/// Returns the right-hand-side calls.
fn ode_solvers_profile(stops: &[(f64, f64)], times: &[f64], out: &mut [f64]) -> u32 {
    struct Rhs(f64);
    impl System<f64, ode_solvers::Vector2<f64>> for Rhs {
        fn system(&self, _t: f64, a: &ode_solvers::Vector2<f64>, da: &mut ode_solvers::Vector2<f64>) {
            let c1 = a[0] / V1;
            let flow = Q * (c1 - a[1] / V2);
            da[0] = self.0 - CL * c1 - flow;
            da[1] = flow;
        }
    }
    let mut y = ode_solvers::Vector2::new(0.0, 0.0);
    let mut t = 0.0;
    let mut rate = 0.0;
    let mut calls = 0;
    let mut next = 0;
    let mut segment = |t: &mut f64, y: &mut ode_solvers::Vector2<f64>, t1: f64, rate: f64| {
        if t1 > *t {
            let mut s = ode_solvers::Dopri5::from_param(
                Rhs(rate),
                *t,
                t1,
                t1 - *t,
                *y,
                TOL.rtol,
                TOL.atol,
                0.9,
                0.04,
                0.2,
                10.0,
                t1 - *t,
                0.0,
                100_000,
                u32::MAX,
                OutputType::Sparse,
            );
            calls += s.integrate().unwrap().num_eval;
            *y = *s.y_out().last().unwrap();
            *t = t1;
        }
    };
    for &(ts, new_rate) in stops.iter().chain(&[(f64::INFINITY, 0.0)]) {
        while next < times.len() && times[next] < ts {
            segment(&mut t, &mut y, times[next], rate);
            out[next] = y[0];
            next += 1;
        }
        if ts.is_finite() {
            segment(&mut t, &mut y, ts, rate);
            rate = new_rate;
        }
    }
    calls
}

/// Two 100 nM boluses at 0 and 84 h, 50 outputs after each; free drug into `out`.
fn tmdd_free_drug(it: &mut Integrator, analytic_jacobian: bool, out: &mut [f64]) {
    tmdd_profile(it, analytic_jacobian, |i, y| out[i] = y[0]);
}

fn report_calls(label: &str, it: &mut Integrator, run: impl Fn(&mut Integrator)) {
    it.reset_all();
    let before = *it.stats();
    run(it);
    let s = it.stats();
    eprintln!(
        "{label}: {} rhs calls per profile ({} accepted, {} rejected steps, {} Jacobians)",
        s.rhs_calls - before.rhs_calls,
        s.accepted_steps - before.accepted_steps,
        s.rejected_steps - before.rejected_steps,
        s.jacobians - before.jacobians,
    );
}

fn two_cmt(c: &mut Criterion) {
    let stops = infusion_stops();
    let times = outputs();
    let mut out = vec![0.0; times.len()];
    let methods = [
        ("dopri5", Method::Dopri5),
        ("auto", Method::Auto),
        ("rodas4", Method::Rodas4),
    ];
    for (name, method) in methods {
        let mut it = Integrator::new(2, method, TOL).unwrap();
        report_calls(&format!("2-cmt {name}, soft outputs"), &mut it, |it| {
            two_cmt_profile(it, &stops, &times, false, &mut vec![0.0; 100])
        });
    }
    let mut it = Integrator::new(2, Method::Dopri5, TOL).unwrap();
    report_calls("2-cmt dopri5, every output a hard stop", &mut it, |it| {
        two_cmt_profile(it, &stops, &times, true, &mut vec![0.0; 100])
    });
    eprintln!(
        "2-cmt ode_solvers Dopri5 rebuilt per segment: {} rhs calls per profile",
        ode_solvers_profile(&stops, &times, &mut out)
    );

    let mut g = c.benchmark_group("ode_2cmt_5_infusions_100_outputs");
    for (name, method) in methods {
        let mut it = Integrator::new(2, method, TOL).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                it.reset_all();
                two_cmt_profile(&mut it, black_box(&stops), &times, false, &mut out);
                black_box(out[50])
            })
        });
    }
    g.bench_function("dopri5_new_integrator_each_profile", |b| {
        b.iter(|| {
            let mut it = Integrator::new(2, Method::Dopri5, TOL).unwrap();
            two_cmt_profile(&mut it, black_box(&stops), &times, false, &mut out);
            black_box(out[50])
        })
    });
    let mut it = Integrator::new(2, Method::Dopri5, TOL).unwrap();
    g.bench_function("dopri5_every_output_hard", |b| {
        b.iter(|| {
            it.reset_all();
            two_cmt_profile(&mut it, black_box(&stops), &times, true, &mut out);
            black_box(out[50])
        })
    });
    g.bench_function("ode_solvers_dopri5_rebuilt_per_segment", |b| {
        b.iter(|| {
            ode_solvers_profile(black_box(&stops), &times, &mut out);
            black_box(out[50])
        })
    });
    g.finish();
}

fn tmdd(c: &mut Criterion) {
    let mut out = vec![0.0; 100];
    let variants = [
        ("rodas4", Method::Rodas4, false),
        ("rodas4_analytic_jacobian", Method::Rodas4, true),
        ("auto", Method::Auto, false),
        ("dopri5", Method::Dopri5, false),
    ];
    for (name, method, analytic) in variants {
        let mut it = Integrator::new(3, method, TOL).unwrap();
        report_calls(&format!("TMDD {name}"), &mut it, |it| {
            tmdd_free_drug(it, analytic, &mut vec![0.0; 100])
        });
    }
    let mut g = c.benchmark_group("ode_tmdd_2_doses_100_outputs");
    g.sample_size(20);
    for (name, method, analytic) in variants {
        let mut it = Integrator::new(3, method, TOL).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                it.reset_all();
                tmdd_free_drug(&mut it, black_box(analytic), &mut out);
                black_box(out[50])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, two_cmt, tmdd);
criterion_main!(benches);
