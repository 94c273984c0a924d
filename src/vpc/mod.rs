//! Visual predictive check (VPC): the observed 5th, 50th and 95th
//! percentiles of the data per bin of time (or time after dose) against the
//! same percentiles of data sets simulated at the estimates, with the 95%
//! interval of each simulated percentile over the replicates.
//!
//! 1. [`observations`]: the data's observations with their x values, the
//!    population prediction PRED, the quantification limit and the stratum.
//! 2. [`simulate`]: n replicates of the whole data set at the estimates
//!    (η and κ ~ N(0, Ω), ε from the error model on its scale) at the data's
//!    observation records, with its dosing and covariates
//!    ([`crate::population::replicates`]).
//! 3. [`compute`]: binning ([`binning`]), optional prediction correction
//!    ([`PredCorrection`], Bergstrand et al., AAPS J 2011), and per stratum
//!    and bin the observed percentiles, the median and interval of each
//!    simulated percentile, and the BLQ fractions ([`BinStats`]).
//!
//! Percentiles are type 7 as R's `quantile` ([`stats`]). Censored
//! observations (BLQ) rank below every observed value: an observed percentile
//! that would use one is unknown (NaN) rather than computed from the limit.
//! The simulated percentiles use every simulated value.

pub mod binning;
pub mod plot;
pub mod stats;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::population::estimation::{PopValues, PopulationData};
use crate::population::replicates::{population_predictions, simulate_subject, subject_rng};
use binning::Binning;
use rayon::prelude::*;
use stats::Interval;
use std::collections::HashMap;

/// The percentiles of a VPC: 5th, 50th and 95th.
pub const PERCENTILES: [f64; 3] = [0.05, 0.5, 0.95];

/// The variable on the x axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// TIME.
    Time,
    /// Time after the last dose (TAD).
    Tad,
}

impl XAxis {
    /// Parses `time` or `tad`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "time" => Ok(XAxis::Time),
            "tad" => Ok(XAxis::Tad),
            _ => Err(Error::Argument(format!("--x {text}: expected time or tad"))),
        }
    }

    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Time => "TIME",
            XAxis::Tad => "time after dose",
        }
    }
}

/// Prediction correction (Bergstrand et al., AAPS J 2011): each observed and
/// simulated value Y is brought to the bin's median population prediction,
/// PRED_bin = median of PRED over the bin's observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredCorrection {
    /// pcY = Y · PRED_bin / PRED (data on their natural scale).
    Proportional,
    /// pcY = Y + PRED_bin − PRED (log-transformed data: the same correction on the log scale).
    Additive,
}

impl PredCorrection {
    /// `y` corrected from `pred` to `pred_bin`.
    pub fn apply(self, y: f64, pred: f64, pred_bin: f64) -> f64 {
        match self {
            PredCorrection::Proportional => y * pred_bin / pred,
            PredCorrection::Additive => y + pred_bin - pred,
        }
    }
}

/// One observation of the data, as the VPC sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcObservation {
    /// Subject id.
    pub id: String,
    /// TIME.
    pub time: f64,
    /// Time after the last dose.
    pub tad: f64,
    /// DV on the data's scale (the limit when censored).
    pub dv: f64,
    /// 0 observed; 1 below the limit `dv`; −1 above it.
    pub censored: i8,
    /// Lower limit of quantification (NaN when unknown).
    pub lloq: f64,
    /// Population prediction (η = 0) on the data's scale.
    pub pred: f64,
    /// Stratum label (empty when not stratified).
    pub stratum: String,
}

impl VpcObservation {
    /// The x value on `axis`.
    pub fn x(&self, axis: XAxis) -> f64 {
        match axis {
            XAxis::Time => self.time,
            XAxis::Tad => self.tad,
        }
    }
}

