//! Stochastic approximation EM (SAEM, Kuhn & Lavielle 2005, as in Monolix,
//! nlmixr2 and NONMEM's `METHOD=SAEM`) for models written in the model
//! language, with the objective at the end by importance sampling.
//!
//! **Random effects.** A subject's random effects are `b = (η, κ₁, κ₂, …)`
//! with covariance `Ω_b = diag(Ω, Ω_iov, …)`, as in FOCE-I
//! ([`super::estimation`]); κ are sampled with η. The density of the data
//! given b is the one FOCE-I and the MAP estimator use
//! ([`super::map::data_term`] on [`super::estimation`]'s `AtValues`: every
//! residual model, log-scale outputs, BLQ by Beal's M3, ODE models).
//!
//! **E-step** (simulation). `L` Markov chains per subject (`L` such that
//! `N·L ≥ 200`: Monolix asks for 50, which left pheno's estimates too noisy), started at the conditional modes (MAP) at the
//! initial values. Each iteration runs, per chain, Monolix's three
//! Metropolis–Hastings kernels twice each: (1) an independence proposal from
//! the prior N(0, Ω_b); (2) a random walk on all of b; (3) a random walk on
//! each component in turn. The random-walk steps start at 2.4 conditional
//! SDs (from the MAP's information) and are adapted per chain during the
//! burn-in (Robbins–Monro on ln step toward an acceptance of 0.3), then
//! frozen.
//!
//! **M-step** (stochastic approximation, step γₖ = 1 during the `K1` burn-in
//! iterations, then (k − K1)^−0.7 during the `K2` averaging iterations, see
//! [`SaemOptions::step_exponent`]):
//! - *μ-referenced θ* (detected numerically: θᵢ such that moving ln θᵢ, or θᵢ
//!   for a θ that may be negative, by δ changes every prediction exactly as
//!   moving ηⱼ by δ does, e.g. `CL = TVCL * WT/70 * exp(eta_cl)`): with
//!   ψⱼ = h(θᵢ) + ηⱼ the individual parameter, h(θᵢ) = SA of the mean of ψⱼ,
//!   the chains keep ψ (their η shift by the change of h(θᵢ)), and
//!   Ω = SA(mean ψψᵀ) − μμᵀ: the exact SAEM of the exponential family.
//! - *Ω, Ω_iov*: closed form as above, projected on the model's block
//!   structure; `fix` blocks keep their values.
//! - *σ* whose residual variance is proportional to σ² wherever it acts, on
//!   uncensored observations only (additive, proportional, exponential error
//!   alone): σ² = SA of the mean of (y − f)²·σ²/R.
//! - *everything else* (θ without an η of their own, covariate effects such
//!   as pheno's APGR_V, combined, power and M3 error models): a few BFGS
//!   iterations ([`super::outer::minimise`]) maximise Σ ln p(y | b) over the
//!   current samples, and those parameters move by γₖ toward the maximiser
//!   (in the coordinates φ of FOCE-I).
//! - *simulated annealing* (Monolix): during the first iterations of the
//!   burn-in a variance of Ω or a closed-form σ² may shrink at most by a
//!   factor 0.95 per iteration, so that the chains keep exploring.
//!
//! **Objective.** After the averaging phase, each subject's conditional mean
//! and covariance of b (over its chains and the averaging iterations) define
//! a multivariate t proposal (4 degrees of freedom, scale = the conditional
//! covariance) for importance sampling: `L̂ᵢ = (1/M) Σ p(yᵢ|b)p(b)/q(b)`,
//! `−2LL = −2 Σ ln L̂ᵢ` (without N·ln 2π, as NONMEM's OFV), with the Monte Carlo
//! SE by the delta method, `SE² = Σᵢ 4·Var(w)/(M·L̂ᵢ²)`. The FOCE-I OFV at the
//! SAEM estimates (Laplace when observations are censored) is given for
//! comparison.
//!
//! **Reproducibility.** Chain `c` of subject `i` draws from ChaCha8 seeded with
//! the seed, stream `i·L + c`; the importance samples of subject `i` from stream
//! 2³² + i. Sums over subjects are taken in subject order after the parallel
//! work, so a seed gives the same numbers whatever the number of threads.

use super::estimation::{
    log_det, objective, reported, stacked_omega, AtValues, Element, Evaluation, Method, Parameters, PopValues,
    PopulationData, ThetaScale,
};
use super::map::{data_term, Conditional, Fitted};
use crate::error::{Error, Result};
use crate::lang::RandomEffects;
use crate::model::Model;
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, StandardNormal};
use rayon::prelude::*;

