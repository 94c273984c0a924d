//! Population pharmacokinetics on the model language: Monte Carlo
//! simulation of virtual patients, comparison of individuals with the
//! population, maximum a posteriori (Bayesian) individual estimates, and
//! the case bootstrap of a population fit.

pub mod bayes;
pub mod bootstrap;
pub mod compare;
pub mod covariance;
pub mod estimation;
pub mod exposures;
pub mod map;
pub mod montecarlo;
pub mod npde;
pub mod outer;
pub mod replicates;
pub mod saem;
pub mod sir;
pub mod tables;