/// The observations of `data` (prepared from `dataset` for `model`), in data
/// order, with PRED at `values`. The stratum of an observation is
/// `COLUMN=value` of the `stratify` column on its record, preceded by the
/// output name when the model has several outputs. The LLOQ of an
/// observation is its LLOQ column when the data have one, its limit when
/// censored, else the one limit of the output's censored observations when
/// they all share it, else unknown.
pub fn observations(
    model: &Model,
    dataset: &Dataset,
    data: &PopulationData,
    values: &PopValues,
    stratify: Option<&str>,
) -> Result<Vec<VpcObservation>> {
    let strat_col = match stratify {
        Some(name) => Some(dataset.covariate_index(name).ok_or_else(|| {
            Error::Argument(format!(
                "--stratify {name}: {} has no such column (its other columns: {})",
                dataset.file,
                dataset.covariate_names.join(", ")
            ))
        })?),
        None => None,
    };
    let lloq_col = dataset.covariate_index("LLOQ");
    let common = common_limits(model, data);
    let several_outputs = model.code.outputs.len() > 1;
    let mut out = Vec::with_capacity(data.n_obs);
    for s in &data.subjects {
        let pred = population_predictions(model, s, values).map_err(|message| Error::Fit {
            subject: s.data.id.clone(),
            message: format!("the model cannot be evaluated at the typical values: {message}"),
        })?;
        let records = dataset
            .subjects
            .iter()
            .find(|d| d.id == s.data.id)
            .map(|d| {
                d.records
                    .iter()
                    .map(|r| (r.line, &r.covariates))
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default();
        let tad = s.data.record_tad();
        for (i, o) in s.data.obs.iter().enumerate() {
            let covariate = |c: Option<usize>| c.and_then(|c| records.get(&o.line).map(|v| v[c]));
            let lloq = match (covariate(lloq_col), o.censored) {
                (Some(l), _) if l.is_finite() => l,
                (_, 1) => o.dv,
                _ => common[o.output],
            };
            let mut stratum = String::new();
            if several_outputs {
                stratum.push_str(&model.code.outputs[o.output].name);
            }
            if let (Some(name), Some(v)) = (stratify, covariate(strat_col)) {
                if !stratum.is_empty() {
                    stratum.push(' ');
                }
                stratum.push_str(&format!("{name}={v}"));
            }
            out.push(VpcObservation {
                id: s.data.id.clone(),
                time: o.time,
                tad: tad.get(o.record).copied().unwrap_or(f64::NAN),
                dv: o.dv,
                censored: o.censored,
                lloq,
                pred: pred[i],
                stratum,
            });
        }
    }
    Ok(out)
}

/// Per output: the limit of its left-censored observations when they all
/// share one, else NaN.
fn common_limits(model: &Model, data: &PopulationData) -> Vec<f64> {
    let mut limits: Vec<Option<Option<f64>>> = vec![None; model.code.outputs.len()];
    for o in data
        .subjects
        .iter()
        .flat_map(|s| &s.data.obs)
        .filter(|o| o.censored == 1)
    {
        let l = &mut limits[o.output];
        *l = match *l {
            None => Some(Some(o.dv)),
            Some(Some(v)) if v == o.dv => Some(Some(v)),
            _ => Some(None),
        };
    }
    limits.into_iter().map(|l| l.flatten().unwrap_or(f64::NAN)).collect()
}

/// `n` replicates of the data set simulated at `values`, each a vector of
/// simulated DV on the data's scale, in the order of [`observations`].
/// Subject i draws from ChaCha8 stream i under `seed`, all its replicates in
/// turn, so the result does not depend on the number of threads.
pub fn simulate(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    n: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let per_subject: Vec<Vec<Vec<f64>>> = data
        .subjects
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut rng = subject_rng(seed, i);
            let sims = simulate_subject(model, s, values, n, &mut rng).map_err(|message| Error::Fit {
                subject: s.data.id.clone(),
                message: format!("cannot simulate at the estimates: {message}"),
            })?;
            Ok(sims
                .into_iter()
                .map(|y| {
                    y.iter()
                        .zip(&s.log)
                        .map(|(v, l)| if *l { v.exp() } else { *v })
                        .collect()
                })
                .collect())
        })
        .collect::<Result<_>>()?;
    Ok((0..n)
        .map(|r| per_subject.iter().flat_map(|s| s[r].iter().copied()).collect())
        .collect())
}

