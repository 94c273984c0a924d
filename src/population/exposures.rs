//! Exposures of a language model for a regimen: first-dose Cmax, Tmax,
//! AUC0–24, AUC0–τ and AUC0–∞, and the steady state of the regimen (Cmax,ss,
//! Cmin,ss, Cavg,ss = AUCτ,ss/τ), for virtual patients and targets.
//!
//! The curve is predicted by the model (closed form or ODEs alike) at 8-point
//! Gauss–Legendre nodes on sub-intervals between the breakpoints (dose entry,
//! end of infusion, 24 h, τ), each at most 1/32 of the span long (45 min
//! over 24 h): AUCs are exact to ~1e-10 relative for sums of exponentials
//! whose fastest rate constant is below 4/h over 24 h (λ·piece ≤ 3). Cmax is the largest prediction among the
//! nodes and breakpoints (the peak of an infusion is at its end, a
//! breakpoint), refined by two rounds of 32 predictions around an interior
//! peak. AUC0–∞ is F·dose/CL, given only for closed-form kernels whose code
//! sets no bioavailability (F = 1).

use crate::dosing::{Dose, Input, SteadyState};
use crate::error::Result;
use crate::fit::exposure::{interval, Exposure, GL_NODES, GL_WEIGHTS};
use crate::lang::Dynamics;
use crate::model::scenario::regimen_scenario;
use crate::model::{Model, SubjectData, Values};
use crate::units::TimeUnit;

/// Sub-intervals per span: the largest sub-interval is span/PIECES.
const PIECES: f64 = 32.0;

/// A subject with fixed covariates, predicting at any times.
struct Patient<'a> {
    model: &'a Model,
    names: &'a [String],
    covariates: &'a [f64],
}

impl Patient<'_> {
    /// The subject given `doses`, with prediction records at `times` (timeline built once).
    fn prepare(&self, doses: &[Dose], times: &[f64]) -> Result<(SubjectData, Vec<usize>)> {
        let s = regimen_scenario(self.model, doses, times, self.names, self.covariates)?;
        let mut subject = self.model.subject(&s.data, s.subject())?;
        self.model.cache_timeline(&mut subject, &s.slots)?;
        Ok((subject, s.slots))
    }

    fn predict(&self, values: &Values<'_>, doses: &[Dose], times: &[f64]) -> Result<Vec<f64>> {
        let (subject, slots) = self.prepare(doses, times)?;
        Ok(self.model.predict_at(&subject, values, &slots, false, false)?.0.f)
    }
}

/// What is computed for every patient of a group with the same covariates and
/// doses: the subjects of the first-dose and steady-state curves, built once.
pub struct ExposurePlan<'a> {
    patient: Patient<'a>,
    single: Dose,
    day: f64,
    tau: Option<f64>,
    first: Curve,
    steady: Option<(Dose, Curve)>,
}

impl<'a> ExposurePlan<'a> {
    /// The plan for `doses` (the first one is "the dose") and covariates
    /// `names` = `covariates`; None without doses.
    pub fn new(model: &'a Model, names: &'a [String], covariates: &'a [f64], doses: &[Dose]) -> Result<Option<Self>> {
        Self::with_interval(model, names, covariates, doses, None)
    }

