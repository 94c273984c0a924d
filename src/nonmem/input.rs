//! `$INPUT` (data item labels, synonyms, `DROP`) and `$DATA` (file, comment
//! character, `IGNORE`/`ACCEPT` lists and other options).

use super::error::NonmemError;
use super::source::{abbreviates, parse_number, Cursor, RecordOption, Src};

/// Data item labels that NONMEM reserves in `$INPUT` (NONMEM 7 help, `$INPUT`;
/// `DVID` added as the engine reads it as an observation-type item).
pub const RESERVED_DATA_ITEMS: &[&str] = &[
    "ID", "L1", "L2", "DV", "MDV", "RAW_", "MRG_", "RPT_", "TIME", "DATE", "DAT1", "DAT2", "DAT3", "DROP", "SKIP",
    "EVID", "AMT", "RATE", "SS", "II", "ADDL", "CMT", "PCMT", "CALL", "CONT", "XVID1", "XVID2", "XVID3", "XVID4",
    "XVID5", "REPL_", "DVID",
];

/// Whether a label (upper case) is a reserved data item.
pub fn is_reserved_item(label: &str) -> bool {
    RESERVED_DATA_ITEMS.contains(&label)
}

/// One column of the data file as `$INPUT` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    /// The data item: the reserved label when one side of `A=B` is reserved
    /// (`AMT` for both `DOSE=AMT` and `AMT=DOSE`), else the label as written.
    /// Upper case.
    pub name: String,
    /// The other label of an `A=B` pair (`DOSE` above), upper case.
    pub synonym: Option<String>,
    /// Whether the item is dropped (`DROP`, `SKIP`, `X=DROP`, `X=SKIP`): read
    /// for `IGNORE`/`ACCEPT` lists, not passed to the model.
    pub dropped: bool,
    /// 0-based position of the column in the data records.
    pub position: usize,
    /// Line of the item in the control stream.
    pub line: usize,
    /// Column of the item in the control stream.
    pub column: usize,
}

impl InputColumn {
    /// Whether `label` (any case) names this column, by name or synonym.
    pub fn answers_to(&self, label: &str) -> bool {
        let l = label.to_ascii_uppercase();
        self.name == l || self.synonym.as_deref() == Some(l.as_str())
    }
}

fn valid_label(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic()) && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses the items of one `$INPUT` record, numbering them from `first_position`.
pub(crate) fn parse_input(src: &Src, file: &str, first_position: usize) -> Result<Vec<InputColumn>, NonmemError> {
    let mut cur = Cursor::new(src, file, "$INPUT");
    let mut out = Vec::new();
    loop {
        cur.skip_separators();
        if cur.peek().is_none() {
            break;
        }
        let (line, column) = cur.here();
        // `=DROP` without a label.
        let left = if cur.next_is('=') {
            None
        } else {
            match cur.word() {
                Some(w) if !w.quoted => Some(w.upper()),
                _ => {
                    return Err(cur.error(format!(
                        "expected a data item label, found '{}'",
                        cur.peek().unwrap_or(' ')
                    )))
                }
            }
        };
        // `A=B` is written without blanks; a blank before `=` starts `=DROP`.
        let right = if left.is_none() || cur.peek() == Some('=') {
            cur.eat('=');
            match cur.word() {
                Some(w) if !w.quoted => Some(w.upper()),
                _ => return Err(cur.error("expected a data item label after '='")),
            }
        } else {
            None
        };
        for l in left.iter().chain(right.iter()) {
            if !valid_label(l) {
                return Err(cur.error_at(
                    line,
                    column,
                    format!("'{l}' is not a data item label: expected a letter followed by letters, digits or '_'"),
                ));
            }
        }
        let drop_word = |s: &str| s == "DROP" || s == "SKIP";
        let (name, synonym, dropped) = match (left, right) {
            (Some(a), None) => {
                let d = drop_word(&a);
                (a, None, d)
            }
            (None, Some(b)) if drop_word(&b) => (b, None, true),
            (None, Some(b)) => {
                return Err(cur.error_at(
                    line,
                    column,
                    format!("'={b}' has no label before '=': expected LABEL={b} or =DROP"),
                ))
            }
            (Some(a), Some(b)) if drop_word(&b) => (a, None, true),
            (Some(a), Some(b)) if drop_word(&a) => (b, None, true),
            (Some(a), Some(b)) => match (is_reserved_item(&a), is_reserved_item(&b)) {
                (true, false) => (a, Some(b), false),
                (false, true) => (b, Some(a), false),
                (true, true) => {
                    return Err(cur.error_at(
                        line,
                        column,
                        format!("{a}={b}: both labels are reserved data items; expected one reserved label and one synonym"),
                    ))
                }
                (false, false) => {
                    return Err(cur.error_at(
                        line,
                        column,
                        format!("{a}={b}: one of the two labels must be a reserved data item (ID, TIME, DV, AMT, RATE, SS, II, ADDL, EVID, MDV, CMT, DROP, …)"),
                    ))
                }
            },
            (None, None) => return Err(cur.error("expected a data item label")),
        };
        out.push(InputColumn {
            name,
            synonym,
            dropped,
            position: first_position + out.len(),
            line,
            column,
        });
    }
    Ok(out)
}

