//! The samples file of `pk bootstrap --out`: `# key: value` lines with the
//! run's settings, then a CSV with one row per sample (the original fit, the
//! bootstrap replicates, the jackknife samples). `--merge` joins the files of
//! the shards of one run into the file the unsharded run writes, byte for byte.

use pk::population::bootstrap::{Kind, Shard, Status};
use pk::{Error, Result};

/// The first line of every samples file.
const TITLE: &str = "# pk bootstrap samples: one row per sample (original fit, bootstrap replicates, jackknife \
                     samples); pk bootstrap --merge joins the shards of one run";

/// The settings of a run, in file order. Shards of one run have equal
/// settings except `shard` (and `inputs`, paths that may differ between
/// machines; `content` identifies the inputs by their bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// (key, value) pairs, `shard` last.
    pub pairs: Vec<(String, String)>,
}

impl Settings {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key` as a number, or an error naming `file`.
    pub fn number(&self, key: &str, file: &str) -> Result<usize> {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Argument(format!("{file}: no '# {key}:' line with a number")))
    }

    /// The shard (`all` is 1/1).
    pub fn shard(&self, file: &str) -> Result<Shard> {
        match self.get("shard") {
            Some("all") => Ok(Shard::ALL),
            Some(s) => Shard::parse(s),
            None => Err(Error::Argument(format!("{file}: no '# shard:' line"))),
        }
    }

    /// These settings for `shard`.
    pub fn with_shard(&self, shard: Shard) -> Settings {
        let mut s = self.clone();
        let value = if shard == Shard::ALL {
            "all".to_string()
        } else {
            shard.to_string()
        };
        match s.pairs.iter_mut().find(|(k, _)| k == "shard") {
            Some(pair) => pair.1 = value,
            None => s.pairs.push(("shard".into(), value)),
        }
        s
    }
}

/// One sample as a row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Original, bootstrap or jackknife.
    pub kind: Kind,
    /// Replicate, or position of the subject left out (1-based); 0 for the original.
    pub index: usize,
    /// Outcome.
    pub status: Status,
    /// OFV (None when failed).
    pub ofv: Option<f64>,
    /// Reported estimates (empty when failed).
    pub estimates: Vec<f64>,
    /// IDs of the subjects drawn (space-separated), or of the one left out.
    pub subjects: String,
    /// Message (why failed or not converged, which parameter at a bound).
    pub message: String,
}

/// A samples file: settings, parameter names, rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplesFile {
    /// The run's settings.
    pub settings: Settings,
    /// Parameter names (the columns after `ofv`).
    pub names: Vec<String>,
    /// Rows: the original, then bootstrap and jackknife samples.
    pub rows: Vec<Row>,
}

impl SamplesFile {
    /// The file's text; rows in order: original, bootstrap by replicate, jackknife by position.
    pub fn text(&self) -> Result<String> {
        let mut out = format!("{TITLE}\n");
        for (k, v) in &self.settings.pairs {
            out.push_str(&format!("# {k}: {v}\n"));
        }
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let csv_error = |e: csv::Error| Error::Argument(format!("writing the samples file: {e}"));
        let mut header = vec!["sample".to_string(), "replicate".into(), "status".into(), "ofv".into()];
        header.extend(self.names.iter().cloned());
        header.extend(["subjects".to_string(), "message".into()]);
        w.write_record(&header).map_err(csv_error)?;
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|r| (kind_order(r.kind), r.index));
        for r in rows {
            w.write_record(row_fields(r, self.names.len())).map_err(csv_error)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::Argument(format!("writing the samples file: {e}")))?;
        out.push_str(&String::from_utf8_lossy(&bytes));
        Ok(out)
    }

    /// Reads a samples file written by [`SamplesFile::text`].
    pub fn parse(text: &str, file: &str) -> Result<SamplesFile> {
        let bad = |line: usize, m: String| Error::Argument(format!("{file}, line {line}: {m}"));
        let mut lines = text.lines();
        if lines.next() != Some(TITLE) {
            return Err(bad(1, "not a samples file of pk bootstrap --out".into()));
        }
        let mut pairs = Vec::new();
        let mut n_comment = 1;
        for l in text.lines().skip(1).take_while(|l| l.starts_with('#')) {
            n_comment += 1;
            let (k, v) = l[1..]
                .trim_start()
                .split_once(": ")
                .ok_or_else(|| bad(n_comment, format!("expected '# key: value', found '{l}'")))?;
            pairs.push((k.to_string(), v.to_string()));
        }
        let body: String = text.lines().skip(n_comment).map(|l| format!("{l}\n")).collect();
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(body.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| bad(n_comment + 1, e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        let n = header.len();
        if n < 6
            || header[..4] != ["sample", "replicate", "status", "ofv"]
            || header[n - 2..] != ["subjects", "message"]
        {
            return Err(bad(
                n_comment + 1,
                "expected the columns sample, replicate, status, ofv, the parameters, subjects, message".into(),
            ));
        }
        let names = header[4..n - 2].to_vec();
        let mut rows = Vec::new();
        for (k, record) in reader.records().enumerate() {
            let line = n_comment + 2 + k;
            let record = record.map_err(|e| bad(line, e.to_string()))?;
            rows.push(parse_row(&record, names.len()).map_err(|m| bad(line, m))?);
        }
        Ok(SamplesFile {
            settings: Settings { pairs },
            names,
            rows,
        })
    }

    /// The original fit's row.
    pub fn original(&self) -> Option<&Row> {
        self.rows.iter().find(|r| r.kind == Kind::Original)
    }

    /// The rows of one kind, in file order.
    pub fn of_kind(&self, kind: Kind) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.kind == kind).collect()
    }
}

fn kind_order(kind: Kind) -> u8 {
    match kind {
        Kind::Original => 0,
        Kind::Bootstrap => 1,
        Kind::Jackknife => 2,
    }
}

/// A number as written: the shortest text that reads back to the same bits
/// (exponent notation below 1e-5 and from 1e16 on).
fn number(v: f64) -> String {
    format!("{v:?}")
}

fn row_fields(r: &Row, n_params: usize) -> Vec<String> {
    let mut f = vec![
        r.kind.as_str().to_string(),
        r.index.to_string(),
        r.status.as_str().to_string(),
        r.ofv.map_or(String::new(), number),
    ];
    if r.estimates.len() == n_params {
        f.extend(r.estimates.iter().map(|v| number(*v)));
    } else {
        f.extend(std::iter::repeat_n(String::new(), n_params));
    }
    f.push(r.subjects.clone());
    f.push(r.message.clone());
    f
}

fn parse_row(record: &csv::StringRecord, n_params: usize) -> std::result::Result<Row, String> {
    if record.len() != n_params + 6 {
        return Err(format!("{} fields, expected {}", record.len(), n_params + 6));
    }
    let field = |k: usize| record.get(k).unwrap_or("");
    let kind = Kind::parse(field(0)).map_err(|e| e.to_string())?;
    let index: usize = field(1)
        .parse()
        .map_err(|_| format!("replicate '{}' is not a number", field(1)))?;
    let status = Status::parse(field(2)).map_err(|e| e.to_string())?;
    let parse_f = |t: &str| t.parse::<f64>().map_err(|_| format!("'{t}' is not a number"));
    let ofv = match field(3) {
        "" => None,
        t => Some(parse_f(t)?),
    };
    let texts: Vec<&str> = (4..4 + n_params).map(field).collect();
    let estimates = if texts.iter().all(|t| t.is_empty()) {
        Vec::new()
    } else {
        texts
            .iter()
            .map(|t| parse_f(t))
            .collect::<std::result::Result<_, _>>()?
    };
    if status != Status::Failed && (ofv.is_none() || estimates.is_empty()) {
        return Err(format!("a sample with status {status} has no OFV or estimates"));
    }
    Ok(Row {
        kind,
        index,
        status,
        ofv,
        estimates,
        subjects: field(4 + n_params).to_string(),
        message: field(5 + n_params).to_string(),
    })
}

/// Joins the files of the shards of one run (`files`: (path, parsed)) into
/// the file of the whole run. Refused: different runs (settings, parameters or
/// original fit), shards not exactly 1..K of one K, a sample in a file of the
/// wrong shard, and missing or duplicate samples.
pub fn merge(files: &[(String, SamplesFile)]) -> Result<SamplesFile> {
    let Some((first_path, first)) = files.first() else {
        return Err(Error::Argument("--merge: no file given".into()));
    };
    let mut shards = Vec::new();
    for (path, f) in files {
        same_run(first_path, first, path, f)?;
        shards.push((path.as_str(), f.settings.shard(path)?));
    }
    check_shards(&shards)?;
    let mut rows = vec![first
        .original()
        .cloned()
        .ok_or_else(|| Error::Argument(format!("{first_path}: no row of the original fit")))?];
    let samples = first.settings.number("samples", first_path)?;
    let jackknife = first.settings.number("jackknife", first_path)?;
    for (kind, total) in [(Kind::Bootstrap, samples), (Kind::Jackknife, jackknife)] {
        rows.extend(complete(files, &shards, kind, total)?);
    }
    Ok(SamplesFile {
        settings: first.settings.with_shard(Shard::ALL),
        names: first.names.clone(),
        rows,
    })
}

/// Refuses `f` unless it is a shard of the same run as `first`.
fn same_run(first_path: &str, first: &SamplesFile, path: &str, f: &SamplesFile) -> Result<()> {
    let differ = |what: String| {
        Err(Error::Argument(format!(
            "--merge: {path} is not a shard of the run of {first_path}: {what}"
        )))
    };
    let keys = |s: &Settings| -> Vec<String> { s.pairs.iter().map(|p| p.0.clone()).collect() };
    if keys(&first.settings) != keys(&f.settings) {
        return differ("its settings lines differ".into());
    }
    for ((k, a), (_, b)) in first.settings.pairs.iter().zip(&f.settings.pairs) {
        if k != "shard" && k != "inputs" && a != b {
            return differ(format!("{k} {b} against {a}"));
        }
    }
    if first.names != f.names {
        return differ("its parameters differ".into());
    }
    if first.original() != f.original() {
        return differ("its original fit differs".into());
    }
    Ok(())
}

/// Refuses shards that are not exactly 1/K, 2/K, …, K/K once each.
fn check_shards(shards: &[(&str, Shard)]) -> Result<()> {
    let count = shards[0].1.count;
    if let Some((p, s)) = shards.iter().find(|(_, s)| s.count != count) {
        return Err(Error::Argument(format!(
            "--merge: {p} is shard {s}, {} is shard {}: shards of one run share K",
            shards[0].0, shards[0].1
        )));
    }
    for i in 1..=count {
        let with: Vec<&str> = shards.iter().filter(|(_, s)| s.index == i).map(|(p, _)| *p).collect();
        match with.len() {
            1 => {}
            0 => {
                return Err(Error::Argument(format!(
                    "--merge: shard {i}/{count} is missing (give the files of all {count} shards)"
                )))
            }
            _ => {
                return Err(Error::Argument(format!(
                    "--merge: shard {i}/{count} is given twice ({})",
                    with.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// The rows of `kind` from all shards: each of 1..=total exactly once, each
/// in the file of its shard.
fn complete(files: &[(String, SamplesFile)], shards: &[(&str, Shard)], kind: Kind, total: usize) -> Result<Vec<Row>> {
    let what = match kind {
        Kind::Jackknife => "jackknife sample",
        _ => "replicate",
    };
    let mut seen = std::collections::BTreeMap::new();
    for ((path, f), (_, shard)) in files.iter().zip(shards) {
        for r in f.of_kind(kind) {
            if r.index == 0 || r.index > total {
                return Err(Error::Argument(format!(
                    "--merge: {path} has {what} {} of a run of {total}",
                    r.index
                )));
            }
            if !shard.runs(r.index) {
                return Err(Error::Argument(format!(
                    "--merge: {path} is shard {shard} but has {what} {}",
                    r.index
                )));
            }
            if seen.insert(r.index, r.clone()).is_some() {
                return Err(Error::Argument(format!(
                    "--merge: {what} {} is in {path} twice",
                    r.index
                )));
            }
        }
    }
    if seen.len() < total {
        // At most seen.len() + 10 steps, however large `total` is.
        let shown: Vec<String> = (1..=total)
            .filter(|k| !seen.contains_key(k))
            .take(10)
            .map(|k| k.to_string())
            .collect();
        let missing = total - seen.len();
        return Err(Error::Argument(format!(
            "--merge: {missing} {what}s missing ({}{}): a shard's file is incomplete",
            shown.join(", "),
            if missing > shown.len() { ", …" } else { "" }
        )));
    }
    Ok(seen.into_values().collect())
}
