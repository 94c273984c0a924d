//! Issue 14: a fuzz corpus of more than 600 inputs run through the `pk`
//! binary: malformed CSV, numeric and NONMEM edge cases, bad model files and
//! bad flags. Every case must end without a panic, a signal or a hang, with
//! the outcome expected for it: refused (non-zero exit, a message naming the
//! file, line and column or the subject) or accepted (exit 0, and a check of
//! the result). See `tests/fuzz/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Cases and expectations
// ---------------------------------------------------------------------------

type Files = Vec<(String, Vec<u8>)>;

#[derive(Clone, Debug)]
enum Expect {
    /// Non-zero exit; standard error contains each of these.
    Refused(Vec<String>),
    /// Exit 0; standard output and standard error contain each of these.
    Accepted { stdout: Vec<String>, stderr: Vec<String> },
    /// Exit 0, and standard output identical to that of the same command on
    /// these files (an equivalent input).
    SameAs(Files),
    /// Exit 0 and every file named exists after the run.
    Writes(Vec<String>),
    /// Refused, or accepted with a warning: either way standard error
    /// contains each of these (data must not be dropped silently).
    Warns(Vec<String>),
}

#[derive(Clone, Debug)]
struct Case {
    category: &'static str,
    name: String,
    args: Vec<String>,
    files: Files,
    expect: Expect,
}

fn refused(needles: &[&str]) -> Expect {
    Expect::Refused(needles.iter().map(|s| s.to_string()).collect())
}

fn accepted(stdout: &[&str], stderr: &[&str]) -> Expect {
    Expect::Accepted {
        stdout: stdout.iter().map(|s| s.to_string()).collect(),
        stderr: stderr.iter().map(|s| s.to_string()).collect(),
    }
}

fn same_as(name: &str, text: impl Into<Vec<u8>>) -> Expect {
    Expect::SameAs(vec![(name.to_string(), text.into())])
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn file(name: &str, text: impl Into<Vec<u8>>) -> Files {
    vec![(name.to_string(), text.into())]
}

fn repo_text(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A deterministic generator (SplitMix64), so that the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Running one case
// ---------------------------------------------------------------------------

struct Run {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Writes the files of a case; a file whose content is `@hardlink NAME` is
/// made a hard link to the file NAME written before it.
fn write_files(dir: &Path, files: &Files) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        if let Some(target) = bytes.strip_prefix(b"@hardlink ") {
            let target = dir.join(String::from_utf8_lossy(target).as_ref());
            std::fs::hard_link(target, path).unwrap();
        } else {
            std::fs::write(path, bytes).unwrap();
        }
    }
}

/// Runs `pk` in `dir` with a timeout; the child is killed when it runs past it.
fn run_pk(dir: &Path, args: &[String]) -> Run {
    let out = dir.join(".stdout");
    let err = dir.join(".stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("pk runs");
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Run {
        code: status.code(),
        timed_out,
        stdout: read(&out),
        stderr: read(&err),
    }
}

fn describe(run: &Run) -> String {
    let cut = |s: &str| s.chars().take(600).collect::<String>();
    format!(
        "exit {:?}\n  stderr: {}\n  stdout: {}",
        run.code,
        cut(&run.stderr),
        cut(&run.stdout)
    )
}

/// The failures that no input may produce: a panic, a signal, a hang.
fn crash(run: &Run) -> Option<String> {
    if run.timed_out {
        return Some(format!("HANG: killed after {TIMEOUT:?}"));
    }
    if run.code.is_none() {
        return Some("killed by a signal (abort or crash)".into());
    }
    if run.code == Some(101) || run.stderr.contains("panicked") || run.stderr.contains("RUST_BACKTRACE") {
        return Some("PANIC".into());
    }
    None
}

/// Standard output without the lines that report run times.
fn normalise(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.contains("objective evaluations"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a case; `Err` says what went wrong.
fn check(case: &Case, dir: &Path, only_crashes: bool) -> Result<(), String> {
    write_files(dir, &case.files);
    let run = run_pk(dir, &case.args);
    if let Some(c) = crash(&run) {
        return Err(format!("{c}: {}", describe(&run)));
    }
    if only_crashes {
        return Ok(());
    }
    let missing = |text: &str, needles: &[String]| -> Vec<String> {
        needles.iter().filter(|n| !text.contains(n.as_str())).cloned().collect()
    };
    match &case.expect {
        Expect::Refused(needles) => {
            if run.code == Some(0) {
                return Err(format!(
                    "expected a refusal naming {needles:?}, but it was accepted: {}",
                    describe(&run)
                ));
            }
            if !run.stderr.starts_with("error:") && !run.stderr.contains("\nerror:") {
                return Err(format!("a refusal without an error message: {}", describe(&run)));
            }
            let m = missing(&run.stderr, needles);
            if !m.is_empty() {
                return Err(format!("the message does not name {m:?}: {}", describe(&run)));
            }
        }
        Expect::Accepted { stdout, stderr } => {
            if run.code != Some(0) {
                return Err(format!("expected success: {}", describe(&run)));
            }
            let m = missing(&run.stdout, stdout);
            if !m.is_empty() {
                return Err(format!("standard output lacks {m:?}: {}", describe(&run)));
            }
            let m = missing(&run.stderr, stderr);
            if !m.is_empty() {
                return Err(format!("standard error lacks {m:?}: {}", describe(&run)));
            }
        }
        Expect::SameAs(reference) => {
            if run.code != Some(0) {
                return Err(format!(
                    "expected success (as the equivalent input): {}",
                    describe(&run)
                ));
            }
            let rdir = dir.with_extension("ref");
            write_files(&rdir, reference);
            let r = run_pk(&rdir, &case.args);
            if r.code != Some(0) {
                return Err(format!("the reference input fails: {}", describe(&r)));
            }
            let (expected, got) = (normalise(&r.stdout), normalise(&run.stdout));
            if expected != got {
                let first = expected
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(expected.lines().count().min(got.lines().count()));
                return Err(format!(
                    "output differs from the equivalent input's at line {}: expected {:?}, got {:?}",
                    first + 1,
                    expected.lines().nth(first),
                    got.lines().nth(first)
                ));
            }
        }
        Expect::Warns(needles) => {
            let m = missing(&run.stderr, needles);
            if !m.is_empty() {
                return Err(format!("no message on standard error names {m:?}: {}", describe(&run)));
            }
        }
        Expect::Writes(files) => {
            if run.code != Some(0) {
                return Err(format!("expected success: {}", describe(&run)));
            }
            for f in files {
                if !dir.join(f).exists() {
                    return Err(format!("{f} was not written: {}", describe(&run)));
                }
            }
        }
    }
    Ok(())
}

/// Runs the cases on a few threads; returns the failures and the time taken.
fn run_all(cases: &[Case], only_crashes: bool) -> (Vec<String>, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let times = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let dir = tmp.path().join(format!("case{i:04}"));
                let t = Instant::now();
                let result = check(case, &dir, only_crashes);
                times.lock().unwrap().push((t.elapsed(), i));
                if let Err(e) = result {
                    failures.lock().unwrap().push(format!(
                        "[{}] {}\n  pk {}\n  {e}",
                        case.category,
                        case.name,
                        case.args.join(" ")
                    ));
                }
            });
        }
    });
    let mut times = times.into_inner().unwrap();
    times.sort();
    for (t, i) in times.iter().rev().take(5) {
        eprintln!(
            "  slowest: {:.2} s  [{}] {}",
            t.as_secs_f64(),
            cases[*i].category,
            cases[*i].name
        );
    }
    let mut f = failures.into_inner().unwrap();
    f.sort();
    (f, start.elapsed())
}

// ---------------------------------------------------------------------------
// Data: a small file with every NONMEM column
// ---------------------------------------------------------------------------

const COLUMNS: [&str; 13] = [
    "ID", "TIME", "DV", "AMT", "RATE", "DUR", "EVID", "MDV", "CMT", "ADDL", "II", "SS", "WT",
];

/// Subject 1: a bolus (line 2), observations (lines 3, 4); subject 2: an
/// infusion (line 5) and an observation (line 6).
const BASE: [[&str; 13]; 5] = [
    ["1", "0", ".", "100", "0", "0", "1", "1", "1", "0", "0", "0", "70"],
    ["1", "1", "1500", "0", "0", "0", "0", "0", "1", "0", "0", "0", "70"],
    ["1", "4", "800", "0", "0", "0", "0", "0", "1", "0", "0", "0", "70"],
    ["2", "0", ".", "100", "50", "0", "1", "1", "1", "0", "0", "0", "80"],
    ["2", "2", "1300", "0", "0", "0", "0", "0", "1", "0", "0", "0", "80"],
];

fn table(header: &[&str], rows: &[Vec<String>], sep: &str, eol: &str) -> String {
    let mut s = header.join(sep);
    s.push_str(eol);
    for r in rows {
        s.push_str(&r.join(sep));
        s.push_str(eol);
    }
    s
}

fn base_rows() -> Vec<Vec<String>> {
    BASE.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

fn base_csv() -> String {
    table(&COLUMNS, &base_rows(), ",", "\n")
}

/// The base data with the cell at `line` (2..=6) and `col` replaced.
fn base_with(line: usize, col: &str, value: &str) -> String {
    let mut rows = base_rows();
    let c = COLUMNS.iter().position(|h| *h == col).unwrap();
    rows[line - 2][c] = value.to_string();
    table(&COLUMNS, &rows, ",", "\n")
}

fn sim() -> Vec<String> {
    args(&[
        "simulate",
        "--model",
        "one_cmt_iv",
        "--data",
        "data.csv",
        "--grid",
        "0:1:6",
    ])
}

/// A model that reads WT.
const WT_MODEL: &str = "theta CL = 5 (0.01, 100)\ntheta V = 50 (1, 1000)\ncovariates WT\nsigma prop ~ 0.01\n\
                        kernel one_cmt_iv(CL * (WT / 70)^0.75, V)\noutput CP = central / V ~ prop(prop)\n";

/// Text that is not a number, in every spelling the reader might mistake for one.
const NOT_NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "+Infinity",
    "1e309",
    "-1e309",
    "abc",
    "BLQ",
    "<0.1",
    "1.2.3",
    "0x10",
    "1e",
    "--1",
    "1 2",
];