/// How [`compute`] bins and corrects.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcOptions {
    /// The x variable.
    pub x: XAxis,
    /// The binning of x (the same edges in every stratum).
    pub binning: Binning,
    /// Prediction correction, if any.
    pub pred_corr: Option<PredCorrection>,
    /// Level of the intervals over the replicates (0.95).
    pub level: f64,
}

/// The statistics of one bin of one stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct BinStats {
    /// Stratum label (empty when not stratified).
    pub stratum: String,
    /// Bin number (1-based, from the edges: a bin empty in a stratum is absent).
    pub bin: usize,
    /// Median x of the bin's observations.
    pub x: f64,
    /// The bin's lower edge.
    pub x_lo: f64,
    /// The bin's upper edge.
    pub x_hi: f64,
    /// Number of observations (censored included).
    pub n_obs: usize,
    /// Number of censored observations.
    pub n_censored: usize,
    /// Median PRED of the bin (the prediction correction's target).
    pub pred_bin: f64,
    /// Observed 5th, 50th, 95th percentiles (NaN where censored values decide).
    pub observed: [f64; 3],
    /// Simulated 5th, 50th, 95th percentiles over the replicates.
    pub simulated: [Interval; 3],
    /// Observed share below the LLOQ and the simulated share over the
    /// replicates, among the bin's observations with a known LLOQ (None when none has one).
    pub blq: Option<(f64, Interval)>,
}

impl BinStats {
    /// Whether observed percentile `k` lies in its simulated interval
    /// (`None` when the observed percentile is unknown).
    pub fn inside(&self, k: usize) -> Option<bool> {
        let o = self.observed[k];
        (!o.is_nan()).then(|| self.simulated[k].contains(o))
    }
}

/// A VPC: the bin statistics and the (corrected) observations drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Vpc {
    /// The strata in order ([`compute`]: by name, values numerically; one
    /// empty label when not stratified).
    pub strata: Vec<String>,
    /// The bin edges.
    pub edges: Vec<f64>,
    /// Per stratum, per non-empty bin.
    pub bins: Vec<BinStats>,
    /// Observations as drawn: stratum index, x, (corrected) DV, censored.
    pub points: Vec<(usize, f64, f64, bool)>,
    /// The options used.
    pub options: VpcOptions,
}

impl Vpc {
    /// Share of (bin, percentile) pairs with a known observed percentile that
    /// lie inside the simulated interval, and the number of such pairs.
    pub fn coverage(&self) -> (f64, usize) {
        let checks: Vec<bool> = self
            .bins
            .iter()
            .flat_map(|b| (0..3).filter_map(|k| b.inside(k)))
            .collect();
        let inside = checks.iter().filter(|c| **c).count();
        (inside as f64 / checks.len().max(1) as f64, checks.len())
    }
}

