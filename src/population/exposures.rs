//! Exposures of a language model for a regimen: first-dose Cmax, Tmax,
//! AUC0–24, AUC0–τ and AUC0–∞, and the steady state of the regimen (Cmax,ss,
//! Cmin,ss, Cavg,ss = AUCτ,ss/τ), for virtual patients and targets.
//!
//! The curve is predicted by the model (closed form or ODEs alike) at 8-point
//! Gauss–Legendre nodes on sub-intervals between the breakpoints (dose entry,
//! end of infusion, 24 h, τ), each at most 1/128 of the span long: AUCs are
//! exact to ~1e-12 relative for sums of exponentials whose fastest half-life
//! is longer than the sub-interval. Cmax is the largest prediction among the
//! nodes and breakpoints (the peak of an infusion is at its end, a
//! breakpoint), refined by two rounds of 32 predictions around an interior
//! peak. AUC0–∞ is F·dose/CL, given only for closed-form kernels whose code
//! sets no bioavailability (F = 1).

use crate::dosing::{Dose, Input, SteadyState};
use crate::error::Result;
use crate::fit::exposure::Exposure;
use crate::lang::Dynamics;
use crate::model::scenario::regimen_scenario;
use crate::model::{Model, Values};
use crate::units::TimeUnit;

/// 8-point Gauss–Legendre nodes on [−1, 1] (positive half) and weights.
const GL_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GL_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Sub-intervals per span: the largest sub-interval is span/PIECES.
const PIECES: f64 = 128.0;

/// A subject with fixed covariates and parameter values, predicting at any times.
struct Patient<'a> {
    model: &'a Model,
    values: &'a Values<'a>,
    names: &'a [String],
    covariates: &'a [f64],
}

impl Patient<'_> {
    fn predict(&self, doses: &[Dose], times: &[f64]) -> Result<Vec<f64>> {
        let s = regimen_scenario(self.model, doses, times, self.names, self.covariates)?;
        let subject = self.model.subject(&s.data, s.subject())?;
        Ok(self.model.predict_at(&subject, self.values, &s.slots, false)?.0.f)
    }
}

/// Exposure of a patient (parameter `values`, covariates `names` = `covariates`)
/// for `doses`; the first dose is "the dose". None without doses.
pub fn regimen_exposure(
    model: &Model,
    values: &Values<'_>,
    names: &[String],
    covariates: &[f64],
    doses: &[Dose],
) -> Result<Option<Exposure>> {
    let Some(first) = doses.iter().min_by(|a, b| a.time.total_cmp(&b.time)).copied() else {
        return Ok(None);
    };
    let patient = Patient {
        model,
        values,
        names,
        covariates,
    };
    let single = Dose {
        time: 0.0,
        steady_state: SteadyState::No,
        additional: 0,
        ..first
    };
    let day = TimeUnit::hour().to(&model.units.time) * 24.0;
    let tau = interval(&first, doses);
    let horizon = day.max(tau.unwrap_or(0.0));
    let marks: Vec<f64> = [Some(day), tau].into_iter().flatten().collect();
    let curve = Curve::of(&patient, &[single], horizon, &marks)?;
    let (cmax, tmax) = curve.peak(&patient, &[single])?;
    let auc_0_24 = curve.integral_to(day);
    let auc_0_tau = tau.map(|t| curve.integral_to(t));
    let mut e = empty_exposure(cmax, tmax, auc_0_24, tau, auc_0_tau);
    e.auc_0_inf = auc_infinity(&patient, &single)?;
    if let Some(tau) = tau {
        let ss_dose = Dose {
            steady_state: SteadyState::Reset,
            interval: tau,
            ..single
        };
        let ss = Curve::of(&patient, &[ss_dose], tau, &[])?;
        let auc = ss.integral_to(tau);
        e.cmax_ss = Some(ss.peak(&patient, &[ss_dose])?.0);
        e.cmin_ss = Some(ss.conc.iter().copied().fold(f64::INFINITY, f64::min));
        e.auc_tau_ss = Some(auc);
        e.cavg_ss = Some(auc / tau);
        e.accumulation_ratio = auc_0_tau.map(|a| auc / a);
    }
    Ok(Some(e))
}

/// F·dose/CL for a closed-form kernel without bioavailability code, in the
/// reported concentration unit × time; None otherwise.
fn auc_infinity(p: &Patient<'_>, dose: &Dose) -> Result<Option<f64>> {
    let c = &p.model.code;
    let sets_f = c.attribute_set.iter().any(|a| a[0]);
    if !matches!(c.dynamics, Dynamics::Kernel(_)) || sets_f {
        return Ok(None);
    }
    let s = regimen_scenario(p.model, &[*dose], &[0.0], p.names, p.covariates)?;
    let subject = p.model.subject(&s.data, s.subject())?;
    let sets = p.model.individual_parameters(&subject, p.values)?;
    let cl = sets.first().and_then(|set| set.get("CL"));
    Ok(cl.map(|cl| dose.amount / cl * p.model.units.concentration_scale()))
}

