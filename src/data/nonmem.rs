//! Reader for NONMEM-style CSV datasets: ID, TIME, DV, AMT, RATE, DUR, EVID,
//! MDV, CMT, ADDL, II, SS, and any other column as a covariate.
//!
//! Column names are matched case-insensitively; `.` or an empty field means
//! missing. A column named `C` marks comment records (any value but `.` or
//! empty), as with NONMEM's `IGNORE=C`. Every error names the file, line and
//! column, and what was expected. The input file is only read.

use crate::error::{Error, Location, Result};
use std::path::Path;

/// NONMEM's EVID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evid {
    /// 0: observation.
    Observation,
    /// 1: dose.
    Dose,
    /// 2: other event (prediction only).
    Other,
    /// 3: reset.
    Reset,
    /// 4: reset and dose.
    ResetDose,
}

/// One data record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line in the file.
    pub line: usize,
    /// Time.
    pub time: f64,
    /// Event type.
    pub evid: Evid,
    /// Dose amount (0 on non-dose records).
    pub amt: f64,
    /// RATE: 0 bolus, > 0 infusion rate, −1 modelled rate, −2 modelled duration.
    pub rate: f64,
    /// DUR: infusion duration (0 if absent).
    pub dur: f64,
    /// Compartment number (0 = default).
    pub cmt: i64,
    /// SS: 0, 1 or 2.
    pub ss: u8,
    /// Interdose interval.
    pub ii: f64,
    /// Number of additional doses.
    pub addl: u32,
    /// Observed value, if any (never set on dose records).
    pub dv: Option<f64>,
    /// Whether the record is excluded from fitting.
    pub mdv: bool,
    /// Covariate values in the order of [`Dataset::covariate_names`]; NaN if missing.
    pub covariates: Vec<f64>,
}

impl Record {
    /// A prediction-only record (EVID 2, MDV 1) at `time` with these covariates.
    pub fn prediction(line: usize, time: f64, covariates: Vec<f64>) -> Record {
        Record {
            line,
            time,
            evid: Evid::Other,
            amt: 0.0,
            rate: 0.0,
            dur: 0.0,
            cmt: 0,
            ss: 0,
            ii: 0.0,
            addl: 0,
            dv: None,
            mdv: true,
            covariates,
        }
    }

    /// Whether this record carries an observation to fit.
    pub fn is_observation(&self) -> bool {
        self.evid == Evid::Observation && !self.mdv && self.dv.is_some()
    }
    /// Whether this record gives a dose.
    pub fn is_dose(&self) -> bool {
        matches!(self.evid, Evid::Dose | Evid::ResetDose)
    }
}

/// One subject's records, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The ID as written in the file.
    pub id: String,
    /// Records in file order.
    pub records: Vec<Record>,
}

/// A dataset read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The file it was read from.
    pub file: String,
    /// The columns read, as the header names them (dropped columns left out).
    pub columns: Vec<String>,
    /// Names of the covariate columns.
    pub covariate_names: Vec<String>,
    /// Subjects in order of appearance.
    pub subjects: Vec<Subject>,
}

impl Dataset {
    /// An error naming the columns when the data have no DV column: without
    /// it no record is an observation, and nothing can be fitted.
    pub fn require_dv(&self) -> Result<()> {
        if self.columns.iter().any(|c| c.eq_ignore_ascii_case("DV")) {
            return Ok(());
        }
        Err(Error::data(
            Location::line(&self.file, 1),
            format!(
                "no DV column, so no record is an observation (the columns are {}); name the column of observed values DV",
                self.columns.join(", ")
            ),
        ))
    }

    /// Index of a covariate column (case-insensitive).
    pub fn covariate_index(&self, name: &str) -> Option<usize> {
        self.covariate_names.iter().position(|n| n.eq_ignore_ascii_case(name))
    }

    /// Keeps only the records whose column `name` equals `value` (as NONMEM's
    /// `ACCEPT`); subjects left without records are dropped. `name` must be a
    /// covariate column (not one of the standard items).
    pub fn accept(mut self, name: &str, value: f64) -> Result<Self> {
        let c = self.covariate_index(name).ok_or_else(|| {
            Error::data(
                Location::file(&self.file),
                format!(
                    "no column {name} to select records by (columns other than the NONMEM items: {})",
                    self.covariate_names.join(", ")
                ),
            )
        })?;
        for s in &mut self.subjects {
            s.records.retain(|r| r.covariates[c] == value);
        }
        self.subjects.retain(|s| !s.records.is_empty());
        if self.subjects.is_empty() {
            return Err(Error::data(
                Location::file(&self.file),
                format!("--accept {name}={value} keeps no record (no record has {name} = {value})"),
            ));
        }
        Ok(self)
    }
}

