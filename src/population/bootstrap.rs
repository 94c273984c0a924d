//! Non-parametric case bootstrap of a population fit (as PsN's `bootstrap`).
//!
//! **Resampling.** Replicate r (1-based) draws its subjects with its own
//! random stream: ChaCha8 seeded by [`ChaCha8Rng::seed_from_u64`]`(seed)` on
//! stream r ([`ChaCha8Rng::set_stream`]), each draw an unbiased integer below
//! the stratum size by Lemire's multiply-and-reject method on
//! `next_u64` ([`draw_below`]). A replicate's data therefore depend only on
//! (seed, r, strata), never on which machine, shard or thread runs it. Position
//! i of a replicate is a subject drawn from the stratum of the original
//! subject i, so stratum sizes are kept; a subject drawn twice enters as two
//! subjects.
//!
//! **Estimation.** Each replicate is estimated from the original estimates
//! (warm start) with the original method and iteration limit; no covariance
//! step. Its [`Status`] is `failed` (an error), `not_converged`, `at_bound`
//! (see [`BOUND_DISTANCE`]) or `ok`, in that precedence.
//!
//! **Intervals.** Percentile intervals are quantiles of the included
//! replicates (R's type 7, numpy's default: linear interpolation between order
//! statistics). BCa intervals (Efron & Tibshirani 1993, §14.3) shift those
//! quantiles by the bias correction z₀ = Φ⁻¹(share of included replicates
//! below the original estimate, ties counting half) and the acceleration
//! a = Σ(θ̄₍.₎ − θ₍ᵢ₎)³ / (6·[Σ(θ̄₍.₎ − θ₍ᵢ₎)²]^{3/2}) from a jackknife over
//! subjects: one refit per subject left out (n more fits, warm-started like
//! the replicates).
//!
//! The estimation itself is deterministic (subjects are summed in a fixed
//! order, the outer optimiser is sequential), so a replicate gives the same
//! bits however threads are scheduled.

use super::estimation::{
    estimate, reported, Element, EstimationOptions, Parameters, PopValues, PopulationData, PopulationFit,
};
use super::montecarlo::quantiles;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Model;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A replicate is `at_bound` when an estimated θ is closer to one of its
/// finite bounds than this fraction of the original estimate's distance to
/// that bound, or an estimated variance (diagonal of Ω, of the inter-occasion
/// Ω, or σ²) is below this fraction of its original estimate (its bound is 0).
/// Scale-free: θ = 4.7e-6 is at the bound 0 when the original is 4.7e-3.
pub const BOUND_DISTANCE: f64 = 1e-3;

/// The outcome of one estimation of a bootstrap or jackknife sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Converged with every parameter away from its bounds.
    Ok,
    /// Converged with a parameter at a bound ([`BOUND_DISTANCE`]).
    AtBound,
    /// The outer optimisation stopped without converging.
    NotConverged,
    /// The estimation failed with an error (kept as the sample's message).
    Failed,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 4] = [Status::Ok, Status::AtBound, Status::NotConverged, Status::Failed];

    /// The name in files and reports: `ok`, `at_bound`, `not_converged`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::AtBound => "at_bound",
            Status::NotConverged => "not_converged",
            Status::Failed => "failed",
        }
    }

    /// Parses a name of [`Status::as_str`].
    pub fn parse(text: &str) -> Result<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim())
            .ok_or_else(|| {
                Error::Argument(format!(
                    "unknown status '{text}': expected ok, at_bound, not_converged or failed"
                ))
            })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Groups of subjects resampled separately.
#[derive(Debug, Clone, PartialEq)]
pub struct Strata {
    /// The stratum of each subject (index into `labels`), in data order.
    pub of_subject: Vec<usize>,
    /// The members of each stratum, in data order.
    pub members: Vec<Vec<usize>>,
    /// Each stratum's value of the column (empty without stratification).
    pub labels: Vec<String>,
}

impl Strata {
    /// One stratum of `n` subjects (no stratification).
    pub fn none(n: usize) -> Strata {
        Strata {
            of_subject: vec![0; n],
            members: vec![(0..n).collect()],
            labels: vec![String::new()],
        }
    }

