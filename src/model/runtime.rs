//! A model written in the model language, ready to predict a subject's records.
//!
//! For each record the individual-parameter code runs with that record's θ, η,
//! κ of its occasion, covariates, TIME and TAD (only when one of them changed
//! since the previous record). As in NONMEM's PREDPP, the values computed at a
//! record govern the interval that ends at that record (next observation
//! carried backward), its doses (F, ALAG, RATE, DUR) and its outputs. The
//! dosing engine ([`crate::dosing`]) runs the events; a change of parameters
//! is an event of its own ([`crate::dosing::Event::Switch`]).
//!
//! Closed-form kernels use the modal solution ([`ModalKinetics`]), rebuilt at
//! a parameter change with the compartment amounts carried over. User ODEs are
//! integrated between events by `ode_solvers`' Dop853.

use super::analytic::ModalKinetics;
use super::kinetics::{Kinetics, Rates, State, MAX_STATES};
use super::structure::{Absorption, PkParams, Structure};
use crate::autodiff::{Dual, Real};
use crate::data::nonmem::{Dataset, Evid, Record, Subject};
use crate::dosing::{predict, Dose, Event, Input, SteadyState, Timeline};
use crate::error::{Error, Location, Result};
use crate::lang::{parse_model, CompiledModel, Dynamics, Kernel, TermKind};
use crate::ode::{Integrator, Method as OdeMethod, OdeSystem, Stop, Tolerances};
use crate::units::{AmountUnit, ConcentrationUnit, TimeUnit, Units, VolumeUnit};
use std::path::Path;

/// Most tangents carried in one pass of [`Model::predict_derivatives`].
const MAX_TANGENTS: usize = 8;

/// Tolerances of user ODEs: tight enough that an ODE model and its closed
/// form give the same population objective to ~1e-3.
const ODE_TOLERANCES: Tolerances = Tolerances {
    rtol: 1e-10,
    atol: 1e-13,
};

/// Bundled model files, usable by name.
const BUNDLED: &[(&str, &str)] = &[
    ("one_cmt_iv", include_str!("../../models/one_cmt_iv.pk")),
    ("two_cmt_iv", include_str!("../../models/two_cmt_iv.pk")),
    ("three_cmt_iv", include_str!("../../models/three_cmt_iv.pk")),
    ("one_cmt_oral", include_str!("../../models/one_cmt_oral.pk")),
    ("two_cmt_oral", include_str!("../../models/two_cmt_oral.pk")),
    ("one_cmt_mm_iv", include_str!("../../models/one_cmt_mm_iv.pk")),
    ("pheno", include_str!("../../models/pheno.pk")),
    ("two_cmt_pop", include_str!("../../models/two_cmt_pop.pk")),
    ("two_cmt_pop_ode", include_str!("../../models/two_cmt_pop_ode.pk")),
];

/// A compiled model with its units.
#[derive(Debug, Clone)]
pub struct Model {
    /// The compiled code and declarations.
    pub code: CompiledModel,
    /// Units: amounts and volumes of the code, time, reported concentrations.
    pub units: Units,
    /// File name or bundled name.
    pub origin: String,
    /// The model file's text.
    pub source: String,
}

/// Parameter values for one prediction.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// θ, in declaration order.
    pub theta: &'a [f64],
    /// η, in Ω order (empty: all zero).
    pub eta: &'a [f64],
    /// κ of each occasion of the subject, occasion-major (empty: all zero).
    pub kappa: &'a [f64],
    /// σ as SDs, in declaration order.
    pub sigma_sd: &'a [f64],
}

/// One record of a subject, with the data the model reads.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    record: Record,
    covariates: Vec<f64>,
    occasion: usize,
    tad: f64,
}

/// An observation routed to an output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Index of the record in the subject.
    pub record: usize,
    /// Output index.
    pub output: usize,
    /// Time.
    pub time: f64,
    /// Observed value, or the quantification limit of a censored observation.
    pub dv: f64,
    /// Line in the data file.
    pub line: usize,
    /// 0: observed; 1: below the limit `dv` (left-censored); −1: above it.
    pub censored: i8,
}

/// A subject prepared for a model: records with covariates, occasions and
/// time after dose, and observations routed to outputs. Parameter-free.
#[derive(Debug, Clone)]
pub struct SubjectData {
    /// Subject ID.
    pub id: String,
    /// Data file.
    pub file: String,
    records: Vec<Rec>,
    /// Observations, in record order.
    pub obs: Vec<Observation>,
    /// Number of occasions (distinct values of the occasion column, in order of appearance).
    pub n_occasions: usize,
    /// Censored observations left out because the model says `blq m1`.
    pub dropped_blq: usize,
    /// The parameter set of each record: a new set starts where the
    /// covariates, the occasion (or, when the code reads them, TIME and TAD) change.
    set_of_record: Vec<usize>,
    /// The first record of each parameter set.
    set_first_record: Vec<usize>,
    /// The timeline of the observations, when the doses do not depend on the
    /// parameters (no F, ALAG, RATE or DUR in the code): built once.
    timeline: Option<Timeline>,
    /// The timeline of other prediction records ([`Model::cache_timeline`]), with those records.
    timeline_at: Option<(Vec<usize>, Timeline)>,
}

/// Predictions at a subject's observations, with the residual SD terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Predicted value per observation (in the reported unit).
    pub f: Vec<f64>,
    /// Residual variance per observation (on the log scale for exp() error).
    pub variance: Vec<f64>,
}

/// Predictions and residual variances at a subject's observations with their
/// derivatives with respect to the random effects b = (η, κ per occasion),
/// from [`Model::predict_derivatives`].
#[derive(Debug, Clone, PartialEq)]
pub struct Derivatives {
    /// Predicted value per observation (in the reported unit).
    pub f: Vec<f64>,
    /// Residual variance per observation.
    pub variance: Vec<f64>,
    /// ∂f/∂b, observation-major (`df[i * n_b + j]`).
    pub df: Vec<f64>,
    /// ∂R/∂b, observation-major.
    pub dvariance: Vec<f64>,
    /// Number of random effects b.
    pub n_b: usize,
}

/// The individual parameters of one parameter set of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct IndividualParameters {
    /// Time of the first record the set governs.
    pub time: f64,
    /// Line of that record in the data file.
    pub line: usize,
    /// The code's variables, then the kernel's parameters under their
    /// canonical names (`CL`, `V1`, …) where no variable has that name.
    pub values: Vec<(String, f64)>,
}

impl SubjectData {
    /// The data-file line of each record, in the order of
    /// [`Model::predict_records`].
    pub fn record_lines(&self) -> Vec<usize> {
        self.records.iter().map(|r| r.record.line).collect()
    }