fn numeric_cells(cases: &mut Vec<Case>) {
    // Every non-number in every numeric column, on a dose and an observation record.
    for col in &COLUMNS[1..] {
        for line in [2, 3] {
            for v in NOT_NUMBERS {
                cases.push(Case {
                    category: "numeric: non-numbers",
                    name: format!("{col} = '{v}' on line {line}"),
                    args: sim(),
                    files: file("data.csv", base_with(line, col, v)),
                    expect: refused(&[&format!(
                        "data.csv, line {line}, column {col}: expected a number, found '{v}'"
                    )]),
                });
            }
        }
    }
    // A quoted field with the separator in it, and a number with a comma as decimal mark.
    for col in ["TIME", "AMT", "WT"] {
        cases.push(Case {
            category: "numeric: non-numbers",
            name: format!("{col} = \"1,5\" (decimal comma, quoted)"),
            args: sim(),
            files: file("data.csv", base_with(2, col, "\"1,5\"")),
            expect: refused(&[&format!(
                "data.csv, line 2, column {col}: expected a number, found '1,5'"
            )]),
        });
    }

    // The edge values of each column, with what each must give.
    let base = base_csv();
    let same = || same_as("data.csv", base.clone());
    let acc = || accepted(&["ID,TIME (h),CONC (ng/mL)\n1,0,"], &[]);
    let r = |needle: &str| refused(&["data.csv, line", needle]);
    type Row<'a> = (usize, &'a str, &'a str, Expect);
    let edge: Vec<Row> = vec![
        // ID: text is an ID; numerically equal IDs are one subject.
        (2, "ID", "", r("line 2, column ID: expected a subject ID")),
        (3, "ID", ".", r("line 3, column ID: expected a subject ID")),
        (2, "ID", "1.0", same()),
        (2, "ID", "001", same()),
        (2, "ID", "+1", same()),
        (2, "ID", "1e0", same()),
        (3, "ID", "1.000", same()),
        (
            3,
            "ID",
            "abc",
            r("line 4, column ID: subject 1 appears again after other subjects"),
        ),
        (
            3,
            "ID",
            "2",
            r("line 4, column ID: subject 1 appears again after other subjects"),
        ),
        (
            6,
            "ID",
            "1",
            r("line 6, column ID: subject 1 appears again after other subjects"),
        ),
        (2, "ID", "NaN", accepted(&["\nNaN,0,"], &[])),
        (2, "ID", "patient A", accepted(&["\npatient A,0,"], &[])),
        // TIME
        (
            2,
            "TIME",
            "",
            r("line 2, column TIME: expected a time, found a missing value"),
        ),
        (
            3,
            "TIME",
            ".",
            r("line 3, column TIME: expected a time, found a missing value"),
        ),
        (2, "TIME", "-0", same()),
        (2, "TIME", "+0", same()),
        (2, "TIME", "0.000", same()),
        (2, "TIME", "0e10", same()),
        (3, "TIME", "1.0", same()),
        (3, "TIME", "1E0", same()),
        (2, "TIME", "-5", acc()),
        (2, "TIME", "1e-310", acc()),
        (2, "TIME", "5e-324", acc()),
        (
            3,
            "TIME",
            "-1",
            r("line 3, column TIME: subject 1: time -1 is before the previous record's time 0"),
        ),
        (
            3,
            "TIME",
            "1e300",
            r("line 4, column TIME: subject 1: time 4 is before the previous record's time"),
        ),
        (
            4,
            "TIME",
            "0.5",
            r("line 4, column TIME: subject 1: time 0.5 is before the previous record's time 1"),
        ),
        // DV: not used by a simulation, but a missing one on an observation is refused.
        (
            3,
            "DV",
            "",
            r("line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"),
        ),
        (
            4,
            "DV",
            ".",
            r("line 4, column DV: MDV = 0 makes this record an observation, but DV is missing"),
        ),
        (3, "DV", "-0", same()),
        (3, "DV", "-1", same()),
        (3, "DV", "1e300", same()),
        (3, "DV", "5e-324", same()),
        (2, "DV", "7", same()),
        // AMT
        (
            2,
            "AMT",
            "-1",
            r("line 2, column AMT: a dose amount must not be negative, found -1"),
        ),
        (
            5,
            "AMT",
            "-1e-300",
            r("line 5, column AMT: a dose amount must not be negative"),
        ),
        (2, "AMT", "100.0", same()),
        (2, "AMT", "1e2", same()),
        (2, "AMT", "-0", acc()),
        (2, "AMT", "", acc()),
        (2, "AMT", "5e-324", acc()),
        (2, "AMT", "1e300", acc()),
        (
            2,
            "AMT",
            "1.7976931348623157e308",
            refused(&["subject 1: the prediction at time 0 (line 2) is inf"]),
        ),
        (
            3,
            "AMT",
            "5",
            r("line 3, column AMT: AMT = 5 on a record that is not a dose"),
        ),
        (3, "AMT", "-0", same()),
        (3, "AMT", ".", same()),
        // RATE
        (
            2,
            "RATE",
            "-1",
            r("line 2, column RATE: RATE = -1 asks for a modelled rate, but the model sets no RATE(state)"),
        ),
        (
            2,
            "RATE",
            "-2",
            r("line 2, column RATE: RATE = -2 asks for a modelled duration, but the model sets no DUR(state)"),
        ),
        (
            2,
            "RATE",
            "-3",
            r("line 2, column RATE: expected a rate >= 0, or -1 (modelled rate) or -2 (modelled duration), found -3"),
        ),
        (2, "RATE", "-0.5", r("line 2, column RATE: expected a rate >= 0")),
        (3, "RATE", "-3", r("line 3, column RATE: expected a rate >= 0")),
        (2, "RATE", "-0", same()),
        (2, "RATE", ".", same()),
        (3, "RATE", "50", same()),
        (2, "RATE", "50", acc()),
        (2, "RATE", "1e-300", acc()),
        (2, "RATE", "1e300", acc()),
        // DUR
        (
            2,
            "DUR",
            "-1",
            r("line 2, column DUR: a duration must not be negative, found -1"),
        ),
        (
            5,
            "DUR",
            "2",
            r("line 5, column DUR: both RATE (50) and DUR (2) are given for one dose; give one of them"),
        ),
        (2, "DUR", "-0", same()),
        (2, "DUR", ".", same()),
        (3, "DUR", "2", same()),
        (2, "DUR", "2", acc()),
        (2, "DUR", "1e-300", acc()),
        // EVID
        (
            2,
            "EVID",
            "0",
            r("line 2, column AMT: AMT = 100 on a record that is not a dose: an observation record (EVID 0)"),
        ),
        (
            2,
            "EVID",
            "2",
            r("line 2, column AMT: AMT = 100 on a record that is not a dose: EVID 2 records give no dose"),
        ),
        (
            2,
            "EVID",
            "3",
            r("line 2, column AMT: AMT = 100 on a record that is not a dose: EVID 3 resets the system"),
        ),
        (
            2,
            "EVID",
            "5",
            r("line 2, column EVID: expected 0, 1, 2, 3 or 4, found 5"),
        ),
        (
            2,
            "EVID",
            "-1",
            r("line 2, column EVID: expected 0, 1, 2, 3 or 4, found -1"),
        ),
        (
            3,
            "EVID",
            "1.5",
            r("line 3, column EVID: expected 0, 1, 2, 3 or 4, found 1.5"),
        ),
        (
            3,
            "EVID",
            "99",
            r("line 3, column EVID: expected 0, 1, 2, 3 or 4, found 99"),
        ),
        (3, "EVID", "1e300", r("line 3, column EVID: expected 0, 1, 2, 3 or 4")),
        (2, "EVID", "1.0", same()),
        (2, "EVID", "4", same()),
        (2, "EVID", ".", same()),
        (3, "EVID", "-0", same()),
        (3, "EVID", "2", same()),
        (3, "EVID", "1", acc()),
        (3, "EVID", "3", accepted(&["\n1,2,0\n"], &[])),
        (3, "EVID", "4", accepted(&["\n1,2,0\n"], &[])),
        // MDV
        (3, "MDV", "2", r("line 3, column MDV: expected 0 or 1, found 2")),
        (3, "MDV", "-1", r("line 3, column MDV: expected 0 or 1, found -1")),
        (3, "MDV", "0.5", r("line 3, column MDV: expected 0 or 1, found 0.5")),
        (2, "MDV", "0", same()),
        (2, "MDV", ".", same()),
        (3, "MDV", "1", same()),
        (3, "MDV", ".", same()),
        // CMT
        (
            2,
            "CMT",
            "2",
            r("line 2, column CMT: the model has compartments 1 to 1 (central), the dose names 2"),
        ),
        (
            2,
            "CMT",
            "-1",
            r("line 2, column CMT: expected a compartment number >= 0, found -1"),
        ),
        (
            2,
            "CMT",
            "1.5",
            r("line 2, column CMT: expected a compartment number >= 0, found 1.5"),
        ),
        (
            2,
            "CMT",
            "1e300",
            r("line 2, column CMT: the model has compartments 1 to 1"),
        ),
        (
            3,
            "CMT",
            "2",
            r("line 3, column CMT: an observation in CMT 2 has no output in the model"),
        ),
        (
            3,
            "CMT",
            "-3",
            r("line 3, column CMT: expected a compartment number >= 0, found -3"),
        ),
        (2, "CMT", "0", same()),
        (2, "CMT", "-0", same()),
        (2, "CMT", ".", same()),
        (3, "CMT", "1.0", same()),
        // ADDL
        (
            2,
            "ADDL",
            "1",
            r("line 2, column II: ADDL = 1 needs an interdose interval II > 0"),
        ),
        (
            2,
            "ADDL",
            "-1",
            r("line 2, column ADDL: expected a whole number of additional doses >= 0, found -1"),
        ),
        (
            2,
            "ADDL",
            "1.5",
            r("line 2, column ADDL: expected a whole number of additional doses >= 0, found 1.5"),
        ),
        (
            2,
            "ADDL",
            "1000001",
            r("line 2, column ADDL: expected a whole number of additional doses >= 0"),
        ),
        (
            2,
            "ADDL",
            "1e300",
            r("line 2, column ADDL: expected a whole number of additional doses >= 0"),
        ),
        (3, "ADDL", "-2", r("line 3, column ADDL: expected a whole number")),
        (2, "ADDL", "-0", same()),
        (2, "ADDL", ".", same()),
        (3, "ADDL", "3", same()),
        // II
        (
            2,
            "II",
            "-1",
            r("line 2, column II: an interdose interval must not be negative, found -1"),
        ),
        (
            3,
            "II",
            "-12",
            r("line 3, column II: an interdose interval must not be negative"),
        ),
        (2, "II", "12", same()),
        (2, "II", "-0", same()),
        (2, "II", "1e300", same()),
        // SS
        (
            2,
            "SS",
            "1",
            r("line 2, column II: SS = 1 needs an interdose interval II > 0"),
        ),
        (
            2,
            "SS",
            "2",
            r("line 2, column II: SS = 2 needs an interdose interval II > 0"),
        ),
        (2, "SS", "3", r("line 2, column SS: expected 0, 1 or 2, found 3")),
        (2, "SS", "99", r("line 2, column SS: expected 0, 1 or 2, found 99")),
        (2, "SS", "-1", r("line 2, column SS: expected 0, 1 or 2, found -1")),
        (3, "SS", "0.5", r("line 3, column SS: expected 0, 1 or 2, found 0.5")),
        (2, "SS", "-0", same()),
        (2, "SS", ".", same()),
        (3, "SS", "1", same()),
        // WT: a covariate the model does not read.
        (2, "WT", "", same()),
        (3, "WT", ".", same()),
        (3, "WT", "-5", same()),
        (3, "WT", "1e300", same()),
        (3, "WT", "-0", same()),
    ];
    for (line, col, value, expect) in edge {
        cases.push(Case {
            category: "numeric: edge values",
            name: format!("{col} = '{value}' on line {line}"),
            args: sim(),
            files: file("data.csv", base_with(line, col, value)),
            expect,
        });
    }

    // WT read by the model: missing or unusable values are refused per record.
    let wt_args = args(&["simulate", "--model", "wt.pk", "--data", "data.csv", "--grid", "0:1:6"]);
    let with_model = |data: String| {
        let mut f = file("data.csv", data);
        f.push(("wt.pk".into(), WT_MODEL.into()));
        f
    };
    let wt_cases: Vec<(usize, &str, Expect)> = vec![
        (
            2,
            "",
            refused(&["subject 1, data.csv, line 2, column WT: covariate WT is missing or not a number"]),
        ),
        (
            3,
            ".",
            refused(&["subject 1, data.csv, line 3, column WT: covariate WT is missing or not a number"]),
        ),
        (
            6,
            ".",
            refused(&["subject 2, data.csv, line 6, column WT: covariate WT is missing or not a number"]),
        ),
        (3, "70.0", Expect::SameAs(with_model(base_csv()))),
        (2, "-5", refused(&["subject 1", "kernel parameter CL = NaN"])),
        (2, "0", refused(&["subject 1", "kernel parameter CL = 0"])),
        (2, "140", accepted(&["ID,TIME (h),CONC (ng/mL)\n1,0,"], &[])),
    ];
    for (line, v, expect) in wt_cases {
        cases.push(Case {
            category: "numeric: edge values",
            name: format!("WT = '{v}' on line {line}, read by the model"),
            args: wt_args.clone(),
            files: with_model(base_with(line, "WT", v)),
            expect,
        });
    }
    cases.push(Case {
        category: "numeric: edge values",
        name: "no WT column for a model that reads WT".into(),
        args: wt_args.clone(),
        files: with_model(base_csv().replace(",WT\n", ",WEIGHT\n")),
        expect: refused(&["data.csv: model wt needs covariate WT, but the data file has no WT column"]),
    });
}