    /// Strata by the value of covariate column `column` (case-insensitive),
    /// in order of first appearance. The column must exist and be constant
    /// within each subject (then its value on the first record is the
    /// subject's); a missing value is refused.
    pub fn by_column(data: &Dataset, column: &str) -> Result<Strata> {
        let c = data.covariate_index(column).ok_or_else(|| {
            Error::Argument(format!(
                "--stratify {column}: {} has no such column (columns other than the NONMEM items: {})",
                data.file,
                if data.covariate_names.is_empty() {
                    "none".to_string()
                } else {
                    data.covariate_names.join(", ")
                }
            ))
        })?;
        let mut labels: Vec<f64> = Vec::new();
        let mut of_subject = Vec::with_capacity(data.subjects.len());
        for s in &data.subjects {
            let Some(first) = s.records.first() else {
                return Err(Error::Argument(format!("subject {} has no records", s.id)));
            };
            let value = first.covariates[c];
            if value.is_nan() {
                return Err(Error::Argument(format!(
                    "--stratify {column}: subject {} has no value of {column} (line {})",
                    s.id, first.line
                )));
            }
            if let Some(r) = s.records.iter().find(|r| r.covariates[c].to_bits() != value.to_bits()) {
                return Err(Error::Argument(format!(
                    "--stratify {column}: {column} varies within subject {} ({} on line {}, {} on line {}); \
                     stratify by a column that is constant within each subject",
                    s.id, value, first.line, r.covariates[c], r.line
                )));
            }
            let k = match labels.iter().position(|l| l.to_bits() == value.to_bits()) {
                Some(k) => k,
                None => {
                    labels.push(value);
                    labels.len() - 1
                }
            };
            of_subject.push(k);
        }
        let mut members = vec![Vec::new(); labels.len()];
        for (i, &k) in of_subject.iter().enumerate() {
            members[k].push(i);
        }
        Ok(Strata {
            of_subject,
            members,
            labels: labels.iter().map(|v| format!("{v}")).collect(),
        })
    }

    /// Number of subjects.
    pub fn n_subjects(&self) -> usize {
        self.of_subject.len()
    }
}

/// An unbiased integer in 0..n from `rng` (0 for n = 0, drawing nothing), by Lemire's method
/// ("Fast random integer generation in an interval", 2019): the high word of
/// `next_u64()·n`, rejecting the low words below 2⁶⁴ mod n.
pub fn draw_below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// The subjects (indices in data order) of bootstrap replicate `replicate`
/// (1-based) for `seed`: position i is drawn from the stratum of subject i.
pub fn resample(seed: u64, replicate: u64, strata: &Strata) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(replicate);
    strata
        .of_subject
        .iter()
        .map(|&k| {
            let m = &strata.members[k];
            m[draw_below(&mut rng, m.len() as u64) as usize]
        })
        .collect()
}

/// The subjects of `data` at `indices` (repeats are separate subjects).
pub fn subset(data: &PopulationData, indices: &[usize]) -> PopulationData {
    let subjects: Vec<_> = indices.iter().map(|&i| data.subjects[i].clone()).collect();
    PopulationData {
        n_obs: subjects.iter().map(|s| s.y.len()).sum(),
        n_censored: subjects
            .iter()
            .map(|s| s.censored.iter().filter(|c| **c != 0).count())
            .sum(),
        n_dropped_blq: subjects.iter().map(|s| s.data.dropped_blq).sum(),
        subjects,
    }
}

/// `--shard i/K`: this process runs samples i, i+K, i+2K, … (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// i, 1 ≤ i ≤ K.
    pub index: usize,
    /// K ≥ 1.
    pub count: usize,
}

impl Shard {
    /// The whole run (1/1).
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `i/K` with 1 ≤ i ≤ K.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::Argument(format!("--shard {text}: expected i/K with 1 ≤ i ≤ K, e.g. 2/8"));
        let (i, k) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = k.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether sample `n` (1-based) belongs to this shard.
    pub fn runs(&self, n: usize) -> bool {
        n >= 1 && (n - 1) % self.count == self.index - 1
    }