/// The VPC of `obs` against the replicates `sims` (each in the order of `obs`).
pub fn compute(obs: &[VpcObservation], sims: &[Vec<f64>], options: &VpcOptions) -> Result<Vpc> {
    if let Some(r) = sims.iter().position(|s| s.len() != obs.len()) {
        return Err(Error::Argument(format!(
            "replicate {} has {} values for {} observations",
            r + 1,
            sims[r].len(),
            obs.len()
        )));
    }
    if !(options.level > 0.0 && options.level < 1.0) {
        return Err(Error::Argument(format!(
            "interval level {}: expected between 0 and 1",
            options.level
        )));
    }
    let x: Vec<f64> = obs.iter().map(|o| tidy(o.x(options.x))).collect();
    let edges = binning::edges(&x, &options.binning)?;
    let mut strata: Vec<String> = obs.iter().map(|o| o.stratum.clone()).collect();
    strata.sort_by(|a, b| stratum_order(a, b));
    strata.dedup();
    let mut groups: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (i, o) in obs.iter().enumerate() {
        let s = strata.binary_search_by(|t| stratum_order(t, &o.stratum)).unwrap_or(0);
        if let Some(b) = binning::bin_of(x[i], &edges) {
            groups.entry((s, b)).or_default().push(i);
        }
    }
    let mut keys: Vec<(usize, usize)> = groups.keys().copied().collect();
    keys.sort_unstable();
    let mut bins = Vec::with_capacity(keys.len());
    let mut points = Vec::with_capacity(obs.len());
    for (s, b) in keys {
        let members = &groups[&(s, b)];
        let pred_bin = stats::median(members.iter().map(|&i| obs[i].pred));
        let correct = |i: usize, y: f64| match options.pred_corr {
            Some(c) => c.apply(y, obs[i].pred, pred_bin),
            None => y,
        };
        let observed_values: Vec<f64> = members
            .iter()
            .map(|&i| match obs[i].censored {
                1 => f64::NEG_INFINITY,
                -1 => f64::INFINITY,
                _ => correct(i, obs[i].dv),
            })
            .collect();
        points.extend(
            members
                .iter()
                .zip(&observed_values)
                .map(|(&i, &y)| (s, x[i], if y.is_finite() { y } else { obs[i].dv }, obs[i].censored != 0)),
        );
        let observed = three(stats::quantiles(observed_values, &PERCENTILES));
        let per_replicate: Vec<Vec<f64>> = sims
            .iter()
            .map(|sim| stats::quantiles(members.iter().map(|&i| correct(i, sim[i])), &PERCENTILES))
            .collect();
        let simulated = [0, 1, 2].map(|k| Interval::of(per_replicate.iter().map(|q| q[k]), options.level));
        bins.push(BinStats {
            stratum: strata[s].clone(),
            bin: b + 1,
            x: stats::median(members.iter().map(|&i| x[i])),
            x_lo: edges[b],
            x_hi: edges[b + 1],
            n_obs: members.len(),
            n_censored: members.iter().filter(|&&i| obs[i].censored != 0).count(),
            pred_bin,
            observed,
            simulated,
            blq: blq_fractions(obs, sims, members, options.level),
        });
    }
    Ok(Vpc {
        strata,
        edges,
        bins,
        points,
        options: options.clone(),
    })
}

/// Strata in order of their text before the last `=`, then of the value
/// after it, numerically when both are numbers (DOSE=10000 before DOSE=30000).
fn stratum_order(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| match s.rsplit_once('=') {
        Some((k, v)) => (k.to_string(), v.parse::<f64>().ok(), v.to_string()),
        None => (s.to_string(), None, String::new()),
    };
    let (ka, na, va) = split(a);
    let (kb, nb, vb) = split(b);
    ka.cmp(&kb).then_with(|| match (na, nb) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => va.cmp(&vb),
    })
}

/// `x` to 12 significant digits, so that times after dose computed by
/// subtraction (23.989999999999995 and 23.99000000000001) fall together.
fn tidy(x: f64) -> f64 {
    if x.is_finite() {
        format!("{x:.11e}").parse().unwrap_or(x)
    } else {
        x
    }
}

fn three(v: Vec<f64>) -> [f64; 3] {
    [v[0], v[1], v[2]]
}