/// Repetitions of the kernels (prior, joint random walk, per-component random walk) per iteration.
const KERNEL_REPEATS: [usize; 3] = [2, 2, 2];
/// Acceptance rate the random-walk steps are adapted toward during the burn-in.
const TARGET_ACCEPTANCE: f64 = 0.3;
/// Gain of the Robbins–Monro adaptation of ln step (per proposal).
const ADAPTATION: f64 = 0.1;
/// Smallest factor by which a variance may shrink per annealing iteration.
const ANNEALING: f64 = 0.95;
/// Chains per subject are chosen so that subjects × chains reaches this.
const MIN_CHAIN_STATES: usize = 200;
/// Degrees of freedom of the importance-sampling proposal.
const IS_DF: f64 = 4.0;
/// BFGS iterations of the numerical part of the M-step.
const NUMERIC_ITERATIONS: u64 = 5;
/// Stream offset of the importance samples.
const IS_STREAM: u64 = 1 << 32;

/// Settings of SAEM.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaemOptions {
    /// Burn-in iterations K1 (γ = 1; NONMEM's NBURN).
    pub burn_in: usize,
    /// Averaging iterations K2 (γₖ = 1/(k − K1); NONMEM's NITER).
    pub averaging: usize,
    /// Chains per subject (`None`: enough for 200 chains in all;
    /// NONMEM's ISAMPLE of the SAEM step).
    pub chains: Option<usize>,
    /// Exponent α of the averaging steps γₖ = (k − K1)^−α, in (½, 1]: 1 is
    /// the plain running mean; with 0.7 the parameters keep converging during
    /// the averaging phase where EM is slow (η with large shrinkage: pheno's
    /// ω²(CL) ranged ±20% over seeds with α = 1 and ±7% with 0.7, 4 chains,
    /// 300 + 300 iterations).
    pub step_exponent: f64,
    /// Iterations of simulated annealing at the start of the burn-in.
    pub annealing: usize,
    /// Importance samples per subject for the objective (NONMEM's ISAMPLE of `IMP EONLY=1`).
    pub importance_samples: usize,
    /// Seed of the random streams.
    pub seed: u64,
}

impl Default for SaemOptions {
    fn default() -> Self {
        SaemOptions {
            burn_in: 300,
            averaging: 300,
            chains: None,
            step_exponent: 0.7,
            annealing: 150,
            importance_samples: 1000,
            seed: 11456,
        }
    }
}

/// One SAEM iteration, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct SaemStep {
    /// Iteration, from 1.
    pub iteration: usize,
    /// Iterations in all (K1 + K2).
    pub total: usize,
    /// Whether this is a burn-in iteration.
    pub burn_in: bool,
}

/// A θ μ-referenced by an η: the individual parameter is h(θ) + η.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuReference {
    /// θ index.
    pub theta: usize,
    /// η index (Ω order).
    pub eta: usize,
    /// h = ln (θ·exp(η)); otherwise h is the identity (θ + η).
    pub log: bool,
}

/// The objective by importance sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceSampling {
    /// −2LL without N·ln 2π.
    pub ofv: f64,
    /// Its Monte Carlo standard error.
    pub se: f64,
    /// Per-subject contributions.
    pub contributions: Vec<f64>,
    /// Samples per subject.
    pub samples: usize,
    /// Smallest effective sample size (Σw)²/Σw² over the subjects.
    pub min_effective: f64,
}

/// The result of SAEM.
#[derive(Debug, Clone)]
pub struct SaemFit {
    /// Estimates.
    pub values: PopValues,
    /// Settings used.
    pub options: SaemOptions,
    /// Chains per subject.
    pub chains: usize,
    /// μ-referenced θ (closed-form updates).
    pub mu_referenced: Vec<MuReference>,
    /// σ with closed-form updates.
    pub closed_form_sigma: Vec<usize>,
    /// Parameters updated by numerical maximisation.
    pub numeric: Vec<Element>,
    /// Acceptance rates of the three kernels over the averaging phase.
    pub acceptance: [f64; 3],
    /// Per subject, the conditional mean of b over the averaging phase.
    pub conditional_means: Vec<Vec<f64>>,
    /// Per subject, the conditional covariance of b over the averaging phase.
    pub conditional_covariances: Vec<DMatrix<f64>>,
    /// The reported values ([`reported`]) after each iteration.
    pub trace: Vec<Vec<f64>>,
    /// −2LL by importance sampling at the estimates.
    pub importance: ImportanceSampling,
    /// The comparison objective at the estimates (FOCE-I, or Laplace with
    /// censored observations), with its conditional modes.
    pub comparison: Evaluation,
    /// Its method.
    pub comparison_method: Method,
    /// Seconds of the SAEM iterations.
    pub seconds_saem: f64,
    /// Seconds of the importance sampling.
    pub seconds_importance: f64,
}

/// The prior of b for one number of occasions.
struct Prior {
    inverse: DMatrix<f64>,
    cholesky: DMatrix<f64>,
}

