//! Compartment models: structures and parameters, the closed-form (modal) and
//! ODE solutions, and model definition files.

pub mod analytic;
pub mod definition;
pub mod derived;
pub mod expfn;
pub mod kinetics;
pub mod ode;
pub mod runtime;
pub mod scenario;
pub mod structure;

pub use analytic::ModalKinetics;
pub use definition::ModelDefinition;
pub use derived::Disposition;
pub use kinetics::{Kinetics, Rates, State, MAX_STATES};
pub use ode::{OdeKinetics, OdeTolerances};
pub use runtime::{IndividualParameters, Model, Prediction, SubjectData, Values};
pub use structure::{Absorption, Elimination, ParamId, PkParams, Solver, Structure};
