//! Monte Carlo simulation of a population written in the model language:
//! virtual patients (covariates, and η ~ N(0, Ω) of the model), their
//! predictions for a regimen or a data file's dosing histories, percentiles
//! per time, exposures.
//!
//! Reproducible: patient k draws from ChaCha8 streams numbered k under the
//! seed (η; κ of each occasion from the model's IOV block; residual ε), so
//! results do not depend on the number of threads, the order in which rayon
//! runs the patients, or whether the model is a closed form or ODEs.

use super::exposures::ExposurePlan;
use crate::data::Dataset;
use crate::dosing::regimen::{BodySize, Regimen};
use crate::dosing::Dose;
use crate::error::{Error, Result};
use crate::fit::exposure::Exposure;
use crate::lang::TermKind;
use crate::model::scenario::{dose_states, grid_scenario, regimen_scenario, Scenario};
use crate::model::{Model, SubjectData, Values};
use nalgebra::{Cholesky, DMatrix};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// How one covariate is set for every virtual patient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CovariateDraw {
    /// The same value for all.
    Fixed(f64),
    /// Uniform between two values.
    Uniform(f64, f64),
}

/// Where the virtual patients' covariates come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CovariateSource {
    /// Named values or ranges.
    Drawn(Vec<(String, CovariateDraw)>),
    /// Rows of a table (e.g. the subjects of a data file), taken in turn.
    Rows {
        /// Column names.
        names: Vec<String>,
        /// One row per source subject.
        rows: Vec<Vec<f64>>,
    },
}

impl CovariateSource {
    /// The covariates of every subject of a data file (first record of each).
    pub fn from_dataset(data: &Dataset) -> Self {
        CovariateSource::Rows {
            names: data.covariate_names.clone(),
            rows: data
                .subjects
                .iter()
                .map(|s| s.records.first().map(|r| r.covariates.clone()).unwrap_or_default())
                .collect(),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            CovariateSource::Drawn(d) => d.iter().map(|(n, _)| n.clone()).collect(),
            CovariateSource::Rows { names, .. } => names.clone(),
        }
    }
}

/// Settings of a Monte Carlo run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonteCarlo {
    /// Number of virtual patients (≥ 1).
    pub n: usize,
    /// Seed of the random streams.
    pub seed: u64,
    /// Set every η and κ to zero (typical patients).
    pub omega_zero: bool,
    /// Add residual error (the model's output error models) to the predictions.
    pub residual_error: bool,
}

/// Drawn virtual patients.
#[derive(Debug, Clone)]
pub struct VirtualPatients {
    /// Covariate names (columns of `covariates`).
    pub names: Vec<String>,
    /// Covariate values, one row per patient.
    pub covariates: Array2<f64>,
    /// η, one row per patient (columns in Ω's order).
    pub eta: Array2<f64>,
    /// Source row of each patient: its row of the covariate table, or its
    /// own number for drawn covariates (patients take data subjects in turn).
    pub source_row: Vec<usize>,
}

impl VirtualPatients {
    /// Covariate `name` of patient `k`, if the patients have it (case-insensitive).
    pub fn covariate(&self, k: usize, name: &str) -> Option<f64> {
        self.names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|j| self.covariates[(k, j)])
    }
}

fn stream(seed: u64, k: usize, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(k as u64);
    rng
}

/// Lower Cholesky factor of a covariance matrix; `what` names it in the error.
fn cholesky(model: &Model, m: &DMatrix<f64>, what: &str) -> Result<DMatrix<f64>> {
    if m.nrows() == 0 {
        return Ok(DMatrix::zeros(0, 0));
    }
    Cholesky::new(m.clone()).map(|c| c.l()).ok_or_else(|| Error::Model {
        model: model.origin.clone(),
        message: format!("{what} is not positive definite"),
    })
}

