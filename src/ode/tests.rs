//! Unit tests of the integrator: exact solutions, the warm-start contract,
//! stiffness, error paths.

use super::*;

const ALL: [Method; 3] = [Method::Dopri5, Method::Rodas4, Method::Auto];
const SOFT: Stop = Stop::Soft { horizon: f64::INFINITY };

fn tol(rtol: f64, atol: f64) -> Tolerances {
    Tolerances { rtol, atol }
}

/// y' = −k·y.
struct Decay {
    k: f64,
}

impl OdeSystem for Decay {
    fn dim(&self) -> usize {
        1
    }
    fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = -self.k * y[0];
    }
}

/// y' = cos t + r (non-autonomous; r switched by the caller): y = sin t + r·t.
struct Forced {
    r: f64,
    max_t: f64,
}

impl OdeSystem for Forced {
    fn dim(&self) -> usize {
        1
    }
    fn rhs(&mut self, t: f64, _y: &[f64], dy: &mut [f64]) {
        self.max_t = self.max_t.max(t);
        dy[0] = t.cos() + self.r;
    }
}

/// y' = A·y with A = [[−1, 1], [0, −λ]]: eigenvalues −1 and −λ.
/// Exact: y₂ = y₂(0)·e^(−λt), y₁ = (y₁(0) + c)·e^(−t) − c·e^(−λt), c = y₂(0)/(λ − 1).
struct StiffLinear {
    lambda: f64,
    analytic: bool,
}

impl StiffLinear {
    fn exact(&self, y0: [f64; 2], t: f64) -> [f64; 2] {
        let c = y0[1] / (self.lambda - 1.0);
        let fast = (-self.lambda * t).exp();
        [(y0[0] + c) * (-t).exp() - c * fast, y0[1] * fast]
    }
}

impl OdeSystem for StiffLinear {
    fn dim(&self) -> usize {
        2
    }
    fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = -y[0] + y[1];
        dy[1] = -self.lambda * y[1];
    }
    fn jacobian(&mut self, _t: f64, _y: &[f64], jac: &mut [f64]) -> bool {
        if self.analytic {
            jac.copy_from_slice(&[-1.0, 1.0, 0.0, -self.lambda]);
        }
        self.analytic
    }
    fn autonomous(&self) -> bool {
        true
    }
}

/// Robertson's chemical kinetics (Hairer & Wanner II, §IV.1).
struct Robertson;

impl OdeSystem for Robertson {
    fn dim(&self) -> usize {
        3
    }
    fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
        let r1 = 0.04 * y[0];
        let r2 = 1e4 * y[1] * y[2];
        let r3 = 3e7 * y[1] * y[1];
        dy[0] = -r1 + r2;
        dy[1] = r1 - r2 - r3;
        dy[2] = r3;
    }
}

/// Integrates `sys` from (0, y0) through `times` with the given stop kind.
fn outputs<S: OdeSystem>(it: &mut Integrator, sys: &mut S, y0: &[f64], times: &[f64], stop: Stop) -> Vec<Vec<f64>> {
    let mut y = y0.to_vec();
    let mut t = 0.0;
    times
        .iter()
        .map(|&t1| {
            it.advance(sys, t, &mut y, t1, stop).unwrap();
            t = t1;
            y.clone()
        })
        .collect()
}

fn grid(n: usize, end: f64) -> Vec<f64> {
    (1..=n).map(|i| end * i as f64 / n as f64).collect()
}

#[test]
fn exponential_decay_meets_both_tolerances_with_every_method() {
    for method in ALL {
        for (rtol, atol, bound) in [(1e-6, 1e-12, 1e-5), (1e-11, 1e-16, 1e-9)] {
            let mut it = Integrator::new(1, method, tol(rtol, atol)).unwrap();
            let times = grid(50, 20.0);
            let ys = outputs(&mut it, &mut Decay { k: 0.7 }, &[100.0], &times, SOFT);
            for (t, y) in times.iter().zip(&ys) {
                let exact = 100.0 * (-0.7 * t).exp();
                let rel = (y[0] - exact).abs() / exact;
                assert!(rel <= bound, "{method:?} rtol {rtol}: t {t} rel {rel:e}");
            }
        }
    }
}