impl Prior {
    fn new(values: &PopValues, n_occasions: usize, iov: bool) -> Option<Self> {
        let omega_b = stacked_omega(values, n_occasions, iov);
        if omega_b.nrows() == 0 {
            return Some(Prior {
                inverse: omega_b.clone(),
                cholesky: omega_b,
            });
        }
        let ch = omega_b.cholesky()?;
        Some(Prior {
            inverse: ch.inverse(),
            cholesky: ch.l(),
        })
    }

    fn quadratic(&self, b: &[f64]) -> f64 {
        let v = DVector::from_column_slice(b);
        (v.transpose() * &self.inverse * &v)[(0, 0)]
    }
}

/// One Markov chain of one subject.
#[derive(Debug, Clone)]
struct Chain {
    subject: usize,
    b: Vec<f64>,
    /// Σ[(y−f)²/R + ln R] (M3 terms included) at b; +∞ where the model fails.
    data: f64,
    fitted: Option<Fitted>,
    rng: ChaCha8Rng,
    /// Random-walk step per component (kernel 3).
    step: Vec<f64>,
    /// Multiplier of `step` for the joint random walk (kernel 2).
    joint: f64,
    accepted: [u64; 3],
    proposed: [u64; 3],
    /// Averaging-phase moments (Welford).
    n: f64,
    mean: DVector<f64>,
    m2: DMatrix<f64>,
}

fn data_at(p: &AtValues<'_>, b: &[f64]) -> (f64, Option<Fitted>) {
    match p.evaluate(b) {
        Ok(f) => {
            let d = data_term(p.y(), &f, p.censored());
            if d.is_finite() {
                (d, Some(f))
            } else {
                (f64::INFINITY, None)
            }
        }
        Err(_) => (f64::INFINITY, None),
    }
}

/// Metropolis–Hastings acceptance of a candidate with −2 log target `new`
/// against the current `old` (+∞: not evaluable).
fn accept(rng: &mut ChaCha8Rng, new: f64, old: f64) -> bool {
    if !new.is_finite() {
        return false;
    }
    if !old.is_finite() {
        return true;
    }
    let u: f64 = rng.random();
    u.ln() < -0.5 * (new - old)
}

impl Chain {
    fn normal(&mut self, k: usize) -> DVector<f64> {
        DVector::from_iterator(k, (0..k).map(|_| self.rng.sample::<f64, _>(StandardNormal)))
    }

    /// One E-step sweep at the current values.
    fn sweep(&mut self, p: &AtValues<'_>, prior: &Prior, adapt: bool) {
        let (d, f) = data_at(p, &self.b);
        self.data = d;
        self.fitted = f;
        let k = self.b.len();
        if k == 0 {
            return;
        }
        let mut quad = prior.quadratic(&self.b);
        // Kernel 1: independence proposal from the prior (the prior cancels).
        for _ in 0..KERNEL_REPEATS[0] {
            let z = self.normal(k);
            let cand: Vec<f64> = (&prior.cholesky * z).as_slice().to_vec();
            let (d, f) = data_at(p, &cand);
            self.proposed[0] += 1;
            if accept(&mut self.rng, d, self.data) {
                self.accepted[0] += 1;
                quad = prior.quadratic(&cand);
                self.b = cand;
                self.data = d;
                self.fitted = f;
            }
        }
        // Kernel 2: random walk on all of b.
        for _ in 0..KERNEL_REPEATS[1] {
            let z = self.normal(k);
            let cand: Vec<f64> = (0..k).map(|j| self.b[j] + self.joint * self.step[j] * z[j]).collect();
            let (d, f) = data_at(p, &cand);
            let q = prior.quadratic(&cand);
            self.proposed[1] += 1;
            let ok = accept(&mut self.rng, d + q, self.data + quad);
            if ok {
                self.accepted[1] += 1;
                self.b = cand;
                self.data = d;
                self.fitted = f;
                quad = q;
            }
            if adapt {
                self.joint *= (ADAPTATION * (f64::from(u8::from(ok)) - TARGET_ACCEPTANCE)).exp();
            }
        }
        // Kernel 3: random walk on each component.
        for _ in 0..KERNEL_REPEATS[2] {
            for j in 0..k {
                let z: f64 = self.rng.sample(StandardNormal);
                let mut cand = self.b.clone();
                cand[j] += self.step[j] * z;
                let (d, f) = data_at(p, &cand);
                let q = prior.quadratic(&cand);
                self.proposed[2] += 1;
                let ok = accept(&mut self.rng, d + q, self.data + quad);
                if ok {
                    self.accepted[2] += 1;
                    self.b = cand;
                    self.data = d;
                    self.fitted = f;
                    quad = q;
                }
                if adapt {
                    self.step[j] *= (ADAPTATION * (f64::from(u8::from(ok)) - TARGET_ACCEPTANCE)).exp();
                }
            }
        }
    }

