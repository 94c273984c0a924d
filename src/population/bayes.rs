//! Bayesian (maximum a posteriori) individual fits: each subject's parameters
//! estimated from its own samples with the population model as prior, as in
//! therapeutic drug monitoring and NONMEM's POSTHOC step. The model is written
//! in the model language: θ (with the subject's covariates in its code), Ω
//! and the σ of its error models are the file's; η̂ is popfit's conditional mode.

use super::estimation::{conditional_modes_weighted, PopValues, PopulationData};
use super::map::{shrinkage, MapEstimate};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{IndividualParameters, Model, SubjectData, Values};

/// The MAP fit of one subject under a model written in the model language
/// (θ, Ω, σ from the file).
#[derive(Debug, Clone)]
pub struct ModelMapFit {
    /// Subject id.
    pub id: String,
    /// b̂ = (η̂, κ̂ per occasion).
    pub eta: Vec<f64>,
    /// Approximate SE of each component of b̂ (inverse of half the expected information).
    pub eta_se: Vec<f64>,
    /// The estimate with the quantities at b̂ (f on the error model's scale).
    pub estimate: MapEstimate,
    /// Individual parameters at b̂, per parameter set.
    pub individual: Vec<IndividualParameters>,
    /// Individual parameters at b = 0 (typical for the covariates), per parameter set.
    pub typical: Vec<IndividualParameters>,
    /// (line, time, DV) of the observations used.
    pub observations: Vec<(usize, f64, f64)>,
    /// Whether each observation is compared on the log scale.
    pub log: Vec<bool>,
    /// The subject as prepared for the model.
    pub subject: SubjectData,
}

/// MAP fits of every subject of `data` under `model`'s population values,
/// through popfit's conditional mode; a subject whose estimate fails gets its
/// error (naming it) and the others go on.
pub fn map_fit_model(model: &Model, data: &Dataset, values: &PopValues) -> Result<Vec<(String, Result<ModelMapFit>)>> {
    map_fit_model_weighted(model, data, values, 1.0)
}

/// [`map_fit_model`] with the prior term multiplied by `prior_weight` (0: maximum likelihood of η).
pub fn map_fit_model_weighted(
    model: &Model,
    data: &Dataset,
    values: &PopValues,
    prior_weight: f64,
) -> Result<Vec<(String, Result<ModelMapFit>)>> {
    let pop = PopulationData::new(model, data)?;
    let modes = conditional_modes_weighted(model, &pop, values, prior_weight);
    let n_eta = values.omega.nrows();
    Ok(pop
        .subjects
        .iter()
        .zip(modes)
        .map(|(s, mode)| {
            let fit = mode.and_then(|estimate| {
                let at = |b: &[f64]| {
                    let (eta, kappa) = b.split_at(n_eta.min(b.len()));
                    model.individual_parameters(
                        &s.data,
                        &Values {
                            theta: &values.theta,
                            eta,
                            kappa,
                            sigma_sd: &values.sigma_sd,
                        },
                    )
                };
                let cov = estimate.half_information.clone().try_inverse();
                let eta_se = (0..estimate.eta.len())
                    .map(|k| cov.as_ref().map_or(f64::NAN, |c| c[(k, k)].max(0.0).sqrt()))
                    .collect();
                Ok(ModelMapFit {
                    id: s.data.id.clone(),
                    individual: at(&estimate.eta)?,
                    typical: at(&vec![0.0; estimate.eta.len()])?,
                    eta: estimate.eta.clone(),
                    eta_se,
                    observations: s.data.obs.iter().map(|o| (o.line, o.time, o.dv)).collect(),
                    log: s.log.clone(),
                    subject: s.data.clone(),
                    estimate,
                })
            });
            (s.data.id.clone(), fit)
        })
        .collect())
}

/// η-shrinkage of the fitted subjects (1 − SD(η̂)/ω per η of Ω; κ left out).
pub fn model_shrinkage(values: &PopValues, fits: &[(String, Result<ModelMapFit>)]) -> Vec<f64> {
    let n = values.omega.nrows();
    let etas: Vec<Vec<f64>> = fits
        .iter()
        .filter_map(|(_, f)| f.as_ref().ok().map(|f| f.eta[..n].to_vec()))
        .collect();
    let sd: Vec<f64> = (0..n).map(|k| values.omega[(k, k)].sqrt()).collect();
    shrinkage(&etas, &sd)
}