fn csv_structure(cases: &mut Vec<Case>) {
    let base = base_csv();
    let rows = base_rows();
    let same = || same_as("data.csv", base.clone());
    let mut add = |name: &str, data: Vec<u8>, expect: Expect| {
        cases.push(Case {
            category: "csv: structure",
            name: name.to_string(),
            args: sim(),
            files: file("data.csv", data),
            expect,
        });
    };
    let no_id = refused(&["data.csv, line 1: missing required column ID"]);
    add("empty file", vec![], no_id.clone());
    add("only newlines", b"\n\n\n".to_vec(), no_id.clone());
    add(
        "only spaces",
        b"   \n  \n".to_vec(),
        refused(&["data.csv, line 1: column 1 has no name"]),
    );
    add(
        "header only",
        format!("{}\n", COLUMNS.join(",")).into(),
        refused(&["data.csv: no data records"]),
    );
    add(
        "header only, no newline",
        COLUMNS.join(",").into(),
        refused(&["data.csv: no data records"]),
    );
    add(
        "header and comment lines only",
        format!("{}\n# nothing\n#\n", COLUMNS.join(",")).into(),
        refused(&["data.csv: no data records"]),
    );
    add("UTF-8 byte-order mark", format!("\u{feff}{base}").into(), same());
    add("CRLF line ends", base.replace('\n', "\r\n").into(), same());
    add(
        "BOM and CRLF",
        format!("\u{feff}{}", base.replace('\n', "\r\n")).into(),
        same(),
    );
    add("CR line ends", base.replace('\n', "\r").into(), same());
    add("no newline at the end", base.trim_end().into(), same());
    add("mixed line ends", base.replacen('\n', "\r\n", 3).into(), same());
    add(
        "tab-separated",
        table(&COLUMNS, &rows, "\t", "\n").into(),
        no_id.clone(),
    );
    add(
        "semicolon-separated",
        table(&COLUMNS, &rows, ";", "\n").into(),
        no_id.clone(),
    );
    add(
        "space-separated",
        table(&COLUMNS, &rows, " ", "\n").into(),
        no_id.clone(),
    );
    add(
        "pipe-separated",
        table(&COLUMNS, &rows, "|", "\n").into(),
        no_id.clone(),
    );
    add(
        "comma and space separated",
        table(&COLUMNS, &rows, ", ", "\n").into(),
        same(),
    );
    add("blank lines between records", base.replace('\n', "\n\n").into(), same());
    add(
        "comment lines before the header",
        format!("# a comment\n#another\n{base}").into(),
        same(),
    );
    add(
        "comment lines between records",
        base.replace("\n2,", "\n# subject 2\n2,").into(),
        same(),
    );
    add(
        "a commented header",
        format!("#{base}").into(),
        refused(&["missing required column ID (the header has: 1, 0, ., 100"]),
    );
    add("padded fields", table(&COLUMNS, &rows, " ,  ", " \n").into(), same());
    add(
        "lower-case header",
        base.replacen(&COLUMNS.join(","), &COLUMNS.join(",").to_lowercase(), 1)
            .into(),
        same(),
    );
    let quoted = |v: &[&str]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>();
    let quoted_rows: Vec<Vec<String>> = BASE.iter().map(|r| quoted(r)).collect();
    add(
        "every field quoted",
        table(
            &quoted(&COLUMNS).iter().map(String::as_str).collect::<Vec<_>>(),
            &quoted_rows,
            ",",
            "\n",
        )
        .into(),
        same(),
    );
    add(
        "quoted header",
        base.replacen("ID,TIME", "\"ID\",\"TIME\"", 1).into(),
        same(),
    );
    add(
        "doubled quotes in a number",
        base.replacen("1,1,1500", "1,1,\"15\"\"00\"", 1).into(),
        refused(&["data.csv, line 3, column DV: expected a number, found '15\"00'"]),
    );
    add(
        "a quote inside a field",
        base.replacen("1,1,1500", "1,1,15\"00", 1).into(),
        refused(&["data.csv, line 3, column DV: expected a number"]),
    );
    add(
        "unterminated quote in a number",
        base.replacen("1,1,1500", "1,1,\"1500", 1).into(),
        refused(&["data.csv, line 3: malformed CSV row", "found record with 3 fields"]),
    );
    add(
        "header with a trailing comma",
        base.replacen(",WT\n", ",WT,\n", 1).into(),
        refused(&["data.csv, line 1: column 14 has no name"]),
    );
    add(
        "an empty column name",
        base.replacen(",WT\n", ",,WT\n", 1).into(),
        refused(&["data.csv, line 1: column 13 has no name"]),
    );
    add(
        "records with a trailing comma",
        base.replace("0,70\n", "0,70,\n").into(),
        refused(&["data.csv, line 2: malformed CSV row", "found record with 14 fields"]),
    );
    add(
        "a record with a field fewer",
        base.replacen("1,1,1500,0,0,0,0,0,1,0,0,0,70", "1,1,1500,0,0,0,0,0,1,0,0,0", 1)
            .into(),
        refused(&["data.csv, line 3: malformed CSV row", "found record with 12 fields"]),
    );
    add(
        "a record with a field more",
        base.replacen("1,4,800,0,0,0,0,0,1,0,0,0,70", "1,4,800,0,0,0,0,0,1,0,0,0,70,1", 1)
            .into(),
        refused(&["data.csv, line 4: malformed CSV row", "found record with 14 fields"]),
    );
    add(
        "a record of empty fields",
        format!("{base}{}\n", ",".repeat(12)).into(),
        refused(&["data.csv, line 7, column ID: expected a subject ID, found an empty field"]),
    );
    add(
        "a record of dots",
        format!("{base}{}\n", vec!["."; 13].join(",")).into(),
        refused(&["data.csv, line 7, column ID: expected a subject ID, found an empty field"]),
    );
    add(
        "a lone word after the records",
        format!("{base}END\n").into(),
        refused(&["data.csv, line 7: malformed CSV row", "found record with 1 fields"]),
    );
    add(
        "extra numeric columns",
        base.replace(",70\n", ",70,1,2.5\n")
            .replace(",80\n", ",80,1,2.5\n")
            .replacen(",WT\n", ",WT,FOO,BAR\n", 1)
            .into(),
        same(),
    );
    add(
        "an extra text column",
        base.replace(",70\n", ",70,x\n")
            .replace(",80\n", ",80,y\n")
            .replacen(",WT\n", ",WT,NOTE\n", 1)
            .into(),
        refused(&["data.csv, line 2, column NOTE: expected a number, found 'x'"]),
    );
    add(
        "a very long number (100 000 digits)",
        base.replacen(",70\n", &format!(",{}\n", "7".repeat(100_000)), 1).into(),
        refused(&["data.csv, line 2, column WT: expected a number, found '7777"]),
    );
    add(
        "a very long decimal (100 000 digits)",
        base.replacen(",70\n", &format!(",70.{}\n", "1".repeat(100_000)), 1)
            .into(),
        accepted(&["ID,TIME (h),CONC (ng/mL)\n1,0,"], &[]),
    );
    let wide_header: String = (0..5000).map(|i| format!(",X{i}")).collect();
    let wide_row: String = (0..5000).map(|i| format!(",{i}")).collect();
    add(
        "5000 extra columns",
        base.lines()
            .enumerate()
            .map(|(i, l)| format!("{l}{}\n", if i == 0 { &wide_header } else { &wide_row }))
            .collect::<String>()
            .into(),
        same(),
    );
    let long_id = "P".repeat(20_000);
    add(
        "a 20 000-character ID",
        base.replace("\n2,", &format!("\n{long_id},")).into(),
        accepted(&[&format!("\n{long_id},0,")], &[]),
    );
    add(
        "10 000 records of one subject",
        {
            let mut t = base.clone();
            for k in 0..10_000 {
                let _ = writeln!(t, "3,{},.,10,0,0,1,1,1,0,0,0,70", k);
            }
            t.into_bytes()
        },
        accepted(&["\n3,6,"], &[]),
    );
    add(
        "1000 subjects",
        {
            let mut t = base.clone();
            for k in 3..1003 {
                let _ = writeln!(t, "{k},0,.,10,0,0,1,1,1,0,0,0,70");
            }
            t.into_bytes()
        },
        accepted(&["\n1002,6,"], &[]),
    );
    let utf8 = |s: &str, name: &str| (name.to_string(), s.as_bytes().to_vec());
    let (n, bytes) = utf8(&base, "x");
    let _ = n;
    let mut latin1 = bytes.clone();
    let at = base.find("\n1,4").unwrap() + 1;
    latin1.splice(at..at, b"\xe9".iter().copied());
    add(
        "a Latin-1 byte in a record",
        latin1,
        refused(&["data.csv", "valid UTF-8"]),
    );
    let mut bad_header = bytes.clone();
    bad_header.splice(2..2, b"\xff\xfe".iter().copied());
    add(
        "invalid UTF-8 in the header",
        bad_header,
        refused(&["data.csv", "valid UTF-8"]),
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(base.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    add(
        "UTF-16 with its byte-order mark",
        utf16,
        refused(&["data.csv", "valid UTF-8"]),
    );
    add(
        "a NUL byte in a number",
        base.replacen("1,1,1500", "1,1,15\u{0}00", 1).into(),
        refused(&["data.csv, line 3, column DV: expected a number"]),
    );
    add(
        "a non-ASCII minus sign",
        base.replacen("1,1,1500", "1,1,\u{2212}1500", 1).into(),
        refused(&["data.csv, line 3, column DV: expected a number, found '\u{2212}1500'"]),
    );
    add(
        "a non-breaking space in a number",
        base.replacen("1,1,1500", "1,1,1\u{a0}500", 1).into(),
        refused(&["data.csv, line 3, column DV: expected a number"]),
    );
    add(
        "a non-ASCII ID",
        base.replace("\n2,", "\nÅsa,").into(),
        accepted(&["\nÅsa,0,"], &[]),
    );
    for (i, col) in COLUMNS[..12].iter().enumerate() {
        let dup = if i % 2 == 0 {
            col.to_string()
        } else {
            col.to_lowercase()
        };
        let text = base
            .lines()
            .enumerate()
            .map(|(k, l)| {
                let extra = if k == 0 {
                    dup.clone()
                } else {
                    l.split(',').nth(i).unwrap().to_string()
                };
                format!("{l},{extra}\n")
            })
            .collect::<String>();
        add(
            &format!("column {col} twice"),
            text.into(),
            refused(&[&format!(
                "data.csv, line 1, column {dup}: column {dup} appears twice in the header"
            )]),
        );
    }
    for col in ["ID", "TIME"] {
        let k = COLUMNS.iter().position(|c| *c == col).unwrap();
        let text = base
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.remove(k);
                format!("{}\n", f.join(","))
            })
            .collect::<String>();
        add(
            &format!("no {col} column"),
            text.into(),
            refused(&[&format!(
                "data.csv, line 1: missing required column {col} (the header has: "
            )]),
        );
    }
    let without = |cols: &[&str]| -> String {
        let keep: Vec<usize> = (0..COLUMNS.len()).filter(|k| !cols.contains(&COLUMNS[*k])).collect();
        base.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                format!("{}\n", keep.iter().map(|k| f[*k]).collect::<Vec<_>>().join(","))
            })
            .collect()
    };
    add(
        "no DV column (MDV 0 records)",
        without(&["DV"]).into(),
        refused(&["data.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"]),
    );
    add("no DV and no MDV column", without(&["DV", "MDV"]).into(), same());
    add(
        "no AMT column (RATE on a dose)",
        without(&["AMT"]).into(),
        refused(&["column EVID: the record is a dose (EVID 1 or 4), but the data have no AMT column"]),
    );
    for col in ["EVID", "MDV", "CMT", "ADDL", "II", "SS", "DUR", "WT"] {
        add(&format!("no {col} column"), without(&[col]).into(), same());
    }
    add(
        "only ID, TIME, AMT",
        without(&["DV", "RATE", "DUR", "EVID", "MDV", "CMT", "ADDL", "II", "SS", "WT"]).into(),
        accepted(&["\n2,0,2000"], &[]),
    );
    add(
        "records sorted by time across subjects",
        {
            let mut r = rows.clone();
            r.sort_by(|a, b| a[1].parse::<f64>().unwrap().total_cmp(&b[1].parse::<f64>().unwrap()));
            table(&COLUMNS, &r, ",", "\n").into_bytes()
        },
        refused(&["data.csv, line 4, column ID: subject 1 appears again after other subjects"]),
    );
    add(
        "records in reverse order",
        {
            let mut r = rows.clone();
            r.reverse();
            table(&COLUMNS, &r, ",", "\n").into_bytes()
        },
        refused(&["data.csv, line 3, column TIME: subject 2: time 0 is before the previous record's time 2"]),
    );
    // C marks comment records (NONMEM's IGNORE=C).
    let with_c = |marks: [&str; 5]| -> String {
        let mut r = rows.clone();
        for (row, m) in r.iter_mut().zip(marks) {
            row.push(m.to_string());
        }
        let mut h = COLUMNS.to_vec();
        h.push("C");
        table(&h, &r, ",", "\n")
    };
    add("a C column of dots", with_c(["."; 5]).into(), same());
    add("a C column left empty", with_c([""; 5]).into(), same());
    let mut r = rows.clone();
    r.remove(2);
    add(
        "a C column commenting out one record",
        with_c([".", "", "C", ".", ""]).into(),
        same_as("data.csv", table(&COLUMNS, &r, ",", "\n")),
    );
    add(
        "a C column commenting out every record",
        with_c(["C"; 5]).into(),
        refused(&["data.csv: no data records"]),
    );
    add(
        "a #-commented record",
        base.replace("\n1,4,", "\n#1,4,").into(),
        same_as("data.csv", table(&COLUMNS, &r, ",", "\n")),
    );
    // Files that are not files.
    cases.push(Case {
        category: "csv: structure",
        name: "the data file is a directory".into(),
        args: sim(),
        files: file("data.csv/inside", "x"),
        expect: refused(&["error: data.csv"]),
    });
    cases.push(Case {
        category: "csv: structure",
        name: "the data file does not exist".into(),
        args: sim(),
        files: vec![],
        expect: refused(&["data.csv: No such file"]),
    });
}

/// NONMEM dosing and observation semantics on small data sets.
fn nonmem_semantics(cases: &mut Vec<Case>) {
    let mut add = |name: &str, args: Vec<String>, files: Files, expect: Expect| {
        cases.push(Case {
            category: "nonmem: semantics",
            name: name.to_string(),
            args,
            files,
            expect,
        });
    };
    let h = "ID,TIME,DV,AMT,RATE,EVID,MDV,CMT,ADDL,II,SS\n";
    let d = |rows: &str| file("data.csv", format!("{h}{rows}"));
    let with = |rows: &str, model: &str| {
        let mut f = d(rows);
        f.push(("m.pk".into(), model.into()));
        f
    };
    let s = sim;
    let sm = || args(&["simulate", "--model", "m.pk", "--data", "data.csv", "--grid", "0:1:6"]);
    let fit = || args(&["fit", "data.csv", "--model", "one_cmt_iv"]);
    let obs = "1,1,1500,0,0,0,0,1,0,0,0\n1,2,1300,0,0,0,0,1,0,0,0\n1,4,800,0,0,0,0,1,0,0,0\n1,8,300,0,0,0,0,1,0,0,0\n";
    let dose = "1,0,.,100,0,1,1,1,0,0,0\n";
    add(
        "steady state with II",
        s(),
        d("1,0,.,100,0,1,1,1,0,12,1\n"),
        accepted(&["\n1,0,"], &[]),
    );
    add(
        "SS=2 with II",
        s(),
        d("1,0,.,100,0,1,1,1,0,12,2\n"),
        accepted(&["\n1,0,"], &[]),
    );
    add(
        "steady-state constant infusion (AMT 0, RATE 10, SS 1)",
        s(),
        d("1,0,.,0,10,1,1,1,0,0,1\n"),
        accepted(&["\n1,6,"], &[]),
    );
    add(
        "SS=1 without II",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,1\n"),
        refused(&["data.csv, line 2, column II: SS = 1 needs an interdose interval II > 0"]),
    );
    add(
        "SS=1 without II or RATE, AMT 0",
        s(),
        d("1,0,.,0,0,1,1,1,0,0,1\n"),
        refused(&["data.csv, line 2, column II: SS = 1 needs an interdose interval II > 0"]),
    );
    add(
        "SS=99 (nlmixr2's code)",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,99\n"),
        refused(&["data.csv, line 2, column SS: expected 0, 1 or 2, found 99"]),
    );
    add(
        "ADDL without II",
        s(),
        d("1,0,.,100,0,1,1,1,3,0,0\n"),
        refused(&["data.csv, line 2, column II: ADDL = 3 needs an interdose interval II > 0"]),
    );
    add(
        "ADDL with II",
        s(),
        d("1,0,.,100,0,1,1,1,3,2,0\n"),
        accepted(&["\n1,6,"], &[]),
    );
    add(
        "ADDL at the limit (1e6) with a small II",
        s(),
        d("1,0,.,1,0,1,1,1,1000000,0.001,0\n"),
        accepted(&["\n1,6,"], &[]),
    );
    add("an infusion with AMT 0", s(), d("1,0,.,0,10,1,1,1,0,0,0\n"), refused(&["data.csv, line 2, column AMT: an infusion (RATE > 0) with AMT = 0 is only allowed as a steady-state infusion (SS = 1)"]));
    add(
        "a dose of 0",
        s(),
        d("1,0,.,0,0,1,1,1,0,0,0\n"),
        accepted(&["\n1,6,0\n"], &[]),
    );
    add(
        "a huge dose (1e300)",
        s(),
        d("1,0,.,1e300,0,1,1,1,0,0,0\n"),
        accepted(&["\n1,0,2"], &[]),
    );
    add(
        "a dose whose prediction overflows",
        s(),
        d("1,0,.,1.7e308,0,1,1,1,0,0,0\n"),
        refused(&["subject 1: the prediction at time 0 (line 2) is inf"]),
    );
    add(
        "a dose at time 1e15",
        s(),
        d("1,1e15,.,100,0,1,1,1,0,0,0\n"),
        accepted(&["\n1,6,0\n"], &[]),
    );
    add(
        "negative times",
        s(),
        d("1,-10,.,100,0,1,1,1,0,0,0\n1,-5,300,0,0,0,0,1,0,0,0\n"),
        accepted(&["\n1,0,"], &[]),
    );
    add("RATE=-1 with the rate in the model", sm(), with("1,0,.,100,-1,1,1,1,0,0,0\n", "theta CL = 5\ntheta V = 50\ntheta R = 50\nsigma prop ~ 0.01\nkernel one_cmt_iv(CL, V)\nRATE(central) = R\noutput CP = central / V ~ prop(prop)\n"), accepted(&["\n1,6,"], &[]));
    add("RATE=-2 with the duration in the model", sm(), with("1,0,.,100,-2,1,1,1,0,0,0\n", "theta CL = 5\ntheta V = 50\ntheta D = 2\nsigma prop ~ 0.01\nkernel one_cmt_iv(CL, V)\nDUR(central) = D\noutput CP = central / V ~ prop(prop)\n"), accepted(&["\n1,6,"], &[]));
    add("RATE=-2 with a modelled duration of 0", sm(), with("1,0,.,100,-2,1,1,1,0,0,0\n", "theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\nkernel one_cmt_iv(CL, V)\nDUR(central) = 0\noutput CP = central / V ~ prop(prop)\n"), refused(&["data.csv, line 2, column RATE: the modelled duration (RATE = -2) must be > 0, got 0"]));
    add("RATE=-1 with a negative modelled rate", sm(), with("1,0,.,100,-1,1,1,1,0,0,0\n", "theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\nkernel one_cmt_iv(CL, V)\nRATE(central) = -5\noutput CP = central / V ~ prop(prop)\n"), refused(&["data.csv, line 2", "RATE"]));
    add("RATE=-1 without a model rate", s(), d("1,0,.,100,-1,1,1,1,0,0,0\n"), refused(&["subject 1, data.csv, line 2, column RATE: RATE = -1 asks for a modelled rate, but the model sets no RATE(state)"]));
    add("RATE=-2 without a model duration", s(), d("1,0,.,100,-2,1,1,1,0,0,0\n"), refused(&["subject 1, data.csv, line 2, column RATE: RATE = -2 asks for a modelled duration, but the model sets no DUR(state)"]));
    let oral = args(&[
        "simulate",
        "--model",
        "one_cmt_oral",
        "--data",
        "data.csv",
        "--grid",
        "0:1:6",
    ]);
    add(
        "an oral dose into the depot (CMT 1)",
        oral.clone(),
        d("1,0,.,100,0,1,1,1,0,0,0\n"),
        accepted(&["\n1,0,0\n"], &[]),
    );
    add(
        "an oral dose into the central compartment (CMT 2)",
        oral.clone(),
        d("1,0,.,100,0,1,1,2,0,0,0\n"),
        accepted(&["\n1,0,2000"], &[]),
    );
    add("CMT 3 for a two-compartment oral... model with 2", oral.clone(), d("1,0,.,100,0,1,1,3,0,0,0\n"), refused(&["subject 1, data.csv, line 2, column CMT: the model has compartments 1 to 2 (depot, central), the dose names 3"]));
    add(
        "an observation in the depot (CMT 1) of the oral model",
        oral.clone(),
        d(&format!("{dose}1,1,5,0,0,0,0,1,0,0,0\n")),
        refused(&["data.csv, line 3, column CMT: an observation in CMT 1 has no output"]),
    );
    add(
        "CMT 0 (default) on every record",
        s(),
        d("1,0,.,100,0,1,1,0,0,0,0\n1,1,5,0,0,0,0,0,0,0,0\n"),
        accepted(&["\n1,0,2000"], &[]),
    );
    add(
        "CMT 100000",
        s(),
        d("1,0,.,100,0,1,1,100000,0,0,0\n"),
        refused(&["data.csv, line 2, column CMT: the model has compartments 1 to 1 (central), the dose names 100000"]),
    );
    add(
        "EVID 3 resets and time restarts",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,0\n1,5,.,0,0,3,1,1,0,0,0\n1,0,.,100,0,1,1,1,0,0,0\n"),
        refused(&["data.csv, line 4, column TIME: subject 1: time 0 is before the previous record's time 5"]),
    );
    add(
        "EVID 4 resets, doses and restarts time",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,0\n1,5,.,0,0,3,1,1,0,0,0\n1,0,.,100,0,4,1,1,0,0,0\n"),
        accepted(&["\n1,0,"], &[]),
    );
    add(
        "EVID 3 reset clears the system",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,0\n1,3,.,0,0,3,1,1,0,0,0\n"),
        accepted(&["\n1,4,0\n"], &[]),
    );
    add(
        "EVID 2 with a DV and MDV 0",
        s(),
        d(&format!("{dose}1,1,5,0,0,2,0,1,0,0,0\n")),
        accepted(&["\n1,1,1809"], &[]),
    );
    add(
        "time going backwards within a subject",
        s(),
        d(&format!("{dose}1,4,5,0,0,0,0,1,0,0,0\n1,2,5,0,0,0,0,1,0,0,0\n")),
        refused(&["data.csv, line 4, column TIME: subject 1: time 2 is before the previous record's time 4"]),
    );
    add(
        "IDs interleaved",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,0\n2,0,.,100,0,1,1,1,0,0,0\n1,1,5,0,0,0,0,1,0,0,0\n"),
        refused(&["data.csv, line 4, column ID: subject 1 appears again after other subjects"]),
    );
    add(
        "numerically equal IDs are one subject",
        s(),
        d("1.0,0,.,100,0,1,1,1,0,0,0\n01,1,5,0,0,0,0,1,0,0,0\n"),
        accepted(&["ID,TIME (h),CONC (ng/mL)\n1,0,2000"], &[]),
    );
    add(
        "records at the same time",
        s(),
        d("1,0,.,100,0,1,1,1,0,0,0\n1,0,.,100,0,1,1,1,0,0,0\n1,0,5,0,0,0,0,1,0,0,0\n"),
        accepted(&["\n1,0,4000"], &[]),
    );
    add(
        "a data set without a dose",
        s(),
        file("data.csv", "ID,TIME,DV\n1,0,5\n1,1,4\n"),
        accepted(&["\n1,6,0\n"], &[]),
    );
    // Fitting.
    add(
        "fit: a clean subject",
        fit(),
        d(&format!("{dose}{obs}")),
        accepted(&["Subject 1: 4 observations", "converged"], &[]),
    );
    add(
        "fit: MDV=1 observations are not fitted",
        fit(),
        d(&format!(
            "{dose}{}",
            obs.replacen(",0,0,1,0,0,0\n", ",0,1,1,0,0,0\n", 1)
        )),
        accepted(&["Subject 1: 3 observations"], &[]),
    );
    add(
        "fit: DV '.' with MDV 0",
        fit(),
        d(&format!("{dose}{}", obs.replacen("1500", ".", 1))),
        refused(&["data.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"]),
    );
    add(
        "fit: DV 'BLQ'",
        fit(),
        d(&format!("{dose}{}", obs.replacen("1500", "BLQ", 1))),
        refused(&["data.csv, line 3, column DV: expected a number, found 'BLQ'"]),
    );
    add(
        "fit: DV 0 with a proportional error",
        fit(),
        d(&format!("{dose}{}", obs.replacen("1500", "0", 1))),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: DV negative with a proportional error",
        fit(),
        d(&format!("{dose}{}", obs.replacen("1500", "-3", 1))),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: a subject without observations",
        fit(),
        d(dose),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: a subject without doses",
        fit(),
        d(obs),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: observations before the dose only",
        fit(),
        d("1,0,5,0,0,0,0,1,0,0,0\n1,0.5,4,0,0,0,0,1,0,0,0\n1,1,.,100,0,1,1,1,0,0,0\n"),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: too few observations",
        fit(),
        d(&format!("{dose}1,1,1500,0,0,0,0,1,0,0,0\n")),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: no DV column",
        fit(),
        file("data.csv", "ID,TIME,AMT,CONC\n1,0,100,.\n1,1,0,5\n"),
        refused(&[
            "data.csv, line 1: no DV column, so no record is an observation (the columns are ID, TIME, AMT, CONC)",
        ]),
    );
    add("fit: a BLQ flag with an empty DV", fit(), file("data.csv", "ID,TIME,DV,AMT,MDV,BLQ,LLOQ\n1,0,.,100,1,0,1\n1,1,1500,0,0,0,1\n1,2,1300,0,0,0,1\n1,4,800,0,0,0,1\n1,8,300,0,0,0,1\n1,48,.,0,0,1,1\n"), accepted(&["Subject 1:"], &[]));
    add(
        "fit: huge DV values",
        fit(),
        d(&format!(
            "{dose}{}",
            obs.replace("1500", "1e300").replace("1300", "1e300")
        )),
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit: identical observations",
        fit(),
        d(&format!(
            "{dose}1,1,5,0,0,0,0,1,0,0,0\n1,2,5,0,0,0,0,1,0,0,0\n1,3,5,0,0,0,0,1,0,0,0\n1,4,5,0,0,0,0,1,0,0,0\n"
        )),
        accepted(&["Subject 1"], &[]),
    );
    add(
        "fit: all observations at one time",
        fit(),
        d(&format!(
            "{dose}1,1,5,0,0,0,0,1,0,0,0\n1,1,6,0,0,0,0,1,0,0,0\n1,1,7,0,0,0,0,1,0,0,0\n1,1,8,0,0,0,0,1,0,0,0\n"
        )),
        accepted(&["Subject 1"], &[]),
    );
    // NCA.
    let nca = || args(&["nca", "data.csv"]);
    add(
        "nca: a subject without doses",
        nca(),
        d(obs),
        refused(&[
            "not analysed: subject 1: no dose record",
            "no subject of data.csv could be analysed",
        ]),
    );
    add(
        "nca: a clean subject",
        nca(),
        d(&format!("{dose}{obs}")),
        accepted(&["CMAX", "AUCLST"], &[]),
    );
    add(
        "nca: one observation",
        nca(),
        d(&format!("{dose}1,1,1500,0,0,0,0,1,0,0,0\n")),
        accepted(&["Subject 1"], &[]),
    );
    add(
        "nca: every DV zero",
        nca(),
        d(&format!(
            "{dose}{}",
            obs.replace("1500", "0")
                .replace("1300", "0")
                .replace("800", "0")
                .replace("300", "0")
        )),
        refused(&[
            "no measurable (positive) concentration",
            "no subject of data.csv could be analysed",
        ]),
    );
}