/// Options for reading a dataset.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Columns to drop (as NONMEM's `DROP`), e.g. SS and II when a dataset uses
    /// them for something else.
    pub drop: Vec<String>,
}

const STANDARD: &[&str] = &[
    "ID", "TIME", "DV", "AMT", "RATE", "DUR", "EVID", "MDV", "CMT", "ADDL", "II", "SS",
];

struct Columns {
    index: [Option<usize>; 12],
    comment: Option<usize>,
    covariates: Vec<(String, usize)>,
}

impl Columns {
    fn get(&self, name: &str) -> Option<usize> {
        STANDARD.iter().position(|s| *s == name).and_then(|i| self.index[i])
    }
}

/// Reads a NONMEM-style CSV dataset from a file.
pub fn read_dataset(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(&name, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..good].iter().filter(|&&b| b == b'\n').count();
        Error::data(
            Location::line(&name, line),
            "the text is not valid UTF-8 (save the file as UTF-8 or ASCII)",
        )
    })?;
    parse_dataset(&text, &name, options)
}

/// Parses a NONMEM-style CSV dataset from text; `file` names it in errors.
pub fn parse_dataset(text: &str, file: &str, options: &ReadOptions) -> Result<Dataset> {
    // The csv reader places a record at the start of the blank or comment
    // lines it skipped before it: the line is found from the byte offset.
    let newlines: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let line_of = |p: Option<&csv::Position>| p.map_or(0, |p| record_line(text, &newlines, p.byte() as usize));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::data(Location::line(file, 1), format!("cannot read the header: {e}")))?
        .clone();
    let header_line = line_of(headers.position()).max(1);
    let columns = map_columns(&headers, header_line, file, options).map_err(|e| commented_header(e, text))?;
    let covariate_names: Vec<String> = columns.covariates.iter().map(|(n, _)| n.clone()).collect();
    let mut subjects: Vec<Subject> = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = line_of(e.position());
            Error::data(Location::line(file, line), format!("malformed CSV row: {e}"))
        })?;
        let line = line_of(row.position());
        if row.iter().any(|f| f.contains(['\n', '\r'])) {
            return Err(Error::data(
                Location::line(file, line),
                "a quoted field runs over several lines: is a closing quote (\") missing?",
            ));
        }
        if let Some(c) = columns.comment {
            let v = row.get(c).unwrap_or("");
            if !v.is_empty() && v != "." {
                continue;
            }
        }
        let (id, record) = parse_record(&row, line, file, &columns)?;
        if record.is_dose() && columns.get("AMT").is_none() && !(record.ss == 1 && record.rate > 0.0) {
            return Err(Error::data(
                Location::line(file, line).with_column("EVID"),
                "the record is a dose (EVID 1 or 4), but the data have no AMT column to say how much",
            ));
        }
        check_observed_value(&record, &covariate_names, file)?;
        add_record(&mut subjects, id, record, file)?;
    }
    if subjects.is_empty() {
        return Err(Error::data(Location::file(file), "no data records"));
    }
    for s in &mut subjects {
        s.records.shrink_to_fit();
    }
    Ok(Dataset {
        file: file.to_string(),
        columns: headers
            .iter()
            .filter(|h| !options.drop.iter().any(|d| d.eq_ignore_ascii_case(h)))
            .map(str::to_string)
            .collect(),
        covariate_names,
        subjects,
    })
}

/// The 1-based line of the record that the csv reader reports at byte
/// `start`: the first line from there that is neither blank nor a `#` comment.
fn record_line(text: &str, newlines: &[usize], start: usize) -> usize {
    let first = newlines.partition_point(|&n| n < start);
    let mut k = first;
    let mut begin = start.min(text.len());
    while let Some(&end) = newlines.get(k) {
        let content = text.get(begin..end).unwrap_or("").trim_start_matches('\u{feff}');
        if !(content.trim_end_matches('\r').is_empty() || content.starts_with('#')) {
            return k + 1;
        }
        begin = end + 1;
        k += 1;
    }
    // The last line, unless only blank lines and comments remain.
    if text.get(begin..).is_some_and(|rest| !rest.trim().is_empty()) {
        k + 1
    } else {
        first + 1
    }
}

