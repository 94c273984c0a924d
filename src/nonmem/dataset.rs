//! Reads the data file of a control stream the way NM-TRAN does: comment
//! records (`IGNORE=c`, `#` by default, `IGNORE=@`), `IGNORE=(…)`/`ACCEPT=(…)`
//! lists, `RECORDS=`, dropped items, synonyms; fields separated by commas
//! and/or blanks; `.` or an empty field is null; fields beyond `$INPUT` are
//! ignored. Independent of [`crate::data`]'s reader: it yields rows of named
//! numbers and interprets no column.

use super::error::{NonmemError, SourcePos};
use super::input::{DataFilter, InputColumn, RecordsLimit};
use super::source::parse_number;
use super::ControlStream;

/// One data record that NONMEM would pass to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRow {
    /// 1-based line in the data file.
    pub line: usize,
    /// One value per kept column ([`Dataset::columns`]); `None` for a null
    /// field (`.`, empty, or missing at the end of the record).
    pub values: Vec<Option<f64>>,
}

impl DataRow {
    /// The value of kept column `k`, `None` if null.
    pub fn get(&self, k: usize) -> Option<f64> {
        self.values.get(k).copied().flatten()
    }

    /// The value of kept column `k` as NONMEM reads it: a null is 0.
    pub fn nonmem(&self, k: usize) -> f64 {
        self.get(k).unwrap_or(0.0)
    }
}

/// The records of a data file after `$INPUT`/`$DATA`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The data file as read.
    pub file: String,
    /// The kept (not dropped) `$INPUT` columns, in order.
    pub columns: Vec<InputColumn>,
    /// The records kept.
    pub rows: Vec<DataRow>,
}

impl Dataset {
    /// Index (in [`Dataset::columns`]) of the column answering to `label`
    /// (name or synonym, any case).
    pub fn column_index(&self, label: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.answers_to(label))
    }

    /// All values of a column (`None` for null), or `None` for an unknown label.
    pub fn column(&self, label: &str) -> Option<Vec<Option<f64>>> {
        let k = self.column_index(label)?;
        Some(self.rows.iter().map(|r| r.get(k)).collect())
    }
}

/// Splits a data record into fields: commas and blanks separate; an empty
/// field between two commas is kept (null).
pub fn split_fields(record: &str) -> Vec<&str> {
    if record.contains(',') {
        let mut out = Vec::new();
        for piece in record.split(',') {
            let mut words = piece.split_whitespace().peekable();
            if words.peek().is_none() {
                out.push("");
            } else {
                out.extend(words);
            }
        }
        out
    } else {
        record.split_whitespace().collect()
    }
}

/// A plain decimal number (`12`, `-0.5`, `1.5E-3`) without allocating; `None`
/// for anything else (Fortran `D` exponents, `INF`, …), left to [`parse_number`].
fn fast_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Reads the data file of a control stream (`$DATA`, relative to the control
/// stream's folder).
pub fn read_dataset(cs: &ControlStream) -> Result<Dataset, NonmemError> {
    let path = cs.data_path().ok_or_else(|| NonmemError::Syntax {
        at: SourcePos::line(&cs.file, 1),
        record: "$DATA".into(),
        message: "the control stream has no $DATA record".into(),
    })?;
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| NonmemError::Io {
        path: name.clone(),
        source,
    })?;
    parse_dataset(cs, &String::from_utf8_lossy(&bytes), &name)
}