/// A bundled data file, the command run on it, and what deleting each column gives.
struct Fixture {
    /// The name the file gets in the case's directory.
    name: &'static str,
    text: String,
    args: Vec<String>,
    extra: Files,
    /// What standard output must hold when a mutation is accepted.
    accepted: &'static str,
    /// Per column: `None` when deleting it changes nothing, else the expectation.
    delete: Vec<(&'static str, Option<Expect>)>,
}

fn csv_split(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
    (header, rows)
}

fn csv_join(header: &[String], rows: &[Vec<String>]) -> String {
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&h, rows, ",", "\n")
}

fn fixtures() -> Vec<Fixture> {
    let clof = repo_text("fixtures/clofarabine/clofarabine_phase2.csv");
    let theoph = repo_text("fixtures/nca_winnonlin/theoph_nonmem.csv");
    // The first three subjects of nlmixr2's Infusion_2CPT.
    let inf: String = repo_text("fixtures/nlmixr2/Infusion_2CPT.csv")
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0
                || l.split(',')
                    .next()
                    .and_then(|id| id.parse::<u32>().ok())
                    .is_some_and(|id| id <= 3)
        })
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    // The first ten subjects of pheno.
    let pheno: String = repo_text("fixtures/pheno/pheno.csv")
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0
                || l.split(',')
                    .next()
                    .and_then(|id| id.parse::<u32>().ok())
                    .is_some_and(|id| id <= 10)
        })
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let r = |needles: &[&str]| Some(refused(needles));
    let changed = |what: &str| Some(accepted(&[what], &[]));
    vec![
        Fixture {
            name: "clofarabine_phase2.csv",
            text: clof,
            args: args(&["simulate", "--model", "clofarabine.pk", "--data", "clofarabine_phase2.csv", "--grid", "0:6:48"]),
            extra: file("clofarabine.pk", repo_text("models/clofarabine_bonate2004.pk")),
            accepted: "ID,TIME (h),CONC (ng/mL)\n1,0,",
            delete: vec![
                ("ID", r(&["clofarabine_phase2.csv, line 1: missing required column ID"])),
                ("TIME", r(&["clofarabine_phase2.csv, line 1: missing required column TIME"])),
                ("DV", r(&["clofarabine_phase2.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"])),
                ("AMT", r(&["clofarabine_phase2.csv, line 2, column AMT: an infusion (RATE > 0) with AMT = 0"])),
                ("RATE", changed("ID,TIME (h),CONC (ng/mL)\n1,0,")),
                ("EVID", None),
                ("MDV", None),
                ("CMT", None),
                ("ADDL", changed("ID,TIME (h),CONC (ng/mL)\n1,0,")),
                ("II", r(&["clofarabine_phase2.csv, line 2, column II: ADDL = 4 needs an interdose interval II > 0"])),
                ("WT", r(&["clofarabine_phase2.csv: model clofarabine_bonate2004 needs covariate WT, but the data file has no WT column"])),
                ("HT", None),
                ("BSA", None),
                ("WBC", r(&["clofarabine_phase2.csv: model clofarabine_bonate2004 needs covariate WBC"])),
            ],
        },
        Fixture {
            name: "theoph_nonmem.csv",
            text: theoph,
            args: args(&["nca", "theoph_nonmem.csv"]),
            extra: vec![],
            accepted: "NCA, Linear Up Log Down",
            delete: vec![
                ("ID", r(&["theoph_nonmem.csv, line 1: missing required column ID"])),
                ("TIME", r(&["theoph_nonmem.csv, line 1: missing required column TIME"])),
                ("DV", r(&["theoph_nonmem.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"])),
                ("AMT", r(&["theoph_nonmem.csv, line 2, column EVID: the record is a dose (EVID 1 or 4), but the data have no AMT column"])),
                ("EVID", None),
                ("MDV", None),
                ("WT", None),
            ],
        },
        Fixture {
            name: "Infusion_2CPT.csv",
            text: inf,
            args: args(&["popfit", "Infusion_2CPT.csv", "--model", "two_cmt_pop", "--drop", "SS,II", "--evaluate"]),
            extra: vec![],
            accepted: "OFV",
            delete: vec![
                ("ID", r(&["Infusion_2CPT.csv, line 1: missing required column ID"])),
                ("TIME", r(&["Infusion_2CPT.csv, line 1: missing required column TIME"])),
                ("DV", r(&["Infusion_2CPT.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"])),
                ("LNDV", None),
                ("MDV", None),
                ("AMT", r(&["Infusion_2CPT.csv, line 2, column AMT: an infusion (RATE > 0) with AMT = 0"])),
                ("RATE", changed("OFV")),
                ("EVID", None),
                ("DOSE", None),
                ("V", None),
                ("CL", None),
                ("Q", None),
                ("V2", None),
                ("SS", None),
                ("II", None),
                ("SD", None),
                ("CMT", None),
            ],
        },
        Fixture {
            name: "pheno.csv",
            text: pheno,
            args: args(&["popfit", "pheno.csv", "--model", "pheno", "--evaluate"]),
            extra: vec![],
            accepted: "OFV",
            delete: vec![
                ("ID", r(&["pheno.csv, line 1: missing required column ID"])),
                ("TIME", r(&["pheno.csv, line 1: missing required column TIME"])),
                ("AMT", r(&["pheno.csv, line 2, column EVID: the record is a dose (EVID 1 or 4), but the data have no AMT column"])),
                ("WGT", r(&["pheno.csv: model pheno needs covariate WGT"])),
                ("APGR", r(&["pheno.csv: model pheno needs covariate APGR"])),
                ("DV", r(&["pheno.csv, line 3, column DV: MDV = 0 makes this record an observation, but DV is missing"])),
                ("EVID", None),
                ("MDV", None),
            ],
        },
    ]
}

