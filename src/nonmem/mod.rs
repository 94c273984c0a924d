//! Reader for NONMEM control streams, `.ext` result files and the data files
//! they describe. It parses only: it produces typed structures that a later
//! step lowers onto the engine's models; it evaluates and fits nothing.
//!
//! - [`ControlStream`]: `$PROBLEM`, `$INPUT`, `$DATA`, `$SUBROUTINES`,
//!   `$MODEL`, `$PK`/`$PRED`/`$ERROR`/`$DES` (as [`code::CodeBlock`]s),
//!   `$THETA`, `$OMEGA`, `$SIGMA`, `$ESTIMATION`, `$COVARIANCE`, `$TABLE`.
//!   Record names may be abbreviated to three letters and written in any case.
//!   `$ABBR`, `$SIZES`, `$SCATTER` and `$WARNINGS` are tolerated; any other
//!   record (`$PRIOR`, `$MIX`, `$SIMULATION`, `$AES`, …) is kept in
//!   [`ControlStream::unsupported`] and [`ControlStream::ensure_supported`]
//!   refuses it with its line, as it does unsupported statements of
//!   abbreviated code (`EXIT`, `CALL`, `DO WHILE`, verbatim `"` lines).
//! - [`ext::read_ext`]: the final-estimate and standard-error rows.
//! - [`dataset::read_dataset`]: the data file as `$INPUT` and `$DATA` say.
//!
//! ```
//! use pk::nonmem::ControlStream;
//! let cs = ControlStream::parse(
//!     "$PROB demo\n$INPUT ID TIME DV AMT\n$DATA d.csv IGNORE=@\n$SUB ADVAN1 TRANS2\n\
//!      $PK\nCL=THETA(1)*EXP(ETA(1))\nV=THETA(2)\nS1=V\n$ERROR\nY=F*(1+EPS(1))\n\
//!      $THETA (0,3.7) ;CL\n (0,9.8) ;V\n$OMEGA 0.1\n$SIGMA 0.02\n$EST METHOD=1 INTER",
//!     "demo.ctl",
//! ).unwrap();
//! assert_eq!(cs.thetas[0].label.as_deref(), Some("CL"));
//! assert_eq!(cs.subroutines.as_ref().unwrap().advan, Some(1));
//! cs.ensure_supported().unwrap();
//! ```

pub mod code;
pub mod dataset;
pub mod error;
pub mod ext;
pub mod import;
pub mod input;
pub mod lower;
pub mod parameters;
mod records;
mod source;
pub mod subroutines;
pub mod table;
pub mod tasks;

pub use code::CodeBlock;
pub use error::{NonmemError, SourcePos};
pub use ext::{parse_ext, read_ext, ExtEstimates, ExtTable};
pub use input::{CommentRule, DataFilter, DataRecord, FilterOp, InputColumn, RecordsLimit};
pub use parameters::{BlockForm, CovarianceBlock, Parameterisation, Theta};
pub use source::RecordOption;
pub use subroutines::{Compartment, ModelRecord, Subroutines};
pub use tasks::{CovarianceStep, Estimation, EstimationMethod, Table, TableColumn};

use records::RecordKind;
use source::{split_records, RawRecord, Src};
use std::path::{Path, PathBuf};

/// `$PROBLEM`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The text after the record name on its line, trimmed.
    pub title: String,
    /// Line of the record.
    pub line: usize,
}

/// A record kept without interpretation: tolerated (`$SIZES`) or unsupported
/// (`$PRIOR`).
#[derive(Debug, Clone, PartialEq)]
pub struct OtherRecord {
    /// The record name as written, with `$` (as `$prior`).
    pub written: String,
    /// The canonical name (as `PRIOR`), when NONMEM knows the record.
    pub canonical: Option<String>,
    /// Line of the record.
    pub line: usize,
    /// Column of the `$`.
    pub column: usize,
    /// Why the engine refuses it (empty for tolerated records).
    pub reason: String,
    /// The body as written.
    pub text: String,
}