/// Which records of the data file are comments (`IGNORE=c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentRule {
    /// `IGNORE=@`: a record whose first non-blank character is a letter or `@`.
    AlphabeticOrAt,
    /// `IGNORE=c`: a record with `c` in column 1 (`#` when no `IGNORE=c` is given).
    FirstCharacter(char),
}

impl CommentRule {
    /// Whether a data record is a comment under this rule.
    pub fn is_comment(&self, record: &str) -> bool {
        match self {
            CommentRule::AlphabeticOrAt => record
                .trim_start()
                .chars()
                .next()
                .is_some_and(|c| c == '@' || c.is_ascii_alphabetic()),
            CommentRule::FirstCharacter(c) => record.starts_with(*c),
        }
    }
}

/// A comparison of an `IGNORE=(…)` or `ACCEPT=(…)` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `=`, `==`, `.EQ.`: equal as character strings.
    TextEq,
    /// `/=`, `.NE.`: different as character strings.
    TextNe,
    /// `.EQN.`: numerically equal.
    NumEq,
    /// `.NEN.`: numerically different.
    NumNe,
    /// `.LT.`, `<` (numeric).
    Lt,
    /// `.LE.`, `<=` (numeric).
    Le,
    /// `.GT.`, `>` (numeric).
    Gt,
    /// `.GE.`, `>=` (numeric).
    Ge,
}

/// One condition of an `IGNORE=(…)`/`ACCEPT=(…)` list, as `SD.EQ.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFilter {
    /// The data item label, upper case.
    pub label: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value as written (quotes removed).
    pub value: String,
    /// Line in the control stream.
    pub line: usize,
    /// Column in the control stream.
    pub column: usize,
}

impl DataFilter {
    /// Applies the condition to a field of a data record. String comparisons
    /// (`=`, `.EQ.`, `.NE.`) compare the trimmed texts, as NM-TRAN does; the
    /// others compare numbers and fail on a field that is not a number.
    pub fn holds(&self, field: &str) -> Result<bool, String> {
        let f = field.trim();
        match self.op {
            FilterOp::TextEq => return Ok(f == self.value),
            FilterOp::TextNe => return Ok(f != self.value),
            _ => {}
        }
        let x = if f.is_empty() || f == "." {
            0.0
        } else {
            parse_number(f).ok_or_else(|| format!("'{f}' is not a number"))?
        };
        let v = parse_number(&self.value).ok_or_else(|| format!("'{}' is not a number", self.value))?;
        Ok(match self.op {
            FilterOp::TextEq | FilterOp::NumEq => x == v,
            FilterOp::TextNe | FilterOp::NumNe => x != v,
            FilterOp::Lt => x < v,
            FilterOp::Le => x <= v,
            FilterOp::Gt => x > v,
            FilterOp::Ge => x >= v,
        })
    }
}

/// `RECORDS=` of `$DATA`.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordsLimit {
    /// `RECORDS=n`: read n non-comment records.
    Count(usize),
    /// `RECORDS=label`: contiguous records with the first record's value of the item.
    Label(String),
}

/// The `$DATA` record.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRecord {
    /// The file name as written (quotes removed), relative to the control stream.
    pub path: String,
    /// Comment records (`#` in column 1 unless `IGNORE=c` says otherwise).
    pub comments: CommentRule,
    /// Conditions that drop a record (`IGNORE=(…)`, several lists joined): a
    /// record is dropped when any holds.
    pub ignore: Vec<DataFilter>,
    /// Conditions that keep a record (`ACCEPT=(…)`): a record is kept when any holds.
    pub accept: Vec<DataFilter>,
    /// `RECORDS=`.
    pub records: Option<RecordsLimit>,
    /// `REWIND` (true) or `NOREWIND` (false), when given.
    pub rewind: Option<bool>,
    /// `NULL=c`.
    pub null: Option<char>,
    /// A Fortran `(format)`, when given.
    pub format: Option<String>,
    /// Other options, as written.
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