fn fixture_mutations(cases: &mut Vec<Case>) {
    let mut rng = Rng(14);
    for fx in fixtures() {
        let (header, rows) = csv_split(&fx.text);
        let original = || {
            let mut f = file(fx.name, fx.text.clone());
            f.extend(fx.extra.iter().cloned());
            f
        };
        let with = |text: String| {
            let mut f = file(fx.name, text);
            f.extend(fx.extra.iter().cloned());
            f
        };
        let same = || Expect::SameAs(original());
        let mut add = |name: String, text: String, expect: Expect| {
            cases.push(Case {
                category: "fixtures: mutations",
                name: format!("{}: {name}", fx.name),
                args: fx.args.clone(),
                files: with(text),
                expect,
            });
        };
        add("unchanged".into(), fx.text.clone(), accepted(&[fx.accepted], &[]));
        // Delete each column.
        for (col, expect) in &fx.delete {
            let k = header
                .iter()
                .position(|h| h == col)
                .unwrap_or_else(|| panic!("{col} in {}", fx.name));
            let drop = |r: &Vec<String>| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != k)
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            let h: Vec<String> = drop(&header);
            let rs: Vec<Vec<String>> = rows.iter().map(drop).collect();
            add(
                format!("without column {col}"),
                csv_join(&h, &rs),
                expect.clone().unwrap_or_else(same),
            );
        }
        // Equivalent spellings of the same data.
        add("CRLF".into(), fx.text.replace('\n', "\r\n"), same());
        add("byte-order mark".into(), format!("\u{feff}{}", fx.text), same());
        add(
            "lower-case header".into(),
            csv_join(&header.iter().map(|h| h.to_lowercase()).collect::<Vec<_>>(), &rows),
            same(),
        );
        let rev = |r: &Vec<String>| r.iter().rev().cloned().collect::<Vec<_>>();
        add(
            "columns in reverse order".into(),
            csv_join(&rev(&header), &rows.iter().map(rev).collect::<Vec<_>>()),
            same(),
        );
        let q = |r: &Vec<String>| r.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>();
        add(
            "every field quoted".into(),
            csv_join(&q(&header), &rows.iter().map(q).collect::<Vec<_>>()),
            same(),
        );
        let pad = |r: &Vec<String>| r.iter().map(|v| format!("  {v} ")).collect::<Vec<_>>();
        add(
            "padded fields".into(),
            csv_join(&header, &rows.iter().map(pad).collect::<Vec<_>>()),
            same(),
        );
        let empty_missing = |r: &Vec<String>| {
            r.iter()
                .map(|v| if v == "." { String::new() } else { v.clone() })
                .collect::<Vec<_>>()
        };
        add(
            "'.' written as empty fields".into(),
            csv_join(&header, &rows.iter().map(empty_missing).collect::<Vec<_>>()),
            same(),
        );
        let k_time = header.iter().position(|h| h == "TIME").unwrap();
        let decimal = |r: &Vec<String>| {
            let mut r = r.clone();
            r[k_time] = format!("{}e0", r[k_time]);
            r
        };
        add(
            "times with an exponent".into(),
            csv_join(&header, &rows.iter().map(decimal).collect::<Vec<_>>()),
            same(),
        );
        let mut h2 = header.clone();
        h2.push("EXTRA".into());
        let extra = |r: &Vec<String>| {
            let mut r = r.clone();
            r.push("1.5".into());
            r
        };
        add(
            "an extra column".into(),
            csv_join(&h2, &rows.iter().map(extra).collect::<Vec<_>>()),
            same(),
        );
        let mut hc = header.clone();
        hc.insert(0, "C".into());
        let dot = |r: &Vec<String>| {
            let mut r = r.clone();
            r.insert(0, ".".into());
            r
        };
        add(
            "a C column of dots".into(),
            csv_join(&hc, &rows.iter().map(dot).collect::<Vec<_>>()),
            same(),
        );
        let mut lines: Vec<String> = fx.text.lines().map(str::to_string).collect();
        for _ in 0..3 {
            let at = 1 + rng.below(lines.len() - 1);
            lines.insert(
                at,
                if rng.below(2) == 0 {
                    "# a comment".into()
                } else {
                    String::new()
                },
            );
        }
        add("comment and blank lines".into(), lines.join("\n") + "\n", same());
        // A record commented out by C is as if deleted.
        for _ in 0..3 {
            let i = rng.below(rows.len());
            let marked: Vec<Vec<String>> = rows
                .iter()
                .enumerate()
                .map(|(j, r)| {
                    let mut r = r.clone();
                    r.insert(0, if j == i { "C".into() } else { ".".into() });
                    r
                })
                .collect();
            let mut kept = rows.clone();
            kept.remove(i);
            add(
                format!("record {} commented out by C", i + 2),
                csv_join(&hc, &marked),
                Expect::SameAs(with(csv_join(&header, &kept))),
            );
        }
        // A non-number in a random cell of a numeric column.
        let k_id = header.iter().position(|h| h == "ID").unwrap();
        let dropped: &[&str] = if fx.args.iter().any(|a| a == "SS,II") {
            &["SS", "II"]
        } else {
            &[]
        };
        for _ in 0..12 {
            let (i, k) = loop {
                let k = rng.below(header.len());
                if k != k_id && !dropped.contains(&header[k].as_str()) {
                    break (rng.below(rows.len()), k);
                }
            };
            let v = NOT_NUMBERS[rng.below(NOT_NUMBERS.len())];
            let mut rs = rows.clone();
            rs[i][k] = v.into();
            let col = &header[k];
            add(
                format!("'{v}' in {col} on line {}", i + 2),
                csv_join(&header, &rs),
                refused(&[&format!(
                    "{}, line {}, column {col}: expected a number, found '{v}'",
                    fx.name,
                    i + 2
                )]),
            );
        }
        // Two records of a subject swapped so that time goes back.
        let time = |r: &Vec<String>| r[k_time].parse::<f64>().unwrap();
        let mut swaps = 0;
        let mut tries = 0;
        while swaps < 6 && tries < 1000 {
            tries += 1;
            let i = rng.below(rows.len() - 1);
            if rows[i][k_id] != rows[i + 1][k_id] || time(&rows[i]) >= time(&rows[i + 1]) {
                continue;
            }
            let mut rs = rows.clone();
            rs.swap(i, i + 1);
            let (a, b) = (time(&rows[i]), time(&rows[i + 1]));
            add(
                format!("records on lines {} and {} swapped", i + 2, i + 3),
                csv_join(&header, &rs),
                refused(&[&format!(
                    "{}, line {}, column TIME: subject {}: time {a} is before the previous record's time {b}",
                    fx.name,
                    i + 3,
                    rows[i][k_id]
                )]),
            );
            swaps += 1;
        }
        // A record of an earlier subject moved to the end.
        let last_id = rows.last().unwrap()[k_id].clone();
        for _ in 0..4 {
            let i = loop {
                let i = rng.below(rows.len());
                if rows[i][k_id] != last_id {
                    break i;
                }
            };
            let mut rs = rows.clone();
            let r = rs.remove(i);
            let id = r[k_id].clone();
            rs.push(r);
            add(
                format!("record on line {} moved to the end", i + 2),
                csv_join(&header, &rs),
                refused(&[&format!(
                    "{}, line {}, column ID: subject {id} appears again after other subjects",
                    fx.name,
                    rows.len() + 1
                )]),
            );
        }
        // Cut in the middle of a record, and at the end of a record.
        let lines: Vec<&str> = fx.text.lines().collect();
        for _ in 0..4 {
            let l = 1 + rng.below(lines.len() - 1);
            let fields = lines[l].split(',').count();
            let keep = 1 + rng.below(fields - 1);
            let cut = lines[l].split(',').take(keep).collect::<Vec<_>>().join(",");
            let text = format!("{}\n{cut}", lines[..l].join("\n"));
            add(
                format!("cut after field {keep} of line {}", l + 1),
                text,
                refused(&[
                    &format!("{}, line {}: malformed CSV row", fx.name, l + 1),
                    &format!("found record with {keep} fields"),
                ]),
            );
        }
        for _ in 0..2 {
            let l = 2 + rng.below(lines.len() - 2);
            add(
                format!("cut after line {l}"),
                lines[..l].join("\n") + "\n",
                accepted(&[fx.accepted], &[]),
            );
        }
    }
    // The raw files as they come.
    let mut raw = |name: &str, a: Vec<String>, text: String, expect: Expect| {
        cases.push(Case {
            category: "fixtures: mutations",
            name: name.to_string(),
            args: a,
            files: file("data.csv", text),
            expect,
        });
    };
    let inf = repo_text("fixtures/nlmixr2/Infusion_2CPT.csv");
    let inf3: String = inf.lines().take(40).map(|l| format!("{l}\n")).collect();
    raw(
        "Infusion_2CPT.csv without --drop SS,II (SS=99)",
        args(&["popfit", "data.csv", "--model", "two_cmt_pop", "--evaluate"]),
        inf3.clone(),
        refused(&["data.csv, line 2, column SS: expected 0, 1 or 2, found 99"]),
    );
    raw(
        "Infusion_2CPT.csv fitted without --drop SS,II",
        args(&["fit", "data.csv", "--model", "two_cmt_iv"]),
        inf3,
        refused(&["data.csv, line 2, column SS: expected 0, 1 or 2, found 99"]),
    );
    let theoph = repo_text("fixtures/nca_winnonlin/Theoph.csv");
    raw(
        "Theoph.csv (WinNonlin's columns)",
        args(&["nca", "data.csv"]),
        theoph.clone(),
        refused(&[
            "data.csv, line 1: missing required column ID (the header has: Subject, Wt, Dose_mg_per_kg, Time, conc)",
        ]),
    );
    raw(
        "Theoph.csv with NONMEM names but no doses",
        args(&["nca", "data.csv"]),
        theoph.replacen("Subject,Wt,Dose_mg_per_kg,Time,conc", "ID,WT,DOSE,TIME,DV", 1),
        Expect::Warns(vec![
            "not analysed: subject 1: no dose record".into(),
            "no subject of data.csv could be analysed".into(),
        ]),
    );
    raw(
        "Theoph.csv with NONMEM names and a C column name",
        args(&["nca", "data.csv"]),
        theoph.replacen("Subject,Wt,Dose_mg_per_kg,Time,conc", "ID,C,DOSE,TIME,DV", 1),
        refused(&["data.csv: no data records"]),
    );
}

/// The bundled models, with the covariates a simulation of each needs.
const MODELS: &[(&str, &[&str])] = &[
    ("models/one_cmt_iv.pk", &[]),
    ("models/two_cmt_iv.pk", &[]),
    ("models/three_cmt_iv.pk", &[]),
    ("models/one_cmt_oral.pk", &[]),
    ("models/two_cmt_oral.pk", &[]),
    ("models/one_cmt_mm_iv.pk", &[]),
    ("models/pheno.pk", &["WGT=1.4", "APGR=7"]),
    ("models/two_cmt_pop.pk", &[]),
    ("models/two_cmt_pop_ode.pk", &[]),
    ("models/clofarabine_bonate2004.pk", &["WT=40", "WBC=10"]),
    (
        "fixtures/nonmem_dosing/model_1001.pk",
        &["LAGT=0.5", "BIOAV=1", "RAT2=0", "DUR2=0"],
    ),
];

fn model_args(covariates: &[&str]) -> Vec<String> {
    let mut a = args(&["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "0:6:12"]);
    for c in covariates {
        a.push("--covariate".into());
        a.push(c.to_string());
    }
    a
}

/// Byte offsets, lines and columns (1-based, in characters) where the tokens
/// of a model file start: comments and white space are not tokens.
fn token_starts(text: &str) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (li, line) in text.split_inclusive('\n').enumerate() {
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (b, c) = chars[i];
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            out.push((offset + b, li + 1, i + 1));
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                while i < chars.len() && (chars[i].1.is_ascii_alphanumeric() || chars[i].1 == '_' || chars[i].1 == '.')
                {
                    i += 1;
                }
            } else if c == '"' {
                i += 1;
                while i < chars.len() && chars[i].1 != '"' {
                    i += 1;
                }
                i += 1;
            } else {
                let two: String = chars[i..chars.len().min(i + 2)].iter().map(|x| x.1).collect();
                i += if ["**", "==", "!=", "<=", ">=", "&&", "||"].contains(&two.as_str()) {
                    2
                } else {
                    1
                };
            }
        }
        offset += line.len();
    }
    out
}

