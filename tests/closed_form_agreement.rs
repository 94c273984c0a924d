//! The closed forms against independent evaluations, over random parameters
//! and dosing histories (proptest):
//! - the two-compartment IV model against the textbook superposition
//!   C(t) = Σ doses Σᵢ Aᵢ·e^{−λᵢ t} written out here from the micro-constants
//!   (to 1e-9 relative), and against the `ode_solvers` path (1e-6 relative),
//!   including near-equal exponents;
//! - one-, two- and three-compartment models with and without first-order
//!   absorption against the ODE path (1e-6 relative).

use pk::dosing::{Dose, Input};
use pk::model::{Kinetics, ModalKinetics, OdeKinetics, OdeTolerances, PkParams, Structure};
use pk::simulate::Schedule;
use proptest::prelude::*;

/// Textbook two-compartment IV solution (Gibaldi & Perrier, Pharmacokinetics,
/// 2nd ed., ch. 2): unit bolus response A·e^{−αt} + B·e^{−βt} with
/// A = (α − k21)/(V1(α − β)), B = (k21 − β)/(V1(α − β)); a zero-order input
/// of rate R over T contributes R·Σ (coefᵢ/λᵢ)(1 − e^{−λᵢ·min(t,T)})·e^{−λᵢ·max(t−T,0)}.
fn textbook_two_cmt(cl: f64, v1: f64, q: f64, v2: f64, doses: &[Dose], t: f64) -> f64 {
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    let alpha = (s + disc) / 2.0;
    let beta = k10 * k21 / alpha; // product of the roots, avoids cancellation in (s − disc)/2
    let coef = [
        (alpha - k21) / (v1 * (alpha - beta)),
        (k21 - beta) / (v1 * (alpha - beta)),
    ];
    let lam = [alpha, beta];
    let mut c = 0.0;
    for d in doses {
        let elapsed = t - d.time;
        if elapsed < 0.0 {
            continue;
        }
        for i in 0..2 {
            c += match d.input {
                Input::Bolus => d.amount * coef[i] * (-lam[i] * elapsed).exp(),
                Input::Infusion { rate, duration } => {
                    let during = elapsed.min(duration);
                    let after = (elapsed - duration).max(0.0);
                    rate * coef[i] / lam[i] * (1.0 - (-lam[i] * during).exp()) * (-lam[i] * after).exp()
                }
            };
        }
    }
    c
}

/// `a` agrees with the reference `b` to `rel` relative, or, near zero, to
/// `abs_of_peak` × the concentration scale (total dose / V1) absolutely.
fn agrees(a: f64, b: f64, rel: f64, abs_of_peak: f64, peak: f64) -> bool {
    let d = (a - b).abs();
    d <= rel * b.abs() || d <= abs_of_peak * peak
}

fn dose_strategy(target: usize) -> impl Strategy<Value = Dose> {
    (0.0..96.0f64, 0.1..1000.0f64, prop_oneof![Just(0.0), 0.05..30.0f64]).prop_map(move |(time, amount, duration)| {
        if duration == 0.0 {
            Dose::bolus(time, target, amount)
        } else {
            Dose::infusion(time, target, amount, duration)
        }
    })
}

/// Observation times: random, plus every dose time and infusion end (where the kinks are).
fn observation_times(doses: &[Dose], random: &[f64]) -> Vec<f64> {
    let mut t: Vec<f64> = random.to_vec();
    for d in doses {
        t.push(d.time);
        if let Input::Infusion { duration, .. } = d.input {
            t.push(d.time + duration);
        }
    }
    t.sort_by(f64::total_cmp);
    t
}

fn predict<K: Kinetics>(k: &mut K, s: &Structure, doses: &[Dose], times: &[f64]) -> Vec<f64> {
    let schedule = Schedule::new(doses, times);
    let mut out = vec![0.0; times.len()];
    schedule.concentrations(k, s, 1.0, &mut out).unwrap();
    out
}