#[test]
fn time_dependent_right_hand_side_is_integrated_by_both_methods() {
    // The stiff method needs ∂f/∂t here (the system is not autonomous).
    for method in [Method::Dopri5, Method::Rodas4] {
        let mut it = Integrator::new(1, method, tol(1e-10, 1e-12)).unwrap();
        let times = grid(40, 10.0);
        let ys = outputs(&mut it, &mut Forced { r: 0.0, max_t: 0.0 }, &[0.0], &times, SOFT);
        for (t, y) in times.iter().zip(&ys) {
            assert!(
                (y[0] - t.sin()).abs() < 1e-8,
                "{method:?} t {t}: {} vs {}",
                y[0],
                t.sin()
            );
        }
    }
}

#[test]
fn soft_outputs_equal_hard_stops_to_within_tolerance() {
    for method in [Method::Dopri5, Method::Rodas4] {
        let times = grid(100, 10.0);
        let mut sys = StiffLinear {
            lambda: 5.0,
            analytic: false,
        };
        let mut soft = Integrator::new(2, method, tol(1e-8, 1e-12)).unwrap();
        let a = outputs(&mut soft, &mut sys, &[1.0, 1.0], &times, SOFT);
        let mut hard = Integrator::new(2, method, tol(1e-8, 1e-12)).unwrap();
        let b = outputs(&mut hard, &mut sys, &[1.0, 1.0], &times, Stop::Hard);
        for ((t, ya), yb) in times.iter().zip(&a).zip(&b) {
            let exact = sys.exact([1.0, 1.0], *t);
            for i in 0..2 {
                // Within a hundred times the local tolerance.
                let bound = 100.0 * (1e-12 + 1e-8 * exact[i].abs());
                assert!((ya[i] - yb[i]).abs() < bound, "{method:?} t {t}: {ya:?} vs {yb:?}");
                assert!(
                    (ya[i] - exact[i]).abs() < bound,
                    "{method:?} t {t}: {ya:?} vs {exact:?}"
                );
            }
        }
        // Dense output saves steps: 100 hard stops cost more than 100 soft outputs.
        assert!(
            soft.stats().accepted_steps < hard.stats().accepted_steps,
            "{method:?}: soft {:?} hard {:?}",
            soft.stats(),
            hard.stats()
        );
    }
}

#[test]
fn a_soft_output_inside_the_step_in_flight_costs_no_evaluation() {
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-6, 1e-12)).unwrap();
    let mut sys = Decay { k: 0.1 };
    let mut y = [1.0];
    it.advance(&mut sys, 0.0, &mut y, 1.0, SOFT).unwrap();
    let calls = it.stats().rhs_calls;
    // A slowly decaying exponential takes long steps: the next output is
    // inside the step already taken.
    let mut t = 1.0;
    let mut free = 0;
    for i in 1..=5 {
        let t1 = 1.0 + 0.01 * i as f64;
        let before = it.stats().rhs_calls;
        it.advance(&mut sys, t, &mut y, t1, SOFT).unwrap();
        if it.stats().rhs_calls == before {
            free += 1;
        }
        t = t1;
        assert!((y[0] - (-0.1 * t1).exp()).abs() < 1e-6);
    }
    assert!(free >= 4, "only {free} outputs served by the continuous extension");
    assert!(it.stats().rhs_calls - calls <= 7);
}

#[test]
fn a_changed_state_at_a_soft_output_restarts_from_it() {
    // A dose added to y at a soft output time without a hard stop: the
    // integrator must notice that y is not what it returned.
    for method in ALL {
        let mut it = Integrator::new(1, method, tol(1e-9, 1e-12)).unwrap();
        let mut sys = Decay { k: 0.5 };
        let mut y = [10.0];
        it.advance(&mut sys, 0.0, &mut y, 1.3, SOFT).unwrap();
        y[0] += 5.0;
        let jumped = y[0];
        it.advance(&mut sys, 1.3, &mut y, 4.0, SOFT).unwrap();
        let exact = jumped * (-0.5f64 * 2.7).exp();
        assert!((y[0] - exact).abs() / exact < 1e-7, "{method:?}: {} vs {exact}", y[0]);
    }
}

