//! A subject prepared for the TOML population model's MAP fit (`PopSubject`):
//! its observations, its dosing events, and the map from the structural
//! parameters to the old menu's predictions. `pk fit` runs on the model
//! language ([`crate::fit::problem`]); this stays until `fit --prior` and the
//! TOML population model are retired.

use crate::data::{subject_events, Dataset, Subject};
use crate::dosing::{Dose, Event, Timeline};
use crate::error::{Error, Result};
use crate::model::{ModelDefinition, ParamId, PkParams};
use crate::simulate::{active_states, AnyKinetics};

/// One observation used in a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Line of the record in the data file.
    pub line: usize,
    /// Time.
    pub time: f64,
    /// Observed value (DV).
    pub dv: f64,
}

/// A parameter that is estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeParameter {
    /// Name, as in the model file.
    pub name: String,
    id: ParamId,
    /// Lower bound (natural scale).
    pub lower: f64,
    /// Upper bound (natural scale).
    pub upper: f64,
    /// Whether the parameter is estimated on the log scale.
    pub log_scale: bool,
}

impl FreeParameter {
    /// Natural value → estimation scale.
    pub fn to_estimation(&self, value: f64) -> f64 {
        if self.log_scale {
            value.ln()
        } else {
            value
        }
    }
    /// Estimation scale → natural value.
    pub fn to_natural(&self, x: f64) -> f64 {
        if self.log_scale {
            x.exp()
        } else {
            x
        }
    }
    /// Bounds on the estimation scale.
    pub fn estimation_bounds(&self) -> (f64, f64) {
        (self.to_estimation(self.lower), self.to_estimation(self.upper))
    }
}

/// Which parameters are estimated and which are fixed.
#[derive(Debug, Clone)]
pub struct Parameterization {
    /// Estimated parameters, in model-file order.
    pub free: Vec<FreeParameter>,
    /// Fixed parameters and their values.
    pub fixed: Vec<(String, f64)>,
    base: PkParams,
    km_scale: f64,
}

impl Parameterization {
    /// All model parameters free except those in `fixed` (name, natural value).
    pub fn new(model: &ModelDefinition, fixed: &[(String, f64)]) -> Result<Self> {
        let base = model.params(fixed)?;
        let mut free = Vec::new();
        for spec in &model.parameters {
            if fixed.iter().any(|(n, _)| *n == spec.name) {
                continue;
            }
            let id = ParamId::parse(&spec.name)
                .ok_or_else(|| Error::parameter(&spec.name, "not a parameter the fitting engine knows"))?;
            free.push(FreeParameter {
                name: spec.name.clone(),
                id,
                lower: spec.lower,
                upper: spec.upper,
                log_scale: spec.lower > 0.0,
            });
        }
        Ok(Parameterization {
            free,
            fixed: fixed.to_vec(),
            base,
            km_scale: model.units.concentration_scale(),
        })
    }

    /// Typed model parameters at estimation-scale values `x` of the free parameters.
    pub fn params_at(&self, x: &[f64]) -> PkParams {
        let mut p = self.base;
        for (fp, &xi) in self.free.iter().zip(x) {
            let mut v = fp.to_natural(xi);
            if fp.id == ParamId::Km {
                v /= self.km_scale;
            }
            p.set(fp.id, v);
        }
        p
    }

    /// Whether the dosing events depend on a free parameter (F, ALAG, R, D).
    pub fn free_affects_doses(&self) -> bool {
        self.free.iter().any(|f| f.id.affects_doses())
    }

    /// Names of the free parameters.
    pub fn names(&self) -> Vec<&str> {
        self.free.iter().map(|f| f.name.as_str()).collect()
    }

    /// Number of free parameters.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no parameter is free.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

/// A subject ready to be fitted.
#[derive(Debug, Clone)]
pub struct SubjectProblem<'a> {
    /// Subject id.
    pub id: String,
    /// Observations used in the fit, in record order.
    pub obs: Vec<Observation>,
    /// Observations left out because the model predicts exactly zero there
    /// whatever the parameters (before the first dose reaches the sampled compartment).
    pub excluded_before_dose: usize,
    /// Doses of the subject, resolved with the model's initial parameters
    /// (see [`SubjectProblem::doses_at`] for other parameters).
    pub doses: Vec<Dose>,
    /// Free and fixed parameters.
    pub space: Parameterization,
    model: &'a ModelDefinition,
    data: &'a Dataset,
    subject: &'a Subject,
    /// Record index → observation index.
    slot_of_record: Vec<Option<usize>>,
    /// The timeline, when it does not depend on the free parameters.
    timeline: Option<Timeline>,
}

impl<'a> SubjectProblem<'a> {
    /// Prepares `subject` for population estimation: every parameter of `model`
    /// is free (no count check: a prior makes sparse data usable).
    /// `positive_dv` names the error model when it needs DV > 0 (proportional
    /// and log-scale error models).
    pub fn for_population(
        model: &'a ModelDefinition,
        data: &'a Dataset,
        subject: &'a Subject,
        positive_dv: Option<String>,
    ) -> Result<Self> {
        let positive = positive_dv.map(|m| (m, "an additive or combined error model"));
        Self::prepare(model, data, subject, Parameterization::new(model, &[])?, positive)
    }

