//! Input data: NONMEM-style datasets and their conversion into dosing events.

pub mod events;
pub mod nonmem;

pub use events::subject_events;
pub use nonmem::{
    dataset_from_values, parse_dataset, read_dataset, Dataset, Evid, ReadOptions, Record, RecordValues, Subject,
};