#[test]
fn a_system_changed_at_a_soft_output_needs_reset_and_at_a_hard_stop_does_not() {
    let exact = |t: f64, r: f64, from: f64| t.sin() + r * (t - from);
    // Hard stop at 2, then the input changes: no reset needed.
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-10, 1e-12)).unwrap();
    let mut sys = Forced { r: 0.0, max_t: 0.0 };
    let mut y = [0.0];
    it.advance(&mut sys, 0.0, &mut y, 2.0, Stop::Hard).unwrap();
    assert!(sys.max_t <= 2.0, "stepped past a hard stop: {}", sys.max_t);
    sys.r = 1.0;
    it.advance(&mut sys, 2.0, &mut y, 5.0, SOFT).unwrap();
    assert!((y[0] - exact(5.0, 1.0, 2.0)).abs() < 1e-8);

    // The same change at a soft output time, with reset(): correct.
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-10, 1e-12)).unwrap();
    let mut sys = Forced { r: 0.0, max_t: 0.0 };
    let mut y = [0.0];
    it.advance(&mut sys, 0.0, &mut y, 2.0, SOFT).unwrap();
    sys.r = 1.0;
    it.reset();
    it.advance(&mut sys, 2.0, &mut y, 5.0, SOFT).unwrap();
    assert!((y[0] - exact(5.0, 1.0, 2.0)).abs() < 1e-8);
}

#[test]
fn soft_outputs_never_step_past_the_horizon() {
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-6, 1e-12)).unwrap();
    let mut sys = Forced { r: 0.0, max_t: 0.0 };
    let mut y = [0.0];
    let mut t = 0.0;
    for i in 1..=9 {
        let t1 = 0.3 * i as f64;
        it.advance(&mut sys, t, &mut y, t1, Stop::Soft { horizon: 3.0 })
            .unwrap();
        t = t1;
    }
    assert!(sys.max_t <= 3.0, "evaluated at {}", sys.max_t);
    it.advance(&mut sys, t, &mut y, 3.0, Stop::Hard).unwrap();
    assert!((y[0] - 3f64.sin()).abs() < 1e-6);
}

#[test]
fn a_later_horizon_before_the_step_in_flight_restarts_from_the_output() {
    // The caller first promised no change before 10, then announces one at
    // 1.5 while the step in flight already reaches beyond it: the integrator
    // restarts from the output it returned instead of using that step.
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-8, 1e-12)).unwrap();
    let mut sys = Forced { r: 0.0, max_t: 0.0 };
    let mut y = [0.0];
    it.advance(&mut sys, 0.0, &mut y, 1.0, Stop::Soft { horizon: 10.0 })
        .unwrap();
    it.advance(&mut sys, 1.0, &mut y, 1.5, Stop::Hard).unwrap();
    assert!((y[0] - 1.5f64.sin()).abs() < 1e-7);
}