/// Parses one `$DATA` record.
pub(crate) fn parse_data(src: &Src, file: &str, line: usize) -> Result<DataRecord, NonmemError> {
    let mut cur = Cursor::new(src, file, "$DATA");
    let path = match cur.raw_token() {
        Some(w) => w.text,
        None => return Err(cur.error("expected the data file name")),
    };
    if path == "*" {
        return Err(cur.error("'$DATA *' re-uses the data of a previous problem: expected a file name"));
    }
    let mut rec = DataRecord {
        path,
        comments: CommentRule::FirstCharacter('#'),
        ignore: Vec::new(),
        accept: Vec::new(),
        records: None,
        rewind: None,
        null: None,
        format: None,
        other: Vec::new(),
        line,
    };
    let mut comment_set = false;
    loop {
        cur.skip_separators();
        let Some(c) = cur.peek() else { break };
        if c == '(' {
            let g = cur.paren_group()?;
            rec.format = Some(g.text.trim().to_string());
            continue;
        }
        let Some(w) = cur.word() else {
            return Err(cur.error(format!("expected an option, found '{c}'")));
        };
        let key = w.upper();
        let is_ignore = abbreviates(&key, "IGNORE", 3);
        let is_accept = abbreviates(&key, "ACCEPT", 3);
        if is_ignore || is_accept {
            let had_eq = cur.eat('=');
            cur.skip_ws();
            if cur.peek() == Some('(') {
                let g = cur.paren_group()?;
                let filters = parse_filters(&cur, &g.text, g.line, g.col)?;
                if is_ignore {
                    rec.ignore.extend(filters);
                } else {
                    rec.accept.extend(filters);
                }
                if !rec.ignore.is_empty() && !rec.accept.is_empty() {
                    return Err(cur.error_at(
                        w.line,
                        w.col,
                        "an ACCEPT list cannot be used with an IGNORE list (NONMEM refuses it): use one kind",
                    ));
                }
                continue;
            }
            if is_accept {
                return Err(cur.error_at(w.line, w.col, "expected ACCEPT=(list)"));
            }
            if !had_eq && cur.peek().is_none() {
                return Err(cur.error_at(w.line, w.col, "expected IGNORE=c or IGNORE=(list)"));
            }
            let ch = ignore_char(&mut cur)?;
            let rule = if ch == '@' {
                CommentRule::AlphabeticOrAt
            } else {
                CommentRule::FirstCharacter(ch)
            };
            if comment_set && rec.comments != rule {
                return Err(cur.error_at(
                    w.line,
                    w.col,
                    "a second IGNORE=c with another character: NONMEM takes one comment character",
                ));
            }
            rec.comments = rule;
            comment_set = true;
            continue;
        }
        let value = if cur.eat('=') { Some(cur.raw_value()?) } else { None };
        if abbreviates(&key, "NULL", 3) {
            let v = value.ok_or_else(|| cur.error_at(w.line, w.col, "expected NULL=c"))?;
            let mut cs = v.text.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => rec.null = Some(c),
                _ => return Err(cur.error_at(v.line, v.col, format!("NULL={} : expected a single character", v.text))),
            }
        } else if ["RECORDS", "NRECORDS", "RECS", "NRECS"].contains(&key.as_str()) {
            let v = value.ok_or_else(|| cur.error_at(w.line, w.col, "expected RECORDS=n"))?;
            rec.records = Some(match v.text.parse::<usize>() {
                Ok(n) => RecordsLimit::Count(n),
                Err(_) => RecordsLimit::Label(v.text.to_ascii_uppercase()),
            });
        } else if key == "REWIND" && value.is_none() {
            rec.rewind = Some(true);
        } else if key == "NOREWIND" && value.is_none() {
            rec.rewind = Some(false);
        } else {
            rec.other.push(RecordOption {
                name: key,
                value: value.map(|v| v.text),
                line: w.line,
                column: w.col,
            });
        }
    }
    Ok(rec)
}

/// Reads the character of `IGNORE=c` (bare, `'c'` or `"c"`).
fn ignore_char(cur: &mut Cursor) -> Result<char, NonmemError> {
    cur.skip_ws();
    let (line, col) = cur.here();
    let text = match cur.peek() {
        Some('\'') | Some('"') => cur.quoted()?.text,
        Some(_) => cur.raw_value()?.text,
        None => String::new(),
    };
    let mut cs = text.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) if !c.is_whitespace() => Ok(c),
        _ => Err(cur.error_at(
            line,
            col,
            format!("IGNORE={text}: expected a single character (IGNORE=@, IGNORE=C, IGNORE='#') or a list IGNORE=(…)"),
        )),
    }
}