    /// The time after dose of each record (TAD), in the order of
    /// [`Model::predict_records`].
    pub fn record_tad(&self) -> Vec<f64> {
        self.records.iter().map(|r| r.tad).collect()
    }

    /// Number of records.
    pub fn n_records(&self) -> usize {
        self.records.len()
    }
}

impl IndividualParameters {
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

impl Model {
    /// The same model with user ODEs always integrated numerically, even where
    /// they are a linear system the closed form solves (for checking one
    /// against the other, and for timing the integrator).
    pub fn integrated_numerically(mut self) -> Self {
        self.code.linear = None;
        self
    }

    /// Loads a model file (`.pk`), or a bundled model by name.
    pub fn load(path_or_name: &str) -> Result<Self> {
        let path = Path::new(path_or_name);
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path_or_name, e))?;
            return Self::from_text(&text, path_or_name);
        }
        if let Some((_, text)) = BUNDLED.iter().find(|(n, _)| *n == path_or_name) {
            return Self::from_text(text, path_or_name);
        }
        Err(Error::Model {
            model: path_or_name.to_string(),
            message: format!(
                "no such file, and not a bundled model name (bundled: {})",
                Self::bundled_names().join(", ")
            ),
        })
    }

    /// Names of the bundled models.
    pub fn bundled_names() -> Vec<&'static str> {
        BUNDLED.iter().map(|b| b.0).collect()
    }

    /// Compiles model text; `origin` names it in messages.
    pub fn from_text(text: &str, origin: &str) -> Result<Self> {
        let code = parse_model(text, origin)?;
        let units = units_of(&code, origin)?;
        Ok(Model {
            code,
            units,
            origin: origin.to_string(),
            source: text.to_string(),
        })
    }

    /// The model file's text with `values` as the initial values of its
    /// declarations ([`crate::lang::rewrite`]), under a comment `header`.
    pub fn text_with_values(&self, values: &crate::lang::rewrite::DeclaredValues<'_>, header: &str) -> Result<String> {
        let text =
            crate::lang::rewrite::with_values(&self.source, &self.code, values).map_err(|e| Error::Language {
                file: self.origin.clone(),
                error: e,
            })?;
        Ok(format!("{header}{text}"))
    }

    /// The model's name: its `name` line, else the file stem.
    pub fn name(&self) -> String {
        self.code.name.clone().unwrap_or_else(|| {
            Path::new(&self.origin)
                .file_stem()
                .map_or(self.origin.clone(), |s| s.to_string_lossy().to_string())
        })
    }

    /// Initial θ values.
    pub fn theta_init(&self) -> Vec<f64> {
        self.code.thetas.iter().map(|t| t.init).collect()
    }

    /// Initial σ as SDs.
    pub fn sigma_sd_init(&self) -> Vec<f64> {
        self.code.sigmas.iter().map(|s| s.variance.sqrt()).collect()
    }

    /// Prepares a subject: checks that the data have every covariate and the
    /// occasion column, that covariates are numbers on every record, and routes
    /// each observation to its output (by DVID, else by CMT).
    pub fn subject(&self, data: &Dataset, subject: &Subject) -> Result<SubjectData> {
        let c = &self.code;
        let column = |name: &str, what: &str| {
            data.covariate_index(name).ok_or_else(|| {
                Error::data(
                    Location::file(&data.file),
                    format!(
                        "model {} needs {what} {name}, but the data file has no {name} column (columns besides the NONMEM items: {})",
                        self.name(),
                        data.covariate_names.join(", ")
                    ),
                )
            })
        };
        let cov_idx: Vec<usize> = c
            .covariates
            .iter()
            .map(|n| column(n, "covariate"))
            .collect::<Result<_>>()?;
        let occ_idx = match &c.iov {
            Some(iov) => Some(column(&iov.occasion, "the occasion column")?),
            None => None,
        };
        let dvid_idx = data.covariate_index("DVID");
        let cens_idx = data.covariate_index("CENS");
        let blq_idx = data.covariate_index("BLQ");
        let lloq_idx = data.covariate_index("LLOQ");
        if blq_idx.is_some() && lloq_idx.is_none() {
            return Err(Error::data(
                Location::file(&data.file),
                "a BLQ column needs an LLOQ column with the quantification limit of each sample".to_string(),
            ));
        }
        let mut dropped_blq = 0;
        let mut occasions: Vec<f64> = Vec::new();
        let mut records = Vec::with_capacity(subject.records.len());
        let mut obs = Vec::new();
        let mut last_dose: Option<f64> = None;
        for (ri, r) in subject.records.iter().enumerate() {
            let err = |col: &str, message: String| Error::Dosing {
                subject: subject.id.clone(),
                location: Location::line(&data.file, r.line).with_column(col),
                message,
            };
            let mut covariates = Vec::with_capacity(cov_idx.len());
            for (k, &j) in cov_idx.iter().enumerate() {
                let v = r.covariates[j];
                if !v.is_finite() {
                    return Err(err(
                        &c.covariates[k],
                        format!("covariate {} is missing or not a number", c.covariates[k]),
                    ));
                }
                covariates.push(v);
            }
            let occasion = match occ_idx {
                Some(j) => {
                    let v = r.covariates[j];
                    if !v.is_finite() {
                        return Err(err(&data.covariate_names[j], "the occasion is missing".into()));
                    }
                    match occasions.iter().position(|&o| o == v) {
                        Some(k) => k,
                        None => {
                            occasions.push(v);
                            occasions.len() - 1
                        }
                    }
                }
                None => 0,
            };
            if r.is_dose() {
                last_dose = Some(r.time);
            }
            let tad = last_dose.map_or(0.0, |t| r.time - t);
            let value = |j: Option<usize>| j.map_or(f64::NAN, |j| r.covariates[j]);
            let (cens, blq) = (value(cens_idx), value(blq_idx));
            let below = blq == 1.0;
            let candidate = r.evid == Evid::Observation && !r.mdv && (r.dv.is_some() || below);
            if candidate {
                let (censored, dv) = if cens.is_finite() && cens != 0.0 {
                    let limit =
                        r.dv.ok_or_else(|| err("DV", "a censored record (CENS ≠ 0) needs its limit in DV".into()))?;
                    (if cens > 0.0 { 1 } else { -1 }, limit)
                } else if below {
                    let limit = value(lloq_idx);
                    if !limit.is_finite() {
                        return Err(err(
                            "LLOQ",
                            "a BLQ record needs its quantification limit in LLOQ".into(),
                        ));
                    }
                    (1, limit)
                } else {
                    (0, r.dv.unwrap_or(f64::NAN))
                };
                if censored != 0 && c.blq == crate::lang::Blq::M1 {
                    dropped_blq += 1;
                } else {
                    let output = self
                        .route(r, dvid_idx.map(|j| r.covariates[j]))
                        .map_err(|m| err(if dvid_idx.is_some() { "DVID" } else { "CMT" }, m))?;
                    obs.push(Observation {
                        record: ri,
                        output,
                        time: r.time,
                        dv,
                        line: r.line,
                        censored,
                    });
                }
            }
            records.push(Rec {
                record: r.clone(),
                covariates,
                occasion,
                tad,
            });
        }
        let (set_of_record, set_first_record) = self.parameter_set_pattern(&records);
        let mut s = SubjectData {
            id: subject.id.clone(),
            file: data.file.clone(),
            records,
            obs,
            n_occasions: occasions.len().max(1),
            dropped_blq,
            set_of_record,
            set_first_record,
            timeline: None,
            timeline_at: None,
        };
        let slots: Vec<usize> = s.obs.iter().map(|o| o.record).collect();
        s.timeline = self.fixed_timeline(&s, &slots)?;
        Ok(s)
    }

    /// Builds once the timeline of predictions at `records` (as for
    /// [`Model::predict_at`]), for a subject predicted many times there with
    /// other parameter values. Without effect when the doses depend on the
    /// parameters (F, ALAG, RATE or DUR in the code).
    pub fn cache_timeline(&self, s: &mut SubjectData, records: &[usize]) -> Result<()> {
        s.timeline_at = self.fixed_timeline(s, records)?.map(|t| (records.to_vec(), t));
        Ok(())
    }

    /// The timeline with predictions at `slots`, if the doses keep their
    /// default attributes whatever the parameters.
    fn fixed_timeline(&self, s: &SubjectData, slots: &[usize]) -> Result<Option<Timeline>> {
        let c = &self.code;
        if c.attribute_set.iter().flatten().any(|a| *a) {
            return Ok(None);
        }
        let n_sets = s.set_first_record.len();
        let mut sets = ParameterSets {
            values: vec![f64::NAN; n_sets * c.layout.n_slots],
            of_record: s.set_of_record.clone(),
            n_slots: c.layout.n_slots,
        };
        for k in 0..n_sets {
            self.default_attributes(sets.get_mut(k));
        }
        Ok(Some(Timeline::build(&self.events(s, &sets, slots)?)))
    }

    /// The parameter set of each record and the first record of each set.
    fn parameter_set_pattern(&self, records: &[Rec]) -> (Vec<usize>, Vec<usize>) {
        let mut of_record = Vec::with_capacity(records.len());
        let mut first = Vec::new();
        for (ri, r) in records.iter().enumerate() {
            let same = ri > 0 && {
                let p = &records[ri - 1];
                p.occasion == r.occasion
                    && p.covariates == r.covariates
                    && (!self.code.pk_reads_time || (p.record.time == r.record.time && p.tad == r.tad))
            };
            if !same {
                first.push(ri);
            }
            of_record.push(first.len() - 1);
        }
        (of_record, first)
    }

    /// Default dose attributes: F = 1, ALAG = 0, RATE and DUR undefined (NaN).
    fn default_attributes<T: Real>(&self, x: &mut [T]) {
        let c = &self.code;
        for (st, attrs) in c.attribute_set.iter().enumerate() {
            let a = c.layout.attribute + 4 * st;
            x[a] = T::cst(1.0);
            x[a + 1] = T::zero();
            x[a + 2] = T::cst(if attrs[2] { 0.0 } else { f64::NAN });
            x[a + 3] = T::cst(if attrs[3] { 0.0 } else { f64::NAN });
        }
    }

    /// Whether every dose attribute (F, ALAG, RATE, DUR) of every set is free
    /// of the seeded random effects: the doses, and so the timeline, are then
    /// the same along every tangent.
    fn attributes_constant<T: Real>(&self, sets: &ParameterSets<T>) -> bool {
        let c = &self.code;
        let n = 4 * c.attribute_set.len();
        (0..sets.of_record.iter().max().map_or(0, |m| m + 1)).all(|k| {
            sets.get(k)[c.layout.attribute..c.layout.attribute + n]
                .iter()
                .all(|x| x.is_constant())
        })
    }

    /// The output an observation record goes to.
    fn route(&self, r: &Record, dvid: Option<f64>) -> std::result::Result<usize, String> {
        let outs = &self.code.outputs;
        let list = || {
            outs.iter()
                .map(|o| {
                    format!(
                        "{} (DVID {}{})",
                        o.name,
                        o.dvid,
                        o.cmt.map_or(String::new(), |c| format!(", CMT {c}"))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(d) = dvid.filter(|d| d.is_finite()) {
            return outs
                .iter()
                .position(|o| o.dvid as f64 == d)
                .ok_or_else(|| format!("DVID {d} has no output in the model; its outputs are {}", list()));
        }
        if r.cmt == 0 {
            return if outs.len() == 1 {
                Ok(0)
            } else {
                Err(format!(
                    "the observation names neither a DVID nor a CMT, and the model has several outputs: {}",
                    list()
                ))
            };
        }
        if let Some(k) = outs.iter().position(|o| o.cmt == Some(r.cmt)) {
            return Ok(k);
        }
        Err(format!(
            "an observation in CMT {} has no output in the model (outputs: {}); give the output `cmt={}` or the data a DVID column",
            r.cmt,
            list(),
            r.cmt
        ))
    }

    /// Predictions and residual variances at the subject's observations.
    pub fn predict(&self, s: &SubjectData, v: &Values<'_>) -> Result<Prediction> {
        let slots: Vec<usize> = s.obs.iter().map(|o| o.record).collect();
        self.run(s, v, &slots)
    }

    /// Predictions at every record of the subject (one value per record, from
    /// the output its observation would go to, or the first output).
    pub fn predict_records(&self, s: &SubjectData, v: &Values<'_>) -> Result<Prediction> {
        let slots: Vec<usize> = (0..s.records.len()).collect();
        self.run(s, v, &slots)
    }

    /// The individual parameters of each parameter set of the subject, in
    /// time order (one set when no covariate or occasion changes).
    pub fn individual_parameters(&self, s: &SubjectData, v: &Values<'_>) -> Result<Vec<IndividualParameters>> {
        let sets = self.parameter_sets(s, v)?;
        let c = &self.code;
        let kernel: Vec<(&str, usize)> = match c.dynamics {
            Dynamics::Kernel(k) => k
                .parameters()
                .iter()
                .enumerate()
                .map(|(i, n)| (n.split('|').next().unwrap_or(n), c.layout.kernel + i))
                .collect(),
            Dynamics::Ode => Vec::new(),
        };
        Ok(s.set_first_record
            .iter()
            .enumerate()
            .map(|(k, &ri)| {
                let x = sets.get(k);
                let mut values: Vec<(String, f64)> =
                    c.variables.iter().map(|(n, slot)| (n.clone(), x[*slot])).collect();
                for (n, slot) in &kernel {
                    if !values.iter().any(|(m, _)| m == n) {
                        values.push((n.to_string(), x[*slot]));
                    }
                }
                let r = &s.records[ri].record;
                IndividualParameters {
                    time: r.time,
                    line: r.line,
                    values,
                }
            })
            .collect())
    }

    /// The subject's doses as the engine gives them, each resolved with its
    /// record's F, ALAG, RATE and DUR under `v` (amounts after F), in time order.
    pub fn doses(&self, s: &SubjectData, v: &Values<'_>) -> Result<Vec<Dose>> {
        let sets = self.parameter_sets(s, v)?;
        Ok(self
            .events(s, &sets, &[])?
            .into_iter()
            .filter_map(|e| match e {
                Event::Dose { dose, .. } => Some(dose),
                _ => None,
            })
            .collect())
    }

    /// Predictions at the records `records` of the subject (indices into its
    /// records, in time order), and with `amounts` the amount in each model
    /// state there (CMT order). For simulation on a grid of added records.
    /// The residual variances are computed only with `variance` (else zero).
    pub fn predict_at(
        &self,
        s: &SubjectData,
        v: &Values<'_>,
        records: &[usize],
        amounts: bool,
        variance: bool,
    ) -> Result<(Prediction, Option<Vec<Vec<f64>>>)> {
        let mut buffer = amounts.then(|| vec![[0.0; MAX_STATES]; records.len()]);
        let p = self.run_with(s, v, records, buffer.as_deref_mut(), variance)?;
        let engine: Vec<usize> = (0..self.code.states.len())
            .map(|k| engine_index(&self.code, k))
            .collect();
        let amounts = buffer.map(|b| b.iter().map(|a| engine.iter().map(|&e| a[e]).collect()).collect());
        Ok((p, amounts))
    }

    fn run(&self, s: &SubjectData, v: &Values<'_>, observe: &[usize]) -> Result<Prediction> {
        self.run_with(s, v, observe, None, true)
    }

    fn run_with(
        &self,
        s: &SubjectData,
        v: &Values<'_>,
        observe: &[usize],
        amounts: Option<&mut [State]>,
        with_variance: bool,
    ) -> Result<Prediction> {
        let sets = self.parameter_sets_seeded::<f64>(s, v, 0)?;
        let (f, variance) = self.run_sets(s, &sets, observe, amounts, with_variance)?;
        Ok(Prediction { f, variance })
    }

    /// Predictions and residual variances at the observations with their
    /// derivatives with respect to the subject's random effects b = (η, κ of
    /// each occasion, occasion-major) by forward-mode automatic
    /// differentiation ([`crate::autodiff`]): dual numbers through the
    /// individual-parameter code, the closed-form kernel (or recognised linear
    /// ODEs), the dosing engine, the output code and the residual model; for
    /// integrated ODEs, the forward sensitivity equations integrated with the
    /// states (their right-hand side is the dual evaluation of the ODE code).
    ///
    /// `Ok(None)` where dose attributes (F, ALAG, RATE, DUR) depend on b: the
    /// dose times and amounts would move, which the timeline does not carry.
    pub fn predict_derivatives(&self, s: &SubjectData, v: &Values<'_>) -> Result<Option<Derivatives>> {
        let nb = v.eta.len() + v.kappa.len();
        match nb {
            0 | 1 => self.derivatives_chunked::<1>(s, v, nb),
            2 => self.derivatives_chunked::<2>(s, v, nb),
            3 | 4 => self.derivatives_chunked::<4>(s, v, nb),
            _ => self.derivatives_chunked::<MAX_TANGENTS>(s, v, nb),
        }
    }

    /// [`Model::predict_derivatives`] with `N` tangents per pass (N ≤ [`MAX_TANGENTS`]).
    fn derivatives_chunked<const N: usize>(
        &self,
        s: &SubjectData,
        v: &Values<'_>,
        nb: usize,
    ) -> Result<Option<Derivatives>> {
        let n = s.obs.len();
        let observe: Vec<usize> = s.obs.iter().map(|o| o.record).collect();
        let mut d = Derivatives {
            f: Vec::new(),
            variance: Vec::new(),
            df: vec![0.0; n * nb],
            dvariance: vec![0.0; n * nb],
            n_b: nb,
        };
        let mut first = 0;
        loop {
            let sets = self.parameter_sets_seeded::<Dual<N>>(s, v, first)?;
            if !self.attributes_constant(&sets) {
                return Ok(None);
            }
            let (f, r) = self.run_sets(s, &sets, &observe, None, true)?;
            for i in 0..n {
                for t in 0..N.min(nb - first) {
                    d.df[i * nb + first + t] = f[i].d[t];
                    d.dvariance[i * nb + first + t] = r[i].d[t];
                }
            }
            if first == 0 {
                d.f = f.iter().map(|x| x.v).collect();
                d.variance = r.iter().map(|x| x.v).collect();
            }
            first += N;
            if first >= nb {
                return Ok(Some(d));
            }
        }
    }

    /// Runs the kinetics on parameter sets `sets`: the values (and tangents)
    /// at `observe`, and the residual variances there.
    fn run_sets<T: Real>(
        &self,
        s: &SubjectData,
        sets: &ParameterSets<T>,
        observe: &[usize],
        amounts: Option<&mut [State<T>]>,
        with_variance: bool,
    ) -> Result<(Vec<T>, Vec<T>)> {
        let is_obs = observe.len() == s.obs.len() && observe.iter().zip(&s.obs).all(|(a, o)| *a == o.record);
        let built;
        let timeline = match (&s.timeline, is_obs, &s.timeline_at) {
            (Some(t), true, _) => t,
            (_, false, Some((at, t))) if at == observe => t,
            _ => {
                built = Timeline::build(&self.events(s, sets, observe)?);
                &built
            }
        };
        let outputs: Vec<usize> = if is_obs {
            s.obs.iter().map(|o| o.output).collect()
        } else {
            let mut of_record = vec![0usize; s.records.len()];
            for o in &s.obs {
                of_record[o.record] = o.output;
            }
            observe.iter().map(|&ri| of_record[ri]).collect()
        };
        let mut kin = LangKinetics::new(self, sets, outputs)?;
        kin.with_variance = with_variance;
        let mut f = vec![T::cst(f64::NAN); observe.len()];
        let active = kin.active.clone();
        predict(&mut kin, timeline, &active, 1.0, &mut f, amounts).map_err(|e| Error::Solver {
            subject: s.id.clone(),
            time: e.time,
            message: e.message,
        })?;
        if let Some(k) = f.iter().position(|x| !x.val().is_finite()) {
            let r = &s.records[observe[k]].record;
            return Err(Error::Fit {
                subject: s.id.clone(),
                message: format!(
                    "the prediction at time {} (line {}) is {}: {}",
                    r.time,
                    r.line,
                    f[k].val(),
                    self.explain_non_finite(&kin, k)
                ),
            });
        }
        Ok((f, kin.variance))
    }

    fn explain_non_finite<T: Real>(&self, kin: &LangKinetics<'_, T>, _k: usize) -> String {
        let mut scratch: Vec<f64> = kin.scratch.iter().map(|x| x.val()).collect();
        match self.code.out.first_domain_error(&mut scratch) {
            Some(p) => format!(
                "line {} of {} gives a value that is not a number ({})",
                p.line,
                self.origin,
                self.code.source.get(p.line - 1).map_or("", |s| s.trim())
            ),
            None => "the model's states are not finite there".into(),
        }
    }

    /// Runs the individual-parameter code at every record; returns the slot
    /// arrays of the distinct parameter sets and the set of each record.
    fn parameter_sets(&self, s: &SubjectData, v: &Values<'_>) -> Result<ParameterSets> {
        self.parameter_sets_seeded(s, v, 0)
    }

    /// [`Model::parameter_sets`] in scalar `T`: element `first + t` of the
    /// random effects b = (η, κ occasion-major) carries tangent t.
    fn parameter_sets_seeded<T: Real>(
        &self,
        s: &SubjectData,
        v: &Values<'_>,
        first: usize,
    ) -> Result<ParameterSets<T>> {
        let c = &self.code;
        let l = &c.layout;
        let n_sets = s.set_first_record.len();
        let mut sets = ParameterSets {
            values: vec![T::zero(); n_sets * l.n_slots],
            of_record: s.set_of_record.clone(),
            n_slots: l.n_slots,
        };
        let nk = c.iov.as_ref().map_or(0, |i| i.effects.names.len());
        let seeded = |value: f64, b: usize| match b.checked_sub(first) {
            Some(t) if t < T::TANGENTS => T::seeded(value, t),
            _ => T::cst(value),
        };
        let copy = |dst: &mut [T], src: &[f64]| {
            for (d, x) in dst.iter_mut().zip(src) {
                *d = T::cst(*x);
            }
        };
        for (k, &ri) in s.set_first_record.iter().enumerate() {
            let r = &s.records[ri];
            let x = sets.get_mut(k);
            copy(&mut x[l.theta..l.theta + v.theta.len()], v.theta);
            for (j, e) in v.eta.iter().enumerate() {
                x[l.eta + j] = seeded(*e, j);
            }
            copy(&mut x[l.sigma..l.sigma + v.sigma_sd.len()], v.sigma_sd);
            self.default_attributes(x);
            copy(&mut x[l.covariate..l.covariate + r.covariates.len()], &r.covariates);
            if nk > 0 && !v.kappa.is_empty() {
                let k0 = r.occasion * nk;
                for i in 0..nk {
                    x[l.kappa + i] = seeded(v.kappa[k0 + i], v.eta.len() + k0 + i);
                }
            }
            x[l.time] = T::cst(r.record.time);
            x[l.tad] = T::cst(r.tad);
            x[l.t] = T::cst(r.record.time);
            c.pk.run(x);
            if let Some(bad) = self.check_set(x) {
                let mut y: Vec<f64> = x.iter().map(|t| t.val()).collect();
                let at = c.pk.first_domain_error(&mut y);
                return Err(Error::Fit {
                    subject: s.id.clone(),
                    message: format!(
                        "at time {} (line {} of {}): {bad}{}",
                        r.record.time,
                        r.record.line,
                        s.file,
                        at.map_or(String::new(), |p| format!(
                            "; {} line {}: {}",
                            self.origin,
                            p.line,
                            c.source.get(p.line - 1).map_or("", |t| t.trim())
                        ))
                    ),
                });
            }
        }
        Ok(sets)
    }

    /// A message if a kernel parameter or dose attribute of a set is invalid.
    fn check_set<T: Real>(&self, x: &[T]) -> Option<String> {
        let c = &self.code;
        let l = &c.layout;
        if let Dynamics::Kernel(k) = c.dynamics {
            for (i, name) in k.parameters().iter().enumerate() {
                let val = x[l.kernel + i].val();
                if !(val > 0.0 && val.is_finite()) {
                    return Some(format!("kernel parameter {name} = {val}; it must be a positive number"));
                }
            }
        }
        for (st, attrs) in c.attribute_set.iter().enumerate() {
            for (k, set) in attrs.iter().enumerate() {
                let val = x[l.attribute + 4 * st + k].val();
                if *set && !val.is_finite() {
                    return Some(format!(
                        "{}({}) = {val}",
                        crate::lang::compile::ATTRIBUTES[k],
                        c.states[st]
                    ));
                }
            }
        }
        None
    }

    /// The dosing events of the subject under parameter sets `sets`: doses
    /// resolved with their record's F, ALAG, RATE, DUR; a switch after each
    /// record whose successor has other parameters; observations at `observe`.
    fn events<T: Real>(&self, s: &SubjectData, sets: &ParameterSets<T>, observe: &[usize]) -> Result<Vec<Event>> {
        let c = &self.code;
        let l = &c.layout;
        let mut slot_of = vec![None; s.records.len()];
        for (slot, &ri) in observe.iter().enumerate() {
            slot_of[ri] = Some(slot);
        }
        let mut events = Vec::with_capacity(s.records.len() + observe.len() + s.set_first_record.len() + 1);
        // The first record's parameters (and initial conditions) apply from the start.
        if let (Some(&set), Some(first)) = (sets.of_record.first(), s.records.first()) {
            events.push(Event::Switch {
                time: first.record.time,
                set,
            });
        }
        for (ri, rec) in s.records.iter().enumerate() {
            let r = &rec.record;
            let set = sets.get(sets.of_record[ri]);
            match r.evid {
                Evid::Reset => events.push(Event::Reset { time: r.time }),
                Evid::Dose | Evid::ResetDose => {
                    let err = |col: &str, message: String| Error::Dosing {
                        subject: s.id.clone(),
                        location: Location::line(&s.file, r.line).with_column(col),
                        message,
                    };
                    let target = if r.cmt == 0 {
                        c.default_dose
                    } else {
                        let k = r.cmt - 1;
                        if k < 0 || k as usize >= c.states.len() {
                            return Err(err(
                                "CMT",
                                format!(
                                    "the model has compartments 1 to {} ({}), the dose names {}",
                                    c.states.len(),
                                    c.states.join(", "),
                                    r.cmt
                                ),
                            ));
                        }
                        k as usize
                    };
                    let a = l.attribute + 4 * target;
                    let attrs = (set[a].val(), set[a + 1].val(), set[a + 2].val(), set[a + 3].val());
                    let dose = resolve(r, engine_index(c, target), attrs).map_err(|(col, m)| err(col, m))?;
                    events.push(Event::Dose {
                        dose,
                        reset: r.evid == Evid::ResetDose,
                    });
                }
                Evid::Observation | Evid::Other => {}
            }
            if let Some(slot) = slot_of[ri] {
                events.push(Event::Observe { time: r.time, slot });
            }
            if let Some(&next) = sets.of_record.get(ri + 1) {
                if next != sets.of_record[ri] {
                    events.push(Event::Switch {
                        time: r.time,
                        set: next,
                    });
                }
            }
        }
        Ok(events)
    }
}

/// Distinct slot arrays after the individual-parameter code, and each record's.
struct ParameterSets<T = f64> {
    values: Vec<T>,
    of_record: Vec<usize>,
    n_slots: usize,
}

impl<T> ParameterSets<T> {
    fn get(&self, k: usize) -> &[T] {
        &self.values[k * self.n_slots..(k + 1) * self.n_slots]
    }
    fn get_mut(&mut self, k: usize) -> &mut [T] {
        &mut self.values[k * self.n_slots..(k + 1) * self.n_slots]
    }
}

/// A dose with its record's attributes: (F, ALAG, RATE, DUR); NaN for a
/// modelled rate or duration the model does not set. An error names the
/// column and what is wrong.
pub(crate) fn resolve(
    r: &Record,
    target: usize,
    (f, lag, rate_m, dur_m): (f64, f64, f64, f64),
) -> std::result::Result<Dose, (&'static str, String)> {
    if !(f >= 0.0) {
        return Err(("AMT", format!("bioavailability must be >= 0, got {f}")));
    }
    if !(lag >= 0.0) {
        return Err(("TIME", format!("lag time must be >= 0, got {lag}")));
    }
    let amount = r.amt * f;
    let input = if r.rate == -1.0 {
        if rate_m.is_nan() {
            return Err((
                "RATE",
                "RATE = -1 asks for a modelled rate, but the model sets no RATE(state)".into(),
            ));
        }
        if !(rate_m > 0.0) {
            return Err((
                "RATE",
                format!("the modelled rate (RATE = -1) must be > 0, got {rate_m}"),
            ));
        }
        Input::Infusion {
            rate: rate_m,
            duration: amount / rate_m,
        }
    } else if r.rate == -2.0 {
        if dur_m.is_nan() {
            return Err((
                "RATE",
                "RATE = -2 asks for a modelled duration, but the model sets no DUR(state)".into(),
            ));
        }
        if !(dur_m > 0.0) {
            return Err((
                "RATE",
                format!("the modelled duration (RATE = -2) must be > 0, got {dur_m}"),
            ));
        }
        Input::Infusion {
            rate: amount / dur_m,
            duration: dur_m,
        }
    } else if r.rate > 0.0 {
        let duration = if r.amt == 0.0 { f64::INFINITY } else { amount / r.rate };
        Input::Infusion { rate: r.rate, duration }
    } else if r.dur > 0.0 {
        Input::Infusion {
            rate: amount / r.dur,
            duration: r.dur,
        }
    } else {
        Input::Bolus
    };
    Ok(Dose {
        time: r.time,
        target,
        amount,
        input,
        lag,
        steady_state: match r.ss {
            1 => SteadyState::Reset,
            2 => SteadyState::Add,
            _ => SteadyState::No,
        },
        interval: r.ii,
        additional: r.addl,
    })
}

/// The model's units from its `units` line (defaults: mg, L, h, ng/mL).
fn units_of(code: &CompiledModel, origin: &str) -> Result<Units> {
    let mut u = Units::default();
    for (k, v) in &code.units {
        match k.as_str() {
            "amount" => u.amount = AmountUnit::parse(v)?,
            "volume" => u.volume = VolumeUnit::parse(v)?,
            "time" => u.time = TimeUnit::parse(v)?,
            "concentration" => u.concentration = ConcentrationUnit::parse(v)?,
            other => {
                return Err(Error::Model {
                    model: origin.to_string(),
                    message: format!("unknown unit kind {other}: expected amount, volume, time or concentration"),
                })
            }
        }
    }
    Ok(u)
}

/// The engine's view of a language model: the kernel or ODE of the current
/// parameter set, and the output code at observations.
struct LangKinetics<'m, T: Real = f64> {
    model: &'m Model,
    sets: &'m ParameterSets<T>,
    current: usize,
    solver: Solver<T>,
    rates: Rates<T>,
    /// Engine state indices in use.
    active: Vec<usize>,
    /// Engine index of each model state (see [`engine_index`]).
    engine: Vec<usize>,
    outputs: Vec<usize>,
    scratch: Vec<T>,
    scale: f64,
    variance: Vec<T>,
    /// Whether `variance` is computed at each observation.
    with_variance: bool,
    /// Start time of the next advance.
    now: f64,
    /// Whether the initial conditions have been applied.
    initialized: bool,
    /// The ODE integrator (user ODEs only), warm from event to event.
    integrator: Option<Integrator>,
}

/// Engine index of model state `k`: IV kernels sit at engine indices 1..
/// (index 0 is the modal solution's depot); user ODEs recognised as a kernel
/// take the kernel's order (depot 0, central 1, peripherals 2, 3).
fn engine_index(c: &CompiledModel, k: usize) -> usize {
    match (c.dynamics, &c.linear) {
        (Dynamics::Kernel(kernel), _) if !kernel.has_depot() => k + 1,
        (Dynamics::Ode, Some(lin)) => lin.engine[k],
        _ => k,
    }
}

enum Solver<T: Real> {
    Modal(Box<ModalKinetics<T>>),
    Ode,
}

impl<'m, T: Real> LangKinetics<'m, T> {
    fn new(model: &'m Model, sets: &'m ParameterSets<T>, outputs: Vec<usize>) -> Result<Self> {
        let c = &model.code;
        let n = c.states.len();
        if n > MAX_STATES {
            return Err(Error::Model {
                model: model.origin.clone(),
                message: format!("{n} states; at most {MAX_STATES} are supported"),
            });
        }
        let engine: Vec<usize> = (0..n).map(|k| engine_index(c, k)).collect();
        let mut k = LangKinetics {
            model,
            sets,
            current: 0,
            solver: Solver::Ode,
            rates: [T::zero(); MAX_STATES],
            active: engine.clone(),
            engine,
            variance: vec![T::zero(); outputs.len()],
            with_variance: true,
            outputs,
            scratch: sets.get(0).to_vec(),
            scale: model.units.concentration_scale(),
            now: 0.0,
            initialized: false,
            integrator: None,
        };
        if c.dynamics == Dynamics::Ode {
            // With tangents, the forward sensitivities ride along as extra states.
            let dim = n * (1 + T::TANGENTS);
            let integrator = Integrator::new(dim, OdeMethod::Auto, ODE_TOLERANCES).map_err(|e| Error::Model {
                model: model.origin.clone(),
                message: e.to_string(),
            })?;
            k.integrator = Some(integrator);
        }
        k.build(0).map_err(|message| Error::Model {
            model: model.origin.clone(),
            message,
        })?;
        Ok(k)
    }

    fn build(&mut self, set: usize) -> std::result::Result<(), String> {
        self.current = set;
        self.scratch.copy_from_slice(self.sets.get(set));
        let c = &self.model.code;
        if let Dynamics::Kernel(kernel) = c.dynamics {
            let x = &self.scratch;
            let p = kernel_params(kernel, &x[c.layout.kernel..]);
            self.solver = Solver::Modal(Box::new(ModalKinetics::new(&p)));
        } else if let Some(lin) = &c.linear {
            // Closed form where this set's coefficients satisfy the kernel's
            // relations; numerical integration where they do not.
            self.solver = match self.recognised_kernel(lin) {
                Some(p) => Solver::Modal(Box::new(ModalKinetics::new(&p))),
                None => Solver::Ode,
            };
        }
        Ok(())
    }

    /// The kernel parameters of a recognised linear system at the current
    /// set (central volume 1: amounts in, amounts out), or `None` when its
    /// coefficients are not those of the kernel (a loss from a peripheral or
    /// the depot, a non-positive rate).
    fn recognised_kernel(&mut self, lin: &crate::lang::linear::LinearStructure) -> Option<PkParams<T>> {
        let n = self.model.code.states.len();
        let l = &self.model.code.layout;
        // a[i][j]: the rate from state j into state i (the Jacobian of the ODEs).
        let mut a = [[T::zero(); MAX_STATES]; MAX_STATES];
        for j in 0..n {
            for k in 0..n {
                self.scratch[l.state + k] = T::cst(if k == j { 1.0 } else { 0.0 });
            }
            self.scratch[l.t] = T::zero();
            self.model.code.des.run(&mut self.scratch);
            for (i, row) in a.iter_mut().enumerate().take(n) {
                row[j] = self.scratch[l.derivative + i];
            }
        }
        let same = |x: T, y: T| (x.val() - y.val()).abs() <= 1e-12 * x.val().abs().max(y.val().abs());
        let c = lin.central;
        let mut x = vec![T::zero(); 7];
        let mut k10 = -a[c][c];
        x[1] = T::cst(1.0);
        for (m, &p) in lin.peripherals.iter().enumerate() {
            let (q, back) = (a[p][c], a[c][p]);
            if !(q.val() > 0.0 && back.val() > 0.0 && same(a[p][p], -back)) {
                return None;
            }
            k10 -= q;
            x[2 + 2 * m] = q;
            x[3 + 2 * m] = q / back;
        }
        if let Some(d) = lin.depot {
            let ka = a[c][d];
            if !(ka.val() > 0.0 && same(a[d][d], -ka)) {
                return None;
            }
            x[2 * (1 + lin.peripherals.len())] = ka;
        }
        if !(k10.val() > 0.0 && x.iter().all(|v| v.is_finite())) {
            return None;
        }
        x[0] = k10;
        Some(kernel_params(lin.kernel, &x))
    }

    /// The amount in model state `k`.
    fn amount_of(&self, state: &State<T>, k: usize) -> T {
        match &self.solver {
            Solver::Modal(m) => m.amount_in(state, self.engine[k]),
            Solver::Ode => state[self.engine[k]],
        }
    }

    /// Compartment amounts in model-state order into the scratch state slots.
    fn load_states(&mut self, state: &State<T>) {
        let l = &self.model.code.layout;
        let n = self.model.code.states.len();
        let amounts = match &self.solver {
            Solver::Modal(m) => m.amounts(state),
            Solver::Ode => *state,
        };
        for i in 0..n {
            self.scratch[l.state + i] = amounts[self.engine[i]];
        }
    }
}

/// The kernel's parameters from its arguments in the kernel's order
/// ([`Kernel::parameters`]: CL, V1, then Q2, V2, Q3, V3 as the kernel has
/// them, then KA): the one map from the language's kernel arguments to the
/// closed form. Values are not checked.
pub fn kernel_params<T: Real>(kernel: Kernel, x: &[T]) -> PkParams<T> {
    let n = kernel.compartments();
    let (zero, one) = (T::zero(), T::cst(1.0));
    let mut p = PkParams {
        structure: Structure {
            compartments: n,
            absorption: if kernel.has_depot() {
                Absorption::FirstOrder
            } else {
                Absorption::None
            },
        },
        cl: x[0],
        v: [x[1], one, one],
        q: [zero; 2],
        ka: zero,
    };
    match n {
        1 => {}
        2 => {
            p.q[0] = x[2];
            p.v[1] = x[3];
        }
        _ => {
            p.q = [x[2], x[4]];
            p.v[1] = x[3];
            p.v[2] = x[5];
        }
    }
    if kernel.has_depot() {
        p.ka = x[2 * n];
    }
    p
}

/// The ODE right-hand side: the model's `des` program on the slots of the
/// current parameter set, plus the running infusion rates. With tangents
/// (`T = Dual<k>`) the system is augmented by the forward sensitivities
/// S = ∂y/∂b: y holds the n values, then the k tangents of each state, and the
/// dual evaluation of the code gives Ṡ = J·S + ∂f/∂b in the same pass.
struct Rhs<'a, T: Real> {
    model: &'a Model,
    scratch: &'a mut [T],
    rates: &'a Rates<T>,
    n: usize,
}

impl<T: Real> OdeSystem for Rhs<'_, T> {
    fn dim(&self) -> usize {
        self.n * (1 + T::TANGENTS)
    }
    fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
        let l = &self.model.code.layout;
        let (n, k) = (self.n, T::TANGENTS);
        self.scratch[l.t] = T::cst(t);
        for (i, s) in self.scratch[l.state..l.state + n].iter_mut().enumerate() {
            *s = T::from_parts(y[i], &y[n + i * k..n + (i + 1) * k]);
        }
        self.model.code.des.run(self.scratch);
        for i in 0..n {
            let x = self.scratch[l.derivative + i] + self.rates[i];
            dy[i] = x.val();
            for t in 0..k {
                dy[n + i * k + t] = x.tangent(t);
            }
        }
    }
}