/// A parsed control stream (its first problem).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlStream {
    /// The file as given (data paths are relative to its folder).
    pub file: String,
    /// `$PROBLEM`.
    pub problem: Option<Problem>,
    /// `$INPUT` items of all `$INPUT` records in order (each continues the previous).
    pub input: Vec<InputColumn>,
    /// `$DATA`.
    pub data: Option<DataRecord>,
    /// `$SUBROUTINES`.
    pub subroutines: Option<Subroutines>,
    /// `$MODEL`.
    pub model: Option<ModelRecord>,
    /// `$PK`.
    pub pk: Option<CodeBlock>,
    /// `$PRED`.
    pub pred: Option<CodeBlock>,
    /// `$ERROR`.
    pub error: Option<CodeBlock>,
    /// `$DES`.
    pub des: Option<CodeBlock>,
    /// θ of all `$THETA` records in order (θ1 first).
    pub thetas: Vec<Theta>,
    /// `$THETA` options that are not values (`NUMBERPOINTS=`, `ABORT`, …).
    pub theta_options: Vec<RecordOption>,
    /// Ω blocks in order (diagonal elements as 1×1 blocks, SAME resolved).
    pub omega: Vec<CovarianceBlock>,
    /// Σ blocks in order.
    pub sigma: Vec<CovarianceBlock>,
    /// `$ESTIMATION` records in order.
    pub estimations: Vec<Estimation>,
    /// `$COVARIANCE`.
    pub covariance: Option<CovarianceStep>,
    /// `$TABLE` records in order.
    pub tables: Vec<Table>,
    /// Records read and ignored: `$ABBR` (without `REPLACE`), `$SIZES`, `$SCATTER`, `$WARNINGS`.
    pub tolerated: Vec<OtherRecord>,
    /// Records the engine cannot honour, with the reason; see
    /// [`ControlStream::ensure_supported`].
    pub unsupported: Vec<OtherRecord>,
}

fn body_text(r: &RawRecord) -> String {
    r.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
}

