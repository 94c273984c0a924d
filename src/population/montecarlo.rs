//! Monte Carlo simulation of a population: virtual patients (covariates and
//! η drawn from the population model), their concentrations for a regimen or
//! a data file's dosing histories, percentiles per time, exposures.
//!
//! Reproducible: patient k draws from a ChaCha8 stream numbered k under the
//! seed, so results do not depend on the number of threads or the order in
//! which rayon runs the patients.

use super::model::PopulationModel;
use crate::data::Dataset;
use crate::dosing::regimen::{BodySize, Regimen};
use crate::dosing::Dose;
use crate::error::{Error, Result};
use crate::fit::exposure::{exposure, Exposure};
use crate::model::{ModelDefinition, PkParams};
use crate::simulate::{simulate_subject_at, AnyKinetics, Schedule};
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
    /// Set every η to zero (typical patients).
    pub omega_zero: bool,
    /// Add residual error to the concentrations.
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
    /// Individual parameter values, one row per patient (the model's parameter order).
    pub parameters: Array2<f64>,
}

impl VirtualPatients {
    /// Covariate `name` of patient `k`, if the patients have it.
    pub fn covariate(&self, k: usize, name: &str) -> Option<f64> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|j| self.covariates[(k, j)])
    }
}

fn stream(seed: u64, k: usize, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(k as u64);
    rng
}

/// One patient's draws: covariates, η, source row, parameter values.
struct Draw {
    cov: Vec<f64>,
    eta: Vec<f64>,
    row: usize,
    values: Vec<f64>,
}