/// L·z for a lower-triangular L and a vector of standard normals from `rng`.
fn correlated(l: &DMatrix<f64>, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let n = l.nrows();
    let z: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    (0..n).map(|i| (0..=i).map(|j| l[(i, j)] * z[j]).sum()).collect()
}

/// Draws `mc.n` virtual patients: covariates from `source`, η ~ N(0, Ω).
pub fn draw_patients(model: &Model, mc: &MonteCarlo, source: &CovariateSource) -> Result<VirtualPatients> {
    if mc.n == 0 {
        return Err(Error::Argument(
            "the number of virtual patients must be at least 1, got 0".into(),
        ));
    }
    let names = source.names();
    let missing: Vec<&str> = model
        .code
        .covariates
        .iter()
        .filter(|n| !names.iter().any(|m| m.eq_ignore_ascii_case(n)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Argument(format!(
            "population model {} needs covariate{} {}, which {} not given: use --covariate NAME=VALUE \
             (or NAME=LOW..HIGH for a uniform range), or a data file with {} column",
            model.name(),
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "are" } else { "is" },
            if missing.len() > 1 { "these" } else { "that" },
        )));
    }
    if let CovariateSource::Rows { rows, .. } = source {
        if rows.is_empty() {
            return Err(Error::Argument("the covariate table has no subjects".into()));
        }
    }
    let chol = cholesky(model, &model.code.omega.matrix, "Ω")?;
    let n_eta = chol.nrows();
    let rows: Vec<(Vec<f64>, Vec<f64>, usize)> = (0..mc.n)
        .into_par_iter()
        .map(|k| {
            let mut rng = stream(mc.seed, k, 1);
            let eta = correlated(&chol, &mut rng);
            let eta = if mc.omega_zero { vec![0.0; n_eta] } else { eta };
            let (cov, row) = match source {
                CovariateSource::Drawn(d) => (
                    d.iter()
                        .map(|(_, draw)| match *draw {
                            CovariateDraw::Fixed(v) => v,
                            CovariateDraw::Uniform(lo, hi) => lo + (hi - lo) * rng.random::<f64>(),
                        })
                        .collect(),
                    k,
                ),
                CovariateSource::Rows { rows, .. } => (rows[k % rows.len()].clone(), k % rows.len()),
            };
            (cov, eta, row)
        })
        .collect();
    let n_cov = names.len();
    let mut covariates = Array2::zeros((mc.n, n_cov));
    let mut eta = Array2::zeros((mc.n, n_eta));
    let mut source_row = Vec::with_capacity(mc.n);
    for (k, (c, e, row)) in rows.into_iter().enumerate() {
        for j in 0..n_cov {
            covariates[(k, j)] = c.get(j).copied().unwrap_or(f64::NAN);
        }
        for j in 0..n_eta {
            eta[(k, j)] = e[j];
        }
        source_row.push(row);
    }
    Ok(VirtualPatients {
        names,
        covariates,
        eta,
        source_row,
    })
}

/// How patients' body size is found for per-m² and per-kg doses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SizeRule {
    /// BSA for every patient, unless the patients have a `BSA` covariate.
    pub bsa: Option<f64>,
    /// Weight for every patient, unless the patients have a `WT` covariate.
    pub weight: Option<f64>,
}

impl SizeRule {
    /// Body size of patient `k`: its `BSA`/`WT` covariates, else the fixed values,
    /// else BSA by Mosteller from `WT` and `HT`.
    pub fn of(&self, patients: &VirtualPatients, k: usize) -> BodySize {
        let weight = patients.covariate(k, "WT").or(self.weight);
        let mosteller = match (weight, patients.covariate(k, "HT")) {
            (Some(w), Some(h)) if w > 0.0 && h > 0.0 => Some((w * h / 3600.0).sqrt()),
            _ => None,
        };
        BodySize {
            bsa: patients.covariate(k, "BSA").or(self.bsa).or(mosteller),
            weight,
        }
    }
}