impl ControlStream {
    /// Parses the text of a control stream; `file` names it in errors and
    /// locates the data file.
    pub fn parse(text: &str, file: &str) -> Result<ControlStream, NonmemError> {
        let raw = split_records(text, file)?;
        let mut cs = ControlStream {
            file: file.to_string(),
            problem: None,
            input: Vec::new(),
            data: None,
            subroutines: None,
            model: None,
            pk: None,
            pred: None,
            error: None,
            des: None,
            thetas: Vec::new(),
            theta_options: Vec::new(),
            omega: Vec::new(),
            sigma: Vec::new(),
            estimations: Vec::new(),
            covariance: None,
            tables: Vec::new(),
            tolerated: Vec::new(),
            unsupported: Vec::new(),
        };
        let mut first_line: std::collections::HashMap<&'static str, usize> = Default::default();
        for (k, r) in raw.iter().enumerate() {
            let other = |reason: &str, canonical: Option<&str>| OtherRecord {
                written: r.written.clone(),
                canonical: canonical.map(str::to_string),
                line: r.line,
                column: r.col,
                reason: reason.to_string(),
                text: body_text(r),
            };
            let Some((canon, kind)) = records::classify(&r.name) else {
                cs.unsupported.push(other(
                    "unknown record: NONMEM records are $PROBLEM, $INPUT, $DATA, $SUBROUTINES, $PK, $ERROR, $THETA, …",
                    None,
                ));
                continue;
            };
            let once = |first_line: &mut std::collections::HashMap<&'static str, usize>| -> Result<(), NonmemError> {
                if let Some(prev) = first_line.insert(canon, r.line) {
                    return Err(NonmemError::Syntax {
                        at: SourcePos::new(file, r.line, r.col),
                        record: format!("${canon}"),
                        message: format!(
                            "a second ${canon} record (the first is at line {prev}): expected one per problem"
                        ),
                    });
                }
                Ok(())
            };
            let record = format!("${canon}");
            let src = || Src::new(&r.lines);
            match kind {
                RecordKind::Problem => {
                    if cs.problem.is_some() {
                        // A second problem: keep it (and all that follows) as unsupported.
                        let mut rest = other(
                            "a control stream with more than one problem: only the first is read",
                            Some(canon),
                        );
                        rest.text = raw[k..]
                            .iter()
                            .map(|r| format!("{}{}", r.written, body_text(r)))
                            .collect::<Vec<_>>()
                            .join("\n");
                        cs.unsupported.push(rest);
                        break;
                    }
                    cs.problem = Some(Problem {
                        title: r.lines.first().map(|l| l.text.trim().to_string()).unwrap_or_default(),
                        line: r.line,
                    });
                }
                RecordKind::Input => {
                    let cols = input::parse_input(&src(), file, cs.input.len())?;
                    cs.input.extend(cols);
                }
                RecordKind::Data => {
                    once(&mut first_line)?;
                    cs.data = Some(input::parse_data(&src(), file, r.line)?);
                }
                RecordKind::Subroutines => {
                    once(&mut first_line)?;
                    cs.subroutines = Some(subroutines::parse_subroutines(&src(), file, r.line)?);
                }
                RecordKind::Model => {
                    once(&mut first_line)?;
                    cs.model = Some(subroutines::parse_model(&src(), file, r.line)?);
                }
                RecordKind::Pk | RecordKind::Pred | RecordKind::Error | RecordKind::Des => {
                    once(&mut first_line)?;
                    // `$ERROR (ONLY OBSERVATIONS)`: $ERROR runs at observations,
                    // as the engine's outputs always do.
                    let mut lines = r.lines.clone();
                    if kind == RecordKind::Error {
                        if let Some(first) = lines.iter_mut().find(|l| !l.text.trim().is_empty()) {
                            let t = first.text.trim_start();
                            if let (Some(rest), Some(end)) = (t.strip_prefix('('), t.find(')')) {
                                let inside = rest[..end - 1].to_ascii_uppercase();
                                let words: Vec<&str> = inside.split_whitespace().collect();
                                let only_obs = words.len() == 2
                                    && words.contains(&"ONLY")
                                    && words.iter().any(|w| w.starts_with("OBS"));
                                if only_obs {
                                    let lead = first.text.len() - t.len();
                                    let blank = " ".repeat(lead + end + 1);
                                    first.text = format!("{blank}{}", &t[end + 1..]);
                                }
                            }
                        }
                    }
                    let block = code::parse_code(&lines, file, &record, r.line)?;
                    let slot = match kind {
                        RecordKind::Pk => &mut cs.pk,
                        RecordKind::Pred => &mut cs.pred,
                        RecordKind::Error => &mut cs.error,
                        _ => &mut cs.des,
                    };
                    *slot = Some(block);
                }
                RecordKind::Theta => {
                    let t = parameters::parse_thetas(&src(), file, &mut cs.theta_options)?;
                    cs.thetas.extend(t);
                    if cs.thetas.len() > parameters::MAX_THETAS {
                        return Err(NonmemError::Syntax {
                            at: SourcePos::new(file, r.line, r.col),
                            record: record.clone(),
                            message: format!("more than {} θ in the control stream", parameters::MAX_THETAS),
                        });
                    }
                }
                RecordKind::Omega => {
                    parameters::parse_covariance(&src(), file, "$OMEGA", r.line, &mut cs.omega)?;
                }
                RecordKind::Sigma => {
                    parameters::parse_covariance(&src(), file, "$SIGMA", r.line, &mut cs.sigma)?;
                }
                RecordKind::Estimation => {
                    cs.estimations.push(tasks::parse_estimation(&src(), file, r.line)?);
                }
                RecordKind::Covariance => {
                    once(&mut first_line)?;
                    cs.covariance = Some(tasks::parse_covariance_step(&src(), file, r.line)?);
                }
                RecordKind::Table => {
                    cs.tables.push(tasks::parse_table(&src(), file, r.line)?);
                }
                RecordKind::Tolerated => {
                    let replace = canon == "ABBREVIATED"
                        && r.lines.iter().any(|l| {
                            let code = l.text.split(';').next().unwrap_or("");
                            code.split(|c: char| !c.is_ascii_alphanumeric())
                                .any(|w| w.to_ascii_uppercase().starts_with("REPL"))
                        });
                    if replace {
                        cs.unsupported.push(other(
                            "$ABBR REPLACE rewrites the abbreviated code; the substitution is not implemented",
                            Some(canon),
                        ));
                    } else {
                        cs.tolerated.push(other("", Some(canon)));
                    }
                }
                RecordKind::Unsupported(reason) => cs.unsupported.push(other(reason, Some(canon))),
            }
        }
        Ok(cs)
    }

    /// Reads and parses a control stream file.
    pub fn read(path: impl AsRef<Path>) -> Result<ControlStream, NonmemError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| NonmemError::Io {
            path: name.clone(),
            source,
        })?;
        ControlStream::parse(&String::from_utf8_lossy(&bytes), &name)
    }

    /// The data file of `$DATA`, relative to the control stream's folder.
    pub fn data_path(&self) -> Option<PathBuf> {
        let d = self.data.as_ref()?;
        let p = Path::new(&d.path);
        if p.is_absolute() {
            return Some(p.to_path_buf());
        }
        let dir = Path::new(&self.file).parent().unwrap_or(Path::new(""));
        Some(dir.join(p))
    }

    /// The abbreviated-code records present, in the order `$PK`, `$PRED`,
    /// `$DES`, `$ERROR`.
    pub fn code_blocks(&self) -> Vec<&CodeBlock> {
        [&self.pk, &self.pred, &self.des, &self.error]
            .into_iter()
            .filter_map(|b| b.as_ref())
            .collect()
    }

    /// The `$INPUT` column answering to a label (name or synonym, any case).
    pub fn input_column(&self, label: &str) -> Option<&InputColumn> {
        self.input.iter().find(|c| c.answers_to(label))
    }

    /// The full initial Ω.
    pub fn omega_matrix(&self) -> nalgebra::DMatrix<f64> {
        parameters::full_matrix(&self.omega)
    }

    /// The full initial Σ.
    pub fn sigma_matrix(&self) -> nalgebra::DMatrix<f64> {
        parameters::full_matrix(&self.sigma)
    }

    /// Every unsupported record and statement, as errors, in file order.
    pub fn unsupported_items(&self) -> Vec<NonmemError> {
        let mut out: Vec<(usize, NonmemError)> = Vec::new();
        for r in &self.unsupported {
            out.push((
                r.line,
                NonmemError::UnsupportedRecord {
                    at: SourcePos::new(&self.file, r.line, r.column),
                    record: r.written.clone(),
                    reason: r.reason.clone(),
                },
            ));
        }
        for b in self.code_blocks() {
            for s in b.unsupported() {
                if let code::StatementKind::Unsupported { statement, reason, .. } = &s.kind {
                    out.push((
                        s.line,
                        NonmemError::UnsupportedStatement {
                            at: SourcePos::new(&self.file, s.line, s.column),
                            record: b.record.clone(),
                            statement: statement.clone(),
                            reason: reason.clone(),
                        },
                    ));
                }
            }
        }
        out.sort_by_key(|(l, _)| *l);
        out.into_iter().map(|(_, e)| e).collect()
    }

    /// Refuses the first unsupported record or statement (in file order),
    /// naming it and its line.
    pub fn ensure_supported(&self) -> Result<(), NonmemError> {
        match self.unsupported_items().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_any_case_and_abbreviated() {
        let cs = ControlStream::parse(
            "$prob x\n$inp ID TIME DV\n$dat d.csv\n$subr advan2 trans2\n$pk\nka=theta(1)\n$err\ny=f+eps(1)\n$the 1\n$ome 0.1\n$sig 0.1\n$estm meth=0\n$covr\n$tab ID\n$SIZES PD=50\n$ABBR DERIV2=NO",
            "f.ctl",
        )
        .unwrap();
        assert_eq!(cs.problem.as_ref().unwrap().title, "x");
        assert_eq!(cs.input.len(), 3);
        assert_eq!(cs.subroutines.as_ref().unwrap().advan, Some(2));
        assert_eq!(cs.pk.as_ref().unwrap().statements.len(), 1);
        assert_eq!(cs.estimations[0].method, Some(EstimationMethod::FirstOrder));
        assert!(cs.covariance.is_some());
        assert_eq!(cs.tolerated.len(), 2);
        cs.ensure_supported().unwrap();
    }

    #[test]
    fn unsupported_records_and_second_problem() {
        let cs = ControlStream::parse(
            "$PROB a\n$INPUT ID\n$PRIOR NWPRI\n$ABBR REPLACE ETA(CL)=ETA(1)\n$FOO\n$PROB b\n$INPUT X",
            "f.ctl",
        )
        .unwrap();
        let msgs: Vec<String> = cs.unsupported_items().iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[0].starts_with("f.ctl, line 3, column 1: record $PRIOR is not supported: priors"),
            "{}",
            msgs[0]
        );
        assert!(msgs[1].contains("REPLACE"), "{}", msgs[1]);
        assert!(
            msgs[2].contains("$FOO") && msgs[2].contains("unknown record"),
            "{}",
            msgs[2]
        );
        assert!(
            msgs[3].contains("line 6") && msgs[3].contains("more than one problem"),
            "{}",
            msgs[3]
        );
        assert_eq!(cs.input.len(), 1, "the second problem is not read");
    }

    #[test]
    fn duplicate_records_are_refused() {
        let e = ControlStream::parse("$PROB a\n$DATA a.csv\n$DATA b.csv", "f.ctl").unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn data_path_is_relative_to_the_control_stream() {
        let cs = ControlStream::parse("$PROB a\n$DATA ../d/x.csv", "runs/r1/run.ctl").unwrap();
        assert_eq!(cs.data_path().unwrap(), PathBuf::from("runs/r1/../d/x.csv"));
    }
}