/// Operators of list conditions, longest first.
const OPS: &[(&str, FilterOp)] = &[
    (".EQN.", FilterOp::NumEq),
    (".NEN.", FilterOp::NumNe),
    (".EQ.", FilterOp::TextEq),
    (".NE.", FilterOp::TextNe),
    (".GT.", FilterOp::Gt),
    (".GE.", FilterOp::Ge),
    (".LT.", FilterOp::Lt),
    (".LE.", FilterOp::Le),
    ("==", FilterOp::TextEq),
    ("/=", FilterOp::TextNe),
    (">=", FilterOp::Ge),
    ("<=", FilterOp::Le),
    (">", FilterOp::Gt),
    ("<", FilterOp::Lt),
    ("=", FilterOp::TextEq),
];

/// Splits the text of a list on commas outside quotes.
fn split_list(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0usize;
    let mut cur = String::new();
    for (i, c) in text.chars().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ',' => {
                out.push((start, std::mem::take(&mut cur)));
                start = i + 1;
                continue;
            }
            None => {}
        }
        cur.push(c);
    }
    out.push((start, cur));
    out
}

/// Parses the conditions of an `IGNORE=(…)`/`ACCEPT=(…)` list.
fn parse_filters(cur: &Cursor, text: &str, line: usize, col: usize) -> Result<Vec<DataFilter>, NonmemError> {
    let mut out = Vec::new();
    for (offset, item) in split_list(text) {
        let lead = item.chars().take_while(|c| c.is_whitespace()).count();
        let item_col = col + offset + lead;
        let s = item.trim();
        if s.is_empty() {
            return Err(cur.error_at(
                line,
                item_col,
                "empty condition in the list: expected LABEL.OP.value, as SD.EQ.0",
            ));
        }
        let label: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !valid_label(&label) {
            return Err(cur.error_at(
                line,
                item_col,
                format!("condition '{s}': expected a data item label first, as SD.EQ.0"),
            ));
        }
        let rest = s[label.len()..].trim_start();
        let upper = rest.to_ascii_uppercase();
        let (op, value) = match OPS.iter().find(|(o, _)| upper.starts_with(o)) {
            Some((o, op)) => (*op, rest[o.len()..].trim()),
            // No operator: "label value" (blank-separated) means "=".
            None if s[label.len()..].starts_with(char::is_whitespace) => (FilterOp::TextEq, rest),
            None => {
                return Err(cur.error_at(
                    line,
                    item_col,
                    format!("condition '{s}': expected an operator after {label} (.EQ. .NE. .GT. .GE. .LT. .LE. .EQN. .NEN. == /= > >= < <= =)"),
                ))
            }
        };
        let value = strip_quotes(value);
        if value.is_empty() || value.contains(char::is_whitespace) {
            return Err(cur.error_at(
                line,
                item_col,
                format!("condition '{s}': expected one value after the operator (no blanks or commas)"),
            ));
        }
        out.push(DataFilter {
            label: label.to_ascii_uppercase(),
            op,
            value: value.to_string(),
            line,
            column: item_col,
        });
    }
    Ok(out)
}

