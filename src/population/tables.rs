//! The result tables of a population fit, as CSV in the shape xpose and
//! pharmpy read from NONMEM runs:
//!
//! - [`sdtab`]: one row per data record (doses and other events too, as
//!   NONMEM's `$TABLE` writes them): `ID TIME TAD DV MDV EVID AMT CMT [DVID]
//!   OUTPUT PRED IPRED RES WRES CWRES IWRES EPRED NPDE BLQ`. PRED and IPRED are
//!   predicted at every record; the residuals, EPRED and NPDE exist only on
//!   the observations that entered the likelihood (`MDV` 0) and are `.`
//!   elsewhere.
//! - [`patab`]: one row per subject and parameter set (a new set where a
//!   covariate or the occasion changes): `ID TIME`, the individual parameters
//!   (every variable of the model's code at η̂), the η̂ (and the κ̂ of the
//!   set's occasion), and the model's covariates.
//!
//! Values are in the model's units; a missing value is `.`, as in NONMEM data.

use super::estimation::{ObservationRow, PopSubject, PopulationData, PopulationFit};
use super::npde::Npde;
use crate::data::nonmem::{Dataset, Evid, Subject};
use crate::error::{Error, Result};
use crate::model::Model;
use std::collections::HashMap;
use std::fmt::Write as _;

/// What the tables are made from: the model, the data as read and as
/// prepared, the fit, its observation rows ([`super::estimation::diagnostics`])
/// and their NPDE (empty when not computed).
pub struct TableSource<'a> {
    /// The fitted model.
    pub model: &'a Model,
    /// The data file as read (all records, covariate columns by name).
    pub dataset: &'a Dataset,
    /// The data prepared for the model (same subjects, same order).
    pub data: &'a PopulationData,
    /// The fit.
    pub fit: &'a PopulationFit,
    /// The observation rows, subject by subject in data order.
    pub rows: &'a [ObservationRow],
    /// NPDE and EPRED of each observation row (may be empty).
    pub npde: &'a [Npde],
}

/// A number as the tables print it: `.` for a missing value.
fn num(v: f64) -> String {
    if v.is_nan() {
        ".".to_string()
    } else if v == 0.0 {
        "0".to_string()
    } else {
        format!("{v}")
    }
}

fn evid_code(e: Evid) -> u8 {
    match e {
        Evid::Observation => 0,
        Evid::Dose => 1,
        Evid::Other => 2,
        Evid::Reset => 3,
        Evid::ResetDose => 4,
    }
}

