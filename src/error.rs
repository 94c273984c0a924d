//! Typed errors. Every error names where the problem is (file, line, column,
//! subject, parameter) and what was expected; the library never panics on user input.

use std::fmt;

/// Where in an input file a problem was found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// File path as given by the user (or a description such as `<regimen>`).
    pub file: String,
    /// 1-based line number, when known.
    pub line: Option<usize>,
    /// Column name, when the problem concerns one column.
    pub column: Option<String>,
}

impl Location {
    /// A location naming only a file.
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }
    /// A location naming a file and a line.
    pub fn line(file: impl Into<String>, line: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: None,
        }
    }
    /// Adds a column name.
    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(col) = &self.column {
            write!(f, ", column {col}")?;
        }
        Ok(())
    }
}

/// All errors produced by the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data or table file is malformed.
    #[error("{location}: {message}")]
    Data {
        /// Where.
        location: Location,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A model file in the model language has a syntax or semantic error.
    #[error("{file}: {error}")]
    Language {
        /// The model file.
        file: String,
        /// Position and message.
        error: crate::lang::LangError,
    },
    /// A model definition is malformed or inconsistent.
    #[error("model {model}: {message}")]
    Model {
        /// Model file or name.
        model: String,
        /// What was wrong.
        message: String,
    },
    /// A parameter value is missing, unknown or out of range.
    #[error("parameter {name}: {message}")]
    Parameter {
        /// Parameter name.
        name: String,
        /// What was wrong.
        message: String,
    },
    /// A unit could not be understood.
    #[error("unknown {kind} unit '{text}': expected one of {expected}")]
    Unit {
        /// Which kind of unit (amount, volume, time, concentration).
        kind: &'static str,
        /// The text given.
        text: String,
        /// The accepted spellings.
        expected: String,
    },
    /// A regimen text could not be parsed.
    #[error("regimen '{text}': {message}")]
    Regimen {
        /// The regimen text.
        text: String,
        /// What was wrong.
        message: String,
    },
    /// A dosing record cannot be simulated.
    #[error("subject {subject}, {location}: {message}")]
    Dosing {
        /// Subject id.
        subject: String,
        /// Where the record is.
        location: Location,
        /// What was wrong.
        message: String,
    },
    /// A numerical solver failed.
    #[error("solver failed for subject {subject} at time {time}: {message}")]
    Solver {
        /// Subject id.
        subject: String,
        /// Time at which integration failed.
        time: f64,
        /// Solver message.
        message: String,
    },
    /// A subject cannot be fitted (no usable observations, too few, invalid values).
    #[error("subject {subject}: {message}")]
    Fit {
        /// Subject id.
        subject: String,
        /// What was wrong and what would make the fit possible.
        message: String,
    },
    /// An invalid command-line or API argument.
    #[error("{0}")]
    Argument(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for a data error at a location.
    pub fn data(location: Location, message: impl Into<String>) -> Self {
        Error::Data {
            location,
            message: message.into(),
        }
    }
    /// Shorthand for a parameter error.
    pub fn parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Parameter {
            name: name.into(),
            message: message.into(),
        }
    }
    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
