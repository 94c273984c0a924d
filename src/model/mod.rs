//! Models: the language model's runtime ([`Model`]), the closed-form (modal)
//! kernels and their parameters, and scenarios to simulate.

pub mod analytic;
pub mod derived;
pub mod expfn;
pub mod kinetics;
pub mod ode;
pub mod runtime;
pub mod scenario;
pub mod structure;

pub use analytic::ModalKinetics;
pub use derived::Disposition;
pub use kinetics::{Kinetics, Rates, State, MAX_STATES};
pub use ode::{OdeKinetics, OdeTolerances};
pub use runtime::{kernel_params, Derivatives, IndividualParameters, Model, Prediction, SubjectData, Values};
pub use structure::{Absorption, PkParams, Structure};