    fn record(&mut self) {
        self.n += 1.0;
        let x = DVector::from_column_slice(&self.b);
        let delta = &x - &self.mean;
        self.mean += &delta / self.n;
        let delta2 = &x - &self.mean;
        self.m2 += &delta * delta2.transpose();
    }
}

/// Whether two evaluations agree to rounding (and the integrator's tolerance).
fn agree(a: &Fitted, b: &Fitted) -> bool {
    let close = |x: &[f64], y: &[f64]| {
        x.iter()
            .zip(y)
            .all(|(u, v)| (u - v).abs() <= 1e-7 * (u.abs() + v.abs()) + 1e-12)
    };
    close(&a.f, &b.f) && close(&a.r, &b.r)
}

/// Whether moving h(θᵢ) by δ has the effect of moving ηⱼ by δ on the first
/// subjects (at two points and two δ), and ηⱼ has an effect at all.
fn same_effect(model: &Model, data: &PopulationData, values: &PopValues, i: usize, j: usize, log: bool) -> bool {
    let n_eta = values.omega.nrows();
    let n_kappa = values.omega_iov.nrows();
    let mut moved = false;
    for s in data.subjects.iter().take(5) {
        let nb = n_eta + n_kappa * s.data.n_occasions;
        for (level, delta) in [(0.1, 0.3), (-0.2, -0.5)] {
            let b0: Vec<f64> = (0..nb).map(|m| level * (1.0 + 0.37 * m as f64)).collect();
            let mut b1 = b0.clone();
            b1[j] += delta;
            let mut shifted = values.clone();
            shifted.theta[i] = if log {
                values.theta[i] * f64::exp(delta)
            } else {
                values.theta[i] + delta
            };
            let at = AtValues::new(model, s, values);
            let (Ok(f0), Ok(fa), Ok(fb)) = (
                at.evaluate(&b0),
                at.evaluate(&b1),
                AtValues::new(model, s, &shifted).evaluate(&b0),
            ) else {
                return false;
            };
            if !agree(&fa, &fb) {
                return false;
            }
            moved |= !agree(&fa, &f0);
        }
    }
    moved
}

/// The μ-referenced θ of a model: for each η, the first estimated θ (ln θ for a
/// positive θ, θ for an unbounded one) whose effect is that of the η.
pub fn mu_references(model: &Model, data: &PopulationData, values: &PopValues) -> Vec<MuReference> {
    let params = Parameters::of(model);
    let mut used = vec![false; values.theta.len()];
    let mut out = Vec::new();
    for j in 0..values.omega.nrows() {
        for e in &params.elements {
            let Element::Theta(i, scale) = *e else { continue };
            let log = match scale {
                ThetaScale::Log => true,
                ThetaScale::Linear(_) => false,
                ThetaScale::Logit { .. } => continue,
            };
            if !used[i] && same_effect(model, data, values, i, j, log) {
                used[i] = true;
                out.push(MuReference { theta: i, eta: j, log });
                break;
            }
        }
    }
    out
}

/// The estimated σ whose residual variance is proportional to σ² on every
/// observation it acts on, none of them censored; with, per subject, the
/// observations it acts on.
fn closed_form_sigmas(model: &Model, data: &PopulationData, values: &PopValues) -> Vec<(usize, Vec<Vec<bool>>)> {
    let mut out = Vec::new();
    for (k, s) in model.code.sigmas.iter().enumerate() {
        if s.fixed || !(values.sigma_sd[k] > 0.0) {
            continue;
        }
        let mut doubled = values.clone();
        doubled.sigma_sd[k] *= 2.0;
        let mut masks = Vec::with_capacity(data.subjects.len());
        let mut closed = true;
        let mut any = false;
        for subject in &data.subjects {
            let nb = values.omega.nrows() + values.omega_iov.nrows() * subject.data.n_occasions;
            let zero = vec![0.0; nb];
            let (Ok(a), Ok(b)) = (
                AtValues::new(model, subject, values).evaluate(&zero),
                AtValues::new(model, subject, &doubled).evaluate(&zero),
            ) else {
                closed = false;
                break;
            };
            let mut mask = vec![false; a.r.len()];
            for (o, (r0, r1)) in a.r.iter().zip(&b.r).enumerate() {
                if (r1 - r0).abs() <= 1e-12 * r0.abs() {
                    continue;
                }
                mask[o] = true;
                any = true;
                if (r1 / r0 - 4.0).abs() > 1e-9 || subject.censored.get(o).copied().unwrap_or(0) != 0 {
                    closed = false;
                }
            }
            masks.push(mask);
        }
        if closed && any {
            out.push((k, masks));
        }
    }
    out
}

