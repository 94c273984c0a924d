//! Bins of the x variable (time or time after dose).
//!
//! A binning is a list of edges e₀ < e₁ < … < e_K: bin k (1-based) holds
//! e_{k−1} ≤ x < e_k, the last bin also x = e_K. Three ways to get them:
//!
//! - [`Binning::Breaks`]: the user's edges; the first and the last are
//!   widened to the data's range, so that no observation is left out.
//! - [`Binning::Quantiles`]: K bins of about equal numbers of observations
//!   (edges near the k/K quantiles of x), never splitting a sampling time:
//!   each edge is the midpoint of the gap between two distinct x values
//!   nearest to the k·n/K-th observation.
//! - [`Binning::Auto`]: one bin per distinct x value when there are at most
//!   [`AUTO_MAX_BINS`] of them and each holds at least [`AUTO_MIN_PER_BIN`]
//!   observations (a nominal sampling design), otherwise
//!   [`AUTO_QUANTILE_BINS`] quantile bins as above.

use crate::error::{Error, Result};

/// Auto binning: the largest number of distinct x values that get one bin each.
pub const AUTO_MAX_BINS: usize = 100;
/// Auto binning: the fewest observations at each distinct x value for one bin each.
pub const AUTO_MIN_PER_BIN: usize = 10;
/// Auto binning: the number of quantile bins when x has more distinct values.
pub const AUTO_QUANTILE_BINS: usize = 10;

/// How the x axis is cut into bins.
#[derive(Debug, Clone, PartialEq)]
pub enum Binning {
    /// One bin per distinct x value when few, else quantile bins (module documentation).
    Auto,
    /// About equal numbers of observations in this many bins.
    Quantiles(usize),
    /// The user's edges, ascending.
    Breaks(Vec<f64>),
}

/// The edges of `binning` on the observed `x` (finite values).
pub fn edges(x: &[f64], binning: &Binning) -> Result<Vec<f64>> {
    let s = super::stats::sorted(x.iter().copied().filter(|v| v.is_finite()));
    let (Some(&lo), Some(&hi)) = (s.first(), s.last()) else {
        return Err(Error::Argument("no observations to bin".into()));
    };
    match binning {
        Binning::Breaks(b) => breaks(b, lo, hi),
        Binning::Quantiles(k) => {
            if *k == 0 {
                return Err(Error::Argument("--bins 0: expected at least one bin".into()));
            }
            Ok(quantile_edges(&s, *k))
        }
        Binning::Auto => {
            let distinct = distinct(&s);
            let fewest = distinct
                .iter()
                .map(|d| s.partition_point(|v| v <= d) - s.partition_point(|v| v < d))
                .min()
                .unwrap_or(0);
            if distinct.len() <= AUTO_MAX_BINS && fewest >= AUTO_MIN_PER_BIN {
                let mut e = vec![lo];
                e.extend(distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0));
                e.push(hi);
                Ok(dedup(e))
            } else {
                Ok(quantile_edges(&s, AUTO_QUANTILE_BINS))
            }
        }
    }
}

/// The user's breaks, checked ascending, widened to [lo, hi].
fn breaks(b: &[f64], lo: f64, hi: f64) -> Result<Vec<f64>> {
    if b.len() < 2 {
        return Err(Error::Argument(
            "--bin-breaks: expected at least two breaks (the edges of one bin)".into(),
        ));
    }
    if let Some(w) = b
        .windows(2)
        .find(|w| !(w[0].is_finite() && w[1].is_finite() && w[0] < w[1]))
    {
        return Err(Error::Argument(format!(
            "--bin-breaks: expected finite breaks in increasing order, found {} then {}",
            w[0], w[1]
        )));
    }
    let mut e = b.to_vec();
    let last = e.len() - 1;
    e[0] = e[0].min(lo);
    e[last] = e[last].max(hi);
    Ok(e)
}

/// Distinct values of sorted `s`.
fn distinct(s: &[f64]) -> Vec<f64> {
    let mut d: Vec<f64> = s.to_vec();
    d.dedup();
    d
}

/// Sorted, without repeats.
fn dedup(mut e: Vec<f64>) -> Vec<f64> {
    e.sort_by(f64::total_cmp);
    e.dedup();
    if e.len() == 1 {
        e.push(e[0]);
    }
    e
}