/// Draws `mc.n` virtual patients from `model`.
pub fn draw_patients(model: &PopulationModel, mc: &MonteCarlo, source: &CovariateSource) -> Result<VirtualPatients> {
    if mc.n == 0 {
        return Err(Error::Argument(
            "the number of virtual patients must be at least 1, got 0".into(),
        ));
    }
    let names = source.names();
    let needed = model.covariate_names();
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|n| !names.iter().any(|m| m == n))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Argument(format!(
            "population model {} needs covariate{} {}, which {} not given: use --covariate NAME=VALUE \
             (or NAME=LOW..HIGH for a uniform range), or a data file with {} column",
            model.name,
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
    let n_eta = model.eta_parameters.len();
    let chol = model.omega_cholesky()?;
    let index: Vec<usize> = needed
        .iter()
        .map(|n| names.iter().position(|m| m == n).unwrap_or(0))
        .collect();
    let n_par = model.typical.len();
    let rows: Vec<Draw> = (0..mc.n)
        .into_par_iter()
        .map(|k| {
            let mut rng = stream(mc.seed, k, 1);
            let z: Vec<f64> = (0..n_eta).map(|_| rng.sample(StandardNormal)).collect();
            let eta: Vec<f64> = (0..n_eta)
                .map(|i| {
                    if mc.omega_zero {
                        0.0
                    } else {
                        (0..=i).map(|j| chol[(i, j)] * z[j]).sum()
                    }
                })
                .collect();
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
            let model_cov: Vec<f64> = index.iter().map(|&j| cov[j]).collect();
            let values = model.individual_values(&model.typical_values(&model_cov), &eta);
            Draw { cov, eta, row, values }
        })
        .collect();
    for (k, Draw { cov, row, values, .. }) in rows.iter().enumerate() {
        if let Some((t, v)) = model
            .typical
            .iter()
            .zip(values)
            .find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(Error::Argument(format!(
                "virtual patient {} (covariates {}, source row {row}): {} = {v}; check the covariate values",
                k + 1,
                names
                    .iter()
                    .zip(cov)
                    .map(|(n, x)| format!("{n}={x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.name
            )));
        }
    }
    let n_cov = names.len();
    let mut covariates = Array2::zeros((mc.n, n_cov));
    let mut eta = Array2::zeros((mc.n, n_eta));
    let mut parameters = Array2::zeros((mc.n, n_par));
    let mut source_row = Vec::with_capacity(mc.n);
    for (
        k,
        Draw {
            cov: c,
            eta: e,
            row,
            values: v,
        },
    ) in rows.into_iter().enumerate()
    {
        for j in 0..n_cov {
            covariates[(k, j)] = c[j];
        }
        for j in 0..n_eta {
            eta[(k, j)] = e[j];
        }
        for j in 0..n_par {
            parameters[(k, j)] = v[j];
        }
        source_row.push(row);
    }
    Ok(VirtualPatients {
        names,
        covariates,
        eta,
        source_row,
        parameters,
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

/// Doses of a regimen for a model and body size.
pub fn regimen_doses(model: &ModelDefinition, regimen: &Regimen, size: &BodySize) -> Result<Vec<Dose>> {
    let s = &model.structure;
    regimen.doses(
        size,
        &model.units.amount,
        &model.units.time,
        s.default_dose_state(),
        1,
        s.has_depot().then_some(0),
    )
}

/// What the virtual patients receive.
#[derive(Debug, Clone, Copy)]
pub enum Dosing<'a> {
    /// A regimen text, scaled by each patient's body size.
    Regimen(&'a Regimen, SizeRule),
    /// The dosing history of the source subject of each patient.
    Subjects(&'a Dataset),
}

/// Concentrations of every patient at `times` (patients × times), in the
/// model's concentration unit; residual error added if `mc.residual_error`.
/// `progress` is told how many patients each finished block held.
pub fn simulate_patients(
    model: &PopulationModel,
    patients: &VirtualPatients,
    dosing: Dosing<'_>,
    times: &[f64],
    mc: &MonteCarlo,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Array2<f64>> {
    let n = patients.parameters.nrows();
    let nt = times.len();
    let mut conc = Array2::<f64>::zeros((n, nt));
    let Some(flat) = conc.as_slice_mut() else {
        return Err(Error::Argument(
            "internal: concentration matrix is not contiguous".into(),
        ));
    };
    const CHUNK: usize = 512;
    flat.par_chunks_mut(CHUNK * nt.max(1))
        .enumerate()
        .try_for_each(|(c, block)| -> Result<()> {
            let mut cache: Option<(Vec<Dose>, Schedule)> = None;
            for (i, row) in block.chunks_mut(nt.max(1)).enumerate() {
                let k = c * CHUNK + i;
                let params = model.params(&patients.parameters.row(k).to_vec())?;
                match dosing {
                    Dosing::Regimen(regimen, size) => {
                        let doses = regimen_doses(&model.structural, regimen, &size.of(patients, k))?;
                        if cache.as_ref().is_none_or(|(d, _)| *d != doses) {
                            let schedule = Schedule::new(&doses, times);
                            cache = Some((doses, schedule));
                        }
                        if let Some((_, schedule)) = &cache {
                            concentrations(&model.structural, &params, schedule, row, k)?;
                        }
                    }
                    Dosing::Subjects(data) => {
                        let Some(subject) = data.subjects.get(patients.source_row[k] % data.subjects.len().max(1))
                        else {
                            return Err(Error::Argument(format!(
                                "{} has no subjects to take dosing from",
                                data.file
                            )));
                        };
                        let p = simulate_subject_at(&model.structural, &params, data, subject, times, false)?;
                        row.copy_from_slice(&p.conc[..nt]);
                    }
                }
                if mc.residual_error {
                    let mut rng = stream(mc.seed, k, 2);
                    for v in row.iter_mut() {
                        let (z1, z2): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                        *v = model.residual.perturb(*v, z1, z2);
                    }
                }
            }
            progress(block.len() / nt.max(1));
            Ok(())
        })?;
    Ok(conc)
}

fn concentrations(
    model: &ModelDefinition,
    params: &PkParams,
    schedule: &Schedule,
    out: &mut [f64],
    k: usize,
) -> Result<()> {
    let mut kin = AnyKinetics::new(model.solver, params)?;
    schedule
        .concentrations(&mut kin, &model.structure, model.units.concentration_scale(), out)
        .map_err(|e| Error::Solver {
            subject: format!("virtual patient {}", k + 1),
            time: e.time,
            message: e.message,
        })
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

/// Exposure of every patient for a regimen (first dose and steady state).
pub fn patient_exposures(
    model: &PopulationModel,
    patients: &VirtualPatients,
    regimen: &Regimen,
    size: SizeRule,
) -> Result<Vec<Exposure>> {
    (0..patients.parameters.nrows())
        .into_par_iter()
        .map(|k| {
            let params = model.params(&patients.parameters.row(k).to_vec())?;
            let doses = regimen_doses(&model.structural, regimen, &size.of(patients, k))?;
            exposure(&model.structural, &params, &doses, &[], None)?.ok_or_else(|| Error::Regimen {
                text: regimen.text.clone(),
                message: "no dose to derive exposures from".into(),
            })
        })
        .collect()
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
