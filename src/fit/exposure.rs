//! Exposure and disposition parameters derived from a fitted model: first-dose
//! Cmax, Tmax and AUCs, the disposition constants, and the steady state of the
//! subject's regimen.
//!
//! AUCs are integrals of the model's predictions by 8-point Gauss–Legendre
//! quadrature on sub-intervals between the breakpoints (dose entry, end of
//! infusion), each at most a fifth of the fastest half-life long: exact to
//! about 1e-12 relative for sums of exponentials. Cmax is the largest
//! prediction among the quadrature nodes and breakpoints, refined by a
//! golden-section search when it falls between them.

use super::problem::SubjectProblem;
use crate::dosing::{Dose, Input, SteadyState};
use crate::error::{Error, Result};
use crate::lang::Dynamics;
use crate::model::{kernel_params as kernel_of, Disposition, IndividualParameters, Model, PkParams, Values};
use crate::population::exposures::ExposurePlan;
use crate::simulate::simulate;
use crate::units::{TimeUnit, Units};
use serde::Serialize;

/// Exposure after the first dose, disposition, and steady state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposure {
    /// Model Cmax after the first dose alone.
    pub cmax: f64,
    /// Model Tmax after the first dose, relative to the dose time.
    pub tmax: f64,
    /// AUC over 24 h after the first dose alone.
    pub auc_0_24: f64,
    /// Dosing interval of the regimen (time to the second dose, or II), if any.
    pub tau: Option<f64>,
    /// AUC over the first dosing interval (first dose alone).
    pub auc_0_tau: Option<f64>,
    /// AUC to infinity after the first dose: dose/CL for linear models.
    pub auc_0_inf: Option<f64>,
    /// Observed Cmax in the first dosing interval (or the first 24 h).
    pub cmax_obs: Option<f64>,
    /// Time of the observed Cmax, relative to the first dose.
    pub tmax_obs: Option<f64>,
    /// Clearance.
    pub cl: Option<f64>,
    /// Central volume.
    pub v1: Option<f64>,
    /// Inter-compartmental clearance (to the first peripheral compartment).
    pub q: Option<f64>,
    /// First peripheral volume.
    pub v2: Option<f64>,
    /// Volume at steady state.
    pub vss: Option<f64>,
    /// Fastest disposition exponent (two or three compartments).
    pub alpha: Option<f64>,
    /// Terminal (slowest) disposition exponent.
    pub beta: Option<f64>,
    /// Half-life of α.
    pub t_half_alpha: Option<f64>,
    /// Terminal half-life.
    pub t_half_beta: Option<f64>,
    /// Mean residence time (IV bolus): Vss/CL.
    pub mrt: Option<f64>,
    /// Steady-state Cmax of the regimen.
    pub cmax_ss: Option<f64>,
    /// Steady-state Cmin.
    pub cmin_ss: Option<f64>,
    /// Steady-state average concentration AUCτ/τ.
    pub cavg_ss: Option<f64>,
    /// AUC over one interval at steady state.
    pub auc_tau_ss: Option<f64>,
    /// AUCτ at steady state over AUCτ after the first dose.
    pub accumulation_ratio: Option<f64>,
}

impl Exposure {
    /// The first-dose values of a model curve; disposition, steady state and
    /// observed values left empty, for the caller to fill.
    pub fn first_dose(cmax: f64, tmax: f64, auc_0_24: f64, tau: Option<f64>, auc_0_tau: Option<f64>) -> Exposure {
        Exposure {
            cmax,
            tmax,
            auc_0_24,
            tau,
            auc_0_tau,
            auc_0_inf: None,
            cmax_obs: None,
            tmax_obs: None,
            cl: None,
            v1: None,
            q: None,
            v2: None,
            vss: None,
            alpha: None,
            beta: None,
            t_half_alpha: None,
            t_half_beta: None,
            mrt: None,
            cmax_ss: None,
            cmin_ss: None,
            cavg_ss: None,
            auc_tau_ss: None,
            accumulation_ratio: None,
        }
    }
}