/// An error about the header, with a pointer to the fix when the file's
/// first line is a `#` comment that looks like the header.
fn commented_header(e: Error, text: &str) -> Error {
    let first = text.lines().next().unwrap_or("").trim_start_matches('\u{feff}');
    let looks_like_header = first.starts_with('#')
        && first[1..]
            .split([',', ' ', '\t', ';'])
            .any(|f| f.trim().eq_ignore_ascii_case("ID") || f.trim().eq_ignore_ascii_case("TIME"));
    match e {
        Error::Data { location, message } if looks_like_header => Error::Data {
            location,
            message: format!(
                "{message}; line 1 looks like the header but starts with '#', which marks a comment: remove the '#'"
            ),
        },
        other => other,
    }
}

fn map_columns(headers: &csv::StringRecord, line: usize, file: &str, options: &ReadOptions) -> Result<Columns> {
    let mut index = [None; 12];
    let mut comment = None;
    let mut covariates = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let upper = h.to_ascii_uppercase();
        if options.drop.iter().any(|d| d.eq_ignore_ascii_case(h)) {
            continue;
        }
        if upper == "C" {
            comment = Some(i);
        } else if let Some(k) = STANDARD.iter().position(|s| *s == upper) {
            index[k] = Some(i);
        } else if h.is_empty() {
            return Err(Error::data(
                Location::line(file, line),
                format!("column {} has no name", i + 1),
            ));
        } else {
            covariates.push((h.to_string(), i));
        }
    }
    for required in ["ID", "TIME"] {
        if index[STANDARD.iter().position(|s| *s == required).unwrap_or(0)].is_none() {
            return Err(Error::data(
                Location::line(file, line),
                format!(
                    "missing required column {required} (the header has: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    for (i, h) in headers.iter().enumerate() {
        if headers.iter().take(i).any(|earlier| earlier.eq_ignore_ascii_case(h))
            && !options.drop.iter().any(|d| d.eq_ignore_ascii_case(h))
        {
            return Err(Error::data(
                Location::line(file, line).with_column(h),
                format!("column {h} appears twice in the header (names are matched without regard to case)"),
            ));
        }
    }
    Ok(Columns {
        index,
        comment,
        covariates,
    })
}

/// A field's value: `None` when missing (`.` or empty).
fn number(row: &csv::StringRecord, col: Option<usize>, name: &str, line: usize, file: &str) -> Result<Option<f64>> {
    let Some(c) = col else { return Ok(None) };
    let text = row.get(c).unwrap_or("");
    if text.is_empty() || text == "." {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(Error::data(
            Location::line(file, line).with_column(name),
            format!("expected a number, found '{text}'{}", below_limit_hint(name, text)),
        )),
    }
}

/// For a DV written as "BLQ", "<LLOQ", "<0.1", …: how to give such a
/// sample instead.
fn below_limit_hint(column: &str, text: &str) -> &'static str {
    let t = text.to_ascii_uppercase();
    let below = t.starts_with('<') || ["BLQ", "BQL", "BLOQ", "LLOQ", "ND", "NQ", "BQ"].contains(&t.as_str());
    if column == "DV" && below {
        ": a sample below the quantification limit is given as a number with a flag: a BLQ column (1) with \
         the limit in an LLOQ column (or in DV), or nlmixr2's CENS = 1 with DV = the limit; `pk nca` takes \
         --blq-column/--lloq-column, the model language's censoring enters such samples as P(y < LLOQ) (M3)"
    } else {
        ""
    }
}

fn parse_record(row: &csv::StringRecord, line: usize, file: &str, cols: &Columns) -> Result<(String, Record)> {
    let get = |name: &str| number(row, cols.get(name), name, line, file);
    let id = cols.get("ID").and_then(|c| row.get(c)).unwrap_or("").to_string();
    let mut covariates = Vec::with_capacity(cols.covariates.len());
    for (name, c) in &cols.covariates {
        covariates.push(number(row, Some(*c), name, line, file)?.unwrap_or(f64::NAN));
    }
    record_of(id, line, file, &get, covariates)
}

/// One record of a dataset given as values rather than text (as the NONMEM
/// control-stream reader produces them).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordValues {
    /// 1-based line in the data file.
    pub line: usize,
    /// Subject ID.
    pub id: String,
    /// ID, TIME, DV, AMT, RATE, DUR, EVID, MDV, CMT, ADDL, II, SS (`None`: missing or absent).
    pub items: [Option<f64>; 12],
    /// Covariate values (NaN if missing), in the order of the names given.
    pub covariates: Vec<f64>,
}

/// The standard items of [`RecordValues::items`], in order.
pub const ITEMS: [&str; 12] = [
    "ID", "TIME", "DV", "AMT", "RATE", "DUR", "EVID", "MDV", "CMT", "ADDL", "II", "SS",
];

/// A dataset from values, checked as [`parse_dataset`] checks a file's text.
pub fn dataset_from_values(file: &str, covariate_names: Vec<String>, records: Vec<RecordValues>) -> Result<Dataset> {
    let mut subjects: Vec<Subject> = Vec::new();
    for r in records {
        let get =
            |name: &str| -> Result<Option<f64>> { Ok(ITEMS.iter().position(|s| *s == name).and_then(|k| r.items[k])) };
        let (id, record) = record_of(r.id.clone(), r.line, file, &get, r.covariates.clone())?;
        check_observed_value(&record, &covariate_names, file)?;
        add_record(&mut subjects, id, record, file)?;
    }
    if subjects.is_empty() {
        return Err(Error::data(Location::file(file), "no data records"));
    }
    for s in &mut subjects {
        s.records.shrink_to_fit();
    }
    let mut columns: Vec<String> = ITEMS.iter().map(|s| s.to_string()).collect();
    columns.extend(covariate_names.iter().cloned());
    Ok(Dataset {
        file: file.to_string(),
        columns,
        covariate_names,
        subjects,
    })
}

fn record_of(
    id: String,
    line: usize,
    file: &str,
    get: &dyn Fn(&str) -> Result<Option<f64>>,
    covariates: Vec<f64>,
) -> Result<(String, Record)> {
    let loc = |col: &str| Location::line(file, line).with_column(col);
    if id.is_empty() || id == "." {
        return Err(Error::data(loc("ID"), "expected a subject ID, found an empty field"));
    }
    let id = canonical_id(id);
    let time = get("TIME")?.ok_or_else(|| Error::data(loc("TIME"), "expected a time, found a missing value"))?;
    let amt = get("AMT")?.unwrap_or(0.0);
    let evid = match get("EVID")? {
        None => {
            if amt > 0.0 {
                Evid::Dose
            } else {
                Evid::Observation
            }
        }
        Some(v) => match v as i64 {
            _ if v.fract() != 0.0 => {
                return Err(Error::data(loc("EVID"), format!("expected 0, 1, 2, 3 or 4, found {v}")))
            }
            0 => Evid::Observation,
            1 => Evid::Dose,
            2 => Evid::Other,
            3 => Evid::Reset,
            4 => Evid::ResetDose,
            _ => return Err(Error::data(loc("EVID"), format!("expected 0, 1, 2, 3 or 4, found {v}"))),
        },
    };
    let is_dose = matches!(evid, Evid::Dose | Evid::ResetDose);
    if amt < 0.0 {
        return Err(Error::data(
            loc("AMT"),
            format!("a dose amount must not be negative, found {amt}"),
        ));
    }
    if amt != 0.0 && !is_dose {
        let what = match evid {
            Evid::Reset => "EVID 3 resets the system without a dose; a reset with a dose is EVID 4",
            Evid::Other => "EVID 2 records give no dose; a dose is EVID 1 (or 4 with a reset)",
            _ => "an observation record (EVID 0) gives no dose; a dose is EVID 1",
        };
        return Err(Error::data(
            loc("AMT"),
            format!("AMT = {amt} on a record that is not a dose: {what}"),
        ));
    }
    let rate = get("RATE")?.unwrap_or(0.0);
    if rate < 0.0 && rate != -1.0 && rate != -2.0 {
        return Err(Error::data(
            loc("RATE"),
            format!("expected a rate >= 0, or -1 (modelled rate) or -2 (modelled duration), found {rate}"),
        ));
    }
    let dur = get("DUR")?.unwrap_or(0.0);
    if dur < 0.0 {
        return Err(Error::data(
            loc("DUR"),
            format!("a duration must not be negative, found {dur}"),
        ));
    }
    if is_dose && rate != 0.0 && dur > 0.0 {
        return Err(Error::data(
            loc("DUR"),
            format!("both RATE ({rate}) and DUR ({dur}) are given for one dose; give one of them"),
        ));
    }
    let ss = match get("SS")?.unwrap_or(0.0) {
        0.0 => 0,
        1.0 => 1,
        2.0 => 2,
        v => {
            return Err(Error::data(
                loc("SS"),
                format!(
                    "expected 0, 1 or 2, found {v}{}",
                    if v == 99.0 {
                        " (SS = 99 is not a NONMEM steady-state code; if the column is not used, leave it out with --drop SS)"
                    } else {
                        ""
                    }
                ),
            ))
        }
    };
    let ii = get("II")?.unwrap_or(0.0);
    if ii < 0.0 {
        return Err(Error::data(
            loc("II"),
            format!("an interdose interval must not be negative, found {ii}"),
        ));
    }
    let addl_v = get("ADDL")?.unwrap_or(0.0);
    if addl_v < 0.0 || addl_v.fract() != 0.0 || addl_v > 1e6 {
        return Err(Error::data(
            loc("ADDL"),
            format!("expected a whole number of additional doses >= 0, found {addl_v}"),
        ));
    }
    let addl = addl_v as u32;
    if is_dose {
        if addl > 0 && ii <= 0.0 {
            return Err(Error::data(
                loc("II"),
                format!("ADDL = {addl} needs an interdose interval II > 0"),
            ));
        }
        let constant_infusion = ss == 1 && amt == 0.0 && rate > 0.0;
        if ss > 0 && ii <= 0.0 && !constant_infusion {
            return Err(Error::data(
                loc("II"),
                format!("SS = {ss} needs an interdose interval II > 0"),
            ));
        }
        if amt == 0.0 && rate > 0.0 && !constant_infusion {
            return Err(Error::data(
                loc("AMT"),
                "an infusion (RATE > 0) with AMT = 0 is only allowed as a steady-state infusion (SS = 1)",
            ));
        }
    }
    let cmt_v = get("CMT")?.unwrap_or(0.0);
    if cmt_v.fract() != 0.0 || cmt_v < 0.0 {
        return Err(Error::data(
            loc("CMT"),
            format!("expected a compartment number >= 0, found {cmt_v}"),
        ));
    }
    let dv = get("DV")?;
    let mdv = match get("MDV")? {
        Some(0.0) => false,
        Some(1.0) => true,
        Some(v) => return Err(Error::data(loc("MDV"), format!("expected 0 or 1, found {v}"))),
        None => evid != Evid::Observation || dv.is_none(),
    };
    let record = Record {
        line,
        time,
        evid,
        amt: if is_dose { amt } else { 0.0 },
        rate: if is_dose { rate } else { 0.0 },
        dur: if is_dose { dur } else { 0.0 },
        cmt: cmt_v as i64,
        ss: if is_dose { ss } else { 0 },
        ii,
        addl: if is_dose { addl } else { 0 },
        dv: if evid == Evid::Observation { dv } else { None },
        mdv,
        covariates,
    };
    Ok((id, record))
}

/// An error when MDV = 0 makes a record an observation but its DV is missing,
/// unless a BLQ or CENS column marks it censored (its limit is then in LLOQ
/// or LIMIT).
fn check_observed_value(record: &Record, covariate_names: &[String], file: &str) -> Result<()> {
    if record.evid != Evid::Observation || record.mdv || record.dv.is_some() {
        return Ok(());
    }
    let censored = covariate_names
        .iter()
        .zip(&record.covariates)
        .any(|(n, v)| (n.eq_ignore_ascii_case("BLQ") || n.eq_ignore_ascii_case("CENS")) && *v != 0.0 && !v.is_nan());
    if censored {
        return Ok(());
    }
    Err(Error::data(
        Location::line(file, record.line).with_column("DV"),
        "MDV = 0 makes this record an observation, but DV is missing: give the observed value, or set MDV = 1",
    ))
}

/// A numeric ID in its shortest form (`1.50` and `1.5` are one subject, as
/// NONMEM reads IDs as numbers); any other ID as written.
fn canonical_id(id: String) -> String {
    match id.parse::<f64>() {
        Ok(v) if v.is_finite() => format!("{v}"),
        _ => id,
    }
}

fn add_record(subjects: &mut Vec<Subject>, id: String, record: Record, file: &str) -> Result<()> {
    let line = record.line;
    match subjects.last_mut() {
        Some(s) if s.id == id => {
            let prev = s.records.last().map_or(f64::NEG_INFINITY, |r| r.time);
            let resets = matches!(record.evid, Evid::Reset | Evid::ResetDose);
            if record.time < prev && !resets {
                return Err(Error::data(
                    Location::line(file, line).with_column("TIME"),
                    format!(
                        "subject {id}: time {} is before the previous record's time {prev}; records of a subject must be in time order (time may go back only at a reset, EVID 3 or 4)",
                        record.time
                    ),
                ));
            }
            s.records.push(record);
        }
        _ => {
            if subjects.iter().any(|s| s.id == id) {
                return Err(Error::data(
                    Location::line(file, line).with_column("ID"),
                    format!(
                        "subject {id} appears again after other subjects; the records of a subject must be contiguous"
                    ),
                ));
            }
            subjects.push(Subject {
                id,
                records: vec![record],
            });
        }
    }
    Ok(())
}