fn strip_quotes(s: &str) -> &str {
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Src {
        Src::from_text(text)
    }

    #[test]
    fn input_synonyms_and_drops() {
        let cols = parse_input(
            &src("ID TIME CP=DV DOSE=AMT R2=RATE SEX=DROP SKIP =DROP, wt\nDATE=DROP"),
            "f",
            0,
        )
        .unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["ID", "TIME", "DV", "AMT", "RATE", "SEX", "SKIP", "DROP", "WT", "DATE"]
        );
        assert_eq!(cols[2].synonym.as_deref(), Some("CP"));
        assert_eq!(cols[3].synonym.as_deref(), Some("DOSE"));
        assert!(cols[3].answers_to("dose") && cols[3].answers_to("AMT"));
        let dropped: Vec<bool> = cols.iter().map(|c| c.dropped).collect();
        assert_eq!(
            dropped,
            [false, false, false, false, false, true, true, true, false, true]
        );
        assert_eq!(cols[9].position, 9);
        assert_eq!(cols[9].line, 2);
    }

    #[test]
    fn input_refuses_two_user_labels() {
        let e = parse_input(&src("ID CONC=XX"), "f.ctl", 0).unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        assert!(e.to_string().contains("f.ctl, line 1, column 4"), "{e}");
        let e = parse_input(&src("ID EVID=MDV"), "f.ctl", 0).unwrap_err();
        assert!(e.to_string().contains("both labels"), "{e}");
    }

    #[test]
    fn data_comment_characters() {
        for (text, rule) in [
            ("d.csv IGNORE=@", CommentRule::AlphabeticOrAt),
            ("d.csv IGNORE=C", CommentRule::FirstCharacter('C')),
            ("d.csv IGNORE='C'", CommentRule::FirstCharacter('C')),
            ("d.csv IGNORE=\"#\"", CommentRule::FirstCharacter('#')),
            ("d.csv ign = I", CommentRule::FirstCharacter('I')),
            ("d.csv", CommentRule::FirstCharacter('#')),
        ] {
            let d = parse_data(&src(text), "f", 1).unwrap();
            assert_eq!(d.comments, rule, "{text}");
            assert_eq!(d.path, "d.csv");
        }
        assert!(CommentRule::AlphabeticOrAt.is_comment("  ID,TIME"));
        assert!(CommentRule::AlphabeticOrAt.is_comment("@x"));
        assert!(!CommentRule::AlphabeticOrAt.is_comment("1,2"));
        assert!(CommentRule::FirstCharacter('C').is_comment("C,1"));
        assert!(!CommentRule::FirstCharacter('C').is_comment(" C,1"));
        let e = parse_data(&src("d.csv IGNORE=CC"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("single character"), "{e}");
    }

    #[test]
    fn data_lists_and_options() {
        let d = parse_data(
            &src("'my data.csv' IGNORE=@ IGNORE (SD.EQ.0) IGNORE=(ID==5, TIME.GT.24,\n GEN='M', WT>=80, OCC.EQN.1 , DOSE 10) RECORDS=120 NOREWIND NULL=0 WIDE"),
            "f",
            3,
        )
        .unwrap();
        assert_eq!(d.path, "my data.csv");
        let got: Vec<(&str, FilterOp, &str)> = d
            .ignore
            .iter()
            .map(|f| (f.label.as_str(), f.op, f.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("SD", FilterOp::TextEq, "0"),
                ("ID", FilterOp::TextEq, "5"),
                ("TIME", FilterOp::Gt, "24"),
                ("GEN", FilterOp::TextEq, "M"),
                ("WT", FilterOp::Ge, "80"),
                ("OCC", FilterOp::NumEq, "1"),
                ("DOSE", FilterOp::TextEq, "10"),
            ]
        );
        assert_eq!(d.records, Some(RecordsLimit::Count(120)));
        assert_eq!(d.rewind, Some(false));
        assert_eq!(d.null, Some('0'));
        assert_eq!(d.other[0].name, "WIDE");
        let a = parse_data(&src("x.csv ACCEPT=(GEN.NE.1,AGE.LE.60) IGNORE=#"), "f", 1).unwrap();
        assert_eq!(a.accept.len(), 2);
        assert_eq!(a.accept[0].op, FilterOp::TextNe);
        assert_eq!(a.accept[1].op, FilterOp::Le);
        let e = parse_data(&src("x.csv ACCEPT=(A.EQ.1) IGNORE=(B.EQ.2)"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("ACCEPT"), "{e}");
        let e = parse_data(&src("x.csv IGNORE=(.EQ.1)"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("label"), "{e}");
        let e = parse_data(&src("x.csv IGNORE=(SD.XX.0)"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("expected an operator after SD"), "{e}");
        let e = parse_data(&src("x.csv IGNORE=(SD.EQ.0"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("not closed"), "{e}");
    }

    #[test]
    fn filters_compare_text_or_numbers() {
        let f = |op, v: &str| DataFilter {
            label: "X".into(),
            op,
            value: v.into(),
            line: 1,
            column: 1,
        };
        assert_eq!(f(FilterOp::TextEq, "0").holds(" 0 "), Ok(true));
        assert_eq!(f(FilterOp::TextEq, "0").holds("0.0"), Ok(false));
        assert_eq!(f(FilterOp::NumEq, "0").holds("0.0"), Ok(true));
        assert_eq!(f(FilterOp::Gt, "24").holds("24.5"), Ok(true));
        assert_eq!(f(FilterOp::Le, "1").holds("."), Ok(true));
        assert!(f(FilterOp::Lt, "1").holds("abc").is_err());
    }
}