/// Doses of a regimen for a model and body size (targets are model states:
/// IV doses to `central`, oral ones to `depot`, others to the default state).
pub fn regimen_doses(model: &Model, regimen: &Regimen, size: &BodySize) -> Result<Vec<Dose>> {
    let (default, central, depot) = dose_states(model);
    regimen.doses(size, &model.units.amount, &model.units.time, default, central, depot)
}

/// What the virtual patients receive.
#[derive(Debug, Clone, Copy)]
pub enum Dosing<'a> {
    /// A regimen text, scaled by each patient's body size.
    Regimen(&'a Regimen, SizeRule),
    /// The dosing history of the source subject of each patient.
    Subjects(&'a Dataset),
}

/// A prepared subject: the scenario (records) and the model's view of it.
struct Prepared {
    scenario: Scenario,
    subject: SubjectData,
}

fn prepare(model: &Model, scenario: Scenario) -> Result<Prepared> {
    let mut subject = model.subject(&scenario.data, scenario.subject())?;
    model.cache_timeline(&mut subject, &scenario.slots)?;
    Ok(Prepared { scenario, subject })
}

/// The parameter values of patient `k` for a subject with `n_occasions`
/// occasions: θ and σ of the model, the patient's η, κ drawn per occasion.
fn patient_values(
    model: &Model,
    patients: &VirtualPatients,
    k: usize,
    n_occasions: usize,
    mc: &MonteCarlo,
) -> PatientValues {
    let kappa = match &model.code.iov {
        Some(iov) if !mc.omega_zero => {
            // Ω_iov is checked positive definite when the model is compiled.
            let l = cholesky(model, &iov.effects.matrix, "the IOV block").unwrap_or_else(|_| DMatrix::zeros(0, 0));
            let mut rng = stream(mc.seed, k, 3);
            (0..n_occasions).flat_map(|_| correlated(&l, &mut rng)).collect()
        }
        _ => Vec::new(),
    };
    PatientValues {
        theta: model.theta_init(),
        eta: patients.eta.row(k).to_vec(),
        kappa,
        sigma_sd: model.sigma_sd_init(),
    }
}

/// Owned parameter values of a patient.
struct PatientValues {
    theta: Vec<f64>,
    eta: Vec<f64>,
    kappa: Vec<f64>,
    sigma_sd: Vec<f64>,
}

impl PatientValues {
    fn values(&self) -> Values<'_> {
        Values {
            theta: &self.theta,
            eta: &self.eta,
            kappa: &self.kappa,
            sigma_sd: &self.sigma_sd,
        }
    }
}

/// A message naming patient `k` and its covariates around an error.
fn patient_error(patients: &VirtualPatients, k: usize, e: Error) -> Error {
    let cov = patients
        .names
        .iter()
        .enumerate()
        .map(|(j, n)| format!("{n}={}", patients.covariates[(k, j)]))
        .collect::<Vec<_>>()
        .join(", ");
    Error::Argument(format!(
        "virtual patient {} (covariates {cov}, source row {}): {e}",
        k + 1,
        patients.source_row[k]
    ))
}

/// The covariate row of patient `k`.
fn covariate_row(patients: &VirtualPatients, k: usize) -> Vec<f64> {
    patients.covariates.row(k).to_vec()
}