fn model_cases(cases: &mut Vec<Case>) {
    let pk_file = |text: String| file("m.pk", text);
    for (path, covs) in MODELS {
        let text = repo_text(path);
        let a = model_args(covs);
        cases.push(Case {
            category: "models: bundled",
            name: format!("{path} as it is"),
            args: a.clone(),
            files: pk_file(text.clone()),
            expect: accepted(&["TIME (h),CONC (", "\n0,"], &[]),
        });
        // Cut before every token (every other one in the longer files).
        let starts = token_starts(&text);
        let step = if starts.len() > 80 { 2 } else { 1 };
        for (k, (b, line, col)) in starts.iter().enumerate().step_by(step) {
            cases.push(Case {
                category: "models: truncated at a token",
                name: format!("{path} cut before token {k} (line {line}, column {col})"),
                args: a.clone(),
                files: pk_file(text[..*b].to_string()),
                expect: refused(&["error: m.pk: line ", ", column "]),
            });
        }
        // A character the language does not have, before every third token.
        for (k, (b, line, col)) in starts.iter().enumerate().skip(k_offset(path)).step_by(3) {
            let mut t = text.clone();
            t.insert(*b, '$');
            cases.push(Case {
                category: "models: stray character at a token",
                name: format!("{path}: '$' before token {k}"),
                args: a.clone(),
                files: pk_file(t),
                expect: refused(&[&format!("m.pk: line {line}, column {col}: an unexpected character '$'")]),
            });
        }
    }
    // An unbalanced parenthesis before each token of a short model.
    let text = repo_text("models/one_cmt_oral.pk");
    for (k, (b, _, _)) in token_starts(&text).iter().enumerate() {
        for p in ["(", ")"] {
            let mut t = text.clone();
            t.insert_str(*b, p);
            let expect = refused(&["error: m.pk: line ", ", column "]);
            cases.push(Case {
                category: "models: unbalanced parenthesis",
                name: format!("one_cmt_oral.pk: '{p}' before token {k}"),
                args: model_args(&[]),
                files: pk_file(t),
                expect,
            });
        }
    }
    // Each name replaced by one that is nowhere declared.
    for (path, covs) in [MODELS[3], MODELS[6], MODELS[8]] {
        let text = repo_text(path);
        for (k, (b, line, _)) in token_starts(&text).iter().enumerate() {
            let c = text[*b..].chars().next().unwrap();
            if !(c.is_ascii_alphabetic() || c == '_') {
                continue;
            }
            let mut t = text.clone();
            t.insert_str(*b, "zz");
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            let expect = if line_text.starts_with("output CP") && text[*b..].starts_with("CP") {
                // The output's name is free.
                accepted(&["TIME (h),CONC (", "\n0,"], &[])
            } else if line_text.starts_with("    TVV = ") && text[*b..].starts_with("TVV =") {
                // pheno: an assignment to a new, unused variable (the model is then another one).
                accepted(&["TIME (h),CONC (", "\n0,"], &[])
            } else {
                refused(&["error: m.pk: line ", ", column "])
            };
            cases.push(Case {
                category: "models: unknown names",
                name: format!("{path}: name at token {k} (line {line}) prefixed with zz"),
                args: model_args(covs),
                files: pk_file(t),
                expect,
            });
        }
    }
    // Hand-written errors.
    let head = "theta CL = 5 (0.01, 100)\ntheta V = 50 (1, 1000)\nsigma prop ~ 0.01\n";
    let tail = "kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop(prop)\n";
    let m = |body: &str| format!("{head}{body}{tail}");
    let hand: Vec<(&str, String, Expect)> = vec![
        (
            "an empty file",
            String::new(),
            refused(&["m.pk: line 1, column 1: the model has no structure"]),
        ),
        (
            "only comments",
            "# nothing\n# at all\n".into(),
            refused(&["m.pk: line 1, column 1: the model has no structure"]),
        ),
        (
            "no structure",
            format!("{head}output CP = central / V ~ prop(prop)\n"),
            refused(&["m.pk: line "]),
        ),
        (
            "no output",
            format!("{head}kernel one_cmt_iv(CL, V)\n"),
            refused(&["m.pk: line 1, column 1: the model has no output"]),
        ),
        (
            "a θ declared twice",
            m("theta CL = 3\n"),
            refused(&["m.pk: line 4, column 7: CL is declared twice (as a θ here, first at line 1)"]),
        ),
        (
            "an η with a θ's name",
            m("omega CL ~ 0.1\n"),
            refused(&["m.pk: line 4, column ", "CL is declared twice"]),
        ),
        (
            "a σ declared twice",
            m("sigma prop ~ 0.04\n"),
            refused(&["m.pk: line 4, column ", "prop is declared twice"]),
        ),
        (
            "an η declared twice",
            m("omega a ~ 0.1, a ~ 0.2\n"),
            refused(&["m.pk: line 4, column ", "declared twice"]),
        ),
        (
            "a covariate declared twice",
            m("covariates WT, WT\n"),
            refused(&["m.pk: line 4, column ", "declared twice"]),
        ),
        (
            "bounds inverted",
            "theta CL = 5 (10, 1)\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            refused(&[
                "m.pk: line 1, column 7: θ CL: need lower <= init <= upper with a finite init, got 10 <= 5 <= 1",
            ]),
        ),
        (
            "init below the lower bound",
            "theta CL = 0.001 (0.01, 100)\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            refused(&["m.pk: line 1, column 7: θ CL: need lower <= init <= upper"]),
        ),
        (
            "init above the upper bound",
            "theta CL = 5000 (0.01, 100)\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            refused(&["m.pk: line 1, column 7: θ CL: need lower <= init <= upper"]),
        ),
        (
            "an infinite init",
            "theta CL = 1e999\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            refused(&["m.pk: line 1, column 7: θ CL: need lower <= init <= upper with a finite init"]),
        ),
        (
            "a fixed θ",
            "theta CL = 5 fix\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "a lower bound only",
            "theta CL = 5 (0, )\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "bounds without a comma",
            "theta CL = 5 (0 10)\ntheta V = 50\nsigma prop ~ 0.01\n".to_string() + tail,
            refused(&["m.pk: line 1, column "]),
        ),
        (
            "a negative η variance",
            m("omega a ~ -0.1\n"),
            refused(&["m.pk: line 4, column 7: the variance matrix of a is not positive definite"]),
        ),
        (
            "a zero η variance",
            m("omega a ~ 0\n"),
            refused(&["m.pk: line 4, column ", "not positive definite"]),
        ),
        (
            "a negative σ variance",
            m("sigma add ~ -1\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "Ω block not positive definite",
            m("omega block(2) a, b ~ {0.1, 0.5, 0.1}\n"),
            refused(&["m.pk: line 4, column 1: the variance matrix of a, b is not positive definite"]),
        ),
        (
            "Ω block with a correlation of 1",
            m("omega block(2) a, b ~ {0.1, 0.1, 0.1}\n"),
            refused(&["m.pk: line 4, column 1: the variance matrix of a, b is not positive definite"]),
        ),
        (
            "Ω block with too few values",
            m("omega block(2) a, b ~ {0.1, 0.01}\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "Ω block with too many values",
            m("omega block(2) a, b ~ {0.1, 0.01, 0.1, 0.2}\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "Ω block(3) with two names",
            m("omega block(3) a, b ~ {0.1, 0.01, 0.1}\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "Ω block(0)",
            m("omega block(0) ~ {}\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an unknown name",
            format!("{head}kernel one_cmt_iv(CLX, V)\noutput CP = central / V ~ prop(prop)\n"),
            refused(&["m.pk: line 4, column 19: unknown name CLX in kernel parameter CL"]),
        ),
        (
            "a name read before it is assigned",
            m("A = B * 2\nB = 3\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an unknown function",
            m("A = foo(CL)\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an unknown kernel",
            format!("{head}kernel five_cmt(CL, V)\noutput CP = central / V ~ prop(prop)\n"),
            refused(&["m.pk: line 4, column 1: unknown kernel five_cmt"]),
        ),
        (
            "a kernel with too many parameters",
            format!("{head}kernel one_cmt_iv(CL, V, V)\noutput CP = central / V ~ prop(prop)\n"),
            refused(&["m.pk: line 4, column 1: kernel one_cmt_iv takes 2 parameters (CL, V), got 3"]),
        ),
        (
            "two kernels",
            m("kernel one_cmt_iv(CL, V)\n"),
            refused(&["m.pk: line "]),
        ),
        (
            "a kernel and ODEs",
            m("d/dt(central) = -CL / V * central\n"),
            refused(&["m.pk: line "]),
        ),
        (
            "an ODE of an undeclared state",
            format!("{head}states a\nd/dt(b) = -a\noutput CP = a / V ~ prop(prop)\n"),
            refused(&["m.pk: line "]),
        ),
        (
            "an unknown error model",
            format!("{head}kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ gauss(prop)\n"),
            refused(&["m.pk: line 5, column "]),
        ),
        (
            "an error model without its SD",
            format!("{head}kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop()\n"),
            refused(&["m.pk: line 5, column "]),
        ),
        (
            "an output of an unknown state",
            format!("{head}kernel one_cmt_iv(CL, V)\noutput CP = depot / V ~ prop(prop)\n"),
            refused(&["m.pk: line 5, column ", "depot"]),
        ),
        (
            "two outputs with one name",
            m("output CP = central / V ~ prop(prop)\n"),
            refused(&["m.pk: line "]),
        ),
        (
            "an unclosed string",
            format!("name \"abc\n{}", m("")),
            refused(&["m.pk: line 1, column 6: a string without its closing quote"]),
        ),
        (
            "a malformed number",
            m("A = 1.5e3x\n"),
            refused(&["m.pk: line 4, column 5: a malformed number"]),
        ),
        (
            "a unicode θ",
            m("θ = 3\n"),
            refused(&["m.pk: line 4, column 1: an unexpected character 'θ'"]),
        ),
        (
            "an unknown unit",
            format!("units amount=furlong\n{}", m("")),
            refused(&["unknown amount unit 'furlong'"]),
        ),
        (
            "an unknown unit kind",
            format!("units mass=mg\n{}", m("")),
            refused(&["m.pk: line 1, column 1: unknown unit kind mass"]),
        ),
        (
            "an unknown statement",
            m("print CL\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an if without its brace",
            m("if CL > 1 \n  A = 1\n}\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an unclosed if block",
            m("if CL > 1 {\n  A = 1\n"),
            refused(&["m.pk: line "]),
        ),
        ("an extra closing brace", m("}\n"), refused(&["m.pk: line 4, column 1"])),
        (
            "an else without an if",
            m("else {\n}\n"),
            refused(&["m.pk: line 4, column 6: expected '=' after else"]),
        ),
        (
            "an assignment to a θ",
            m("CL = 3\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "an expression of only operators",
            m("A = * / +\n"),
            refused(&["m.pk: line 4, column "]),
        ),
        (
            "deep parentheses (90)",
            m(&format!("A = {}1{}\n", "(".repeat(90), ")".repeat(90))),
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "deep parentheses (500)",
            m(&format!("A = {}1{}\n", "(".repeat(500), ")".repeat(500))),
            refused(&["m.pk: line 4, column 105: nested more than 100 levels deep"]),
        ),
        (
            "a long sum (5000 terms)",
            m(&format!("A = {}\n", vec!["1"; 5000].join(" + "))),
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "a long power chain (2000)",
            m(&format!("A = {}\n", vec!["1"; 2000].join(" ^ "))),
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "a long if chain (300)",
            m(&format!(
                "A = 0\n{}",
                (0..300)
                    .map(|i| format!("if CL > {i} {{\n A = {i}\n}}\n"))
                    .collect::<String>()
            )),
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        (
            "non-UTF-8 bytes",
            String::from_utf8_lossy(b"theta CL = 5\n").into_owned() + "\u{fffd}",
            refused(&["m.pk: line 2, column 1: an unexpected character"]),
        ),
        (
            "division by zero in the code",
            format!("{head}kernel one_cmt_iv(CL / 0, V)\noutput CP = central / V ~ prop(prop)\n"),
            refused(&["kernel parameter CL = inf"]),
        ),
        (
            "log of a negative number",
            format!("{head}kernel one_cmt_iv(CL * log(-1), V)\noutput CP = central / V ~ prop(prop)\n"),
            refused(&["kernel parameter CL = NaN"]),
        ),
    ];
    for (name, text, expect) in hand {
        cases.push(Case {
            category: "models: hand-written",
            name: name.to_string(),
            args: model_args(&[]),
            files: pk_file(text),
            expect,
        });
    }
    // A file that is not UTF-8.
    cases.push(Case {
        category: "models: hand-written",
        name: "a model file in Latin-1".into(),
        args: model_args(&[]),
        files: vec![("m.pk".into(), b"# caf\xe9\ntheta CL = 5\n".to_vec())],
        expect: refused(&["m.pk", "valid UTF-8"]),
    });
    cases.push(Case {
        category: "models: hand-written",
        name: "a TOML model file".into(),
        args: args(&["simulate", "--model", "m.toml", "--regimen", "100 mg"]),
        files: file("m.toml", "name = \"one_cmt_iv\"\n[structure]\ncompartments = 1\n"),
        expect: refused(&["model m.toml: a TOML model file; every subcommand reads models in the model language"]),
    });
}

/// Where the '$' insertions start for a model (spread over the files).
fn k_offset(path: &str) -> usize {
    path.len() % 3
}

/// One subject that a one-compartment model fits.
const GOOD: &str = "ID,TIME,DV,AMT\n1,0,.,100\n1,1,1500,0\n1,2,1300,0\n1,4,800,0\n1,8,300,0\n";

fn flag_cases(cases: &mut Vec<Case>) {
    let data = base_csv();
    let pop = repo_text("models/two_cmt_pop.pk");
    let fitjson_dir = "fit.json";
    let files = || {
        let mut f = file("data.csv", data.clone());
        f.push(("pop.pk".into(), pop.clone().into_bytes()));
        f.push(("m.pk".into(), repo_text("models/one_cmt_iv.pk").into_bytes()));
        f.push((
            "control.ctl".into(),
            repo_text("fixtures/pheno/pheno_real.mod").into_bytes(),
        ));
        f.push(("good.csv".into(), GOOD.into()));
        f.push(("pheno.dta".into(), repo_text("fixtures/pheno/pheno.dta").into_bytes()));
        f
    };
    let _ = fitjson_dir;
    let mut add = |name: &str, a: &[&str], expect: Expect| {
        cases.push(Case {
            category: "flags",
            name: name.to_string(),
            args: args(a),
            files: files(),
            expect,
        });
    };
    let clap = |what: &str| refused(&[what]);
    // Every subcommand: unknown flags, missing arguments.
    for sub in ["simulate", "fit", "nca", "popfit", "compare", "translate", "models"] {
        add(
            &format!("{sub} --no-such-flag"),
            &[sub, "--no-such-flag"],
            clap("unexpected argument '--no-such-flag'"),
        );
        add(&format!("{sub} -Z"), &[sub, "-Z"], clap("unexpected argument '-Z'"));
        add(
            &format!("{sub} --help"),
            &[sub, "--help"],
            accepted(&["Usage: pk"], &[]),
        );
    }
    add("no subcommand", &[], Expect::Warns(vec!["Usage: pk <COMMAND>".into()]));
    add(
        "unknown subcommand",
        &["estimate"],
        clap("unrecognized subcommand 'estimate'"),
    );
    add("--version", &["--version"], accepted(&["pk "], &[]));
    add(
        "fit without data",
        &["fit"],
        clap("required arguments were not provided"),
    );
    add(
        "nca without data",
        &["nca"],
        clap("required arguments were not provided"),
    );
    add(
        "popfit without data",
        &["popfit"],
        clap("required arguments were not provided"),
    );
    add(
        "compare without --population",
        &["compare", "fit.json"],
        clap("--population"),
    );
    add(
        "translate without a control stream",
        &["translate"],
        clap("required arguments were not provided"),
    );
    add(
        "simulate without a model",
        &["simulate", "--regimen", "100 mg"],
        clap("--model"),
    );
    add(
        "models with an argument",
        &["models", "extra"],
        clap("unexpected argument 'extra'"),
    );
    // Missing files.
    add(
        "fit: missing data file",
        &["fit", "nope.csv", "--model", "m.pk"],
        refused(&["nope.csv: No such file"]),
    );
    add(
        "nca: missing data file",
        &["nca", "nope.csv"],
        refused(&["nope.csv: No such file"]),
    );
    add(
        "popfit: missing data file",
        &["popfit", "nope.csv", "--model", "pop.pk"],
        refused(&["nope.csv: No such file"]),
    );
    add(
        "simulate: missing data file",
        &["simulate", "--model", "m.pk", "--data", "nope.csv"],
        refused(&["nope.csv: No such file"]),
    );
    add(
        "fit: missing model file",
        &["fit", "data.csv", "--model", "nope.pk"],
        refused(&["model nope.pk: no such file, and not a bundled model name"]),
    );
    add(
        "simulate: missing model",
        &["simulate", "--model", "nope", "--regimen", "100 mg"],
        refused(&["model nope: no such file, and not a bundled model name (bundled: one_cmt_iv"]),
    );
    add(
        "simulate: a population model that does not exist",
        &["simulate", "--population", "nope.pk", "--regimen", "100 mg"],
        refused(&["nope.pk"]),
    );
    add(
        "compare: missing fit JSON",
        &["compare", "nope.json", "--population", "pop.pk"],
        refused(&["nope.json"]),
    );
    add(
        "compare: a fit JSON that is CSV",
        &["compare", "data.csv", "--population", "pop.pk"],
        refused(&["data.csv"]),
    );
    add(
        "compare: missing published file",
        &[
            "compare",
            "nope.json",
            "--population",
            "pop.pk",
            "--published",
            "nope.toml",
        ],
        refused(&["nope"]),
    );
    add(
        "translate: missing control stream",
        &["translate", "nope.ctl"],
        refused(&["nope.ctl"]),
    );
    add(
        "translate: a CSV as control stream",
        &["translate", "data.csv"],
        refused(&["data.csv"]),
    );
    add(
        "popfit: --inits-from a missing .ext",
        &["popfit", "control.ctl", "--inits-from", "nope.ext", "--evaluate"],
        refused(&["nope.ext"]),
    );
    add(
        "fit: data file is the model",
        &["fit", "m.pk", "--model", "m.pk"],
        // Line 1 of m.pk is a # comment: the header read is line 2.
        refused(&["m.pk, line 2"]),
    );
    add(
        "fit: model file is the data",
        &["fit", "data.csv", "--model", "data.csv"],
        refused(&["data.csv: line 2, column 5: an unexpected character '.'"]),
    );
    add(
        "fit: a directory as data",
        &["fit", ".", "--model", "m.pk"],
        refused(&["error: ."]),
    );
    add(
        "fit: an empty path as data",
        &["fit", "", "--model", "m.pk"],
        refused(&["error: "]),
    );
    // Bad numbers.
    add(
        "simulate --n abc",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "abc",
            "--regimen",
            "100 ug",
        ],
        clap("invalid value 'abc' for '--n <N>'"),
    );
    add(
        "simulate --n -3",
        &["simulate", "--population", "pop.pk", "--n", "-3", "--regimen", "100 ug"],
        clap("unexpected argument '-3'"),
    );
    add(
        "simulate --n=-3",
        &["simulate", "--population", "pop.pk", "--n=-3", "--regimen", "100 ug"],
        clap("invalid value '-3' for '--n <N>'"),
    );
    add(
        "simulate --n 0",
        &["simulate", "--population", "pop.pk", "--n", "0", "--regimen", "100 ug"],
        refused(&["the number of virtual patients must be at least 1, got 0"]),
    );
    add(
        "simulate --n 1e3",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "1e3",
            "--regimen",
            "100 ug",
        ],
        clap("invalid value '1e3' for '--n <N>'"),
    );
    add(
        "simulate --n 99999999999999999999",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "99999999999999999999",
            "--regimen",
            "100 ug",
        ],
        clap("invalid value"),
    );
    add(
        "simulate --seed=-1",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "3",
            "--seed=-1",
            "--regimen",
            "100 ug",
        ],
        clap("invalid value '-1' for '--seed <SEED>'"),
    );
    add(
        "simulate --population and --model",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--population",
            "pop.pk",
            "--regimen",
            "100 mg",
        ],
        clap("cannot be used with"),
    );
    add(
        "simulate --bsa abc",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg/m2", "--bsa", "abc"],
        clap("invalid value 'abc' for '--bsa <BSA>'"),
    );
    add(
        "simulate --bsa=-1",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg/m2", "--bsa=-1"],
        refused(&["-1"]),
    );
    add(
        "simulate --bsa=0",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg/m2", "--bsa=0"],
        refused(&["0"]),
    );
    add(
        "simulate --bsa NaN",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg/m2", "--bsa", "NaN"],
        refused(&["NaN"]),
    );
    add(
        "simulate --weight inf",
        &["simulate", "--model", "m.pk", "--regimen", "5 mg/kg", "--weight", "inf"],
        refused(&["inf"]),
    );
    add(
        "simulate --weight=-70",
        &["simulate", "--model", "m.pk", "--regimen", "5 mg/kg", "--weight=-70"],
        refused(&["-70"]),
    );
    add(
        "simulate --bsa-formula bogus",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "52 mg/m2",
            "--weight",
            "70",
            "--height",
            "170",
            "--bsa-formula",
            "bogus",
        ],
        refused(&["bogus"]),
    );
    add(
        "simulate --percentile 150",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--percentile",
            "150",
        ],
        refused(&["150"]),
    );
    add(
        "simulate --percentile=-5",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--percentile=-5",
        ],
        refused(&["-5"]),
    );
    add(
        "simulate --percentile NaN",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--percentile",
            "NaN",
        ],
        refused(&["NaN"]),
    );
    add(
        "simulate --target bogus",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--target",
            "bogus",
        ],
        refused(&["bogus"]),
    );
    add(
        "simulate --target CMAX<abc",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--target",
            "CMAX<abc",
        ],
        refused(&["CMAX<abc"]),
    );
    add(
        "simulate --covariate WT (no value)",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--covariate",
            "WT",
        ],
        refused(&["WT"]),
    );
    add(
        "simulate --covariate WT=5..1",
        &[
            "simulate",
            "--population",
            "pop.pk",
            "--n",
            "5",
            "--regimen",
            "100 ug",
            "--covariate",
            "WT=5..1",
        ],
        refused(&["WT=5..1"]),
    );
    add(
        "simulate --covariate WT=abc",
        &[
            "simulate",
            "--model",
            "pheno",
            "--regimen",
            "100 mg",
            "--covariate",
            "WGT=abc",
            "--covariate",
            "APGR=7",
        ],
        refused(&["abc"]),
    );
    add(
        "simulate: a model covariate not given",
        &[
            "simulate",
            "--model",
            "pheno",
            "--regimen",
            "100 mg",
            "--covariate",
            "APGR=7",
        ],
        refused(&["WGT"]),
    );
    add(
        "simulate --param CL=abc",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--param",
            "CL=abc",
        ],
        refused(&["--param 'CL=abc': value 'abc' is not a number"]),
    );
    add(
        "simulate --param CL",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--param", "CL"],
        refused(&["--param 'CL'"]),
    );
    add(
        "simulate --param =3",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--param", "=3"],
        refused(&["--param"]),
    );
    add(
        "simulate --param CLX=3",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--param", "CLX=3"],
        refused(&["CLX"]),
    );
    add(
        "simulate --param CL=-3",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--param", "CL=-3"],
        refused(&["CL"]),
    );
    add(
        "simulate --param CL=inf",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--param",
            "CL=inf",
        ],
        refused(&["CL"]),
    );
    add(
        "simulate --grid 0:0:10",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "0:0:10"],
        refused(&["grid '0:0:10'"]),
    );
    add(
        "simulate --grid 10:1:0",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "10:1:0"],
        refused(&["grid '10:1:0'"]),
    );
    add(
        "simulate --grid 0:1",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "0:1"],
        refused(&["grid '0:1'"]),
    );
    add(
        "simulate --grid a:b:c",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "a:b:c"],
        refused(&["grid 'a:b:c'"]),
    );
    add(
        "simulate --grid 0:NaN:10",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--grid",
            "0:NaN:10",
        ],
        refused(&["grid '0:NaN:10'"]),
    );
    add(
        "simulate --grid 0:1:inf",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--grid",
            "0:1:inf",
        ],
        refused(&["grid '0:1:inf'"]),
    );
    add(
        "simulate --grid 0:1e-9:1e6 (too many points)",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--grid",
            "0:1e-9:1e6",
        ],
        refused(&["has more than 10 million points"]),
    );
    add(
        "simulate --grid -5:1:5",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid=-5:1:5"],
        accepted(&["TIME (h),CONC (ng/mL)\n-5,0\n"], &[]),
    );
    add(
        "simulate --grid 3:1:3",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "3:1:3"],
        accepted(&["TIME (h),CONC (ng/mL)\n3,"], &[]),
    );
    add(
        "simulate --regimen empty",
        &["simulate", "--model", "m.pk", "--regimen", ""],
        refused(&["regimen ''"]),
    );
    add(
        "simulate --regimen garbage",
        &["simulate", "--model", "m.pk", "--regimen", "lots of drug"],
        refused(&["regimen 'lots of drug'"]),
    );
    add(
        "simulate --regimen negative dose",
        &["simulate", "--model", "m.pk", "--regimen", "-100 mg"],
        clap("unexpected argument '-1'"),
    );
    add(
        "simulate --regimen=negative dose",
        &["simulate", "--model", "m.pk", "--regimen=-100 mg"],
        refused(&["regimen '-100 mg'"]),
    );
    add(
        "simulate --regimen 0 mg",
        &["simulate", "--model", "m.pk", "--regimen", "0 mg", "--grid", "0:1:2"],
        accepted(&["TIME (h),CONC (ng/mL)\n0,0\n"], &[]),
    );
    add(
        "simulate --regimen NaN mg",
        &["simulate", "--model", "m.pk", "--regimen", "NaN mg"],
        refused(&["regimen 'NaN mg'"]),
    );
    add(
        "simulate --regimen inf mg",
        &["simulate", "--model", "m.pk", "--regimen", "inf mg"],
        refused(&["regimen 'inf mg'"]),
    );
    add(
        "simulate --regimen x 0",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg every 24 h x 0"],
        refused(&["regimen"]),
    );
    add(
        "simulate --regimen every 0 h",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg every 0 h x 3"],
        refused(&["regimen"]),
    );
    add(
        "simulate --regimen over 0 h",
        &["simulate", "--model", "m.pk", "--regimen", "100 mg over 0 h"],
        refused(&["regimen"]),
    );
    add(
        "simulate --regimen mg/m2 without BSA",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg/m2 over 2 h"],
        refused(&["a dose per m² needs a body-surface area"]),
    );
    add(
        "simulate --regimen fortnights",
        &["simulate", "--model", "m.pk", "--regimen", "52 mg over 2 fortnights"],
        refused(&["unknown time unit 'fortnights'"]),
    );
    add(
        "simulate --conc-unit ng/furlong",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--conc-unit",
            "ng/furlong",
        ],
        refused(&["unknown concentration unit 'ng/furlong'"]),
    );
    add(
        "simulate --time-unit parsec",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--time-unit",
            "parsec",
        ],
        refused(&["unknown time unit 'parsec'"]),
    );
    add(
        "simulate --amount-unit stone",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--amount-unit",
            "stone",
        ],
        refused(&["unknown amount unit 'stone'"]),
    );
    add(
        "simulate: --data and --regimen",
        &[
            "simulate",
            "--model",
            "m.pk",
            "--regimen",
            "100 mg",
            "--data",
            "data.csv",
        ],
        refused(&["error:"]),
    );
    // fit.
    add(
        "fit --starts abc",
        &["fit", "data.csv", "--model", "m.pk", "--starts", "abc"],
        clap("invalid value 'abc' for '--starts <STARTS>'"),
    );
    add(
        "fit --starts=-1",
        &["fit", "data.csv", "--model", "m.pk", "--starts=-1"],
        clap("invalid value '-1' for '--starts <STARTS>'"),
    );
    add(
        "fit --tau 0",
        &["fit", "data.csv", "--model", "m.pk", "--tau", "0"],
        refused(&["--tau must be a positive interval, got 0"]),
    );
    add(
        "fit --tau NaN",
        &["fit", "data.csv", "--model", "m.pk", "--tau", "NaN"],
        refused(&["--tau must be a positive interval, got NaN"]),
    );
    add(
        "fit --tau=-5",
        &["fit", "data.csv", "--model", "m.pk", "--tau=-5"],
        refused(&["--tau must be a positive interval, got -5"]),
    );
    add(
        "fit --error bogus",
        &["fit", "data.csv", "--model", "m.pk", "--error", "bogus"],
        refused(&["bogus"]),
    );
    add(
        "fit --weight without wls",
        &["fit", "data.csv", "--model", "m.pk", "--weight", "1/y"],
        refused(&["--weight"]),
    );
    add(
        "fit --error wls --weight bogus",
        &[
            "fit", "data.csv", "--model", "m.pk", "--error", "wls", "--weight", "1/z",
        ],
        refused(&["1/z"]),
    );
    add(
        "fit --init CL=-1",
        &["fit", "data.csv", "--model", "m.pk", "--init", "CL=-1"],
        refused(&["parameter CL: initial value -1 is outside the bounds [0.001, 1000]"]),
    );
    add(
        "fit --init XX=1",
        &["fit", "data.csv", "--model", "m.pk", "--init", "XX=1"],
        refused(&["XX"]),
    );
    add(
        "fit --fix CL=NaN",
        &["fit", "data.csv", "--model", "m.pk", "--fix", "CL=NaN"],
        refused(&["parameter CL: value NaN is not a finite number"]),
    );
    add(
        "fit --fix CL=inf",
        &["fit", "data.csv", "--model", "m.pk", "--fix", "CL=inf"],
        refused(&["parameter CL: value inf is not a finite number"]),
    );
    add(
        "fit --fix CL=1 --init CL=2",
        &["fit", "data.csv", "--model", "m.pk", "--fix", "CL=1", "--init", "CL=2"],
        refused(&["CL"]),
    );
    add(
        "fit --id 7 (no such subject)",
        &["fit", "data.csv", "--model", "m.pk", "--id", "7"],
        refused(&["--id 7: no such subject in data.csv"]),
    );
    add(
        "fit --id 1",
        &["fit", "good.csv", "--model", "m.pk", "--id", "1"],
        accepted(&["Subject 1: 4 observations"], &[]),
    );
    add(
        "fit --accept FOO=1",
        &["fit", "data.csv", "--model", "m.pk", "--accept", "FOO=1"],
        refused(&["data.csv: no column FOO to select records by (columns other than the NONMEM items: WT)"]),
    );
    add(
        "fit --accept WT",
        &["fit", "data.csv", "--model", "m.pk", "--accept", "WT"],
        refused(&["WT"]),
    );
    add(
        "fit --accept WT=abc",
        &["fit", "data.csv", "--model", "m.pk", "--accept", "WT=abc"],
        refused(&["abc"]),
    );
    add(
        "fit --accept WT=70",
        &["fit", "data.csv", "--model", "m.pk", "--accept", "WT=70"],
        refused(&[
            "1 of 1 subjects not fitted",
            "no subject of data.csv was fitted to convergence",
        ]),
    );
    add(
        "fit --drop ID",
        &["fit", "data.csv", "--model", "m.pk", "--drop", "ID"],
        refused(&["data.csv, line 1: missing required column ID"]),
    );
    add(
        "fit --drop DV",
        &["fit", "data.csv", "--model", "m.pk", "--drop", "DV,MDV"],
        refused(&["no DV column"]),
    );
    add(
        "fit --prior with --model",
        &["fit", "data.csv", "--prior", "pop.pk", "--model", "m.pk"],
        clap("cannot be used with"),
    );
    add(
        "fit --forest without --population",
        &["fit", "data.csv", "--model", "m.pk", "--forest", "f.svg"],
        clap("--population"),
    );
    add(
        "fit --conc-unit bogus",
        &["fit", "data.csv", "--model", "m.pk", "--conc-unit", "bogus"],
        refused(&["unknown concentration unit 'bogus'"]),
    );
    add(
        "fit --bsa-column NOPE",
        &["fit", "data.csv", "--model", "m.pk", "--bsa-column", "NOPE"],
        refused(&["--bsa-column NOPE: data.csv has no column NOPE"]),
    );
    add(
        "fit --json into a missing directory",
        &["fit", "data.csv", "--model", "m.pk", "--json", "nodir/fit.json"],
        refused(&["cannot write nodir/fit.json: the directory nodir does not exist"]),
    );
    add(
        "fit --table into a missing directory",
        &["fit", "data.csv", "--model", "m.pk", "--table", "nodir/t.csv"],
        refused(&["cannot write nodir/t.csv: the directory nodir does not exist"]),
    );
    add(
        "fit --plots into a missing directory",
        &["fit", "data.csv", "--model", "m.pk", "--plots", "nodir/deeper/plots"],
        refused(&["nodir"]),
    );
    add(
        "fit --json over the data",
        &["fit", "data.csv", "--model", "m.pk", "--json", "data.csv"],
        refused(&["refusing to write data.csv: it is an input file"]),
    );
    add(
        "fit --json over the data (./)",
        &["fit", "data.csv", "--model", "m.pk", "--json", "./data.csv"],
        refused(&["refusing to write ./data.csv: it is an input file"]),
    );
    add(
        "fit --table over the model",
        &["fit", "data.csv", "--model", "m.pk", "--table", "m.pk"],
        refused(&["refusing to write m.pk: it is an input file"]),
    );
    add(
        "fit --json and --table to one file",
        &[
            "fit", "data.csv", "--model", "m.pk", "--json", "o.json", "--table", "o.json",
        ],
        refused(&["two outputs name the same file (o.json and o.json)"]),
    );
    add(
        "fit --plots over a file",
        &["fit", "data.csv", "--model", "m.pk", "--plots", "data.csv"],
        refused(&["data.csv"]),
    );
    add(
        "fit --json, --table and --plots",
        &[
            "fit", "good.csv", "--model", "m.pk", "--json", "o.json", "--table", "t.csv", "--plots", "plots",
        ],
        Expect::Writes(vec!["o.json".into(), "t.csv".into(), "plots".into()]),
    );
    // nca.
    add(
        "nca --rule bogus",
        &["nca", "data.csv", "--rule", "bogus"],
        refused(&["bogus"]),
    );
    add(
        "nca --route bogus",
        &["nca", "data.csv", "--route", "bogus"],
        refused(&["bogus"]),
    );
    add(
        "nca --lambda-z-points abc",
        &["nca", "data.csv", "--lambda-z-points", "abc"],
        clap("invalid value 'abc'"),
    );
    add(
        "nca --lambda-z-points=-1",
        &["nca", "data.csv", "--lambda-z-points=-1"],
        clap("invalid value '-1'"),
    );
    add(
        "nca --lambda-z-points 0",
        &["nca", "data.csv", "--lambda-z-points", "0"],
        refused(&["0"]),
    );
    add(
        "nca --lambda-z-points 1",
        &["nca", "data.csv", "--lambda-z-points", "1"],
        refused(&["1"]),
    );
    add(
        "nca --lambda-z-points 1000",
        &["nca", "data.csv", "--lambda-z-points", "1000"],
        accepted(&["Subject 1"], &[]),
    );
    add(
        "nca --lambda-z-range 5:1",
        &["nca", "data.csv", "--lambda-z-range", "5:1"],
        refused(&["'5:1': expected START:END with END > START"]),
    );
    add(
        "nca --lambda-z-range x",
        &["nca", "data.csv", "--lambda-z-range", "x"],
        refused(&["'x': expected START:END"]),
    );
    add(
        "nca --lambda-z-range and --lambda-z-points",
        &["nca", "data.csv", "--lambda-z-range", "0:5", "--lambda-z-points", "3"],
        clap("cannot be used with"),
    );
    add(
        "nca --partial 2:2",
        &["nca", "data.csv", "--partial", "2:2"],
        refused(&["'2:2': expected START:END with END > START"]),
    );
    add(
        "nca --partial NaN:5",
        &["nca", "data.csv", "--partial", "NaN:5"],
        refused(&["NaN:5"]),
    );
    add(
        "nca --partial 0:inf",
        &["nca", "good.csv", "--partial", "0:inf"],
        accepted(&["AUC 0-inf h: 7473.36"], &[]),
    );
    add("nca --tau 0", &["nca", "data.csv", "--tau", "0"], refused(&["0"]));
    add("nca --tau=-1", &["nca", "data.csv", "--tau=-1"], refused(&["-1"]));
    add("nca --tau NaN", &["nca", "data.csv", "--tau", "NaN"], refused(&["NaN"]));
    add(
        "nca --blq-before bogus",
        &["nca", "data.csv", "--blq-before", "bogus"],
        refused(&["bogus"]),
    );
    add(
        "nca --blq-after bogus",
        &["nca", "data.csv", "--blq-after", "bogus"],
        refused(&["bogus"]),
    );
    add(
        "nca --conc-unit bogus",
        &["nca", "data.csv", "--conc-unit", "bogus"],
        refused(&["unknown concentration unit 'bogus'"]),
    );
    add(
        "nca --amount-unit bogus",
        &["nca", "data.csv", "--amount-unit", "bogus"],
        refused(&["unknown amount unit 'bogus'"]),
    );
    add(
        "nca --time-unit bogus",
        &["nca", "data.csv", "--time-unit", "bogus"],
        refused(&["unknown time unit 'bogus'"]),
    );
    add(
        "nca --drop ID",
        &["nca", "data.csv", "--drop", "ID"],
        refused(&["missing required column ID"]),
    );
    add(
        "nca --json over the data",
        &["nca", "data.csv", "--json", "data.csv"],
        refused(&["refusing to write data.csv: it is an input file"]),
    );
    add(
        "nca --csv into a missing directory",
        &["nca", "data.csv", "--csv", "nodir/x.csv"],
        refused(&["cannot write nodir/x.csv: the directory nodir does not exist"]),
    );
    add(
        "nca --json and --csv to one file",
        &["nca", "data.csv", "--json", "o", "--csv", "o"],
        refused(&["two outputs name the same file"]),
    );
    add(
        "nca --json and --csv",
        &["nca", "data.csv", "--json", "o.json", "--csv", "o.csv"],
        Expect::Writes(vec!["o.json".into(), "o.csv".into()]),
    );
    // popfit.
    add(
        "popfit --method bogus",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--method",
            "bogus",
            "--evaluate",
        ],
        refused(&["bogus"]),
    );
    add(
        "popfit --max-iterations abc",
        &["popfit", "data.csv", "--model", "pop.pk", "--max-iterations", "abc"],
        clap("invalid value 'abc'"),
    );
    add(
        "popfit --max-iterations=-5",
        &["popfit", "data.csv", "--model", "pop.pk", "--max-iterations=-5"],
        clap("invalid value '-5'"),
    );
    add(
        "popfit --covariance with --no-covariance",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--covariance",
            "--no-covariance",
        ],
        clap("cannot be used with"),
    );
    add(
        "popfit without a model for CSV data",
        &["popfit", "data.csv", "--evaluate"],
        refused(&["--model"]),
    );
    add(
        "popfit: a model without η",
        &["popfit", "data.csv", "--model", "m.pk", "--evaluate"],
        accepted(&["OFV"], &[]),
    );
    add(
        "popfit --evaluate",
        &["popfit", "data.csv", "--model", "pop.pk", "--evaluate"],
        accepted(&["OFV"], &[]),
    );
    add(
        "popfit --json over the model",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--evaluate",
            "--json",
            "pop.pk",
        ],
        refused(&["refusing to write pop.pk: it is an input file"]),
    );
    add(
        "popfit --table into a missing directory",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--evaluate",
            "--table",
            "nodir/t.csv",
        ],
        refused(&["cannot write nodir/t.csv: the directory nodir does not exist"]),
    );
    add(
        "popfit --write-model onto its own model file",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--evaluate",
            "--write-model",
            "pop.pk",
        ],
        refused(&["refusing to write pop.pk: it is an input file"]),
    );
    add(
        "popfit --accept WT=abc",
        &[
            "popfit",
            "data.csv",
            "--model",
            "pop.pk",
            "--evaluate",
            "--accept",
            "WT=abc",
        ],
        refused(&["abc"]),
    );
    add(
        "popfit: control stream --evaluate",
        &["popfit", "control.ctl", "--evaluate"],
        accepted(&["OFV"], &[]),
    );
    add(
        "popfit: control stream --write-model over itself",
        &["popfit", "control.ctl", "--evaluate", "--write-model", "control.ctl"],
        refused(&["refusing to write control.ctl: it is an input file"]),
    );
    // translate and compare.
    add(
        "translate -o over the control stream",
        &["translate", "control.ctl", "-o", "control.ctl"],
        refused(&["refusing to write control.ctl: it is an input file"]),
    );
    add(
        "translate -o into a missing directory",
        &["translate", "control.ctl", "-o", "nodir/m.pk"],
        refused(&["nodir/m.pk"]),
    );
    add(
        "translate a control stream",
        &["translate", "control.ctl"],
        accepted(&["theta "], &[]),
    );
    add(
        "translate --no-data",
        &["translate", "control.ctl", "--no-data"],
        accepted(&["theta "], &[]),
    );
    add("translate a model file", &["translate", "m.pk"], refused(&["m.pk"]));
    add(
        "compare --population missing",
        &["compare", "data.csv", "--population", "nope.pk"],
        refused(&["nope.pk"]),
    );
    // Output over an input through a hard link.
    cases.push(Case {
        category: "flags",
        name: "simulate --out over a symbolic path to the data".into(),
        args: args(&[
            "simulate",
            "--model",
            "m.pk",
            "--data",
            "sub/../data.csv",
            "--out",
            "data.csv",
        ]),
        files: {
            let mut f = files();
            f.push(("sub/.keep".into(), vec![]));
            f
        },
        expect: refused(&["refusing to write data.csv: it is an input file"]),
    });
}

