//! NCA profiles from NONMEM-style data: one per subject and dosing interval,
//! with the dose, route, interval length and BLQ handling.

use super::{analyse, Nca, NcaError, NcaOptions, Route};
use crate::data::{Dataset, Subject};
use crate::error::{Error, Location, Result};

/// What a sample below the limit of quantification becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlqAs {
    /// Zero.
    Zero,
    /// Left out.
    Missing,
    /// Half the LLOQ.
    HalfLloq,
}

impl BlqAs {
    /// Parses `zero`, `missing` (or `drop`), `lloq/2` (or `half`).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "zero" | "0" => Ok(BlqAs::Zero),
            "missing" | "drop" => Ok(BlqAs::Missing),
            "lloq/2" | "half" | "half-lloq" => Ok(BlqAs::HalfLloq),
            _ => Err(Error::Argument(format!(
                "BLQ rule '{text}': expected zero, missing or lloq/2"
            ))),
        }
    }
}

/// What a negative measured concentration (not BLQ) becomes. Whatever the
/// choice, each one is reported in [`IntervalNca::warnings`]: data are never
/// changed silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NegativeAs {
    /// Used as measured (WinNonlin's convention): linear trapezoids through it,
    /// never in λz, never Clast.
    #[default]
    Keep,
    /// Set to zero.
    Zero,
    /// Left out of the profile.
    Exclude,
}

impl NegativeAs {
    /// Parses `keep`, `zero`, `exclude`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "keep" => Ok(NegativeAs::Keep),
            "zero" | "0" => Ok(NegativeAs::Zero),
            "exclude" | "drop" | "missing" => Ok(NegativeAs::Exclude),
            _ => Err(Error::Argument(format!(
                "--negative '{text}': expected keep, zero or exclude"
            ))),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NegativeAs::Keep => "used as measured (--negative keep)",
            NegativeAs::Zero => "set to 0 (--negative zero)",
            NegativeAs::Exclude => "left out of the profile (--negative exclude)",
        }
    }
}

/// How BLQ samples are found and treated, and negative concentrations.
#[derive(Debug, Clone, PartialEq)]
pub struct BlqRules {
    /// Column with the LLOQ (a sample is BLQ when DV < LLOQ).
    pub lloq_column: Option<String>,
    /// Column flagging BLQ samples (non-zero = BLQ); DV is then ignored.
    pub flag_column: Option<String>,
    /// Treatment before the first measurable sample of a profile.
    pub before_first: BlqAs,
    /// Treatment after it.
    pub after_first: BlqAs,
    /// Treatment of negative measured concentrations.
    pub negative: NegativeAs,
}

impl Default for BlqRules {
    fn default() -> Self {
        BlqRules {
            lloq_column: None,
            flag_column: None,
            before_first: BlqAs::Zero,
            after_first: BlqAs::Missing,
            negative: NegativeAs::Keep,
        }
    }
}

/// Unit scale: dose × `dose_scale` is in litres × concentration units, so
/// CL comes out in L/time and volumes in L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoseScale(pub f64);

/// One analysed dosing interval.
#[derive(Debug, Clone)]
pub struct IntervalNca {
    /// Dose time.
    pub dose_time: f64,
    /// Dose amount (data units).
    pub dose: f64,
    /// Route.
    pub route: Route,
    /// Result, or why the interval could not be analysed.
    pub result: std::result::Result<Nca, NcaError>,
    /// The profile analysed: times after the dose and concentrations (BLQ and
    /// negative values resolved).
    pub times: Vec<f64>,
    /// Concentrations at [`IntervalNca::times`].
    pub conc: Vec<f64>,
    /// What was done to the data of this interval that the reader must know
    /// (each negative concentration, with file, line, subject and value).
    pub warnings: Vec<String>,
}

/// A dose of a subject.
#[derive(Debug, Clone, Copy)]
struct DoseRecord {
    time: f64,
    amount: f64,
    route: Route,
}

