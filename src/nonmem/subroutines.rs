//! `$SUBROUTINES` (ADVAN, TRANS, TOL) and `$MODEL` (compartments).

use super::error::NonmemError;
use super::source::{abbreviates, Cursor, RecordOption, Src};

/// The `$SUBROUTINES` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Subroutines {
    /// `ADVANn`: the PREDPP model (1–4, 10–13 are the usual ones).
    pub advan: Option<u32>,
    /// `TRANSn`: the parameterisation (NONMEM's default is TRANS1).
    pub trans: Option<u32>,
    /// `TOL=n`: significant digits asked of the ODE solver (ADVAN6/8/9/13…).
    pub tol: Option<u32>,
    /// `ATOL=n`: absolute tolerance digits (ADVAN13/14/15).
    pub atol: Option<u32>,
    /// Other options as written (`SSTOL=`, `OTHER=`, …).
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

fn numbered(word: &str, prefix: &str) -> Option<u32> {
    word.strip_prefix(prefix)
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

/// Parses a `$SUBROUTINES` record.
pub(crate) fn parse_subroutines(src: &Src, file: &str, line: usize) -> Result<Subroutines, NonmemError> {
    let mut cur = Cursor::new(src, file, "$SUBROUTINES");
    let mut s = Subroutines {
        advan: None,
        trans: None,
        tol: None,
        atol: None,
        other: Vec::new(),
        line,
    };
    while let Some(opt) = cur.option()? {
        let value_number = |o: &RecordOption| -> Result<u32, NonmemError> {
            o.value.as_deref().and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| {
                cur.error_at(
                    o.line,
                    o.column,
                    format!(
                        "{}={}: expected a whole number",
                        o.name,
                        o.value.as_deref().unwrap_or("")
                    ),
                )
            })
        };
        if let Some(n) = numbered(&opt.name, "ADVAN").filter(|_| opt.value.is_none()) {
            if s.advan.is_some() {
                return Err(cur.error_at(opt.line, opt.column, "ADVAN is given twice"));
            }
            s.advan = Some(n);
        } else if let Some(n) = numbered(&opt.name, "TRANS").filter(|_| opt.value.is_none()) {
            if s.trans.is_some() {
                return Err(cur.error_at(opt.line, opt.column, "TRANS is given twice"));
            }
            s.trans = Some(n);
        } else if opt.name == "TOL" {
            s.tol = Some(value_number(&opt)?);
        } else if opt.name == "ATOL" {
            s.atol = Some(value_number(&opt)?);
        } else if opt.name.starts_with("ADVAN") || opt.name.starts_with("TRANS") {
            return Err(cur.error_at(
                opt.line,
                opt.column,
                format!(
                    "'{}': expected ADVANn or TRANSn with a number, as ADVAN2 TRANS2",
                    opt.name
                ),
            ));
        } else {
            s.other.push(opt);
        }
    }
    Ok(s)
}

/// One `COMP=(…)` of `$MODEL`.
#[derive(Debug, Clone, PartialEq)]
pub struct Compartment {
    /// The compartment name, upper case (`CENTRAL`, `DEPOT`, …).
    pub name: String,
    /// `DEFDOSE`: the default dose compartment.
    pub default_dose: bool,
    /// `DEFOBS`: the default observation compartment.
    pub default_observation: bool,
    /// The other attributes as written, upper case (`INITIALOFF`, `NOOFF`,
    /// `NODOSE`, `EQUILIBRIUM`, `EXCLUDE`).
    pub attributes: Vec<String>,
    /// Line of the `COMP` option.
    pub line: usize,
}

/// The `$MODEL` record.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    /// `NCOMPARTMENTS=n` (also `NCOMP=`, `NCM=`), when given.
    pub ncompartments: Option<u32>,
    /// The compartments in order (compartment n is `compartments[n-1]`).
    pub compartments: Vec<Compartment>,
    /// Other options as written (`NEQUILIBRIUM=`, `NPARAMETERS=`, `LINK`, …).
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