    /// The samples 1..=total of this shard.
    pub fn samples(&self, total: usize) -> Vec<usize> {
        (self.index..=total).step_by(self.count).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The fit of the data as they are.
    Original,
    /// A bootstrap replicate.
    Bootstrap,
    /// A jackknife sample: one subject left out.
    Jackknife,
}

impl Kind {
    /// The name in files: `original`, `bootstrap`, `jackknife`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Original => "original",
            Kind::Bootstrap => "bootstrap",
            Kind::Jackknife => "jackknife",
        }
    }

    /// Parses a name of [`Kind::as_str`].
    pub fn parse(text: &str) -> Result<Kind> {
        [Kind::Original, Kind::Bootstrap, Kind::Jackknife]
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| Error::Argument(format!("unknown sample kind '{text}'")))
    }
}

/// The estimation of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Original, bootstrap or jackknife.
    pub kind: Kind,
    /// Replicate number (1-based); for a jackknife sample the position
    /// (1-based) of the subject left out; 0 for the original.
    pub index: usize,
    /// Outcome.
    pub status: Status,
    /// OFV at the estimates (None when failed).
    pub ofv: Option<f64>,
    /// The [`reported`] estimates (empty when failed).
    pub estimates: Vec<f64>,
    /// The subjects (indices in data order): those drawn, or the one left out.
    pub subjects: Vec<usize>,
    /// The error of a failed sample, the optimiser's message of one not
    /// converged, the parameter of one at a bound; else empty.
    pub message: String,
}

/// A fitted population problem to resample.
#[derive(Debug)]
pub struct Bootstrap<'a> {
    model: &'a Model,
    data: &'a PopulationData,
    /// The original estimates (the warm start of every sample).
    original: &'a PopValues,
    options: EstimationOptions,
    params: Parameters,
}

impl<'a> Bootstrap<'a> {
    /// Resampling of `data` fitted by `original` with `options` (its
    /// `progress` is ignored: samples are estimated quietly).
    pub fn new(
        model: &'a Model,
        data: &'a PopulationData,
        original: &'a PopValues,
        options: &EstimationOptions,
    ) -> Self {
        Bootstrap {
            model,
            data,
            original,
            options: EstimationOptions {
                progress: false,
                ..*options
            },
            params: Parameters::of(model),
        }
    }

    /// The original fit as a sample (`ok`, or `not_converged`).
    pub fn original_sample(&self, fit: &PopulationFit) -> Sample {
        Sample {
            kind: Kind::Original,
            index: 0,
            status: if fit.converged {
                Status::Ok
            } else {
                Status::NotConverged
            },
            ofv: Some(fit.evaluation.ofv),
            estimates: self.reported(&fit.values),
            subjects: (0..self.data.subjects.len()).collect(),
            message: if fit.converged {
                String::new()
            } else {
                fit.message.clone()
            },
        }
    }

    /// Bootstrap replicate `replicate` (1-based) of `seed` within `strata`.
    pub fn replicate(&self, seed: u64, replicate: usize, strata: &Strata) -> Sample {
        let subjects = resample(seed, replicate as u64, strata);
        self.estimate(Kind::Bootstrap, replicate, subjects.clone(), &subjects)
    }

    /// Jackknife sample `position` (1-based): subject `position` left out.
    pub fn jackknife(&self, position: usize) -> Sample {
        let n = self.data.subjects.len();
        let kept: Vec<usize> = (0..n).filter(|&i| i + 1 != position).collect();
        self.estimate(Kind::Jackknife, position, vec![position.saturating_sub(1)], &kept)
    }