/// Derived values of a fit, from the closed-form kernel's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// The kernel's parameters (first record's parameter set).
    pub params: Option<PkParams>,
    /// Exposure and disposition.
    pub exposure: Option<Exposure>,
    /// What could not be derived, or what the values assume.
    pub note: Option<String>,
}

/// Whether the model absorbs doses from a depot (a kernel with first-order
/// absorption, or ODEs with a state named `depot`).
pub fn has_depot(model: &Model) -> bool {
    match model.code.dynamics {
        Dynamics::Kernel(k) => k.has_depot(),
        Dynamics::Ode => model.code.states.iter().any(|s| s == "depot"),
    }
}

/// Derived values of an ODE model, computed numerically from its predictions
/// by the quadrature of the population exposures
/// ([`crate::population::exposures`]): Cmax, Tmax and AUC0–24/AUC0–τ after
/// the first dose alone, and the steady state of the regimen. CL, volumes,
/// Vss, half-lives, MRT and AUC0–∞ need linear kinetics and are not derived.
fn numerical(problem: &SubjectProblem, theta: &[f64], observed: &[(f64, f64)], tau: Option<f64>) -> Derived {
    let not_derived = "the model is written as ODEs: CL, volumes, Vss, half-lives, MRT and AUC0-inf are not derived";
    match numerical_exposure(problem, theta, observed, tau) {
        Ok(e) => Derived {
            params: None,
            exposure: e,
            note: Some(format!(
                "{not_derived}; Cmax, AUC and the steady state are computed numerically \
                 (8-point Gauss-Legendre quadrature of the predictions, covariates of the first dose record)"
            )),
        },
        Err(e) => Derived {
            params: None,
            exposure: None,
            note: Some(format!("{not_derived}; the numerical exposure failed: {e}")),
        },
    }
}

fn numerical_exposure(
    problem: &SubjectProblem,
    theta: &[f64],
    observed: &[(f64, f64)],
    tau: Option<f64>,
) -> Result<Option<Exposure>> {
    let model = problem.model();
    let (data, subject) = problem.source();
    let records: Vec<&crate::data::Record> = subject.records.iter().filter(|r| r.is_dose()).collect();
    let Some(first) = records.iter().min_by(|a, b| a.time.total_cmp(&b.time)).copied() else {
        return Ok(None);
    };
    let doses = records
        .iter()
        .map(|r| dose_of_record(model, r))
        .collect::<Result<Vec<_>>>()?;
    let sigma = model.sigma_sd_init();
    let values = typical(theta, &sigma);
    let plan = ExposurePlan::with_interval(model, &data.covariate_names, &first.covariates, &doses, tau)?;
    let Some(plan) = plan else {
        return Ok(None);
    };
    let mut e = plan.exposure(&values)?;
    let day = TimeUnit::hour().to(&model.units.time) * 24.0;
    let window = e.tau.unwrap_or(day);
    let (cmax_obs, tmax_obs) = observed_peak(observed, first.time, window);
    e.cmax_obs = cmax_obs;
    e.tmax_obs = tmax_obs;
    Ok(Some(e))
}

/// A dose record as a regimen of the model: its raw amount (the model's F
/// and ALAG apply when it is simulated), its model state, RATE or DUR, SS,
/// II, ADDL.
fn dose_of_record(model: &Model, r: &crate::data::Record) -> Result<Dose> {
    let c = &model.code;
    let target = if r.cmt == 0 {
        c.default_dose
    } else {
        usize::try_from(r.cmt - 1)
            .ok()
            .filter(|&k| k < c.states.len())
            .ok_or_else(|| Error::Argument(format!("the dose at line {} names CMT {}", r.line, r.cmt)))?
    };
    if r.rate < 0.0 {
        return Err(Error::Argument(format!(
            "the dose at line {} has RATE = {} (a modelled rate or duration): the numerical exposure takes rates from the data",
            r.line, r.rate
        )));
    }
    crate::model::runtime::resolve(r, target, (1.0, 0.0, f64::NAN, f64::NAN))
        .map_err(|(column, m)| Error::Argument(format!("the dose at line {}, column {column}: {m}", r.line)))
}