    /// [`ExposurePlan::new`] with the dosing interval τ given (else II of a
    /// repeated dose, or the time to the second dose).
    pub fn with_interval(
        model: &'a Model,
        names: &'a [String],
        covariates: &'a [f64],
        doses: &[Dose],
        tau: Option<f64>,
    ) -> Result<Option<Self>> {
        let Some(first) = doses.iter().min_by(|a, b| a.time.total_cmp(&b.time)).copied() else {
            return Ok(None);
        };
        let patient = Patient {
            model,
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
        let tau = tau.or_else(|| interval(&first, doses));
        let horizon = day.max(tau.unwrap_or(0.0));
        let marks: Vec<f64> = [Some(day), tau].into_iter().flatten().collect();
        let curve = Curve::new(&patient, &[single], horizon, &marks)?;
        let steady = match tau {
            Some(tau) => {
                let ss_dose = Dose {
                    steady_state: SteadyState::Reset,
                    interval: tau,
                    ..single
                };
                Some((ss_dose, Curve::new(&patient, &[ss_dose], tau, &[])?))
            }
            None => None,
        };
        Ok(Some(ExposurePlan {
            patient,
            single,
            day,
            tau,
            first: curve,
            steady,
        }))
    }

    /// The exposure of a patient with parameter `values`.
    pub fn exposure(&self, values: &Values<'_>) -> Result<Exposure> {
        let p = &self.patient;
        let conc = self.first.predict(p, values)?;
        let (cmax, tmax) = self.first.peak(p, values, &[self.single], &conc)?;
        let auc_0_24 = self.first.integral_to(&conc, self.day);
        let auc_0_tau = self.tau.map(|t| self.first.integral_to(&conc, t));
        let mut e = Exposure::first_dose(cmax, tmax, auc_0_24, self.tau, auc_0_tau);
        e.auc_0_inf = self.auc_infinity(values)?;
        if let (Some(tau), Some((dose, curve))) = (self.tau, &self.steady) {
            let conc = curve.predict(p, values)?;
            let auc = curve.integral_to(&conc, tau);
            e.cmax_ss = Some(curve.peak(p, values, &[*dose], &conc)?.0);
            e.cmin_ss = Some(conc.iter().copied().fold(f64::INFINITY, f64::min));
            e.auc_tau_ss = Some(auc);
            e.cavg_ss = Some(auc / tau);
            e.accumulation_ratio = auc_0_tau.map(|a| auc / a);
        }
        Ok(e)
    }

    /// F·dose/CL for a closed-form kernel without bioavailability code, in the
    /// reported concentration unit × time; None otherwise.
    fn auc_infinity(&self, values: &Values<'_>) -> Result<Option<f64>> {
        let model = self.patient.model;
        let c = &model.code;
        let sets_f = c.attribute_set.iter().any(|a| a[0]);
        if !matches!(c.dynamics, Dynamics::Kernel(_)) || sets_f {
            return Ok(None);
        }
        let sets = model.individual_parameters(&self.first.subject, values)?;
        let cl = sets.first().and_then(|set| set.get("CL"));
        Ok(cl.map(|cl| self.single.amount / cl * model.units.concentration_scale()))
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
    match ExposurePlan::new(model, names, covariates, doses)? {
        Some(plan) => plan.exposure(values).map(Some),
        None => Ok(None),
    }
}

/// Gauss–Legendre nodes and breakpoints over [0, end], and the subject predicting there.
struct Curve {
    /// Sub-interval edges.
    edges: Vec<f64>,
    /// In time order: each sub-interval's left edge and its 8 nodes, then the last edge.
    times: Vec<f64>,
    subject: SubjectData,
    slots: Vec<usize>,
}

impl Curve {
    fn new(p: &Patient<'_>, doses: &[Dose], end: f64, marks: &[f64]) -> Result<Self> {
        let edges = edges(doses, end, marks);
        let mut times = Vec::with_capacity(edges.len() * 9);
        for w in edges.windows(2) {
            let (mid, half) = (0.5 * (w[0] + w[1]), 0.5 * (w[1] - w[0]));
            times.push(w[0]);
            times.extend(GL_NODES.iter().rev().map(|x| mid - half * x));
            times.extend(GL_NODES.iter().map(|x| mid + half * x));
        }
        times.push(end);
        let (subject, slots) = p.prepare(doses, &times)?;
        Ok(Curve {
            edges,
            times,
            subject,
            slots,
        })
    }

    /// Predictions at the curve's times.
    fn predict(&self, p: &Patient<'_>, values: &Values<'_>) -> Result<Vec<f64>> {
        Ok(p.model
            .predict_at(&self.subject, values, &self.slots, false, false)?
            .0
            .f)
    }

    /// ∫ from 0 to `t`, an edge of the curve, of the predictions `conc`.
    fn integral_to(&self, conc: &[f64], t: f64) -> f64 {
        let mut total = 0.0;
        for (k, w) in self.edges.windows(2).enumerate() {
            if w[0] >= t {
                break;
            }
            let nodes = &conc[9 * k + 1..9 * k + 9];
            let s: f64 = (0..4)
                .map(|i| GL_WEIGHTS[3 - i] * nodes[i] + GL_WEIGHTS[i] * nodes[4 + i])
                .sum();
            total += 0.5 * (w[1] - w[0]) * s;
        }
        total
    }

    /// The largest prediction and its time; an interior peak is refined by
    /// two rounds of 32 predictions between the neighbours of the best point.
    fn peak(&self, p: &Patient<'_>, values: &Values<'_>, doses: &[Dose], conc: &[f64]) -> Result<(f64, f64)> {
        let best = (0..self.times.len()).fold(0, |b, i| if conc[i] > conc[b] { i } else { b });
        let (mut t_best, mut c_best) = (self.times[best], conc[best]);
        if best == 0 || best + 1 == self.times.len() || best % 9 == 0 {
            return Ok((c_best, t_best));
        }
        let (mut a, mut b) = (self.times[best - 1], self.times[best + 1]);
        for _ in 0..2 {
            let grid: Vec<f64> = (0..=32).map(|i| a + (b - a) * i as f64 / 32.0).collect();
            let c = p.predict(values, doses, &grid)?;
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