#[test]
fn the_stiff_method_solves_a_stiff_linear_system_in_few_steps() {
    let lambda = 1e4;
    let times = grid(20, 10.0);
    for analytic in [false, true] {
        let mut sys = StiffLinear { lambda, analytic };
        let mut it = Integrator::new(2, Method::Rodas4, tol(1e-6, 1e-10)).unwrap();
        let ys = outputs(&mut it, &mut sys, &[1.0, 1.0], &times, SOFT);
        for (t, y) in times.iter().zip(&ys) {
            let exact = sys.exact([1.0, 1.0], *t);
            assert!((y[0] - exact[0]).abs() / exact[0] < 1e-5, "t {t}: {y:?} vs {exact:?}");
            assert!(y[1].abs() < 1e-9, "t {t}: {y:?}");
        }
        // Most steps resolve the fast transient down to atol (e^(−λt) ≥ 1e-10
        // until t ≈ 2.3e-3): measured 192 attempts, against > 20 000 for Dopri5.
        let s = it.stats();
        assert!(s.accepted_steps + s.rejected_steps < 300, "{s:?}");
        // Forward differences cost `dim` evaluations per Jacobian; the analytic one none.
        let per_step = s.rhs_calls as f64 / (s.accepted_steps + s.rejected_steps) as f64;
        assert!(if analytic { per_step < 6.5 } else { per_step > 7.0 }, "{s:?}");
    }
    // The explicit method is limited by stability: h·λ ≲ 3.3.
    let mut it = Integrator::new(2, Method::Dopri5, tol(1e-6, 1e-10)).unwrap();
    outputs(
        &mut it,
        &mut StiffLinear {
            lambda,
            analytic: false,
        },
        &[1.0, 1.0],
        &times,
        SOFT,
    );
    assert!(it.stats().accepted_steps > 20_000, "{:?}", it.stats());
    // Auto notices and switches.
    let mut it = Integrator::new(2, Method::Auto, tol(1e-6, 1e-10)).unwrap();
    outputs(
        &mut it,
        &mut StiffLinear {
            lambda,
            analytic: false,
        },
        &[1.0, 1.0],
        &times,
        SOFT,
    );
    let s = it.stats();
    assert_eq!(it.active_method(), Method::Rodas4);
    assert!(s.stiff_from.is_some_and(|t| t < 0.1), "{s:?}");
    assert!(s.accepted_steps + s.rejected_steps < 400, "{s:?}");
}

#[test]
fn robertson_matches_the_reference_solution() {
    // Reference at t = 40 (Hairer & Wanner II, §IV.10, Table 10.1 problem ROBER;
    // also reproduced below by Dopri5 at a tight tolerance).
    let reference = [0.715_827_068_719_3, 9.185_534_764_636e-6, 0.284_163_745_746_0];
    let mut it = Integrator::new(3, Method::Rodas4, tol(1e-9, 1e-14)).unwrap();
    let mut y = [1.0, 0.0, 0.0];
    it.advance(&mut Robertson, 0.0, &mut y, 40.0, Stop::Hard).unwrap();
    for i in 0..3 {
        assert!((y[i] - reference[i]).abs() / reference[i] < 1e-7, "{y:?}");
    }
    // At rtol 1e-6 both the stiff method and Auto take about a hundred steps
    // (measured 116 and 106; Dopri5 alone needs tens of thousands).
    for method in [Method::Rodas4, Method::Auto] {
        let mut it = Integrator::new(3, method, tol(1e-6, 1e-14)).unwrap();
        let mut y = [1.0, 0.0, 0.0];
        it.advance(&mut Robertson, 0.0, &mut y, 40.0, Stop::Hard).unwrap();
        assert_eq!(it.active_method(), Method::Rodas4);
        let s = it.stats();
        assert!(s.accepted_steps + s.rejected_steps < 200, "{method:?}: {s:?}");
        for i in 0..3 {
            assert!((y[i] - reference[i]).abs() / reference[i] < 1e-5, "{method:?}: {y:?}");
        }
    }

    let mut it = Integrator::new(3, Method::Dopri5, tol(1e-10, 1e-14)).unwrap();
    let mut y = [1.0, 0.0, 0.0];
    it.advance(&mut Robertson, 0.0, &mut y, 40.0, Stop::Hard).unwrap();
    for i in 0..3 {
        assert!((y[i] - reference[i]).abs() / reference[i] < 1e-7, "{y:?}");
    }
}

