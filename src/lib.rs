//! `pk`: a pharmacokinetic modelling engine.
//!
//! Data in ([`data`]) → model ([`model`]) → dosing events and predictions
//! ([`dosing`], [`simulate`]) → reports and plots ([`plot`]).
//!
//! ```
//! use pk::dosing::Dose;
//! use pk::model::PkParams;
//! use pk::units::Units;
//! let p = PkParams::two_cmt_iv(20.0, 50.0, 30.0, 130.0).unwrap();
//! // 100 mg over 2 h into the central compartment (state 1); mg, L, h, ng/mL.
//! let profile =
//!     pk::simulate::simulate(&p, &Units::default(), &[Dose::infusion(0.0, 1, 100.0, 2.0)], &[2.0], false).unwrap();
//! assert!(profile.conc[0] > 0.0); // ng/mL
//! ```
#![warn(missing_docs)]
// `!(x > 0.0)` is used on purpose: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod autodiff;
pub mod data;
pub mod dosing;
pub mod error;
pub mod fit;
pub mod lang;
pub mod model;
pub mod nca;
pub mod nonmem;
pub mod ode;
pub mod output;
pub mod plot;
pub mod population;
pub mod report;
pub mod simulate;
pub mod units;
pub mod vpc;

pub use error::{Error, Result};