/// Applies a control stream's `$INPUT` and `$DATA` to the text of its data file.
pub fn parse_dataset(cs: &ControlStream, text: &str, file: &str) -> Result<Dataset, NonmemError> {
    let data = cs.data.as_ref().ok_or_else(|| NonmemError::Syntax {
        at: SourcePos::line(&cs.file, 1),
        record: "$DATA".into(),
        message: "the control stream has no $DATA record".into(),
    })?;
    if cs.input.is_empty() {
        return Err(NonmemError::Syntax {
            at: SourcePos::line(&cs.file, data.line),
            record: "$INPUT".into(),
            message: "no $INPUT record: the data items are unknown".into(),
        });
    }
    let resolve = |f: &DataFilter| -> Result<usize, NonmemError> {
        cs.input
            .iter()
            .position(|c| c.answers_to(&f.label))
            .ok_or_else(|| NonmemError::Syntax {
                at: SourcePos::new(&cs.file, f.line, f.column),
                record: "$DATA".into(),
                message: format!("IGNORE/ACCEPT list: no $INPUT item is labelled {}", f.label),
            })
    };
    let ignore: Vec<(usize, &DataFilter)> = data
        .ignore
        .iter()
        .map(|f| resolve(f).map(|k| (k, f)))
        .collect::<Result<_, _>>()?;
    let accept: Vec<(usize, &DataFilter)> = data
        .accept
        .iter()
        .map(|f| resolve(f).map(|k| (k, f)))
        .collect::<Result<_, _>>()?;
    let by_label = match &data.records {
        Some(RecordsLimit::Label(l)) => {
            let k = cs
                .input
                .iter()
                .position(|c| c.answers_to(l))
                .ok_or_else(|| NonmemError::Syntax {
                    at: SourcePos::line(&cs.file, data.line),
                    record: "$DATA".into(),
                    message: format!("RECORDS={l}: no $INPUT item is labelled {l}"),
                })?;
            Some(k)
        }
        _ => None,
    };
    let limit = match &data.records {
        Some(RecordsLimit::Count(n)) => Some(*n),
        _ => None,
    };
    let kept: Vec<&InputColumn> = cs.input.iter().filter(|c| !c.dropped).collect();
    let mut rows = Vec::new();
    let mut count = 0usize;
    let mut first_label: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let record = raw.strip_suffix('\r').unwrap_or(raw);
        if record.trim().is_empty() || data.comments.is_comment(record) {
            continue;
        }
        if limit.is_some_and(|n| count >= n) {
            break;
        }
        count += 1;
        let fields = split_fields(record);
        let field = |k: usize| fields.get(k).copied().unwrap_or("");
        if let Some(k) = by_label {
            let v = field(k).trim().to_string();
            match &first_label {
                None => first_label = Some(v),
                Some(f) if *f != v => break,
                Some(_) => {}
            }
        }
        let holds = |k: usize, f: &DataFilter| {
            f.holds(field(k)).map_err(|m| NonmemError::Data {
                at: SourcePos::new(file, line, k + 1),
                item: Some(f.label.clone()),
                message: format!("{m}: the condition {} compares numbers", f.label),
            })
        };
        let mut dropped = false;
        for (k, f) in &ignore {
            if holds(*k, f)? {
                dropped = true;
                break;
            }
        }
        if !accept.is_empty() {
            let mut any = false;
            for (k, f) in &accept {
                if holds(*k, f)? {
                    any = true;
                    break;
                }
            }
            dropped |= !any;
        }
        if dropped {
            continue;
        }
        let mut values = Vec::with_capacity(kept.len());
        for c in &kept {
            let t = field(c.position).trim();
            if t.is_empty() || t == "." {
                values.push(None);
                continue;
            }
            match fast_number(t).or_else(|| parse_number(t)) {
                Some(v) if v.is_finite() => values.push(Some(v)),
                _ => {
                    return Err(NonmemError::Data {
                        at: SourcePos::new(file, line, c.position + 1),
                        item: Some(c.name.clone()),
                        message: format!(
                            "'{t}' is not a number (drop the item with {}=DROP, or mark the record as a comment)",
                            c.name
                        ),
                    })
                }
            }
        }
        rows.push(DataRow { line, values });
    }
    Ok(Dataset {
        file: file.to_string(),
        columns: kept.into_iter().cloned().collect(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(input: &str, data: &str) -> ControlStream {
        ControlStream::parse(&format!("$PROB t\n$INPUT {input}\n$DATA {data}"), "dir/t.ctl").unwrap()
    }

    #[test]
    fn fields() {
        assert_eq!(split_fields("1,2,,3"), ["1", "2", "", "3"]);
        assert_eq!(split_fields(" 1  2\t3 "), ["1", "2", "3"]);
        assert_eq!(split_fields("1, 2 ,3,"), ["1", "2", "3", ""]);
    }

    #[test]
    fn comments_lists_drops_and_nulls() {
        let c = cs(
            "C ID TIME DV AMT SEX=DROP SD",
            "d.csv IGNORE=C IGNORE=(SD.EQ.0, AMT.GT.100)",
        );
        let text =
            "C,ID,TIME,DV,AMT,SEX,SD\n.,1,0,.,50,M,1\n.,1,1,2.5,.,M,1\n.,1,2,3,.,M,0\n.,2,0,.,200,F,1\n\n.,2,1,4\n";
        let d = parse_dataset(&c, text, "d.csv").unwrap();
        let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["C", "ID", "TIME", "DV", "AMT", "SD"]);
        assert_eq!(d.rows.len(), 3);
        assert_eq!(d.rows[0].line, 2);
        assert_eq!(d.rows[1].get(3), Some(2.5));
        assert_eq!(d.rows[0].get(3), None);
        assert_eq!(d.rows[0].nonmem(3), 0.0);
        assert_eq!(d.rows[2].line, 7);
        assert_eq!(d.rows[2].get(5), None, "missing trailing field is null");
        assert_eq!(d.column("amt").unwrap(), [Some(50.0), None, None]);
    }

    #[test]
    fn accept_alphabetic_comments_and_records() {
        let c = cs(
            "ID TIME DV=CONC",
            "d.txt IGNORE=@ ACCEPT=(ID.EQN.2, TIME.GE.5) RECORDS=4",
        );
        let text = "ID TIME CONC\n1 0 1\n1 5 2\n2 0 3\n@ comment\n1 9 4\n2 9 5\n";
        let d = parse_dataset(&c, text, "d.txt").unwrap();
        let lines: Vec<usize> = d.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 6]);
        assert_eq!(d.column_index("CONC"), Some(2));
    }

    #[test]
    fn records_by_label() {
        let c = cs("ID TIME", "d.txt RECORDS=ID");
        let d = parse_dataset(&c, "1 0\n1 1\n2 0\n1 5\n", "d.txt").unwrap();
        assert_eq!(d.rows.len(), 2);
    }

    #[test]
    fn errors_name_file_line_and_item() {
        let c = cs("ID TIME DV", "d.csv");
        let e = parse_dataset(&c, "# header\n1,0,abc\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "d.csv, line 2, column 3, data item DV: 'abc' is not a number (drop the item with DV=DROP, or mark the record as a comment)");
        let c = cs("ID TIME DV", "d.csv IGNORE=(WT.GT.3)");
        let e = parse_dataset(&c, "1,0,1\n", "d.csv").unwrap_err().to_string();
        assert!(e.contains("dir/t.ctl, line 3") && e.contains("WT"), "{e}");
        let c = cs("ID TIME DV", "d.csv IGNORE=(DV.GT.3)");
        let e = parse_dataset(&c, "1,0,x\n", "d.csv").unwrap_err().to_string();
        assert!(e.contains("d.csv, line 1, column 3, data item DV"), "{e}");
    }
}