#[test]
fn continuous_extensions_have_their_order() {
    // One step of each method over [0, h], interpolated at h/2: the error of
    // the continuous extension shrinks like h^(p+1) (Dopri5 p = 4, RODAS p = 3).
    for (method, p) in [(Method::Dopri5, 4.0), (Method::Rodas4, 3.0)] {
        let mut errors = Vec::new();
        for h in [0.4, 0.2] {
            let opts = Options {
                h_max: h,
                ..Options::default()
            };
            let mut it = Integrator::with_options(1, method, tol(1e-2, 1e-2), opts).unwrap();
            // One step of exactly h: the proposal is h and the horizon lands it on h.
            it.h = h;
            let mut y = [1.0];
            it.advance(&mut Decay { k: 1.0 }, 0.0, &mut y, h / 2.0, Stop::Soft { horizon: h })
                .unwrap();
            assert_eq!((it.stats().accepted_steps, it.stats().rejected_steps), (1, 0));
            errors.push((y[0] - (-h / 2.0f64).exp()).abs());
        }
        let order = (errors[0] / errors[1]).log2();
        assert!(order > p + 0.5, "{method:?}: errors {errors:?}, observed order {order}");
    }
}

#[test]
fn nan_in_the_right_hand_side_is_reported_with_its_time() {
    struct NanAfter3;
    impl OdeSystem for NanAfter3 {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = if t >= 3.0 { f64::NAN } else { -y[0] };
        }
    }
    for method in ALL {
        let mut it = Integrator::new(1, method, tol(1e-6, 1e-12)).unwrap();
        let mut y = [1.0];
        let e = it.advance(&mut NanAfter3, 0.0, &mut y, 10.0, SOFT).unwrap_err();
        match e {
            OdeError::NonFinite { time } => assert!((2.99..=3.0).contains(&time), "{method:?}: {time}"),
            other => panic!("{method:?}: {other:?}"),
        }
        assert_eq!(y, [1.0], "y is left as passed on error");
        // A NaN state is refused at once.
        let mut y = [f64::NAN];
        assert_eq!(
            it.advance(&mut Decay { k: 1.0 }, 5.0, &mut y, 6.0, SOFT),
            Err(OdeError::NonFinite { time: 5.0 })
        );
    }
}

#[test]
fn a_solution_that_blows_up_stops_with_step_size_too_small() {
    // y' = y², y(0) = 1: y = 1/(1 − t), infinite at t = 1.
    struct BlowUp;
    impl OdeSystem for BlowUp {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = y[0] * y[0];
        }
    }
    for method in [Method::Dopri5, Method::Rodas4] {
        let mut it = Integrator::new(1, method, tol(1e-6, 1e-9)).unwrap();
        let mut y = [1.0];
        match it.advance(&mut BlowUp, 0.0, &mut y, 2.0, Stop::Hard) {
            Err(OdeError::StepSizeTooSmall { time }) | Err(OdeError::NonFinite { time }) => {
                assert!((time - 1.0).abs() < 1e-3, "{method:?}: {time}")
            }
            other => panic!("{method:?}: {other:?}"),
        }
    }
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-6, 1e-9)).unwrap();
    let e = it.advance(&mut BlowUp, 0.0, &mut [1.0], 2.0, Stop::Hard).unwrap_err();
    assert!(matches!(e, OdeError::StepSizeTooSmall { .. }), "{e:?}");
    assert!(e.to_string().contains("step size too small"), "{e}");
}