/// Predictions of every patient at `times` (patients × times), in the
/// model's concentration unit; residual error added if `mc.residual_error`.
/// `progress` is told how many patients each finished block held.
pub fn simulate_patients(
    model: &Model,
    patients: &VirtualPatients,
    dosing: Dosing<'_>,
    times: &[f64],
    mc: &MonteCarlo,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Array2<f64>> {
    let n = patients.eta.nrows();
    let nt = times.len();
    let mut conc = Array2::<f64>::zeros((n, nt));
    let Some(flat) = conc.as_slice_mut() else {
        return Err(Error::Argument(
            "internal: concentration matrix is not contiguous".into(),
        ));
    };
    let from_data: Vec<Prepared> = match dosing {
        Dosing::Subjects(data) => {
            if data.subjects.is_empty() {
                return Err(Error::Argument(format!(
                    "{} has no subjects to take dosing from",
                    data.file
                )));
            }
            data.subjects
                .iter()
                .map(|s| prepare(model, grid_scenario(data, s, times, false)))
                .collect::<Result<_>>()?
        }
        Dosing::Regimen(..) => Vec::new(),
    };
    const CHUNK: usize = 512;
    flat.par_chunks_mut(CHUNK * nt.max(1))
        .enumerate()
        .try_for_each(|(c, block)| -> Result<()> {
            let mut cache: Option<(Vec<Dose>, Vec<f64>, Prepared)> = None;
            for (i, row) in block.chunks_mut(nt.max(1)).enumerate() {
                let k = c * CHUNK + i;
                let prepared = match dosing {
                    Dosing::Regimen(regimen, size) => {
                        let doses = regimen_doses(model, regimen, &size.of(patients, k))?;
                        let cov = covariate_row(patients, k);
                        if cache.as_ref().is_none_or(|(d, x, _)| *d != doses || *x != cov) {
                            let s = regimen_scenario(model, &doses, times, &patients.names, &cov)
                                .and_then(|s| prepare(model, s))
                                .map_err(|e| patient_error(patients, k, e))?;
                            cache = Some((doses, cov, s));
                        }
                        match &cache {
                            Some((_, _, p)) => p,
                            None => continue,
                        }
                    }
                    Dosing::Subjects(_) => &from_data[patients.source_row[k] % from_data.len()],
                };
                predict_patient(model, patients, k, prepared, mc, row)?;
            }
            progress(block.len() / nt.max(1));
            Ok(())
        })?;
    Ok(conc)
}

/// Patient `k`'s predictions at the scenario's slots into `row`, with residual error if asked.
fn predict_patient(
    model: &Model,
    patients: &VirtualPatients,
    k: usize,
    p: &Prepared,
    mc: &MonteCarlo,
    row: &mut [f64],
) -> Result<()> {
    let values = patient_values(model, patients, k, p.subject.n_occasions, mc);
    let (pred, _) = model
        .predict_at(
            &p.subject,
            &values.values(),
            &p.scenario.slots,
            false,
            mc.residual_error,
        )
        .map_err(|e| patient_error(patients, k, e))?;
    row.copy_from_slice(&pred.f[..row.len()]);
    if mc.residual_error {
        let log_scale = model
            .code
            .outputs
            .first()
            .is_some_and(|o| o.terms.iter().any(|t| t.0 == TermKind::Exp));
        let mut rng = stream(mc.seed, k, 2);
        for (v, var) in row.iter_mut().zip(&pred.variance) {
            let z: f64 = rng.sample(StandardNormal);
            let e = var.max(0.0).sqrt() * z;
            *v = if log_scale { *v * e.exp() } else { *v + e };
        }
    }
    Ok(())
}

/// The `p`-quantile (0 ≤ p ≤ 1) of `values`, R's type 7 (linear interpolation
/// between order statistics); reorders `values`. NaN if empty.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    quantiles(values, &[p])[0]
}

/// Several quantiles at once (type 7), for `probs` in any order; reorders `values`.
/// Each selection works only on the part above the previous one.
pub fn quantiles(values: &mut [f64], probs: &[f64]) -> Vec<f64> {
    let mut keys: Vec<i64> = values.iter().map(|v| order_key(*v)).collect();
    let q = key_quantiles(&mut keys, probs);
    for (v, k) in values.iter_mut().zip(&keys) {
        *v = from_order_key(*k);
    }
    q
}

/// An integer whose order is `f64::total_cmp`'s (integer selection is faster).
fn order_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

fn from_order_key(k: i64) -> f64 {
    f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64)
}