/// Parses a `$MODEL` record.
pub(crate) fn parse_model(src: &Src, file: &str, line: usize) -> Result<ModelRecord, NonmemError> {
    let mut cur = Cursor::new(src, file, "$MODEL");
    let mut m = ModelRecord {
        ncompartments: None,
        compartments: Vec::new(),
        other: Vec::new(),
        line,
    };
    loop {
        cur.skip_separators();
        if cur.peek().is_none() {
            break;
        }
        let w = match cur.word() {
            Some(w) if !w.quoted => w,
            _ => {
                return Err(cur.error(format!(
                    "expected COMP=(name, …) or NCOMP=n, found '{}'",
                    cur.peek().unwrap_or(' ')
                )))
            }
        };
        let key = w.upper();
        if abbreviates(&key, "COMPARTMENT", 4) {
            // COMP=(A, B), COMP=A, COMP (A B) or COMP A
            cur.eat('=');
            cur.skip_ws();
            let items: Vec<String> = if cur.peek() == Some('(') {
                let g = cur.paren_group()?;
                g.text
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim_matches(|c| c == '\'' || c == '"').to_ascii_uppercase())
                    .collect()
            } else {
                match cur.word() {
                    Some(n) => vec![n.upper()],
                    None => Vec::new(),
                }
            };
            let Some((name, attrs)) = items.split_first() else {
                return Err(cur.error_at(
                    w.line,
                    w.col,
                    "COMP needs a compartment name, as COMP=(CENTRAL, DEFOBS)",
                ));
            };
            let mut c = Compartment {
                name: name.clone(),
                default_dose: false,
                default_observation: false,
                attributes: Vec::new(),
                line: w.line,
            };
            for a in attrs {
                if abbreviates(a, "DEFDOSE", 6) {
                    c.default_dose = true;
                } else if abbreviates(a, "DEFOBSERVATION", 6) {
                    c.default_observation = true;
                } else {
                    c.attributes.push(a.clone());
                }
            }
            m.compartments.push(c);
        } else if ["NCOMPARTMENTS", "NCOMPS", "NCOMP", "NCM"].contains(&key.as_str()) {
            if !cur.eat('=') {
                return Err(cur.error_at(w.line, w.col, format!("expected {key}=n")));
            }
            let v = cur.raw_value()?;
            m.ncompartments = Some(
                v.text
                    .parse()
                    .map_err(|_| cur.error_at(v.line, v.col, format!("{key}={}: expected a whole number", v.text)))?,
            );
        } else {
            let value = if cur.eat('=') {
                Some(cur.raw_value()?.text)
            } else {
                None
            };
            m.other.push(RecordOption {
                name: key,
                value,
                line: w.line,
                column: w.col,
            });
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Src {
        Src::from_text(text)
    }

    #[test]
    fn advan_trans_tol() {
        let s = parse_subroutines(&src("ADVAN1,TRANS2"), "f", 1).unwrap();
        assert_eq!((s.advan, s.trans, s.tol), (Some(1), Some(2), None));
        let s = parse_subroutines(&src("advan13 TOL=7 ATOL=9 SSTOL=4"), "f", 1).unwrap();
        assert_eq!((s.advan, s.trans, s.tol, s.atol), (Some(13), None, Some(7), Some(9)));
        assert_eq!(s.other[0].name, "SSTOL");
        let e = parse_subroutines(&src("ADVANX"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("ADVANn"), "{e}");
        let e = parse_subroutines(&src("ADVAN2 TOL=x"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
    }

    #[test]
    fn compartments() {
        let m = parse_model(
            &src("NCOMP=3\n COMP=(ABS,DEFDOSE)\n COMP=(CENTRAL DEFOBS NOOFF)\n COMP PERI"),
            "f",
            1,
        )
        .unwrap();
        assert_eq!(m.ncompartments, Some(3));
        assert_eq!(m.compartments.len(), 3);
        assert!(m.compartments[0].default_dose);
        assert!(m.compartments[1].default_observation);
        assert_eq!(m.compartments[1].attributes, ["NOOFF"]);
        assert_eq!(m.compartments[2].name, "PERI");
        assert_eq!(m.compartments[2].line, 4);
    }
}