impl TableSource<'_> {
    /// Each subject as prepared, its η̂ and κ̂, and its records as read.
    fn subjects(&self) -> impl Iterator<Item = (&PopSubject, (&[f64], &[f64]), &Subject)> {
        let n_eta = self.fit.values.omega.nrows();
        self.data
            .subjects
            .iter()
            .zip(&self.fit.evaluation.estimates)
            .zip(&self.dataset.subjects)
            .map(move |((s, est), raw)| (s, est.eta.split_at(n_eta.min(est.eta.len())), raw))
    }

    /// The sdtab: one row per data record.
    pub fn sdtab(&self) -> Result<String> {
        let dvid = self.dataset.covariate_index("DVID");
        let mut t = String::from("ID,TIME,TAD,DV,MDV,EVID,AMT,CMT,");
        if dvid.is_some() {
            t.push_str("DVID,");
        }
        t.push_str("OUTPUT,PRED,IPRED,RES,WRES,CWRES,IWRES,EPRED,NPDE,BLQ\n");
        let mut row = 0;
        for (s, (eta, kappa), raw) in self.subjects() {
            let (zero_eta, zero_kappa) = (vec![0.0; eta.len()], vec![0.0; kappa.len()]);
            let failed = |e: Error| Error::Fit {
                subject: s.data.id.clone(),
                message: format!("the table's predictions: {e}"),
            };
            let pred = self
                .model
                .predict_records(&s.data, &self.fit.values_with(&zero_eta, &zero_kappa))
                .map_err(failed)?
                .f;
            let ipred = self
                .model
                .predict_records(&s.data, &self.fit.values_with(eta, kappa))
                .map_err(failed)?
                .f;
            let obs_of_record: HashMap<usize, usize> =
                s.data.obs.iter().enumerate().map(|(k, o)| (o.record, k)).collect();
            let tad = s.data.record_tad();
            for (ri, r) in raw.records.iter().enumerate() {
                let observed = obs_of_record.get(&ri).map(|_| {
                    row += 1;
                    row - 1
                });
                let o = observed.and_then(|k| self.rows.get(k));
                let n = observed.and_then(|k| self.npde.get(k));
                let _ = write!(
                    t,
                    "{},{},{},{},{},{},{},{},",
                    s.data.id,
                    num(r.time),
                    num(tad.get(ri).copied().unwrap_or(f64::NAN)),
                    num(o.map_or(r.dv.unwrap_or(f64::NAN), |o| o.dv)),
                    u8::from(o.is_none()),
                    evid_code(r.evid),
                    num(r.amt),
                    r.cmt
                );
                if let Some(j) = dvid {
                    let _ = write!(t, "{},", num(r.covariates[j]));
                }
                let missing = f64::NAN;
                let _ = writeln!(
                    t,
                    "{},{},{},{},{},{},{},{},{},{}",
                    o.map_or("", |o| o.output.as_str()),
                    num(o.map_or(pred.get(ri).copied().unwrap_or(missing), |o| o.pred)),
                    num(o.map_or(ipred.get(ri).copied().unwrap_or(missing), |o| o.ipred)),
                    num(o.map_or(missing, |o| o.res)),
                    num(o.map_or(missing, |o| o.wres)),
                    num(o.map_or(missing, |o| o.cwres)),
                    num(o.map_or(missing, |o| o.iwres)),
                    num(n.map_or(missing, |n| n.epred)),
                    num(n.map_or(missing, |n| n.npde)),
                    o.map_or(0, |o| o.blq)
                );
            }
        }
        Ok(t)
    }

    /// The patab: one row per subject and parameter set.
    pub fn patab(&self) -> Result<String> {
        let code = &self.model.code;
        let eta_names = &code.omega.names;
        let kappa_names: &[String] = code.iov.as_ref().map_or(&[], |i| &i.effects.names);
        let cov_idx: Vec<Option<usize>> = code
            .covariates
            .iter()
            .map(|c| self.dataset.covariate_index(c))
            .collect();
        let n_kappa = kappa_names.len();
        let mut header: Vec<String> = vec!["ID".into(), "TIME".into()];
        let mut variables: Vec<String> = Vec::new();
        let mut t = String::new();
        for (s, (eta, kappa), raw) in self.subjects() {
            let sets = self
                .model
                .individual_parameters(&s.data, &self.fit.values_with(eta, kappa))
                .map_err(|e| Error::Fit {
                    subject: s.data.id.clone(),
                    message: format!("the individual parameters: {e}"),
                })?;
            if variables.is_empty() {
                if let Some(first) = sets.first() {
                    variables = first.values.iter().map(|(n, _)| n.clone()).collect();
                }
            }
            for set in &sets {
                let record = raw.records.iter().find(|r| r.line == set.line);
                let occasion = record.map_or(0, |r| occasion_of(code, self.dataset, raw, r));
                let mut fields = vec![s.data.id.clone(), num(set.time)];
                fields.extend(variables.iter().map(|n| num(set.get(n).unwrap_or(f64::NAN))));
                fields.extend(eta.iter().map(|&v| num(v)));
                fields
                    .extend((0..n_kappa).map(|k| num(kappa.get(occasion * n_kappa + k).copied().unwrap_or(f64::NAN))));
                fields.extend(
                    cov_idx
                        .iter()
                        .map(|j| num(j.and_then(|j| record.map(|r| r.covariates[j])).unwrap_or(f64::NAN))),
                );
                t.push_str(&fields.join(","));
                t.push('\n');
            }
        }
        header.extend(variables);
        header.extend(eta_names.iter().cloned());
        header.extend(kappa_names.iter().cloned());
        header.extend(code.covariates.iter().cloned());
        Ok(format!("{}\n{t}", header.join(",")))
    }
}

/// The occasion index (0-based, in order of appearance in the subject) of a
/// record, as the model numbers occasions.
fn occasion_of(
    code: &crate::lang::CompiledModel,
    dataset: &Dataset,
    subject: &crate::data::nonmem::Subject,
    record: &crate::data::nonmem::Record,
) -> usize {
    let Some(column) = code.iov.as_ref().and_then(|i| dataset.covariate_index(&i.occasion)) else {
        return 0;
    };
    let mut seen: Vec<f64> = Vec::new();
    for r in &subject.records {
        let v = r.covariates[column];
        if !seen.contains(&v) {
            seen.push(v);
        }
        if std::ptr::eq(r, record) {
            return seen.iter().position(|&o| o == v).unwrap_or(0);
        }
    }
    0
}
