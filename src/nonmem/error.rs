//! Errors of the NONMEM reader. Every error names the file and the line (and
//! the column or the data item where useful), the record, and what was expected.

use std::fmt;

/// A position in a control stream, an `.ext` file or a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    /// The file as given by the caller.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
}

impl SourcePos {
    /// A position naming a line and a column.
    pub fn new(file: impl Into<String>, line: usize, column: usize) -> Self {
        SourcePos {
            file: file.into(),
            line,
            column: Some(column),
        }
    }
    /// A position naming a line only.
    pub fn line(file: impl Into<String>, line: usize) -> Self {
        SourcePos {
            file: file.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        Ok(())
    }
}

fn item_suffix(item: &Option<String>) -> String {
    match item {
        Some(i) => format!(", data item {i}"),
        None => String::new(),
    }
}

/// Everything that can go wrong while reading a control stream, an `.ext`
/// file or a data file through a control stream.
#[derive(Debug, thiserror::Error)]
pub enum NonmemError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be parsed.
    #[error("{at}: {record}: {message}")]
    Syntax {
        /// Where.
        at: SourcePos,
        /// The record, as `$THETA`.
        record: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A record that is read but that the engine cannot honour.
    #[error("{at}: record {record} is not supported: {reason}")]
    UnsupportedRecord {
        /// Where the record starts.
        at: SourcePos,
        /// The record as written, as `$PRIOR`.
        record: String,
        /// Why it is refused.
        reason: String,
    },
    /// A statement of abbreviated code that the engine cannot honour.
    #[error("{at}: {record}: statement {statement} is not supported: {reason}")]
    UnsupportedStatement {
        /// Where the statement starts.
        at: SourcePos,
        /// The record holding it, as `$PK`.
        record: String,
        /// The statement, as `EXIT` or `DO WHILE`.
        statement: String,
        /// Why it is refused.
        reason: String,
    },
    /// A control stream that parses but cannot be lowered onto the model language.
    #[error("{at}: {record}: {message}")]
    Lowering {
        /// Where (the statement or record concerned).
        at: SourcePos,
        /// The record, as `$ERROR`.
        record: String,
        /// What cannot be lowered and what would make it work.
        message: String,
    },
    /// An `.ext` file is malformed.
    #[error("{at}: {message}")]
    Ext {
        /// Where.
        at: SourcePos,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A data file does not agree with `$INPUT`/`$DATA`.
    #[error("{at}{}: {message}", item_suffix(.item))]
    Data {
        /// Where (line of the data file, column = field number when known).
        at: SourcePos,
        /// The data item label concerned, when there is one.
        item: Option<String>,
        /// What was wrong and what was expected.
        message: String,
    },
}

impl NonmemError {
    /// The position the error refers to (none for I/O errors).
    pub fn position(&self) -> Option<&SourcePos> {
        match self {
            NonmemError::Io { .. } => None,
            NonmemError::Syntax { at, .. }
            | NonmemError::UnsupportedRecord { at, .. }
            | NonmemError::UnsupportedStatement { at, .. }
            | NonmemError::Lowering { at, .. }
            | NonmemError::Ext { at, .. }
            | NonmemError::Data { at, .. } => Some(at),
        }
    }

    /// The message without the position.
    fn detail(&self) -> String {
        match self {
            NonmemError::Io { source, .. } => source.to_string(),
            NonmemError::Syntax { at, record, message } | NonmemError::Lowering { at, record, message } => {
                format!("{}{record}: {message}", column_prefix(at))
            }
            NonmemError::UnsupportedRecord { record, reason, .. } => {
                format!("record {record} is not supported: {reason}")
            }
            NonmemError::UnsupportedStatement {
                at,
                record,
                statement,
                reason,
            } => format!(
                "{}{record}: statement {statement} is not supported: {reason}",
                column_prefix(at)
            ),
            NonmemError::Ext { message, .. } | NonmemError::Data { message, .. } => message.clone(),
        }
    }
}

fn column_prefix(at: &SourcePos) -> String {
    match at.column {
        Some(c) => format!("column {c}: "),
        None => String::new(),
    }
}

impl From<NonmemError> for crate::Error {
    fn from(e: NonmemError) -> Self {
        use crate::error::Location;
        match e {
            NonmemError::Io { path, source } => crate::Error::Io { path, source },
            NonmemError::Data { ref at, ref item, .. } => {
                let mut location = Location::line(at.file.clone(), at.line);
                if let Some(i) = item {
                    location = location.with_column(i.clone());
                }
                crate::Error::Data {
                    location,
                    message: e.detail(),
                }
            }
            _ => {
                let (file, line) = match e.position() {
                    Some(p) => (p.file.clone(), p.line),
                    None => (String::new(), 0),
                };
                crate::Error::Data {
                    location: Location::line(file, line),
                    message: e.detail(),
                }
            }
        }
    }
}
