//! Population pharmacokinetics on the model language: Monte Carlo
//! simulation of virtual patients, comparison of individuals with the
//! population, and maximum a posteriori (Bayesian) individual estimates.

pub mod bayes;
pub mod compare;
pub mod estimation;
pub mod exposures;
pub mod map;
pub mod montecarlo;
pub mod outer;
pub mod saem;