/// Two-compartment parameters: either log-uniform over wide ranges, or built
/// from micro-constants with α/β − 1 as small as 1e-12.
fn two_cmt_params() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    let general = (-3.0..3.0f64, -1.0..3.0f64, -3.0..3.0f64, -1.0..3.5f64)
        .prop_map(|(a, b, c, d)| (10f64.powf(a), 10f64.powf(b), 10f64.powf(c), 10f64.powf(d)));
    // k10 + k12 − k21 = η·k21 and k12 = ε·k21 make (α − β)/α of order √ε + |η|.
    let near_equal = (-2.0..0.5f64, -24.0..-4.0f64, -12.0..-4.0f64, any::<bool>(), 0.0..2.0f64).prop_map(
        |(lk21, le, lh, sign, lv1)| {
            let k21 = 10f64.powf(lk21);
            let k12 = 10f64.powf(le) * k21;
            let eta = if sign { 1.0 } else { -1.0 } * 10f64.powf(lh);
            let k10 = k21 - k12 + eta * k21;
            let v1 = 10f64.powf(lv1);
            (k10 * v1, v1, k12 * v1, k12 * v1 / k21)
        },
    );
    prop_oneof![3 => general, 2 => near_equal]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn two_cmt_iv_closed_form_equals_textbook_and_ode(
        (cl, v1, q, v2) in two_cmt_params(),
        doses in proptest::collection::vec(dose_strategy(1), 1..6),
        random_times in proptest::collection::vec(0.0..150.0f64, 1..25),
    ) {
        let p = PkParams::two_cmt_iv(cl, v1, q, v2).unwrap();
        let times = observation_times(&doses, &random_times);
        let closed = predict(&mut ModalKinetics::new(&p), &p.structure, &doses, &times);
        let ode = predict(&mut OdeKinetics::new(p, OdeTolerances::default()), &p.structure, &doses, &times);
        let peak = doses.iter().map(|d| d.amount).sum::<f64>() / v1;
        // The textbook form divides by α − β: it is itself accurate only to
        // about 1e-16/(relative gap), so it is the reference where the gap allows.
        let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
        let s = k10 + k12 + k21;
        let gap = (s * s - 4.0 * k10 * k21).max(0.0).sqrt() / s;
        for (i, &t) in times.iter().enumerate() {
            let text = textbook_two_cmt(cl, v1, q, v2, &doses, t);
            if gap > 1e-6 {
                prop_assert!(agrees(closed[i], text, 1e-9, 1e-13, peak),
                    "t {t}: closed {} textbook {} (gap {gap:e})", closed[i], text);
            }
            prop_assert!(agrees(closed[i], ode[i], 1e-6, 1e-9, peak),
                "t {t}: closed {} ode {} (gap {gap:e})", closed[i], ode[i]);
        }
    }

    #[test]
    fn all_linear_structures_closed_form_equal_ode(
        compartments in 1usize..=3,
        oral in any::<bool>(),
        logs in proptest::collection::vec(-1.5..2.5f64, 7),
        doses in proptest::collection::vec((0.0..72.0f64, 1.0..500.0f64, prop_oneof![Just(0.0), 0.1..12.0f64], any::<bool>()), 1..5),
        random_times in proptest::collection::vec(0.0..120.0f64, 1..20),
    ) {
        // CL, the volumes, the inter-compartmental clearances, KA.
        let x: Vec<f64> = logs.iter().map(|l| 10f64.powf(*l)).collect();
        let n = compartments;
        let p = PkParams::mammillary(x[0], &x[1..1 + n], &x[1 + n..2 * n], oral.then_some(x[6])).unwrap();
        let structure = p.structure;
        // Doses into the depot when oral, or into the central or a peripheral compartment.
        let doses: Vec<Dose> = doses.iter().map(|&(time, amount, duration, alt)| {
            let target = if oral && !alt { 0 } else if alt && compartments > 1 { 2 } else { 1 };
            if duration == 0.0 { Dose::bolus(time, target, amount) } else { Dose::infusion(time, target, amount, duration) }
        }).collect();
        let times = observation_times(&doses, &random_times);
        let closed = predict(&mut ModalKinetics::new(&p), &structure, &doses, &times);
        let ode = predict(&mut OdeKinetics::new(p, OdeTolerances::default()), &structure, &doses, &times);
        let peak = doses.iter().map(|d| d.amount).sum::<f64>() / p.v[0];
        for (i, &t) in times.iter().enumerate() {
            prop_assert!(agrees(closed[i], ode[i], 1e-6, 1e-9, peak),
                "{compartments} cmt oral={oral} t {t}: closed {} ode {}", closed[i], ode[i]);
        }
    }
}

/// Absorption rate equal to an elimination exponent (flip-flop limit, ka = k):
/// the closed form must take the limit, C(t) = F·D·ka·t·e^{−kt}/V.
#[test]
fn oral_one_cmt_with_ka_equal_to_k_is_the_limit() {
    let p = PkParams::mammillary(2.0, &[10.0], &[], Some(0.2)).unwrap();
    let s = p.structure;
    let times = [0.5, 1.0, 5.0, 24.0];
    let c = predict(&mut ModalKinetics::new(&p), &s, &[Dose::bolus(0.0, 0, 100.0)], &times);
    for (i, &t) in times.iter().enumerate() {
        let exact = 100.0 * 0.2 * t * (-0.2 * t).exp() / 10.0;
        assert!(((c[i] - exact) / exact).abs() < 1e-13, "t {t}: {} vs {exact}", c[i]);
    }
}