    /// Names of the [`reported`] estimates.
    pub fn names(&self) -> Vec<String> {
        reported(self.model, &self.params, self.original)
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    fn reported(&self, v: &PopValues) -> Vec<f64> {
        reported(self.model, &self.params, v)
            .into_iter()
            .map(|r| r.value)
            .collect()
    }

    /// Estimates the subjects `kept` from the original estimates.
    fn estimate(&self, kind: Kind, index: usize, subjects: Vec<usize>, kept: &[usize]) -> Sample {
        let mut sample = Sample {
            kind,
            index,
            status: Status::Failed,
            ofv: None,
            estimates: Vec::new(),
            subjects,
            message: String::new(),
        };
        let data = subset(self.data, kept);
        if let Some(why) = missing_output(self.model, &data) {
            sample.message = why;
            return sample;
        }
        match estimate(self.model, &data, self.original, &self.options) {
            Err(e) => sample.message = e.to_string(),
            Ok(fit) => {
                sample.ofv = Some(fit.evaluation.ofv);
                sample.estimates = self.reported(&fit.values);
                let bound = at_bound(self.model, &self.params, self.original, &fit.values);
                (sample.status, sample.message) = match (fit.converged, bound) {
                    (false, _) => (Status::NotConverged, fit.message),
                    (true, Some(name)) => (Status::AtBound, format!("{name} at a bound")),
                    (true, None) => (Status::Ok, String::new()),
                };
            }
        }
        sample
    }
}

/// Why `data` cannot inform the model: an output without observations.
fn missing_output(model: &Model, data: &PopulationData) -> Option<String> {
    let outputs = &model.code.outputs;
    let mut seen = vec![false; outputs.len()];
    for s in &data.subjects {
        for o in &s.data.obs {
            seen[o.output] = true;
        }
    }
    let k = seen.iter().position(|s| !s)?;
    Some(format!(
        "output {} has no observations in this sample: its error model cannot be estimated",
        outputs[k].name
    ))
}

/// The first estimated parameter of `values` at a bound ([`BOUND_DISTANCE`]
/// relative to `original`), by its [`reported`] name.
pub fn at_bound(model: &Model, params: &Parameters, original: &PopValues, values: &PopValues) -> Option<String> {
    let near =
        |x: f64, x0: f64, bound: f64| bound.is_finite() && (x - bound).abs() <= BOUND_DISTANCE * (x0 - bound).abs();
    let names = reported(model, params, values);
    params.elements.iter().zip(names).find_map(|(e, r)| {
        let hit = match *e {
            Element::Theta(i, _) => {
                let t = &model.code.thetas[i];
                let (x, x0) = (values.theta[i], original.theta[i]);
                near(x, x0, t.lower) || near(x, x0, t.upper)
            }
            Element::Omega(i, j) if i == j => near(values.omega[(i, i)], original.omega[(i, i)], 0.0),
            Element::Iov(i, j) if i == j => near(values.omega_iov[(i, i)], original.omega_iov[(i, i)], 0.0),
            Element::Sigma(k) => near(values.sigma_sd[k].powi(2), original.sigma_sd[k].powi(2), 0.0),
            _ => false,
        };
        hit.then_some(r.name)
    })
}

// ---------------------------------------------------------------- intervals

/// Standard normal CDF Φ.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile Φ⁻¹(p) for 0 < p < 1 (±∞ at 0 and 1, NaN
/// outside): Acklam's rational approximation (relative error 1.15e-9)
/// refined by two Halley steps on Φ (libm's erfc), to double precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const P_LOW: f64 = 0.02425;
    let mut x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..2 {
        // Halley's step on Φ(x) − p, with the tail of Φ taken from the
        // nearer side to keep its relative precision.
        let e = if x < 0.0 {
            normal_cdf(x) - p
        } else {
            (1.0 - p) - normal_cdf(-x)
        };
        let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
        x -= u / (1.0 + x * u / 2.0);
    }
    x
}

/// The bias correction z₀ = Φ⁻¹((#{θ*_b < θ̂} + #{θ*_b ≤ θ̂}) / 2B): the
/// share of samples below θ̂, a tie counting half (as scipy.stats.bootstrap;
/// Efron's #{θ*_b < θ̂}/B without ties). None without samples; ±∞ when every
/// sample is on one side of θ̂.
pub fn bias_correction(samples: &[f64], original: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let below = samples.iter().filter(|&&x| x < original).count();
    let at_or_below = samples.iter().filter(|&&x| x <= original).count();
    Some(normal_quantile(
        (below + at_or_below) as f64 / (2 * samples.len()) as f64,
    ))
}