/// The observed share of left-censored observations and the simulated share
/// below the LLOQ over the replicates, among `members` with a known LLOQ.
fn blq_fractions(obs: &[VpcObservation], sims: &[Vec<f64>], members: &[usize], level: f64) -> Option<(f64, Interval)> {
    let known: Vec<usize> = members.iter().copied().filter(|&i| obs[i].lloq.is_finite()).collect();
    if known.is_empty() {
        return None;
    }
    let n = known.len() as f64;
    let observed = known.iter().filter(|&&i| obs[i].censored == 1).count() as f64 / n;
    let simulated = Interval::of(
        sims.iter()
            .map(|sim| known.iter().filter(|&&i| sim[i] < obs[i].lloq).count() as f64 / n),
        level,
    );
    Some((observed, simulated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(time: f64, dv: f64, pred: f64) -> VpcObservation {
        VpcObservation {
            id: "1".into(),
            time,
            tad: time,
            dv,
            censored: 0,
            lloq: f64::NAN,
            pred,
            stratum: String::new(),
        }
    }

    /// Bergstrand's correction by hand: a bin with PRED 10 and 40 (median
    /// 25) brings DV 12 (PRED 10) to 12·25/10 = 30 and DV 36 (PRED 40) to
    /// 36·25/40 = 22.5; on the log scale ln DV moves by PRED_bin − PRED.
    #[test]
    fn prediction_correction_by_hand() {
        let c = PredCorrection::Proportional;
        assert!((c.apply(12.0, 10.0, 25.0) - 30.0).abs() < 1e-12);
        assert!((c.apply(36.0, 40.0, 25.0) - 22.5).abs() < 1e-12);
        let a = PredCorrection::Additive;
        assert!((a.apply(2.0, 1.0, 1.5) - 2.5).abs() < 1e-12);
        let obs = vec![observation(1.0, 12.0, 10.0), observation(1.0, 36.0, 40.0)];
        let sims = vec![vec![10.0, 40.0], vec![20.0, 80.0]];
        let options = VpcOptions {
            x: XAxis::Time,
            binning: Binning::Auto,
            pred_corr: Some(c),
            level: 0.95,
        };
        let v = compute(&obs, &sims, &options).unwrap();
        assert_eq!(v.bins.len(), 1);
        let b = &v.bins[0];
        assert_eq!(b.pred_bin, 25.0);
        // Observed corrected 30 and 22.5: median 26.25.
        assert!((b.observed[1] - 26.25).abs() < 1e-12);
        // Replicate 1 corrects to 25, 25; replicate 2 to 50, 50: medians 25 and 50.
        assert!((b.simulated[1].median - 37.5).abs() < 1e-12);
        assert!((b.simulated[1].lo - 25.625).abs() < 1e-12);
    }

    /// Two bins; the observed percentile of a bin with censored values at
    /// the bottom is unknown at the 5th, known at the 95th; BLQ shares.
    #[test]
    fn censored_observations_and_blq_fractions() {
        let mut obs: Vec<VpcObservation> = (0..10).map(|k| observation(1.0, f64::from(k) + 1.0, 5.0)).collect();
        for o in obs.iter_mut().take(2) {
            o.censored = 1;
            o.dv = 2.5;
        }
        for o in obs.iter_mut() {
            o.lloq = 2.5;
        }
        obs.push(observation(8.0, 1.0, 1.0));
        // Replicate r: value k + r·0.5 (r = 0..3): 3, 2, 2, 2 values below 2.5 in bin 1.
        let sims: Vec<Vec<f64>> = (0..4)
            .map(|r| (0..11).map(|k| f64::from(k) + 0.5 * f64::from(r)).collect())
            .collect();
        let options = VpcOptions {
            x: XAxis::Time,
            binning: Binning::Auto,
            pred_corr: None,
            level: 0.95,
        };
        let v = compute(&obs, &sims, &options).unwrap();
        assert_eq!(v.bins.len(), 2);
        let b = &v.bins[0];
        assert_eq!((b.n_obs, b.n_censored), (10, 2));
        assert!(b.observed[0].is_nan());
        // −∞, −∞, 3, …, 10: h = 9·0.95 = 8.55 → 9 + 0.55 = 9.55.
        assert!((b.observed[2] - 9.55).abs() < 1e-12);
        assert_eq!(b.inside(0), None);
        let (observed, simulated) = b.blq.unwrap();
        assert_eq!(observed, 0.2);
        // Below 2.5 per replicate: {0,1,2}, {0.5,1.5}, {1,2}, {1.5}: 0.3, 0.2, 0.2, 0.1.
        assert!((simulated.median - 0.2).abs() < 1e-12);
        assert!(v.bins[1].blq.is_none());
        assert_eq!(v.points.len(), 11);
    }

    #[test]
    fn strata_sort_by_value() {
        let mut v = vec!["DOSE=60000", "DOSE=120000", "DOSE=10000", "CP DOSE=5", "SEX=F"];
        v.sort_by(|a, b| stratum_order(a, b));
        assert_eq!(v, vec!["CP DOSE=5", "DOSE=10000", "DOSE=60000", "DOSE=120000", "SEX=F"]);
    }

    #[test]
    fn times_after_dose_that_differ_by_rounding_share_a_bin() {
        assert_eq!(tidy(23.989999999999995), tidy(23.99000000000001));
        assert_eq!(tidy(0.0), 0.0);
        assert_eq!(tidy(1e-300), 1e-300);
    }
}