/// Ω from the SA statistics projected on the block structure of `effects`
/// (fixed blocks keep `old`); `old` where the result is not positive definite.
fn project(effects: &RandomEffects, new: &DMatrix<f64>, old: &DMatrix<f64>) -> DMatrix<f64> {
    let n = old.nrows();
    let mut m = DMatrix::zeros(n, n);
    for b in &effects.blocks {
        let src = if b.fixed { old } else { new };
        for i in b.start..b.start + b.size {
            for j in b.start..b.start + b.size {
                m[(i, j)] = src[(i, j)];
            }
        }
    }
    if n == 0 || m.clone().cholesky().is_some() {
        m
    } else {
        old.clone()
    }
}

/// Simulated annealing: variances shrink at most by [`ANNEALING`] (correlations kept).
fn anneal(new: &DMatrix<f64>, old: &DMatrix<f64>) -> DMatrix<f64> {
    let n = new.nrows();
    let a: Vec<f64> = (0..n)
        .map(|i| {
            let floor = ANNEALING * old[(i, i)];
            if new[(i, i)] < floor && new[(i, i)] > 0.0 {
                (floor / new[(i, i)]).sqrt()
            } else {
                1.0
            }
        })
        .collect();
    DMatrix::from_fn(n, n, |i, j| new[(i, j)] * a[i] * a[j])
}

fn h(log: bool, theta: f64) -> f64 {
    if log {
        theta.ln()
    } else {
        theta
    }
}

fn h_inverse(log: bool, x: f64) -> f64 {
    if log {
        x.exp()
    } else {
        x
    }
}

/// Σ over the chains of the data terms at `values` (subject order).
fn data_sum(model: &Model, data: &PopulationData, chains: &[Chain], values: &PopValues) -> f64 {
    let parts: Vec<f64> = chains
        .par_iter()
        .map(|c| data_at(&AtValues::new(model, &data.subjects[c.subject], values), &c.b).0)
        .collect();
    parts.iter().sum()
}

/// The numerical part of the M-step: the parameters of `numeric` move by γ
/// toward the maximiser of Σ ln p(y | b) over the current samples.
fn numeric_step(
    model: &Model,
    data: &PopulationData,
    chains: &[Chain],
    values: &PopValues,
    numeric: &Parameters,
    gamma: f64,
) -> Result<PopValues> {
    if numeric.elements.is_empty() {
        return Ok(values.clone());
    }
    let phi0 = numeric.phi(model, values)?;
    let q = |phi: &[f64]| -> Result<f64> {
        Ok(match numeric.values(model, values, phi) {
            Ok(v) => data_sum(model, data, chains, &v),
            Err(_) => f64::INFINITY,
        })
    };
    let f0 = q(&phi0)?;
    if !f0.is_finite() {
        return Ok(values.clone());
    }
    let best = match super::outer::minimise(&q, phi0.clone(), f0, NUMERIC_ITERATIONS, &|_, _, _, _| {}) {
        Ok(o) if o.phi.iter().all(|x| x.is_finite()) => o.phi,
        _ => return Ok(values.clone()),
    };
    let phi: Vec<f64> = phi0.iter().zip(&best).map(|(a, b)| a + gamma * (b - a)).collect();
    let Ok(mut v) = numeric.values(model, values, &phi) else {
        return Ok(values.clone());
    };
    v.omega = values.omega.clone();
    v.omega_iov = values.omega_iov.clone();
    Ok(v)
}