impl<T: Real> LangKinetics<'_, T> {
    /// Integrates the user ODEs over `dt` from the current time.
    /// With tangents, the forward sensitivities are integrated with the states ([`Rhs`]).
    fn integrate(&mut self, state: &mut State<T>, dt: f64, stop: Stop) -> std::result::Result<(), String> {
        let n = self.model.code.states.len();
        let k = T::TANGENTS;
        let Some(integrator) = self.integrator.as_mut() else {
            return Err("no ODE integrator".into());
        };
        // The engine's state and rates are in engine order; the ODEs in model
        // order. y: values, then each state's tangents.
        let mut y = [0.0; MAX_STATES * (1 + MAX_TANGENTS)];
        let mut rates = [T::zero(); MAX_STATES];
        for (i, &e) in self.engine.iter().enumerate() {
            y[i] = state[e].val();
            for t in 0..k {
                y[n + i * k + t] = state[e].tangent(t);
            }
            rates[i] = self.rates[e];
        }
        let mut rhs = Rhs {
            model: self.model,
            scratch: &mut self.scratch,
            rates: &rates,
            n,
        };
        let (t0, t1) = (self.now, self.now + dt);
        integrator
            .advance(&mut rhs, t0, &mut y[..n * (1 + k)], t1, stop)
            .map_err(|e| e.to_string())?;
        for (i, &e) in self.engine.iter().enumerate() {
            state[e] = T::from_parts(y[i], &y[n + i * k..n + (i + 1) * k]);
        }
        self.now = t1;
        Ok(())
    }
}

