//! Writing tables: to a file (never one of the inputs) or to standard output.

use pk::{Error, Result};
use std::io::Write;

/// Writes `text` to `path`, or to standard output when `path` is `None` or `-`.
pub fn write_text(path: Option<&str>, text: &str, inputs: &[&str]) -> Result<()> {
    match path {
        None | Some("-") => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()) {
                // A reader that stopped early (`pk … | head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| Error::io("<stdout>", e)),
            }
        }
        Some(p) => {
            not_an_input(p, inputs)?;
            pk::output::write_atomically(p, text.as_bytes())
        }
    }
}

/// A table written as it is computed: to standard output, or to a file put
/// in place whole by [`StreamedOutput::finish`] (see [`pk::output::AtomicFile`]).
pub enum StreamedOutput {
    /// Standard output; a reader that stopped early ends the writing quietly.
    Stdout {
        /// The buffered stream.
        out: std::io::BufWriter<std::io::StdoutLock<'static>>,
        /// Whether the reader went away.
        closed: bool,
    },
    /// A file.
    File(pk::output::AtomicFile),
}

impl StreamedOutput {
    /// Opens `path`, or standard output when `path` is `None` or `-`.
    pub fn open(path: Option<&str>, inputs: &[&str]) -> Result<Self> {
        match path {
            None | Some("-") => Ok(StreamedOutput::Stdout {
                out: std::io::BufWriter::new(std::io::stdout().lock()),
                closed: false,
            }),
            Some(p) => {
                not_an_input(p, inputs)?;
                Ok(StreamedOutput::File(pk::output::AtomicFile::create(p)?))
            }
        }
    }

    /// Appends `text`.
    pub fn write(&mut self, text: &str) -> Result<()> {
        match self {
            StreamedOutput::Stdout { closed: true, .. } => Ok(()),
            StreamedOutput::Stdout { out, closed } => match out.write_all(text.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    Ok(())
                }
                other => other.map_err(|e| Error::io("<stdout>", e)),
            },
            StreamedOutput::File(f) => f.write_all(text.as_bytes()).map_err(|e| Error::io("output", e)),
        }
    }

    /// Ends the output: flushes standard output, or puts the file in place.
    pub fn finish(self) -> Result<()> {
        match self {
            StreamedOutput::Stdout { closed: true, .. } => Ok(()),
            StreamedOutput::Stdout { mut out, .. } => match out.flush() {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| Error::io("<stdout>", e)),
            },
            StreamedOutput::File(f) => f.commit(),
        }
    }
}

/// Checks an output path before the computation starts: not an input file,
/// its directory exists, and no other output of the run names the same file
/// (every output path of a run passes here first).
pub fn refuse_input(path: &str, inputs: &[&str]) -> Result<()> {
    pk::output::check_writable(path)?;
    claim_output(path)?;
    not_an_input(path, inputs)
}

/// Refuses to write over an input file (by path, symbolic link or hard link).
fn not_an_input(path: &str, inputs: &[&str]) -> Result<()> {
    let target = std::fs::canonicalize(path).ok();
    for input in inputs {
        let same = match (&target, std::fs::canonicalize(input).ok()) {
            (Some(a), Some(b)) => *a == b || same_file(a, &b),
            _ => path == *input,
        };
        if same {
            return Err(Error::Argument(format!(
                "refusing to write {path}: it is an input file"
            )));
        }
    }
    Ok(())
}

/// Whether two existing paths are one file (hard links).
#[cfg(unix)]
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Whether two existing paths are one file (hard links are not detected here).
#[cfg(not(unix))]
fn same_file(_: &std::path::Path, _: &std::path::Path) -> bool {
    false
}

/// The output paths of this run, so that two options naming one file (`--json
/// X --table X`) are refused instead of one output overwriting the other.
fn claim_output(path: &str) -> Result<()> {
    static CLAIMED: std::sync::Mutex<Vec<(String, std::path::PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let key = std::path::absolute(path).unwrap_or_else(|_| path.into());
    let mut claimed = CLAIMED
        .lock()
        .map_err(|_| Error::Argument("output bookkeeping failed".into()))?;
    match claimed.iter().find(|(_, k)| *k == key) {
        Some((p, _)) => Err(Error::Argument(format!(
            "two outputs name the same file ({p} and {path}); give each output its own file"
        ))),
        None => {
            claimed.push((path.to_string(), key));
            Ok(())
        }
    }
}

/// A file name from a subject ID: letters, digits, `-` and `_` kept, others `_`.
pub fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Formats a number for CSV output with full precision but no noise.
pub fn num(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.is_nan() {
        ".".to_string()
    } else {
        format!("{v}")
    }
}

/// Progress of a long run on standard error, with `indicatif`: on a terminal
/// a bar with the time elapsed and an estimate of the time left; otherwise
/// (logs, pipes) one line per tenth of the work. Safe to update from threads.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: usize,
    bar: Option<indicatif::ProgressBar>,
    done: std::sync::atomic::AtomicUsize,
    tenths: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
    enabled: bool,
}

impl Progress {
    /// Progress over `total` units of work, shown if `long`.
    pub fn new(label: &'static str, total: usize, long: bool) -> Self {
        use std::io::IsTerminal;
        let total = total.max(1);
        let bar = (long && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {percent:>3}% ({pos}/{len}), {elapsed} elapsed, ~{eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("#>-");
            bar.set_style(style);
            bar.set_message(label);
            bar
        });
        Progress {
            label,
            total,
            bar,
            done: 0.into(),
            tenths: 0.into(),
            started: std::time::Instant::now(),
            enabled: long,
        }
    }

    /// Records `k` more units done.
    pub fn add(&self, k: usize) {
        use std::sync::atomic::Ordering;
        if !self.enabled {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.inc(k as u64);
            return;
        }
        let done = self.done.fetch_add(k, Ordering::Relaxed) + k;
        let tenth = (10 * done / self.total).min(10);
        if self.tenths.fetch_max(tenth, Ordering::Relaxed) < tenth {
            eprintln!(
                "{}: {}% ({done} of {}), {:.1} s",
                self.label,
                10 * tenth,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Ends the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Progress of an estimation whose length is not known in advance (the
/// outer iterations of `popfit`): a spinner with the latest iteration on a
/// terminal, else one line per iteration.
pub struct IterationProgress {
    spinner: Option<indicatif::ProgressBar>,
}

impl IterationProgress {
    /// Starts; shown as a spinner when standard error is a terminal.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        let spinner = std::io::stderr().is_terminal().then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                s.set_style(style);
            }
            s.enable_steady_tick(std::time::Duration::from_millis(200));
            s
        });
        IterationProgress { spinner }
    }

    /// Shows one step.
    pub fn step(&self, line: &str) {
        match &self.spinner {
            Some(s) => s.set_message(line.to_string()),
            None => eprintln!("{line}"),
        }
    }

    /// Ends the spinner, leaving the last step on the screen.
    pub fn finish(&self) {
        if let Some(s) = &self.spinner {
            s.finish();
        }
    }
}