#[test]
fn the_step_budget_is_enforced() {
    let opts = Options {
        max_steps: 10,
        ..Options::default()
    };
    let mut it = Integrator::with_options(1, Method::Dopri5, tol(1e-10, 1e-14), opts).unwrap();
    let e = it
        .advance(&mut Decay { k: 1.0 }, 0.0, &mut [1.0], 100.0, Stop::Hard)
        .unwrap_err();
    match e {
        OdeError::TooManySteps { time } => assert!(time > 0.0 && time < 100.0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_settings_and_calls_are_refused() {
    let bad = [
        Integrator::new(0, Method::Auto, tol(1e-6, 1e-9)),
        Integrator::new(1, Method::Auto, tol(-1e-6, 1e-9)),
        Integrator::new(1, Method::Auto, tol(1.0, 1e-9)),
        Integrator::new(1, Method::Auto, tol(1e-6, 0.0)),
        Integrator::new(1, Method::Auto, tol(1e-6, f64::NAN)),
        Integrator::with_options(
            1,
            Method::Auto,
            tol(1e-6, 1e-9),
            Options {
                h_max: 0.0,
                ..Options::default()
            },
        ),
    ];
    for b in bad {
        assert!(matches!(b, Err(OdeError::InvalidSetting { .. })), "{b:?}");
    }
    let mut it = Integrator::new(1, Method::Dopri5, tol(1e-6, 1e-9)).unwrap();
    let mut sys = Decay { k: 1.0 };
    let calls: [(f64, f64, Stop); 4] = [
        (1.0, 0.5, Stop::Hard),
        (0.0, f64::NAN, Stop::Hard),
        (0.0, 2.0, Stop::Soft { horizon: 1.0 }),
        (0.0, 2.0, Stop::Soft { horizon: f64::NAN }),
    ];
    for (t0, t1, stop) in calls {
        let r = it.advance(&mut sys, t0, &mut [1.0], t1, stop);
        assert!(matches!(r, Err(OdeError::InvalidCall { .. })), "{r:?}");
    }
    let r = it.advance(&mut sys, 0.0, &mut [1.0, 2.0], 1.0, Stop::Hard);
    assert!(matches!(r, Err(OdeError::InvalidCall { .. })), "{r:?}");
    // t1 = t0 is allowed and leaves y unchanged.
    let mut y = [3.0];
    it.advance(&mut sys, 1.0, &mut y, 1.0, Stop::Hard).unwrap();
    assert_eq!(y, [3.0]);
}

#[test]
fn reset_all_forgets_the_stiffness_verdict() {
    let mut it = Integrator::new(2, Method::Auto, tol(1e-6, 1e-10)).unwrap();
    let mut sys = StiffLinear {
        lambda: 1e4,
        analytic: false,
    };
    it.advance(&mut sys, 0.0, &mut [1.0, 1.0], 1.0, Stop::Hard).unwrap();
    assert_eq!(it.active_method(), Method::Rodas4);
    it.reset_all();
    assert_eq!(it.active_method(), Method::Dopri5);
    assert_eq!(it.step_size(), 0.0);
    assert_eq!(it.method(), Method::Auto);
}

/// A chain of `n` transit compartments with rate k: y₀' = −k·y₀,
/// yᵢ' = k·(yᵢ₋₁ − yᵢ); from y = (1, 0, …): yᵢ(t) = (kt)ⁱ/i!·e^(−kt).
struct Transit {
    n: usize,
    k: f64,
}

impl OdeSystem for Transit {
    fn dim(&self) -> usize {
        self.n
    }
    fn rhs(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = -self.k * y[0];
        for i in 1..self.n {
            dy[i] = self.k * (y[i - 1] - y[i]);
        }
    }
}

#[test]
fn dimensions_beyond_the_unrolled_ones_take_the_general_path() {
    // Dimensions 1–6 run unrolled kernels; 7 and more the general loops.
    for n in [6, 7, 9] {
        for method in [Method::Dopri5, Method::Rodas4] {
            let mut sys = Transit { n, k: 1.5 };
            let mut it = Integrator::new(n, method, tol(1e-9, 1e-14)).unwrap();
            let mut y0 = vec![0.0; n];
            y0[0] = 1.0;
            let times = grid(10, 8.0);
            let ys = outputs(&mut it, &mut sys, &y0, &times, SOFT);
            for (t, y) in times.iter().zip(&ys) {
                let mut exact = (-1.5 * t).exp();
                for (i, yi) in y.iter().enumerate() {
                    if i > 0 {
                        exact *= 1.5 * t / i as f64;
                    }
                    assert!(
                        (yi - exact).abs() <= 1e-7 * exact + 1e-12,
                        "n {n} {method:?} t {t} y{i}: {yi} vs {exact}"
                    );
                }
            }
        }
    }
}