    fn prepare(
        model: &'a ModelDefinition,
        data: &'a Dataset,
        subject: &'a Subject,
        space: Parameterization,
        positive_dv: Option<(String, &str)>,
    ) -> Result<Self> {
        let fail = |message: String| Error::Fit {
            subject: subject.id.clone(),
            message,
        };
        let init = model.params(&space.fixed)?;
        let events = subject_events(model, &init, data, subject)?;
        let doses = doses_of(&events);
        let candidates: Vec<usize> = (0..subject.records.len())
            .filter(|&i| subject.records[i].is_observation())
            .collect();
        if candidates.is_empty() {
            return Err(fail(
                "no observations to fit (records with EVID 0, MDV 0 and a DV value)".into(),
            ));
        }
        if doses.is_empty() {
            return Err(fail("no dose records: nothing to fit a PK model to".into()));
        }
        // Observations where the model predicts exactly zero for any parameters:
        // before the first dose enters (checked at the initial parameters).
        let timeline = Timeline::build(&remap(&events, &slots(subject.records.len(), &candidates)));
        let mut f = vec![0.0; candidates.len()];
        run_timeline(model, &init, &timeline, &mut f).map_err(|m| fail(format!("prediction failed: {m}")))?;
        let kept: Vec<usize> = candidates
            .iter()
            .zip(&f)
            .filter(|(_, &fi)| fi != 0.0)
            .map(|(&i, _)| i)
            .collect();
        let excluded_before_dose = candidates.len() - kept.len();
        if kept.is_empty() {
            let first = doses.iter().map(|d| d.time + d.lag).fold(f64::INFINITY, f64::min);
            return Err(fail(format!(
                "all {} observations are at or before the first dose (time {first}), where the model predicts 0",
                candidates.len()
            )));
        }
        let obs: Vec<Observation> = kept
            .iter()
            .map(|&i| {
                let r = &subject.records[i];
                Observation {
                    line: r.line,
                    time: r.time,
                    dv: r.dv.unwrap_or(f64::NAN),
                }
            })
            .collect();
        check_observations(&obs, positive_dv).map_err(fail)?;
        let slot_of_record = slots(subject.records.len(), &kept);
        let timeline = (!space.free_affects_doses()).then(|| Timeline::build(&remap(&events, &slot_of_record)));
        Ok(SubjectProblem {
            id: subject.id.clone(),
            obs,
            excluded_before_dose,
            doses,
            space,
            model,
            data,
            subject,
            slot_of_record,
            timeline,
        })
    }

    /// The model.
    pub fn model(&self) -> &ModelDefinition {
        self.model
    }

    /// The dataset and subject records behind the problem.
    pub fn source(&self) -> (&Dataset, &Subject) {
        (self.data, self.subject)
    }

    /// The timeline at the initial dose attributes, unless the free parameters change it.
    pub fn timeline(&self) -> Option<&Timeline> {
        self.timeline.as_ref()
    }

    /// Doses resolved with parameters `p` (F, ALAG, R and D change them).
    pub fn doses_at(&self, p: &PkParams) -> Result<Vec<Dose>> {
        Ok(doses_of(&subject_events(self.model, p, self.data, self.subject)?))
    }

    /// Observed values.
    pub fn dv(&self) -> Vec<f64> {
        self.obs.iter().map(|o| o.dv).collect()
    }

    /// Predictions at the observations for estimation-scale parameters `x`.
    pub fn predict(&self, x: &[f64], out: &mut [f64]) -> std::result::Result<(), String> {
        self.predict_params(&self.space.params_at(x), out)
    }

    /// Predictions at the observations for parameters `p`.
    pub fn predict_params(&self, p: &PkParams, out: &mut [f64]) -> std::result::Result<(), String> {
        match &self.timeline {
            Some(t) => run_timeline(self.model, p, t, out),
            None => {
                let events = subject_events(self.model, p, self.data, self.subject).map_err(|e| e.to_string())?;
                run_timeline(
                    self.model,
                    p,
                    &Timeline::build(&remap(&events, &self.slot_of_record)),
                    out,
                )
            }
        }
    }
}

fn doses_of(events: &[Event]) -> Vec<Dose> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Dose { dose, .. } => Some(*dose),
            _ => None,
        })
        .collect()
}

/// Record index → output slot, for the records `chosen` (in order).
fn slots(n_records: usize, chosen: &[usize]) -> Vec<Option<usize>> {
    let mut slot_of_record = vec![None; n_records];
    for (k, &i) in chosen.iter().enumerate() {
        slot_of_record[i] = Some(k);
    }
    slot_of_record
}

/// Keeps the dose and reset events and the Observe events of fitted records,
/// renumbered to observation slots.
fn remap(events: &[Event], slot_of_record: &[Option<usize>]) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Observe { time, slot } => slot_of_record[*slot].map(|s| Event::Observe { time: *time, slot: s }),
            other => Some(other.clone()),
        })
        .collect()
}

fn run_timeline(
    model: &ModelDefinition,
    p: &PkParams,
    timeline: &Timeline,
    out: &mut [f64],
) -> std::result::Result<(), String> {
    let mut k = AnyKinetics::new(model.solver, p).map_err(|e| e.to_string())?;
    let scale = model.units.concentration_scale();
    crate::dosing::predict(&mut k, timeline, active_states(&model.structure), scale, out, None)
        .map_err(|e| format!("at time {}: {}", e.time, e.message))?;
    if let Some(bad) = out.iter().find(|v| !v.is_finite()) {
        return Err(format!("the model predicted {bad}"));
    }
    Ok(())
}

fn check_observations(obs: &[Observation], positive: Option<(String, &str)>) -> std::result::Result<(), String> {
    if let Some(o) = obs.iter().find(|o| !o.dv.is_finite()) {
        return Err(format!("line {}: DV {} is not a finite number", o.line, o.dv));
    }
    if let Some((model, advice)) = positive {
        if let Some(o) = obs.iter().find(|o| o.dv <= 0.0) {
            return Err(format!(
                "line {}: DV = {} at time {}; the {model} model needs DV > 0 \
                 (mark samples below the limit of quantification with MDV=1, or use {advice})",
                o.line, o.dv, o.time
            ));
        }
    }
    Ok(())
}