/// The closed-form kernel's parameters in one parameter set (an error for ODE
/// models, or when a kernel argument is not a positive finite number).
pub fn kernel_params(model: &Model, set: &IndividualParameters) -> Result<PkParams> {
    let Dynamics::Kernel(kernel) = model.code.dynamics else {
        return Err(Error::Model {
            model: model.origin.clone(),
            message: "the model is written as ODEs: it has no closed-form kernel parameters".into(),
        });
    };
    let mut x = Vec::new();
    for name in kernel.parameters() {
        match set.get(name) {
            Some(v) if v > 0.0 && v.is_finite() => x.push(v),
            v => {
                return Err(Error::parameter(
                    name,
                    format!(
                        "must be a positive finite number (volumes, clearances and rate constants), got {}",
                        v.map_or("nothing".to_string(), |v| v.to_string())
                    ),
                ))
            }
        }
    }
    Ok(kernel_of(kernel, &x))
}

/// Derived values of `problem`'s subject at the fitted `theta` (η = 0): the
/// kernel's individual parameters ([`Model::individual_parameters`]) give
/// Cmax, AUC, half-lives, Vss and the steady state.
pub fn derive(problem: &SubjectProblem, theta: &[f64], observed: &[(f64, f64)], tau: Option<f64>) -> Result<Derived> {
    let model = problem.model();
    if !matches!(model.code.dynamics, Dynamics::Kernel(_)) {
        return Ok(numerical(problem, theta, observed, tau));
    }
    let sigma = model.sigma_sd_init();
    let values = typical(theta, &sigma);
    let sets = model.individual_parameters(problem.prepared(), &values)?;
    let Some(first) = sets.first() else {
        return Ok(Derived {
            params: None,
            exposure: None,
            note: Some("the subject has no records".into()),
        });
    };
    let params = kernel_params(model, first)?;
    let mut notes = Vec::new();
    if sets.len() > 1 {
        notes.push(format!(
            "the individual parameters change over time ({} sets): derived values use those of the first record",
            sets.len()
        ));
    }
    let exposure = model
        .doses(problem.prepared(), &values)
        .and_then(|doses| exposure(&params, &model.units, &doses, observed, tau));
    let exposure = exposure.unwrap_or_else(|e| {
        notes.push(format!("not computed: {e}"));
        None
    });
    Ok(Derived {
        params: Some(params),
        exposure,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Derives the exposure of `params` for the subject's `doses` (the first one
/// is "the dose", its amount after F); `observed` are (time, DV) pairs;
/// `tau` overrides the interval; concentrations in `units`.
pub fn exposure(
    params: &PkParams,
    units: &Units,
    doses: &[Dose],
    observed: &[(f64, f64)],
    tau: Option<f64>,
) -> Result<Option<Exposure>> {
    let Some(first) = doses.iter().min_by(|a, b| a.time.total_cmp(&b.time)).copied() else {
        return Ok(None);
    };
    let single = Dose {
        steady_state: SteadyState::No,
        additional: 0,
        ..first
    };
    let disposition = Disposition::of(params);
    let fastest = fastest_rate(params, &disposition);
    let day = TimeUnit::hour().to(&units.time) * 24.0;
    let tau = tau.or_else(|| interval(&first, doses));
    let horizon = day.max(tau.unwrap_or(0.0));
    let marks: Vec<f64> = [Some(day), tau].into_iter().flatten().collect();
    let curve = Curve::of(
        params,
        units,
        &[Dose { time: 0.0, ..single }],
        (0.0, horizon),
        &marks,
        fastest,
    )?;
    let (cmax, tmax) = curve.peak(params, units, &[Dose { time: 0.0, ..single }])?;
    let auc_0_24 = curve.integral_to(day);
    let auc_0_tau = tau.map(|t| curve.integral_to(t));
    let scale = units.concentration_scale();
    let auc_0_inf = Some(single.amount / params.cl * scale);
    let window = tau.unwrap_or(day);
    let (cmax_obs, tmax_obs) = observed_peak(observed, first.time, window);
    let mut e = Exposure {
        cmax,
        tmax,
        auc_0_24,
        tau,
        auc_0_tau,
        auc_0_inf,
        cmax_obs,
        tmax_obs,
        cl: Some(params.cl),
        v1: Some(params.v[0]),
        q: (params.structure.compartments >= 2).then_some(params.q[0]),
        v2: (params.structure.compartments >= 2).then_some(params.v[1]),
        vss: Some(disposition.vss),
        alpha: None,
        beta: None,
        t_half_alpha: None,
        t_half_beta: None,
        mrt: Some(disposition.mrt),
        cmax_ss: None,
        cmin_ss: None,
        cavg_ss: None,
        auc_tau_ss: None,
        accumulation_ratio: None,
    };
    let d = &disposition;
    e.beta = d.exponents.last().copied();
    e.t_half_beta = d.half_lives.last().copied();
    if d.exponents.len() >= 2 {
        e.alpha = Some(d.exponents[0]);
        e.t_half_alpha = Some(d.half_lives[0]);
    }
    if let Some(tau) = tau {
        let ss_dose = Dose {
            time: 0.0,
            steady_state: SteadyState::Reset,
            interval: tau,
            ..single
        };
        let ss = Curve::of(params, units, &[ss_dose], (0.0, tau), &[], fastest)?;
        let auc = ss.integral_to(tau);
        let (cmax_ss, _) = ss.peak(params, units, &[ss_dose])?;
        e.cmax_ss = Some(cmax_ss);
        e.cmin_ss = Some(ss.conc.iter().copied().fold(f64::INFINITY, f64::min));
        e.auc_tau_ss = Some(auc);
        e.cavg_ss = Some(auc / tau);
        e.accumulation_ratio = auc_0_tau.map(|a| auc / a);
    }
    Ok(Some(e))
}

/// θ with η = 0 and the σ given.
fn typical<'a>(theta: &'a [f64], sigma_sd: &'a [f64]) -> Values<'a> {
    Values {
        theta,
        eta: &[],
        kappa: &[],
        sigma_sd,
    }
}

/// The largest observation within `window` after the dose at `dose_time`,
/// and its time after the dose.
fn observed_peak(observed: &[(f64, f64)], dose_time: f64, window: f64) -> (Option<f64>, Option<f64>) {
    observed
        .iter()
        .filter(|(t, _)| *t >= dose_time && *t <= dose_time + window)
        .fold(None, |best: Option<(f64, f64)>, &(t, y)| match best {
            Some((by, _)) if by >= y => best,
            _ => Some((y, t - dose_time)),
        })
        .map_or((None, None), |(y, t)| (Some(y), Some(t)))
}

/// The dosing interval: II of a repeated or steady-state dose, else the time to the next dose.
pub(crate) fn interval(first: &Dose, doses: &[Dose]) -> Option<f64> {
    if first.interval > 0.0 && (first.additional > 0 || first.steady_state != SteadyState::No) {
        return Some(first.interval);
    }
    doses
        .iter()
        .map(|d| d.time - first.time)
        .filter(|&dt| dt > 0.0)
        .fold(None, |m: Option<f64>, dt| Some(m.map_or(dt, |m| m.min(dt))))
}

/// The fastest rate constant of the model (for the quadrature step).
fn fastest_rate(p: &PkParams, d: &Disposition) -> f64 {
    let fastest = d.exponents.first().copied().unwrap_or(p.cl / p.v[0]);
    if p.structure.has_depot() {
        fastest.max(p.ka)
    } else {
        fastest
    }
}

/// 8-point Gauss–Legendre nodes on [−1, 1] (positive half) and weights.
pub(crate) const GL_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
pub(crate) const GL_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Predictions at Gauss–Legendre nodes and breakpoints over [start, end].
struct Curve {
    /// Sub-interval edges.
    edges: Vec<f64>,
    /// In time order: each sub-interval's left edge and its 8 nodes, then the last edge.
    times: Vec<f64>,
    conc: Vec<f64>,
}

impl Curve {
    fn of(
        params: &PkParams,
        units: &Units,
        doses: &[Dose],
        (start, end): (f64, f64),
        marks: &[f64],
        fastest: f64,
    ) -> Result<Self> {
        let mut breaks = vec![start, end];
        breaks.extend(marks);
        for d in doses {
            let t0 = d.time + d.lag;
            breaks.push(t0);
            if let Input::Infusion { duration, .. } = d.input {
                breaks.push(t0 + duration);
            }
        }
        breaks.retain(|t| t.is_finite() && *t >= start && *t <= end);
        breaks.sort_by(f64::total_cmp);
        breaks.dedup();
        // 8-point Gauss–Legendre is exact to ~1e-15 for e^(−λt) over λh ≤ 1.
        let max_step = if fastest > 0.0 && fastest.is_finite() {
            1.0 / fastest
        } else {
            (end - start) / 64.0
        }
        .max((end - start) / 4096.0);
        let mut edges = vec![start];
        for w in breaks.windows(2) {
            let pieces = ((w[1] - w[0]) / max_step).ceil().max(1.0) as usize;
            for k in 1..pieces {
                edges.push(w[0] + (w[1] - w[0]) * k as f64 / pieces as f64);
            }
            edges.push(w[1]);
        }
        // In time order: each edge followed by the nodes of the piece it starts; then the last edge.
        let mut times = Vec::with_capacity(edges.len() * 9);
        for w in edges.windows(2) {
            let (mid, half) = (0.5 * (w[0] + w[1]), 0.5 * (w[1] - w[0]));
            times.push(w[0]);
            for &x in GL_NODES.iter().rev() {
                times.push(mid - half * x);
            }
            for &x in &GL_NODES {
                times.push(mid + half * x);
            }
        }
        times.push(end);
        let conc = simulate(params, units, doses, &times, false)?.conc;
        Ok(Curve { edges, times, conc })
    }

    /// ∫ from the start to `t`, an edge of the curve.
    fn integral_to(&self, t: f64) -> f64 {
        let mut total = 0.0;
        for (k, w) in self.edges.windows(2).enumerate() {
            if w[0] >= t {
                break;
            }
            let half = 0.5 * (w[1] - w[0]);
            let nodes = &self.conc[9 * k + 1..9 * k + 9];
            let mut s = 0.0;
            for i in 0..4 {
                s += GL_WEIGHTS[3 - i] * nodes[i] + GL_WEIGHTS[i] * nodes[4 + i];
            }
            // `t` is always an edge (the interval ends are breakpoints).
            debug_assert!(w[1] <= t * (1.0 + 1e-12));
            total += half * s;
        }
        total
    }

    /// The largest prediction and its time, refined by golden-section search.
    fn peak(&self, params: &PkParams, units: &Units, doses: &[Dose]) -> Result<(f64, f64)> {
        let best = (0..self.times.len()).fold(0, |b, i| if self.conc[i] > self.conc[b] { i } else { b });
        let (t_best, c_best) = (self.times[best], self.conc[best]);
        if best == 0 || best + 1 == self.times.len() || best % 9 == 0 {
            // An end or an edge (breakpoints are edges: the peak of an infusion is at its end).
            return Ok((c_best, t_best));
        }
        // Golden-section search between the neighbours of the best node.
        let (mut a, mut b) = (self.times[best - 1], self.times[best + 1]);
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let eval = |t: f64| -> Result<f64> { Ok(simulate(params, units, doses, &[t], false)?.conc[0]) };
        let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
        let (mut fc, mut fd) = (eval(c)?, eval(d)?);
        for _ in 0..60 {
            if (b - a).abs() < 1e-10 * b.abs().max(1.0) {
                break;
            }
            if fc > fd {
                b = d;
                d = c;
                fd = fc;
                c = b - g * (b - a);
                fc = eval(c)?;
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + g * (b - a);
                fd = eval(d)?;
            }
        }
        let (t, cmax) = if fc > fd { (c, fc) } else { (d, fd) };
        Ok(if cmax > c_best { (cmax, t) } else { (c_best, t_best) })
    }
}
