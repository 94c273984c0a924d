//! Dosing: resolved doses, the event timeline with NONMEM semantics, steady
//! state, the prediction engine, regimen texts and body-surface area.

pub mod bsa;
pub mod dose;
pub mod engine;
pub mod regimen;
pub mod steady_state;
pub mod timeline;

pub use dose::{Dose, Input, SteadyState};
pub use engine::{predict, EngineError};
pub use timeline::{Action, ActionKind, Event, Timeline};