/// The acceleration a = Σ(θ̄ − θ₍ᵢ₎)³ / (6·[Σ(θ̄ − θ₍ᵢ₎)²]^{3/2}) of jackknife
/// values θ₍ᵢ₎ with mean θ̄ (None with fewer than 2 values or all equal).
pub fn acceleration(jackknife: &[f64]) -> Option<f64> {
    if jackknife.len() < 2 {
        return None;
    }
    let mean = jackknife.iter().sum::<f64>() / jackknife.len() as f64;
    let (s2, s3) = jackknife.iter().fold((0.0, 0.0), |(s2, s3), x| {
        let d = mean - x;
        (s2 + d * d, s3 + d * d * d)
    });
    (s2 > 0.0).then(|| s3 / (6.0 * s2.powf(1.5)))
}

/// The percentile interval at confidence `level` (0 < level < 1): the
/// (1−level)/2 and (1+level)/2 quantiles (type 7). None without samples.
pub fn percentile_interval(samples: &[f64], level: f64) -> Option<(f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let alpha = (1.0 - level) / 2.0;
    let mut v = samples.to_vec();
    let q = quantiles(&mut v, &[alpha, 1.0 - alpha]);
    Some((q[0], q[1]))
}

/// The BCa interval at confidence `level`: the quantiles α₁ = Φ(z₀ + (z₀ +
/// z_α)/(1 − a(z₀ + z_α))) and α₂ likewise with z_{1−α}, α = (1−level)/2
/// (Efron & Tibshirani 1993, eq. 14.10). None when z₀ is infinite or
/// undefined, a is undefined, or a denominator is not positive.
pub fn bca_interval(samples: &[f64], original: f64, jackknife: &[f64], level: f64) -> Option<(f64, f64)> {
    let z0 = bias_correction(samples, original)?;
    let a = acceleration(jackknife)?;
    let (lo, hi) = bca_levels(z0, a, level)?;
    let mut v = samples.to_vec();
    let q = quantiles(&mut v, &[lo, hi]);
    Some((q[0], q[1]))
}

/// The quantile levels (α₁, α₂) of the BCa interval for z₀ and a.
pub fn bca_levels(z0: f64, a: f64, level: f64) -> Option<(f64, f64)> {
    if !z0.is_finite() || !a.is_finite() {
        return None;
    }
    let alpha = (1.0 - level) / 2.0;
    let shift = |z: f64| {
        let w = z0 + z;
        let d = 1.0 - a * w;
        (d > 0.0).then(|| normal_cdf(z0 + w / d))
    };
    Some((shift(normal_quantile(alpha))?, shift(normal_quantile(1.0 - alpha))?))
}

/// The bootstrap summary of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSummary {
    /// Reported name.
    pub name: String,
    /// Original estimate.
    pub estimate: f64,
    /// Replicates entering the summary.
    pub n: usize,
    /// Median of the replicates (type 7).
    pub median: f64,
    /// Standard error: the SD of the replicates (n − 1 denominator).
    pub se: f64,
    /// Percentile interval.
    pub percentile: Option<(f64, f64)>,
    /// Bias correction z₀ (None without replicates).
    pub z0: Option<f64>,
    /// Acceleration (None without jackknife).
    pub acceleration: Option<f64>,
    /// BCa interval (None without jackknife, or with z₀ infinite).
    pub bca: Option<(f64, f64)>,
}

/// The summary of every parameter from the included replicates and
/// jackknife samples (`estimates` of each, in [`Bootstrap::names`] order).
pub fn summarise(
    names: &[String],
    original: &[f64],
    replicates: &[&[f64]],
    jackknife: &[&[f64]],
    level: f64,
) -> Vec<ParameterSummary> {
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let x: Vec<f64> = replicates.iter().map(|r| r[k]).collect();
            let j: Vec<f64> = jackknife.iter().map(|r| r[k]).collect();
            let mut sorted = x.clone();
            let median = quantiles(&mut sorted, &[0.5])[0];
            let n = x.len();
            let mean = x.iter().sum::<f64>() / n as f64;
            let se = if n > 1 {
                (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
            } else {
                f64::NAN
            };
            ParameterSummary {
                name: name.clone(),
                estimate: original[k],
                n,
                median,
                se,
                percentile: percentile_interval(&x, level),
                z0: bias_correction(&x, original[k]),
                acceleration: acceleration(&j),
                bca: bca_interval(&x, original[k], &j, level),
            }
        })
        .collect()
}
