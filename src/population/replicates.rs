//! Replicate data sets simulated at population estimates: the simulation
//! core shared by NPDE ([`super::npde`]) and the VPC ([`crate::vpc`]).
//!
//! Per subject, each replicate draws b = (η, κ per occasion) ~ N(0, Ω_b)
//! and then y = f(b) + √R(b)·ε, ε ~ N(0, 1), at the subject's own
//! observation records (its dosing, covariates and occasions), on the error
//! model's scale (logarithms for log-scale outputs). Subject i draws from
//! ChaCha8 seeded with the seed, stream i ([`subject_rng`]), replicate after
//! replicate, so the draws do not depend on the number of threads.

use super::estimation::{stacked_omega, AtValues, PopSubject, PopValues};
use super::map::Conditional;
use crate::model::Model;
use nalgebra::DVector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The random stream of subject `index` (its position in the data) under `seed`.
pub fn subject_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// `samples` simulated observation vectors of `subject` at `values`, on the
/// error model's scale, drawn from `rng` (see the module documentation).
/// An error message when Ω_b is not positive definite or the model cannot
/// be evaluated at a draw.
pub fn simulate_subject(
    model: &Model,
    subject: &PopSubject,
    values: &PopValues,
    samples: usize,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<Vec<DVector<f64>>, String> {
    let iov = model.code.iov.is_some();
    let omega_b = stacked_omega(values, subject.data.n_occasions, iov);
    let chol = omega_b
        .cholesky()
        .ok_or_else(|| "the covariance of the random effects is not positive definite".to_string())?;
    let l_omega = chol.l();
    let at = AtValues::new(model, subject, values);
    let n = subject.y.len();
    let mut sims = Vec::with_capacity(samples);
    for _ in 0..samples {
        let z = DVector::from_iterator(
            l_omega.nrows(),
            (0..l_omega.nrows()).map(|_| rng.sample(StandardNormal)),
        );
        let b = &l_omega * z;
        let fitted = at.evaluate(b.as_slice())?;
        let y = DVector::from_iterator(
            n,
            (0..n).map(|j| fitted.f[j] + fitted.r[j].max(0.0).sqrt() * rng.sample::<f64, _>(StandardNormal)),
        );
        sims.push(y);
    }
    Ok(sims)
}

/// The population predictions (η = 0, κ = 0) of `subject` at `values`, on
/// the data's scale (back from logarithms for log-scale outputs).
pub fn population_predictions(
    model: &Model,
    subject: &PopSubject,
    values: &PopValues,
) -> std::result::Result<Vec<f64>, String> {
    let iov = model.code.iov.is_some();
    let n_b = stacked_omega(values, subject.data.n_occasions, iov).nrows();
    let fitted = AtValues::new(model, subject, values).evaluate(&vec![0.0; n_b])?;
    Ok(fitted
        .f
        .iter()
        .zip(&subject.log)
        .map(|(f, l)| if *l { f.exp() } else { *f })
        .collect())
}