/// The doses of `subject`, ADDL expanded. A dose whose rate or duration the
/// model would supply (RATE = −1 or −2) is refused: NCA has no model, and
/// reading it as a bolus would silently analyse the wrong route.
fn doses(file: &str, subject: &Subject, bolus_route: Route) -> Result<Vec<DoseRecord>> {
    let mut out = Vec::new();
    for r in subject.records.iter().filter(|r| r.is_dose() && r.amt > 0.0) {
        if r.rate < 0.0 {
            let what = if r.rate == -1.0 {
                "RATE = -1 asks the model for the infusion rate"
            } else {
                "RATE = -2 asks the model for the infusion duration"
            };
            return Err(Error::Dosing {
                subject: subject.id.clone(),
                location: Location::line(file, r.line).with_column("RATE"),
                message: format!(
                    "{what}, but NCA has no model: give the infusion explicitly in the data \
                     (RATE > 0 as amount/time, or a DUR column with the duration), or RATE = 0 for a bolus"
                ),
            });
        }
        let route = if r.rate > 0.0 {
            Route::IvInfusion(r.amt / r.rate)
        } else if r.dur > 0.0 {
            Route::IvInfusion(r.dur)
        } else {
            bolus_route
        };
        for k in 0..=r.addl {
            out.push(DoseRecord {
                time: r.time + k as f64 * r.ii,
                amount: r.amt,
                route,
            });
        }
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(out)
}

/// Analyses every dosing interval of `subject`. `bolus_route` is the route of
/// doses without RATE or DUR (extravascular or IV bolus).
pub fn subject_nca(
    data: &Dataset,
    subject: &Subject,
    bolus_route: Route,
    blq: &BlqRules,
    options: &NcaOptions,
    scale: DoseScale,
) -> Result<Vec<IntervalNca>> {
    let column = |name: &Option<String>| -> Result<Option<usize>> {
        match name {
            None => Ok(None),
            Some(n) => data.covariate_index(n).map(Some).ok_or_else(|| {
                Error::data(
                    Location::file(&data.file),
                    format!("no column {n} (given for BLQ handling)"),
                )
            }),
        }
    };
    let (lloq, flag) = (column(&blq.lloq_column)?, column(&blq.flag_column)?);
    let doses = doses(&data.file, subject, bolus_route)?;
    if doses.is_empty() {
        return Err(Error::Fit {
            subject: subject.id.clone(),
            message: "no dose record (EVID 1 or 4 with AMT > 0): NCA needs the dose".into(),
        });
    }
    // (time, value or None if BLQ, LLOQ, line)
    let samples: Vec<(f64, Option<f64>, f64, usize)> = subject
        .records
        .iter()
        .filter(|r| r.evid == crate::data::Evid::Observation && !r.mdv)
        .filter_map(|r| {
            let limit = lloq.map_or(f64::NAN, |c| r.covariates[c]);
            let flagged = flag.is_some_and(|c| r.covariates[c] != 0.0 && !r.covariates[c].is_nan());
            match r.dv {
                Some(dv) if !flagged && !(dv < limit) => Some((r.time, Some(dv), limit, r.line)),
                _ if flagged || r.dv.is_some() => Some((r.time, None, limit, r.line)),
                _ => None,
            }
        })
        .collect();
    let mut out = Vec::new();
    for (k, d) in doses.iter().enumerate() {
        let end = doses.get(k + 1).map(|n| n.time);
        // τ: given, or the time to the next dose.
        let tau = options.tau.or(end.map(|e| e - d.time));
        let window: Vec<&(f64, Option<f64>, f64, usize)> = samples
            .iter()
            .filter(|(t, _, _, _)| *t >= d.time && end.is_none_or(|e| *t <= e))
            .collect();
        let mut times = Vec::new();
        let mut conc = Vec::new();
        let mut warnings = Vec::new();
        let mut seen_measurable = false;
        for (t, v, limit, line) in window {
            let value = match v {
                Some(v) if *v < 0.0 => {
                    warnings.push(format!(
                        "{}, line {line}: subject {}: negative concentration DV = {v} at time {t}: {}",
                        data.file,
                        subject.id,
                        blq.negative.describe()
                    ));
                    match blq.negative {
                        NegativeAs::Keep => Some(*v),
                        NegativeAs::Zero => Some(0.0),
                        NegativeAs::Exclude => None,
                    }
                }
                Some(v) => {
                    seen_measurable |= *v > 0.0;
                    Some(*v)
                }
                None => {
                    let rule = if seen_measurable {
                        blq.after_first
                    } else {
                        blq.before_first
                    };
                    match rule {
                        BlqAs::Zero => Some(0.0),
                        BlqAs::Missing => None,
                        BlqAs::HalfLloq => Some(limit / 2.0),
                    }
                }
            };
            if let Some(v) = value {
                times.push(t - d.time);
                conc.push(v);
            }
        }
        let opts = NcaOptions { tau, ..options.clone() };
        let result = analyse(&times, &conc, d.amount * scale.0, d.route, &opts);
        out.push(IntervalNca {
            dose_time: d.time,
            dose: d.amount,
            route: d.route,
            result,
            times,
            conc,
            warnings,
        });
    }
    Ok(out)
}