impl<T: Real> Kinetics<T> for LangKinetics<'_, T> {
    fn set_rates(&mut self, rates: &Rates<T>) {
        self.rates = *rates;
        if let Some(i) = self.integrator.as_mut() {
            i.reset();
        }
        if let Solver::Modal(m) = &mut self.solver {
            m.set_rates(rates);
        }
    }

    fn advance_to_output(&mut self, state: &mut State<T>, dt: f64, horizon: f64) -> std::result::Result<(), String> {
        match &mut self.solver {
            Solver::Modal(m) => m.advance(state, dt),
            Solver::Ode => {
                let horizon = self.now + horizon;
                self.integrate(state, dt, Stop::Soft { horizon })
            }
        }
    }

    fn advance(&mut self, state: &mut State<T>, dt: f64) -> std::result::Result<(), String> {
        match &mut self.solver {
            Solver::Modal(m) => m.advance(state, dt),
            Solver::Ode => {
                if dt <= 0.0 {
                    return Ok(());
                }
                self.integrate(state, dt, Stop::Hard)
            }
        }
    }

    fn add_amount(&self, state: &mut State<T>, target: usize, amount: T) {
        match &self.solver {
            Solver::Modal(m) => m.add_amount(state, target, amount),
            Solver::Ode => state[target] += amount,
        }
    }

    fn concentration(&self, _state: &State<T>) -> T {
        T::cst(f64::NAN)
    }

    fn amounts(&self, state: &State<T>) -> State<T> {
        match &self.solver {
            Solver::Modal(m) => m.amounts(state),
            Solver::Ode => *state,
        }
    }

    fn is_linear(&self) -> bool {
        matches!(self.solver, Solver::Modal(_))
    }

    fn at_time(&mut self, t: f64) {
        self.now = t;
    }

    fn switch(&mut self, set: usize, state: &mut State<T>) -> std::result::Result<(), String> {
        if let Some(i) = self.integrator.as_mut() {
            i.reset();
        }
        let mut amounts = self.amounts(state);
        // The first switch is usually to the set built by `new`.
        if self.initialized || set != self.current {
            self.build(set)?;
        }
        if !self.initialized {
            self.initialized = true;
            let c = &self.model.code;
            for (i, set) in c.initial_set.iter().enumerate() {
                if *set {
                    amounts[self.engine[i]] += self.scratch[c.layout.initial + i];
                }
            }
        }
        if let Solver::Modal(m) = &self.solver {
            *state = m.state_of_amounts(&amounts);
        } else {
            *state = amounts;
        }
        let rates = self.rates;
        self.set_rates(&rates);
        Ok(())
    }

    fn observe(&mut self, slot: usize, state: &State<T>, t: f64) -> std::result::Result<T, String> {
        let c = &self.model.code;
        let o = &c.outputs[self.outputs[slot]];
        let value = match o.folded {
            Some(k) => self.scratch[o.value_slot as usize] * self.amount_of(state, k),
            None => {
                self.load_states(state);
                self.scratch[c.layout.t] = T::cst(t);
                c.out.run(&mut self.scratch);
                self.scratch[o.value_slot as usize]
            }
        };
        let scale = if o.unscaled { 1.0 } else { self.scale };
        let f = value * scale;
        if self.with_variance {
            self.variance[slot] = residual_variance(o, &self.scratch, f);
        }
        Ok(f)
    }
}

/// Residual variance of output `o` at prediction `f`. SD terms: add s,
/// prop s·f, power s·|f|^c, exp s (log scale), sd s; var v adds a variance.
/// Variances add, or (for `combined1`) SDs add.
pub fn residual_variance<T: Real>(o: &crate::lang::OutputDecl, x: &[T], f: T) -> T {
    let mut variance = T::zero();
    let mut sd_sum = T::zero();
    for (kind, a, b) in &o.terms {
        let s = x[*a as usize];
        let sd = match kind {
            TermKind::Add | TermKind::Exp | TermKind::Sd => s,
            TermKind::Prop => s * f,
            TermKind::Power => s * f.abs().powf(b.map_or(T::cst(1.0), |b| x[b as usize])),
            TermKind::Var => {
                variance += s;
                continue;
            }
        };
        match o.combine {
            crate::lang::ast::Combine::Variances => variance += sd * sd,
            crate::lang::ast::Combine::Sds => sd_sum += sd,
        }
    }
    variance + sd_sum * sd_sum
}
