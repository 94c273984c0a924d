//! Input data: NONMEM-style datasets.

pub mod nonmem;

pub use nonmem::{
    dataset_from_values, parse_dataset, read_dataset, Dataset, Evid, ReadOptions, Record, RecordValues, Subject,
};
