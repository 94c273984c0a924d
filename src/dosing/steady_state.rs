//! Steady state of a dose repeated every interval (NONMEM SS=1 and SS=2).
//!
//! Over one interval the system maps its state affinely, `s ↦ M s + c`, where
//! `c` is the response to one interval's input (the bolus at its phase, and the
//! infusions of all overlapping doses wrapped into the interval). For a linear
//! model the steady state solves `(I − M) s = c` exactly; for a non-linear
//! model the map is iterated to convergence.

use super::dose::{Dose, Input};
use crate::autodiff::Real;
use crate::model::{Kinetics, Rates, State, MAX_STATES};

/// Piecewise-constant input over one interval: segments `(start, end, rate)`
/// and a bolus at `phase`.
struct PeriodInput {
    interval: f64,
    target: usize,
    bolus: Option<(f64, f64)>,
    /// Breakpoints of the rate profile: `(from, rate)`, sorted, from 0.
    rate_profile: Vec<(f64, f64)>,
}

impl PeriodInput {
    fn new(dose: &Dose) -> Self {
        let ii = dose.interval;
        let phase = dose.lag.rem_euclid(ii);
        match dose.input {
            Input::Bolus => PeriodInput {
                interval: ii,
                target: dose.target,
                bolus: Some((phase, dose.amount)),
                rate_profile: vec![(0.0, 0.0)],
            },
            Input::Infusion { rate, duration } => {
                let full = (duration / ii).floor();
                let rem = duration - full * ii;
                let base = full * rate;
                let mut profile = vec![(0.0, base)];
                if rem > 0.0 {
                    let end = phase + rem;
                    if end <= ii {
                        profile = vec![(0.0, base), (phase, base + rate), (end, base)];
                    } else {
                        profile = vec![(0.0, base + rate), (end - ii, base), (phase, base + rate)];
                    }
                }
                profile.retain(|(t, _)| *t < ii);
                PeriodInput {
                    interval: ii,
                    target: dose.target,
                    bolus: None,
                    rate_profile: profile,
                }
            }
        }
    }

    /// Advances `s` through one interval of this input.
    fn apply<T: Real, K: Kinetics<T>>(&self, k: &mut K, s: &mut State<T>) -> Result<(), String> {
        let mut points: Vec<f64> = self.rate_profile.iter().map(|p| p.0).collect();
        if let Some((phase, _)) = self.bolus {
            points.push(phase);
        }
        points.push(self.interval);
        points.sort_by(f64::total_cmp);
        points.dedup();
        let mut t = 0.0;
        for &p in &points {
            let mut rates: Rates<T> = [T::zero(); MAX_STATES];
            rates[self.target] = T::cst(self.rate_at(t));
            k.set_rates(&rates);
            k.advance(s, p - t)?;
            t = p;
            if let Some((phase, amount)) = self.bolus {
                if phase == p && p < self.interval {
                    k.add_amount(s, self.target, T::cst(amount));
                }
            }
        }
        Ok(())
    }

    fn rate_at(&self, t: f64) -> f64 {
        self.rate_profile
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(0.0, |p| p.1)
    }
}

/// The state at the start of an interval under the steady state of `dose`,
/// before the interval's own dose is given. `active` lists the state indices
/// in use by the model.
pub fn steady_state<T: Real, K: Kinetics<T>>(k: &mut K, dose: &Dose, active: &[usize]) -> Result<State<T>, String> {
    if let Input::Infusion { rate, duration } = dose.input {
        if duration.is_infinite() {
            return constant_infusion(k, dose.target, rate, active);
        }
    }
    if !(dose.interval > 0.0) {
        return Err("a steady-state dose needs II > 0".into());
    }
    let linear = k.is_linear();
    let period = PeriodInput::new(dose);
    let mut step = |s: &mut State<T>| period.apply(k, s);
    if linear {
        solve_periodic(&mut step, active)
    } else {
        iterate(&mut step)
    }
}