fn key_quantiles(keys: &mut [i64], probs: &[f64]) -> Vec<f64> {
    let n = keys.len();
    if n == 0 {
        return vec![f64::NAN; probs.len()];
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let mut out = vec![f64::NAN; probs.len()];
    let mut start = 0;
    for i in order {
        let h = (n - 1) as f64 * probs[i].clamp(0.0, 1.0);
        let lo = (h.floor() as usize).max(start);
        keys[start..].select_nth_unstable(lo - start);
        let below = from_order_key(keys[lo]);
        out[i] = match keys[lo + 1..].iter().min() {
            Some(&next) => below + (h - lo as f64) * (from_order_key(next) - below),
            None => below,
        };
        start = lo;
    }
    out
}

/// Percentiles per time: rows are times, columns the probabilities `probs` (0–1).
pub fn percentiles(conc: &Array2<f64>, probs: &[f64]) -> Array2<f64> {
    let nt = conc.ncols();
    let rows: Vec<Vec<f64>> = (0..nt)
        .into_par_iter()
        .map(|j| {
            let mut keys: Vec<i64> = conc.column(j).iter().map(|v| order_key(*v)).collect();
            key_quantiles(&mut keys, probs)
        })
        .collect();
    let mut out = Array2::zeros((nt, probs.len()));
    for (j, q) in rows.into_iter().enumerate() {
        for (i, v) in q.into_iter().enumerate() {
            out[(j, i)] = v;
        }
    }
    out
}

/// Exposure of every patient for a regimen (first dose and steady state):
/// see [`super::exposures`]. The curves' subjects are built once for
/// consecutive patients with the same covariates and doses.
pub fn patient_exposures(
    model: &Model,
    patients: &VirtualPatients,
    regimen: &Regimen,
    size: SizeRule,
    mc: &MonteCarlo,
) -> Result<Vec<Exposure>> {
    const CHUNK: usize = 512;
    let n = patients.eta.nrows();
    let blocks: Vec<Vec<Exposure>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut out = Vec::with_capacity(CHUNK);
            let mut key: Option<(Vec<Dose>, Vec<f64>)> = None;
            let mut plan: Option<ExposurePlan<'_>> = None;
            let mut held: Vec<(Vec<f64>, Vec<Dose>)> = Vec::new();
            for k in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let doses = regimen_doses(model, regimen, &size.of(patients, k))?;
                let cov = covariate_row(patients, k);
                if key.as_ref().is_none_or(|(d, x)| *d != doses || *x != cov) {
                    held.clear();
                    held.push((cov.clone(), doses.clone()));
                    plan = None;
                    key = Some((doses, cov));
                }
                if plan.is_none() {
                    if let Some((cov, doses)) = held.first() {
                        let built = ExposurePlan::new(model, &patients.names, cov, doses)
                            .map_err(|e| patient_error(patients, k, e))?;
                        plan = Some(built.ok_or_else(|| Error::Regimen {
                            text: regimen.text.clone(),
                            message: "no dose to derive exposures from".into(),
                        })?);
                    }
                }
                let values = patient_values(model, patients, k, 1, mc);
                if let Some(p) = &plan {
                    out.push(
                        p.exposure(&values.values())
                            .map_err(|e| patient_error(patients, k, e))?,
                    );
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(blocks.into_iter().flatten().collect())
}

/// An exposure metric of a virtual patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// First-dose Cmax.
    Cmax,
    /// First-dose AUC over 24 h.
    Auc24,
    /// AUC from 0 to infinity of one dose (linear models).
    AucInf,
    /// Steady-state Cmax.
    CmaxSs,
    /// Steady-state Cmin.
    CminSs,
    /// Steady-state average concentration.
    CavgSs,
}

impl Metric {
    /// All metrics, in report order.
    pub const ALL: [Metric; 6] = [
        Metric::Cmax,
        Metric::Auc24,
        Metric::AucInf,
        Metric::CmaxSs,
        Metric::CminSs,
        Metric::CavgSs,
    ];

    /// Parses a metric name (case-insensitive): CMAX, AUC24, AUCINF, CMAXSS, CMINSS, CAVGSS.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_uppercase().replace(['_', '-', ','], "");
        Metric::ALL
            .into_iter()
            .find(|m| m.name().replace('_', "") == t)
            .ok_or_else(|| {
                Error::Argument(format!(
                    "unknown exposure metric '{text}': expected one of {}",
                    Metric::ALL.map(|m| m.name()).join(", ")
                ))
            })
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cmax => "CMAX",
            Metric::Auc24 => "AUC0_24",
            Metric::AucInf => "AUCINF",
            Metric::CmaxSs => "CMAX_SS",
            Metric::CminSs => "CMIN_SS",
            Metric::CavgSs => "CAVG_SS",
        }
    }

    /// Whether the metric is an AUC (unit conc·time).
    pub fn is_auc(self) -> bool {
        matches!(self, Metric::Auc24 | Metric::AucInf)
    }

    /// The value of this metric in an exposure (None where it does not exist).
    pub fn of(self, e: &Exposure) -> Option<f64> {
        match self {
            Metric::Cmax => Some(e.cmax),
            Metric::Auc24 => Some(e.auc_0_24),
            Metric::AucInf => e.auc_0_inf,
            Metric::CmaxSs => e.cmax_ss,
            Metric::CminSs => e.cmin_ss,
            Metric::CavgSs => e.cavg_ss,
        }
    }
}

