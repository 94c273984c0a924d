//! Percentiles as R's `quantile(type = 7)` (the default of R, of the `vpc`
//! package and of NumPy): for sorted values x₁ ≤ … ≤ xₙ and probability p,
//! h = (n − 1)·p, and the percentile is x₍⌊h⌋₊₁₎ + (h − ⌊h⌋)·(x₍⌊h⌋₊₂₎ − x₍⌊h⌋₊₁₎).

/// The type-7 percentile `p` (0 ≤ p ≤ 1) of `sorted` (ascending, finite
/// or ±∞ for censored values); NaN when `sorted` is empty or when the
/// percentile depends on a non-finite (censored) value.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let a = sorted[lo];
    if frac == 0.0 || lo + 1 >= n {
        return if a.is_finite() { a } else { f64::NAN };
    }
    let b = sorted[lo + 1];
    if !(a.is_finite() && b.is_finite()) {
        return f64::NAN;
    }
    a + frac * (b - a)
}

/// Sorts `values` ascending (NaN are left out) and returns them.
pub fn sorted(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The type-7 percentiles `ps` of `values` (any order; NaN left out).
pub fn quantiles(values: impl IntoIterator<Item = f64>, ps: &[f64]) -> Vec<f64> {
    let s = sorted(values);
    ps.iter().map(|p| quantile_sorted(&s, *p)).collect()
}

/// The median of `values` (type 7; NaN when there is none).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    quantiles(values, &[0.5])[0]
}

/// A simulated statistic over the replicates: its median and the bounds of
/// its central interval (type-7 percentiles over the replicates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Median over the replicates.
    pub median: f64,
    /// Lower bound (e.g. the 2.5th percentile over the replicates).
    pub lo: f64,
    /// Upper bound (e.g. the 97.5th percentile over the replicates).
    pub hi: f64,
}

impl Interval {
    /// The median and the central `level` interval (0.95: 2.5th and 97.5th
    /// percentiles) of `values` over the replicates; NaN values (a replicate
    /// without the statistic) are left out.
    pub fn of(values: impl IntoIterator<Item = f64>, level: f64) -> Self {
        let a = (1.0 - level) / 2.0;
        let q = quantiles(values, &[0.5, a, 1.0 - a]);
        Interval {
            median: q[0],
            lo: q[1],
            hi: q[2],
        }
    }

    /// Whether `x` lies in [lo, hi].
    pub fn contains(&self, x: f64) -> bool {
        x >= self.lo && x <= self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R 4.x: `quantile(c(1, 2, 4, 7, 11), c(.05, .5, .95, .3))` gives
    /// 1.2, 4.0, 10.2, 2.4 (h = 4p: 0.2 → 1 + 0.2·1; 3.8 → 7 + 0.8·4; 1.2 → 2 + 0.2·2).
    #[test]
    fn type_7_as_r() {
        let q = quantiles([7.0, 1.0, 11.0, 4.0, 2.0], &[0.05, 0.5, 0.95, 0.3]);
        let expected = [1.2, 4.0, 10.2, 2.4];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        assert_eq!(quantiles([3.0], &[0.05, 0.95]), vec![3.0, 3.0]);
        assert!(quantiles(Vec::<f64>::new(), &[0.5])[0].is_nan());
    }

    /// Censored values (−∞) sort first; a percentile that interpolates with
    /// one is unknown, one above them is not.
    #[test]
    fn censored_values_rank_low_and_hide_low_percentiles() {
        let v = sorted([f64::NEG_INFINITY, f64::NEG_INFINITY, 3.0, 4.0, 5.0]);
        assert!(quantile_sorted(&v, 0.05).is_nan());
        assert_eq!(quantile_sorted(&v, 0.5), 3.0);
        assert!((quantile_sorted(&v, 0.95) - 4.8).abs() < 1e-12);
    }

    #[test]
    fn interval_over_replicates() {
        let i = Interval::of((0..=100).map(f64::from), 0.95);
        // h = 100·0.025 = 2.5 (up to rounding of 1 − 0.95): 2 + 0.5.
        assert_eq!(i.median, 50.0);
        assert!((i.lo - 2.5).abs() < 1e-9 && (i.hi - 97.5).abs() < 1e-9, "{i:?}");
        assert!(i.contains(50.0) && !i.contains(98.0) && !i.contains(2.0));
    }
}