fn empty_exposure(cmax: f64, tmax: f64, auc_0_24: f64, tau: Option<f64>, auc_0_tau: Option<f64>) -> Exposure {
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

/// The dosing interval: II of a repeated or steady-state dose, else the time to the next dose.
fn interval(first: &Dose, doses: &[Dose]) -> Option<f64> {
    if first.interval > 0.0 && (first.additional > 0 || first.steady_state != SteadyState::No) {
        return Some(first.interval);
    }
    doses
        .iter()
        .map(|d| d.time - first.time)
        .filter(|&dt| dt > 0.0)
        .fold(None, |m: Option<f64>, dt| Some(m.map_or(dt, |m| m.min(dt))))
}

/// Predictions at Gauss–Legendre nodes and breakpoints over [0, end].
struct Curve {
    /// Sub-interval edges.
    edges: Vec<f64>,
    /// In time order: each sub-interval's left edge and its 8 nodes, then the last edge.
    times: Vec<f64>,
    conc: Vec<f64>,
}

impl Curve {
    fn of(p: &Patient<'_>, doses: &[Dose], end: f64, marks: &[f64]) -> Result<Self> {
        let edges = edges(doses, end, marks);
        let mut times = Vec::with_capacity(edges.len() * 9);
        for w in edges.windows(2) {
            let (mid, half) = (0.5 * (w[0] + w[1]), 0.5 * (w[1] - w[0]));
            times.push(w[0]);
            times.extend(GL_NODES.iter().rev().map(|x| mid - half * x));
            times.extend(GL_NODES.iter().map(|x| mid + half * x));
        }
        times.push(end);
        let conc = p.predict(doses, &times)?;
        Ok(Curve { edges, times, conc })
    }

    /// ∫ from 0 to `t`, an edge of the curve.
    fn integral_to(&self, t: f64) -> f64 {
        let mut total = 0.0;
        for (k, w) in self.edges.windows(2).enumerate() {
            if w[0] >= t {
                break;
            }
            let nodes = &self.conc[9 * k + 1..9 * k + 9];
            let s: f64 = (0..4)
                .map(|i| GL_WEIGHTS[3 - i] * nodes[i] + GL_WEIGHTS[i] * nodes[4 + i])
                .sum();
            total += 0.5 * (w[1] - w[0]) * s;
        }
        total
    }

    /// The largest prediction and its time; an interior peak is refined by
    /// two rounds of 32 predictions between the neighbours of the best point.
    fn peak(&self, p: &Patient<'_>, doses: &[Dose]) -> Result<(f64, f64)> {
        let best = (0..self.times.len()).fold(0, |b, i| if self.conc[i] > self.conc[b] { i } else { b });
        let (mut t_best, mut c_best) = (self.times[best], self.conc[best]);
        if best == 0 || best + 1 == self.times.len() || best % 9 == 0 {
            return Ok((c_best, t_best));
        }
        let (mut a, mut b) = (self.times[best - 1], self.times[best + 1]);
        for _ in 0..2 {
            let grid: Vec<f64> = (0..=32).map(|i| a + (b - a) * i as f64 / 32.0).collect();
            let c = p.predict(doses, &grid)?;
            let i = (0..c.len()).fold(0, |m, i| if c[i] > c[m] { i } else { m });
            if c[i] > c_best {
                (t_best, c_best) = (grid[i], c[i]);
            }
            (a, b) = (grid[i.saturating_sub(1)], grid[(i + 1).min(32)]);
        }
        Ok((c_best, t_best))
    }
}

/// Sub-interval edges over [0, end]: breakpoints (dose entry, end of
/// infusion, `marks`) and pieces at most end/[`PIECES`] long.
fn edges(doses: &[Dose], end: f64, marks: &[f64]) -> Vec<f64> {
    let mut breaks = vec![0.0, end];
    breaks.extend(marks);
    for d in doses {
        let t0 = d.time + d.lag;
        breaks.push(t0);
        if let Input::Infusion { duration, .. } = d.input {
            breaks.push(t0 + duration);
        }
    }
    breaks.retain(|t| t.is_finite() && (0.0..=end).contains(t));
    breaks.sort_by(f64::total_cmp);
    breaks.dedup();
    let max_step = end / PIECES;
    let mut edges = vec![0.0];
    for w in breaks.windows(2) {
        let pieces = ((w[1] - w[0]) / max_step).ceil().max(1.0) as usize;
        edges.extend((1..pieces).map(|k| w[0] + (w[1] - w[0]) * k as f64 / pieces as f64));
        edges.push(w[1]);
    }
    edges
}