/// A target such as `CMAX<500` or `AUC24>=2000`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The metric.
    pub metric: Metric,
    /// True for `>`/`>=`, false for `<`/`<=`.
    pub above: bool,
    /// Whether equality counts.
    pub inclusive: bool,
    /// The threshold in model units.
    pub threshold: f64,
}

impl Target {
    /// Parses `METRIC OP VALUE` with OP one of `<`, `<=`, `>`, `>=`.
    pub fn parse(text: &str) -> Result<Self> {
        let err = || {
            Error::Argument(format!(
                "target '{text}': expected METRIC OP VALUE, e.g. CMAX<500 or AUC24>=2000 (metrics: {})",
                Metric::ALL.map(|m| m.name()).join(", ")
            ))
        };
        let pos = text.find(['<', '>']).ok_or_else(err)?;
        let (name, rest) = text.split_at(pos);
        let above = rest.starts_with('>');
        let inclusive = rest[1..].starts_with('=');
        let value = rest[if inclusive { 2 } else { 1 }..].trim();
        let threshold: f64 = value.parse().map_err(|_| err())?;
        if !threshold.is_finite() {
            return Err(err());
        }
        Ok(Target {
            metric: Metric::parse(name)?,
            above,
            inclusive,
            threshold,
        })
    }

    /// Whether a value meets the target.
    pub fn met(&self, v: f64) -> bool {
        match (self.above, self.inclusive) {
            (true, true) => v >= self.threshold,
            (true, false) => v > self.threshold,
            (false, true) => v <= self.threshold,
            (false, false) => v < self.threshold,
        }
    }

    /// Fraction of exposures meeting the target (None if the metric is missing).
    pub fn attainment(&self, exposures: &[Exposure]) -> Option<f64> {
        let values: Option<Vec<f64>> = exposures.iter().map(|e| self.metric.of(e)).collect();
        let values = values?;
        if values.is_empty() {
            return None;
        }
        Some(values.iter().filter(|v| self.met(**v)).count() as f64 / values.len() as f64)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.above, self.inclusive) {
            (true, true) => ">=",
            (true, false) => ">",
            (false, true) => "<=",
            (false, false) => "<",
        };
        write!(f, "{}{op}{}", self.metric.name(), self.threshold)
    }
}