/// Estimates the population parameters of `model` by SAEM from `start`,
/// telling `observe` each iteration; then the objective by importance
/// sampling and the FOCE-I objective at the estimates.
pub fn estimate(
    model: &Model,
    data: &PopulationData,
    start: &PopValues,
    options: &SaemOptions,
    observe: &dyn Fn(SaemStep),
) -> Result<SaemFit> {
    if options.averaging == 0 {
        return Err(Error::Argument(
            "SAEM needs at least one averaging iteration (NITER ≥ 1)".into(),
        ));
    }
    if options.importance_samples < 2 {
        return Err(Error::Argument(
            "importance sampling needs at least 2 samples per subject (ISAMPLE ≥ 2)".into(),
        ));
    }
    let started = std::time::Instant::now();
    let iov = model.code.iov.is_some();
    let n_eta = start.omega.nrows();
    let n_kappa = start.omega_iov.nrows();
    let params = Parameters::of(model);
    let mut values = start.clone();
    let not_pd = || Error::Model {
        model: model.origin.clone(),
        message: "Ω is not positive definite".into(),
    };
    Prior::new(&values, 1, iov).ok_or_else(not_pd)?;

    let mu = mu_references(model, data, &values);
    let sigmas = closed_form_sigmas(model, data, &values);
    let numeric = Parameters {
        elements: params
            .elements
            .iter()
            .copied()
            .filter(|e| match *e {
                Element::Theta(i, _) => !mu.iter().any(|m| m.theta == i),
                Element::Sigma(k) => !sigmas.iter().any(|s| s.0 == k),
                Element::Omega(..) | Element::Iov(..) => false,
            })
            .collect(),
    };

    // Chains, started at the conditional modes at the initial values.
    let n_subjects = data.subjects.len();
    let per_subject = options
        .chains
        .unwrap_or_else(|| MIN_CHAIN_STATES.div_ceil(n_subjects.max(1)))
        .max(1);
    let modes = super::estimation::conditional_modes(model, data, &values);
    let mut chains: Vec<Chain> = Vec::with_capacity(n_subjects * per_subject);
    for (i, (s, mode)) in data.subjects.iter().zip(&modes).enumerate() {
        let omega_b = stacked_omega(&values, s.data.n_occasions, iov);
        let k = omega_b.nrows();
        let (b, sd): (Vec<f64>, Vec<f64>) = match mode
            .as_ref()
            .ok()
            .and_then(|m| super::map::inverse_spd(&m.half_information).map(|c| (m.eta.clone(), c)))
        {
            Some((b, cov)) => (b, (0..k).map(|j| cov[(j, j)].max(1e-12).sqrt()).collect()),
            None => (vec![0.0; k], (0..k).map(|j| omega_b[(j, j)].sqrt()).collect()),
        };
        for c in 0..per_subject {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            rng.set_stream((i * per_subject + c) as u64);
            chains.push(Chain {
                subject: i,
                b: b.clone(),
                data: f64::INFINITY,
                fitted: None,
                rng,
                step: sd.iter().map(|s| 2.4 * s).collect(),
                joint: 1.0 / (k.max(1) as f64).sqrt(),
                accepted: [0; 3],
                proposed: [0; 3],
                n: 0.0,
                mean: DVector::zeros(k),
                m2: DMatrix::zeros(k, k),
            });
        }
    }
    let n_chains = chains.len() as f64;

    // Sufficient statistics.
    let mut s1: Vec<f64> = vec![0.0; n_eta];
    for m in &mu {
        s1[m.eta] = h(m.log, values.theta[m.theta]);
    }
    let mu_vec = |s1: &[f64]| DVector::from_column_slice(s1);
    let mut s2 = &values.omega + mu_vec(&s1) * mu_vec(&s1).transpose();
    let mut s_iov = values.omega_iov.clone();
    let mut s_sigma: Vec<f64> = sigmas.iter().map(|(k, _)| values.sigma_sd[*k].powi(2)).collect();

    let total = options.burn_in + options.averaging;
    let mut trace = Vec::with_capacity(total);
    let max_occasions = data.subjects.iter().map(|s| s.data.n_occasions).max().unwrap_or(1);
    for iteration in 1..=total {
        let burn_in = iteration <= options.burn_in;
        let gamma = if burn_in {
            1.0
        } else {
            ((iteration - options.burn_in) as f64).powf(-options.step_exponent)
        };
        // E-step.
        let priors: Vec<Option<Prior>> = (0..=max_occasions)
            .map(|o| {
                if iov || o == 1 {
                    Prior::new(&values, o, iov)
                } else {
                    None
                }
            })
            .collect();
        let prior_of = |s: usize| -> Result<&Prior> {
            let o = if iov { data.subjects[s].data.n_occasions } else { 1 };
            priors[o].as_ref().ok_or_else(not_pd)
        };
        for c in &chains {
            prior_of(c.subject)?;
        }
        chains.par_iter_mut().for_each(|c| {
            let s = &data.subjects[c.subject];
            let o = if iov { s.data.n_occasions } else { 1 };
            if let Some(prior) = &priors[o] {
                c.sweep(&AtValues::new(model, s, &values), prior, burn_in);
            }
        });
        if !burn_in {
            for c in chains.iter_mut() {
                c.record();
            }
        }

        // M-step: μ-referenced θ and Ω.
        let old = values.clone();
        let mut mean_psi = DVector::<f64>::zeros(n_eta);
        let mut mean_pp = DMatrix::<f64>::zeros(n_eta, n_eta);
        let mut mean_kk = DMatrix::<f64>::zeros(n_kappa, n_kappa);
        let mut n_occ = 0.0;
        let mu_now = mu_vec(&s1);
        for c in &chains {
            let psi = DVector::from_column_slice(&c.b[..n_eta]) + &mu_now;
            mean_psi += &psi / n_chains;
            mean_pp += &psi * psi.transpose() / n_chains;
            for o in 0..(c.b.len() - n_eta) / n_kappa.max(1) {
                let k = DVector::from_column_slice(&c.b[n_eta + o * n_kappa..n_eta + (o + 1) * n_kappa]);
                mean_kk += &k * k.transpose();
                n_occ += 1.0;
            }
        }
        for m in &mu {
            let t = &model.code.thetas[m.theta];
            let target = s1[m.eta] + gamma * (mean_psi[m.eta] - s1[m.eta]);
            let theta = h_inverse(m.log, target).clamp(t.lower, t.upper);
            s1[m.eta] = h(m.log, theta);
            values.theta[m.theta] = theta;
        }
        s2 += gamma * (&mean_pp - &s2);
        let mu_new = mu_vec(&s1);
        let shift = &mu_new - &mu_now;
        let mut omega = project(&model.code.omega, &(&s2 - &mu_new * mu_new.transpose()), &old.omega);
        if iteration <= options.annealing.min(options.burn_in) {
            omega = anneal(&omega, &old.omega);
        }
        values.omega = omega;
        if n_kappa > 0 && n_occ > 0.0 {
            s_iov += gamma * (&mean_kk / n_occ - &s_iov);
            if let Some(e) = &model.code.iov {
                let mut o = project(&e.effects, &s_iov, &old.omega_iov);
                if iteration <= options.annealing.min(options.burn_in) {
                    o = anneal(&o, &old.omega_iov);
                }
                values.omega_iov = o;
            }
        }
        // The chains keep ψ: η moves by the change of h(θ).
        if shift.iter().any(|d| *d != 0.0) {
            chains.par_iter_mut().for_each(|c| {
                for j in 0..n_eta {
                    c.b[j] -= shift[j];
                    if c.n > 0.0 {
                        c.mean[j] -= shift[j];
                    }
                }
            });
        }
        // σ in closed form.
        for (slot, (k, masks)) in sigmas.iter().enumerate() {
            let mut sum = 0.0;
            let mut count = 0.0;
            let var = old.sigma_sd[*k].powi(2);
            for c in &chains {
                let Some(f) = &c.fitted else { continue };
                let s = &data.subjects[c.subject];
                for (o, on) in masks[c.subject].iter().enumerate() {
                    if *on {
                        let e = s.y[o] - f.f[o];
                        sum += e * e * var / f.r[o];
                        count += 1.0;
                    }
                }
            }
            if count > 0.0 {
                s_sigma[slot] += gamma * (sum / count - s_sigma[slot]);
                let mut v = s_sigma[slot];
                if iteration <= options.annealing.min(options.burn_in) {
                    v = v.max(ANNEALING * var);
                }
                values.sigma_sd[*k] = v.sqrt();
            }
        }
        // Everything else numerically.
        values = numeric_step(model, data, &chains, &values, &numeric, gamma)?;
        trace.push(reported(model, &params, &values).into_iter().map(|r| r.value).collect());
        observe(SaemStep {
            iteration,
            total,
            burn_in,
        });
    }
    let seconds_saem = started.elapsed().as_secs_f64();

    // Conditional moments per subject (pooled over its chains).
    let mut acc = [0u64; 3];
    let mut prop = [0u64; 3];
    for c in &chains {
        for k in 0..3 {
            acc[k] += c.accepted[k];
            prop[k] += c.proposed[k];
        }
    }
    let mut means = Vec::with_capacity(n_subjects);
    let mut covariances = Vec::with_capacity(n_subjects);
    for group in chains.chunks(per_subject) {
        let k = group[0].b.len();
        let mut mean = DVector::zeros(k);
        for c in group {
            mean += &c.mean / group.len() as f64;
        }
        let mut cov = DMatrix::zeros(k, k);
        for c in group {
            let d = &c.mean - &mean;
            cov += (&c.m2 / c.n.max(1.0) + &d * d.transpose()) / group.len() as f64;
        }
        means.push(mean.as_slice().to_vec());
        covariances.push(cov);
    }
    let importance_started = std::time::Instant::now();
    let proposals: Vec<(Vec<f64>, DMatrix<f64>)> = means.iter().cloned().zip(covariances.iter().cloned()).collect();
    let importance = importance_sampling(
        model,
        data,
        &values,
        &proposals,
        options.importance_samples,
        options.seed,
    )?;
    let seconds_importance = importance_started.elapsed().as_secs_f64();
    let comparison_method = if data.n_censored > 0 {
        Method::Laplace
    } else {
        Method::FoceI
    };
    let comparison = objective(model, data, &values, comparison_method, &means)?;
    let rate = |k: usize| {
        if prop[k] == 0 {
            f64::NAN
        } else {
            acc[k] as f64 / prop[k] as f64
        }
    };
    Ok(SaemFit {
        values,
        options: *options,
        chains: per_subject,
        mu_referenced: mu,
        closed_form_sigma: sigmas.iter().map(|s| s.0).collect(),
        numeric: numeric.elements,
        acceptance: [rate(0), rate(1), rate(2)],
        conditional_means: means,
        conditional_covariances: covariances,
        trace,
        importance,
        comparison,
        comparison_method,
        seconds_saem,
        seconds_importance,
    })
}

