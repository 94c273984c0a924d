//! The model language: a model is a text file that declares its parameters
//! (θ, Ω, inter-occasion κ, σ), computes individual parameters from them and
//! from data columns, names a closed-form kernel or writes ODEs, and defines
//! outputs with their residual error. See `docs/model_language.md`.
//!
//! ```
//! let m = pk::lang::parse_model(
//!     "theta CL = 5 (0.1, 100)\ntheta V = 50\nomega eta_cl ~ 0.1\nsigma prop ~ 0.01\n\
//!      CLi = CL * exp(eta_cl)\nkernel one_cmt_iv(CLi, V)\noutput CP = central / V ~ prop(prop)",
//!     "example.pk",
//! )
//! .unwrap();
//! assert_eq!(m.thetas.len(), 2);
//! assert_eq!(m.states, ["central"]);
//! ```

pub mod ast;
pub mod compile;
pub mod lexer;
pub mod linear;
pub mod parser;
pub mod program;
pub mod rewrite;

pub use compile::{
    Block, Blq, CompiledModel, Dynamics, Iov, Kernel, Layout, OutputDecl, RandomEffects, SigmaDecl, TermKind, ThetaDecl,
};
pub use program::Program;

use std::fmt;

/// A syntax or semantic error in a model file, with its position and the offending line.
#[derive(Debug, Clone, PartialEq)]
pub struct LangError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The text of the line.
    pub text: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl LangError {
    /// An error at a line and column, quoting the line's text.
    pub fn at(line: usize, column: usize, text: &str, message: String) -> Self {
        LangError {
            line,
            column,
            text: text.to_string(),
            message,
        }
    }
}

impl fmt::Display for LangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)?;
        if !self.text.is_empty() {
            write!(
                f,
                "\n    {}\n    {}^",
                self.text,
                " ".repeat(self.column.saturating_sub(1))
            )?;
        }
        Ok(())
    }
}

/// Parses and compiles a model; `origin` (a file name) names it in errors.
pub fn parse_model(text: &str, origin: &str) -> crate::Result<CompiledModel> {
    let stmts = parser::parse(text).map_err(|e| crate::Error::Language {
        file: origin.to_string(),
        error: e,
    })?;
    compile::compile(stmts, text).map_err(|e| crate::Error::Language {
        file: origin.to_string(),
        error: e,
    })
}