/// Steady state of a constant infusion: the limit of a long interval.
fn constant_infusion<T: Real, K: Kinetics<T>>(
    k: &mut K,
    target: usize,
    rate: f64,
    active: &[usize],
) -> Result<State<T>, String> {
    let mut rates: Rates<T> = [T::zero(); MAX_STATES];
    rates[target] = T::cst(rate);
    // The fixed point of the map over any step length is the steady state.
    let linear = k.is_linear();
    k.set_rates(&rates);
    let mut step = |s: &mut State<T>| k.advance(s, 10.0);
    if linear {
        solve_periodic(&mut step, active)
    } else {
        iterate(&mut step)
    }
}

/// Solves `(I − M) s = c` for the affine one-interval map.
fn solve_periodic<T: Real>(
    step: &mut impl FnMut(&mut State<T>) -> Result<(), String>,
    active: &[usize],
) -> Result<State<T>, String> {
    let n = active.len();
    let mut c: State<T> = [T::zero(); MAX_STATES];
    step(&mut c)?;
    // a = I − M on the active states (row i, column j), rhs = c.
    let mut a = [[T::zero(); MAX_STATES]; MAX_STATES];
    let mut rhs = [T::zero(); MAX_STATES];
    for (col, &j) in active.iter().enumerate() {
        let mut e: State<T> = [T::zero(); MAX_STATES];
        e[j] = T::cst(1.0);
        step(&mut e)?;
        for (row, &i) in active.iter().enumerate() {
            a[row][col] = T::cst(if i == j { 1.0 } else { 0.0 }) - (e[i] - c[i]);
        }
        rhs[col] = c[j];
    }
    let x = solve_dense(&mut a, &mut rhs, n).ok_or("steady state: the interval map is singular")?;
    let mut s: State<T> = [T::zero(); MAX_STATES];
    for (row, &i) in active.iter().enumerate() {
        s[i] = x[row];
    }
    Ok(s)
}

/// Solves the n×n system `a x = b` by Gaussian elimination with partial
/// pivoting (pivots chosen by value); `None` when a pivot is zero.
fn solve_dense<T: Real>(
    a: &mut [[T; MAX_STATES]; MAX_STATES],
    b: &mut [T; MAX_STATES],
    n: usize,
) -> Option<[T; MAX_STATES]> {
    for k in 0..n {
        let p = (k..n).max_by(|&x, &y| a[x][k].val().abs().total_cmp(&a[y][k].val().abs()))?;
        if !(a[p][k].val().abs() > 0.0) {
            return None;
        }
        a.swap(k, p);
        b.swap(k, p);
        let (top, below) = a.split_at_mut(k + 1);
        let pivot = &top[k];
        for (i, row) in below[..n - k - 1].iter_mut().enumerate() {
            let f = row[k] / pivot[k];
            for (x, p) in row[k..n].iter_mut().zip(&pivot[k..n]) {
                *x -= f * *p;
            }
            let bk = b[k];
            b[k + 1 + i] -= f * bk;
        }
    }
    let mut x = [T::zero(); MAX_STATES];
    for i in (0..n).rev() {
        let mut sum = b[i];
        for j in i + 1..n {
            sum -= a[i][j] * x[j];
        }
        x[i] = sum / a[i][i];
    }
    Some(x)
}

/// Iterates the interval map until the state stops changing (non-linear models).
fn iterate<T: Real>(step: &mut impl FnMut(&mut State<T>) -> Result<(), String>) -> Result<State<T>, String> {
    let mut s: State<T> = [T::zero(); MAX_STATES];
    for _ in 0..10_000 {
        let prev = s;
        step(&mut s)?;
        let change: f64 = s
            .iter()
            .zip(&prev)
            .map(|(a, b)| (a.val() - b.val()).abs())
            .fold(0.0, f64::max);
        let size: f64 = s.iter().map(|a| a.val().abs()).fold(0.0, f64::max);
        if change <= 1e-12 * size.max(1e-300) {
            return Ok(s);
        }
    }
    Err("steady state not reached after 10000 intervals".into())
}