/// Proposals for [`importance_sampling`] from the conditional modes at
/// `values`: mean b̂, covariance (H/2)⁻¹ (the FOCE-I information).
pub fn map_proposals(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
) -> Result<Vec<(Vec<f64>, DMatrix<f64>)>> {
    super::estimation::conditional_modes(model, data, values)
        .into_iter()
        .zip(&data.subjects)
        .map(|(m, s)| {
            let m = m?;
            let cov = super::map::inverse_spd(&m.half_information).ok_or_else(|| Error::Fit {
                subject: s.data.id.clone(),
                message: "the conditional information matrix is not positive definite".into(),
            })?;
            Ok((m.eta, cov))
        })
        .collect()
}

/// ln Γ.
fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The objective (−2LL without N·ln 2π) at `values` by importance sampling:
/// per subject `samples` draws from a multivariate t (4 degrees of freedom)
/// centred at the proposal's mean with its covariance as scale matrix.
pub fn importance_sampling(
    model: &Model,
    data: &PopulationData,
    values: &PopValues,
    proposals: &[(Vec<f64>, DMatrix<f64>)],
    samples: usize,
    seed: u64,
) -> Result<ImportanceSampling> {
    let iov = model.code.iov.is_some();
    let ln_2pi = (2.0 * std::f64::consts::PI).ln();
    let parts: Vec<(f64, f64, f64)> = data
        .subjects
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let fail = |message: &str| Error::Fit {
                subject: s.data.id.clone(),
                message: message.to_string(),
            };
            let p = AtValues::new(model, s, values);
            let prior =
                Prior::new(values, s.data.n_occasions, iov).ok_or_else(|| fail("Ω is not positive definite"))?;
            let omega_ld = log_det(&stacked_omega(values, s.data.n_occasions, iov))
                .ok_or_else(|| fail("Ω is not positive definite"))?;
            let k = prior.inverse.nrows();
            if k == 0 {
                let (d, _) = data_at(&p, &[]);
                return Ok((d, 0.0, samples as f64));
            }
            let (mean, cov) = proposals
                .get(i)
                .filter(|(m, c)| m.len() == k && c.nrows() == k)
                .cloned()
                .unwrap_or_else(|| (vec![0.0; k], stacked_omega(values, s.data.n_occasions, iov)));
            // A singular conditional covariance (a chain that did not move) is widened.
            let scale = match cov.clone().cholesky() {
                Some(c) => c,
                None => {
                    let omega_b = stacked_omega(values, s.data.n_occasions, iov);
                    (cov + 1e-3 * DMatrix::from_diagonal(&omega_b.diagonal()))
                        .cholesky()
                        .or_else(|| omega_b.cholesky())
                        .ok_or_else(|| fail("no proposal for importance sampling"))?
                }
            };
            let l = scale.l();
            let scale_ld: f64 = l.diagonal().iter().map(|d| 2.0 * d.ln()).sum();
            let kf = k as f64;
            let q_const = ln_gamma((IS_DF + kf) / 2.0)
                - ln_gamma(IS_DF / 2.0)
                - 0.5 * kf * (IS_DF * std::f64::consts::PI).ln()
                - 0.5 * scale_ld;
            let chi = ChiSquared::new(IS_DF).map_err(|e| fail(&e.to_string()))?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(IS_STREAM + i as u64);
            let m = DVector::from_column_slice(&mean);
            let mut lw = Vec::with_capacity(samples);
            for _ in 0..samples {
                let z = DVector::from_iterator(k, (0..k).map(|_| rng.sample::<f64, _>(StandardNormal)));
                let w: f64 = rng.sample(chi);
                let x = &m + &l * &z * (IS_DF / w).sqrt();
                let ln_q = q_const - 0.5 * (IS_DF + kf) * (1.0 + z.norm_squared() / w).ln();
                let (d, _) = data_at(&p, x.as_slice());
                let ln_p = -0.5 * (d + prior.quadratic(x.as_slice()) + omega_ld + kf * ln_2pi);
                lw.push(ln_p - ln_q);
            }
            let top = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !top.is_finite() {
                return Err(fail("importance sampling: the model cannot be evaluated at any sample"));
            }
            let n = samples as f64;
            let w: Vec<f64> = lw.iter().map(|x| (x - top).exp()).collect();
            let mean_w = w.iter().sum::<f64>() / n;
            let var_w = w.iter().map(|x| (x - mean_w).powi(2)).sum::<f64>() / (n - 1.0);
            let ess = w.iter().sum::<f64>().powi(2) / w.iter().map(|x| x * x).sum::<f64>();
            let contribution = -2.0 * (top + mean_w.ln());
            let variance = 4.0 * var_w / (n * mean_w * mean_w);
            Ok((contribution, variance, ess))
        })
        .collect::<Result<_>>()?;
    let ofv = parts.iter().map(|p| p.0).sum();
    let se = parts.iter().map(|p| p.1).sum::<f64>().sqrt();
    let min_effective = parts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    Ok(ImportanceSampling {
        ofv,
        se,
        contributions: parts.iter().map(|p| p.0).collect(),
        samples,
        min_effective,
    })
}