/// Quantile edges of sorted `s` for `k` bins, at gaps between distinct values.
fn quantile_edges(s: &[f64], k: usize) -> Vec<f64> {
    let n = s.len();
    // Positions i where a new distinct value starts (s[i − 1] < s[i]).
    let starts: Vec<usize> = (1..n).filter(|&i| s[i - 1] < s[i]).collect();
    let mut e = vec![s[0]];
    for j in 1..k {
        let target = j as f64 * n as f64 / k as f64;
        let nearest = starts.iter().min_by(|a, b| {
            let (da, db) = ((**a as f64 - target).abs(), (**b as f64 - target).abs());
            da.total_cmp(&db).then(a.cmp(b))
        });
        if let Some(&i) = nearest {
            e.push((s[i - 1] + s[i]) / 2.0);
        }
    }
    e.push(s[n - 1]);
    dedup(e)
}

/// The bin (0-based) of `x` under `edges` (see the module documentation);
/// `None` for a value outside them or not finite.
pub fn bin_of(x: f64, edges: &[f64]) -> Option<usize> {
    let k = edges.len().checked_sub(1)?;
    if !(x >= edges[0] && x <= edges[k]) || k == 0 {
        return None;
    }
    // The number of inner edges ≤ x.
    let i = edges[1..k].partition_point(|e| *e <= x);
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_bins_keep_sampling_times_together() {
        // 4 samples at each of 1, 2, …, 6 h: 3 bins of 8 each.
        let x: Vec<f64> = (1..=6).flat_map(|t| [f64::from(t); 4]).collect();
        let e = edges(&x, &Binning::Quantiles(3)).unwrap();
        assert_eq!(e, vec![1.0, 2.5, 4.5, 6.0]);
        let counts = (0..3)
            .map(|b| x.iter().filter(|v| bin_of(**v, &e) == Some(b)).count())
            .collect::<Vec<_>>();
        assert_eq!(counts, vec![8, 8, 8]);
        // 4 bins cannot split 6 tied groups evenly: edges at the nearest gaps.
        let e = edges(&x, &Binning::Quantiles(4)).unwrap();
        assert_eq!(e, vec![1.0, 1.5, 3.5, 4.5, 6.0]);
    }

    #[test]
    fn auto_is_one_bin_per_nominal_time_when_few() {
        let x: Vec<f64> = [0.5, 1.0, 2.0, 8.0, 24.0]
            .iter()
            .flat_map(|t| [*t; AUTO_MIN_PER_BIN])
            .collect();
        let e = edges(&x, &Binning::Auto).unwrap();
        assert_eq!(e, vec![0.5, 0.75, 1.5, 5.0, 16.0, 24.0]);
        assert_eq!(bin_of(24.0, &e), Some(4));
        assert_eq!(bin_of(0.5, &e), Some(0));
        assert_eq!(bin_of(1.5, &e), Some(2));
        // Many distinct times, or too few samples at one: quantile bins.
        let x: Vec<f64> = (0..200).map(f64::from).collect();
        let e = edges(&x, &Binning::Auto).unwrap();
        assert_eq!(e.len(), AUTO_QUANTILE_BINS + 1);
        let x: Vec<f64> = (0..60).map(|k| f64::from(k / 3)).collect();
        let e = edges(&x, &Binning::Auto).unwrap();
        assert_eq!(e.len(), AUTO_QUANTILE_BINS + 1);
    }

    #[test]
    fn user_breaks_are_widened_and_checked() {
        let e = edges(&[0.25, 3.0, 30.0], &Binning::Breaks(vec![1.0, 2.0, 4.0, 24.0])).unwrap();
        assert_eq!(e, vec![0.25, 2.0, 4.0, 30.0]);
        assert!(edges(&[1.0], &Binning::Breaks(vec![2.0, 1.0])).is_err());
        assert!(edges(&[1.0], &Binning::Breaks(vec![2.0])).is_err());
        assert!(edges(&[], &Binning::Auto).is_err());
        assert!(edges(&[1.0], &Binning::Quantiles(0)).is_err());
    }
}
