//! The data of a call: a file, or CSV text (a DataFrame written by the
//! Python layer), read as the CLI reads a data file.

use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::{Error, Result};

/// The data of a fit: a file, or CSV text (a DataFrame written by the
/// Python layer) with the name that errors give it.
pub(crate) enum DataSource {
    /// The control stream's `$DATA`.
    Default,
    /// A file.
    Path(String),
    /// CSV text and its name.
    Text(String, String),
}

/// A data file or text read as `pk popfit` reads one, without the `drop`
/// columns and with the `accept` records only.
pub(crate) fn read_data(source: &DataSource, drop: &[String], accept: &[(String, f64)]) -> Result<Dataset> {
    let options = ReadOptions { drop: drop.to_vec() };
    let mut data = match source {
        DataSource::Path(p) => read_dataset(p, &options)?,
        DataSource::Text(text, name) => pk::data::parse_dataset(text, name, &options)?,
        DataSource::Default => {
            return Err(Error::Argument(
                "no data: give data (a DataFrame or a file) for a model in the model language (only a NONMEM control stream has its own $DATA)"
                    .into(),
            ))
        }
    };
    for (name, value) in accept {
        data = data.accept(name, *value)?;
    }
    Ok(data)
}

impl DataSource {
    /// The data from the Python call's `data_path` or `data_text` (named `data_name`).
    pub(crate) fn of(path: Option<String>, text: Option<String>, name: Option<String>) -> Result<Self> {
        match (path, text) {
            (Some(p), None) => Ok(DataSource::Path(p)),
            (None, Some(t)) => Ok(DataSource::Text(t, name.unwrap_or_else(|| "<DataFrame>".into()))),
            (None, None) => Ok(DataSource::Default),
            (Some(_), Some(_)) => Err(Error::Argument("give data as a path or as text, not both".into())),
        }
    }

    /// The name of the data in messages (as the CLI names a data file).
    pub(crate) fn name(&self) -> &str {
        match self {
            DataSource::Default => "$DATA",
            DataSource::Path(p) => p,
            DataSource::Text(_, n) => n,
        }
    }
}