/// Engine defects the corpus found (silently wrong results, data loss,
/// messages without their place), each with the behaviour it now has; run by
/// `known_engine_defects`.
fn known_defects() -> Vec<Case> {
    let base = base_csv();
    let pop = repo_text("models/two_cmt_pop.pk").into_bytes();
    let d = |name: &str, a: &[&str], files: Files, expect: Expect| Case {
        category: "KNOWN DEFECT",
        name: name.to_string(),
        args: args(a),
        files,
        expect,
    };
    let with_wt = |data: &str| {
        let mut f = file("data.csv", data);
        f.push(("wt.pk".into(), WT_MODEL.into()));
        f
    };
    vec![
        // Silently wrong: records after an unterminated quote in the C column vanish.
        d(
            "an unterminated quote in the C column swallows the rest of the file",
            &["simulate", "--model", "one_cmt_iv", "--data", "data.csv", "--grid", "0:1:2"],
            file("data.csv", "ID,TIME,DV,AMT,C\n1,0,.,100,\n2,0,.,100,\"oops\n3,0,.,100,\n4,0,.,100,\n"),
            refused(&["data.csv, line 3"]),
        ),
        // Silently wrong: a covariate column given twice; the first is used.
        d(
            "a covariate column twice (WT, WT)",
            &["simulate", "--model", "wt.pk", "--data", "data.csv", "--grid", "0:1:2"],
            with_wt("ID,TIME,DV,AMT,WT,WT\n1,0,.,100,70,140\n1,1,5,0,70,140\n"),
            refused(&["data.csv, line 1", "WT", "twice"]),
        ),
        d(
            "a covariate column twice, differing in case (WT, wt)",
            &["simulate", "--model", "wt.pk", "--data", "data.csv", "--grid", "0:1:2"],
            with_wt("ID,TIME,DV,AMT,WT,wt\n1,0,.,100,70,140\n1,1,5,0,70,140\n"),
            refused(&["data.csv, line 1", "twice"]),
        ),
        // Silently wrong: --accept that keeps no record gives an empty result, exit 0.
        d(
            "fit --accept that matches no record",
            &["fit", "data.csv", "--model", "one_cmt_iv", "--accept", "WT=99"],
            file("data.csv", base.clone()),
            Expect::Warns(vec!["WT=99".into()]),
        ),
        d(
            "popfit --accept that matches no record",
            &["popfit", "data.csv", "--model", "pop.pk", "--evaluate", "--accept", "WT=99"],
            vec![("data.csv".into(), base.clone().into_bytes()), ("pop.pk".into(), pop.clone())],
            Expect::Warns(vec!["WT=99".into()]),
        ),
        // Data loss: an output written through a hard link over an input.
        d(
            "simulate --out over the data through a hard link",
            &["simulate", "--model", "one_cmt_iv", "--data", "hard.csv", "--out", "data.csv"],
            vec![("data.csv".into(), base.clone().into_bytes()), ("hard.csv".into(), b"@hardlink data.csv".to_vec())],
            refused(&["refusing to write data.csv: it is an input file"]),
        ),
        // Data loss: popfit --ext (or --write-model) over the control stream's $DATA file.
        d(
            "popfit --ext over the control stream's data file",
            &["popfit", "control.ctl", "--evaluate", "--ext", "pheno.dta"],
            vec![
                ("control.ctl".into(), repo_text("fixtures/pheno/pheno_real.mod").into_bytes()),
                ("pheno.dta".into(), repo_text("fixtures/pheno/pheno.dta").into_bytes()),
            ],
            refused(&["refusing to write pheno.dta: it is an input file"]),
        ),
        // Silently ignored: a BLQ or LLOQ column that the data do not have.
        d(
            "nca --blq-column of a column the data lack",
            &["nca", "data.csv", "--blq-column", "NOPE"],
            file("data.csv", GOOD),
            Expect::Warns(vec!["NOPE".into()]),
        ),
        d(
            "nca --lloq-column of a column the data lack",
            &["nca", "data.csv", "--lloq-column", "NOPE"],
            file("data.csv", GOOD),
            Expect::Warns(vec!["NOPE".into()]),
        ),
        // Silently wrong: --tau inf gives AUCtau 0 and accumulation 0.
        d(
            "fit --tau inf",
            &["fit", "data.csv", "--model", "one_cmt_iv", "--tau", "inf"],
            file("data.csv", GOOD),
            refused(&["--tau must be a positive interval, got inf"]),
        ),
        // Silently ignored: --n (and --seed) without --population.
        d(
            "simulate --n without --population",
            &["simulate", "--model", "one_cmt_iv", "--n", "3", "--regimen", "100 mg"],
            vec![],
            refused(&["--population"]),
        ),
        // Silently ignored: --drop of a column the data do not have.
        d(
            "fit --drop of a column the data lack",
            &["fit", "data.csv", "--model", "one_cmt_iv", "--drop", "SSX"],
            file("data.csv", GOOD),
            Expect::Warns(vec!["SSX".into()]),
        ),
        // Misleading: dose records without an AMT column become doses of 0.
        d(
            "EVID 1 records without an AMT column",
            &["simulate", "--model", "one_cmt_iv", "--data", "data.csv", "--grid", "0:1:2"],
            file("data.csv", "ID,TIME,DV,EVID,MDV\n1,0,.,1,1\n1,1,5,0,0\n"),
            Expect::Warns(vec!["AMT".into()]),
        ),
        d(
            "simulate a data set without any dose",
            &["simulate", "--model", "one_cmt_iv", "--data", "data.csv", "--grid", "0:1:2"],
            file("data.csv", "ID,TIME,DV\n1,0,5\n1,1,4\n"),
            Expect::Warns(vec!["dose".into()]),
        ),
        // Messages without their place.
        d(
            "an unknown unit in a model names neither file nor line",
            &["simulate", "--model", "m.pk", "--regimen", "100 mg"],
            file("m.pk", format!("units amount=furlong\n{}", repo_text("models/one_cmt_iv.pk"))),
            refused(&["m.pk: line 1"]),
        ),
        d(
            "equal bounds: the message contradicts itself (5 <= 5 <= 5)",
            &["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "0:1:2"],
            file("m.pk", "theta CL = 5 (5, 5)\ntheta V = 50\nsigma prop ~ 0.01\nkernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop(prop)\n"),
            accepted(&["TIME (h),CONC (ng/mL)\n0,"], &[]),
        ),
        d(
            "a #-commented header: the message says line 1 for the header read on line 2",
            &["simulate", "--model", "one_cmt_iv", "--data", "data.csv"],
            file("data.csv", format!("#{base}")),
            refused(&["data.csv, line 2: missing required column ID"]),
        ),
        d(
            "invalid UTF-8 in a data file: the message names no line",
            &["simulate", "--model", "one_cmt_iv", "--data", "data.csv"],
            vec![("data.csv".into(), b"ID,TIME,DV,AMT\n1,0,.,100\n1,1,\xe9,0\n".to_vec())],
            refused(&["data.csv, line 3"]),
        ),
    ]
}

/// Inputs that overflowed the parser's stack (an abort, not an error) before
/// nesting was limited; run by `known_engine_defects`.
fn known_crashes() -> Vec<Case> {
    let head = "theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\n";
    let tail = "kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop(prop)\n";
    let deep: Vec<(&str, String)> = vec![
        (
            "100 000 nested parentheses",
            format!("{head}A = {}1{}\n{tail}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
        (
            "100 000 unary minus signs",
            format!("{head}A = {}1\n{tail}", "-".repeat(100_000)),
        ),
        (
            "100 000 nested if blocks",
            format!(
                "{head}{}A = 1\n{}{tail}",
                "if CL > 1 {\n".repeat(100_000),
                "}\n".repeat(100_000)
            ),
        ),
        (
            "100 000 nested function calls",
            format!("{head}A = {}1{}\n{tail}", "exp(".repeat(100_000), ")".repeat(100_000)),
        ),
    ];
    deep.into_iter()
        .map(|(name, text)| Case {
            category: "KNOWN DEFECT (stack overflow)",
            name: format!("a model with {name}"),
            args: args(&["simulate", "--model", "m.pk", "--regimen", "100 mg", "--grid", "0:1:1"]),
            files: file("m.pk", text),
            expect: refused(&["m.pk: line", "nested more than 100 levels deep"]),
        })
        .collect()
}

/// The defects the corpus found (silently wrong results, data loss, stack
/// overflows), each now refused or warned about as its case says.
#[test]
fn known_engine_defects() {
    let mut cases = known_defects();
    cases.extend(known_crashes());
    let (failures, _) = run_all(&cases, false);
    assert!(
        failures.is_empty(),
        "{} of {} known defects remain:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn main_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    numeric_cells(&mut cases);
    csv_structure(&mut cases);
    nonmem_semantics(&mut cases);
    fixture_mutations(&mut cases);
    model_cases(&mut cases);
    flag_cases(&mut cases);
    cases
}

#[test]
fn fuzz_corpus() {
    let mut cases = main_cases();
    // Random mutations may repeat one another: keep one of each.
    let mut names = std::collections::HashSet::new();
    cases.retain(|c| names.insert((c.category, c.name.clone())));
    assert!(cases.len() >= 600, "only {} cases", cases.len());
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &cases {
        *by_category.entry(c.category).or_default() += 1;
    }
    let (failures, elapsed) = run_all(&cases, false);
    let mut summary = String::new();
    for (cat, n) in &by_category {
        let _ = writeln!(summary, "  {n:4}  {cat}");
    }
    eprintln!(
        "fuzz corpus: {} cases in {:.1} s\n{summary}",
        cases.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
