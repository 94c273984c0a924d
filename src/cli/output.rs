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
            refuse_input(p, inputs)?;
            std::fs::write(p, text).map_err(|e| Error::io(p, e))
        }
    }
}

/// Refuses to write over an input file.
pub fn refuse_input(path: &str, inputs: &[&str]) -> Result<()> {
    let target = std::fs::canonicalize(path).ok();
    for input in inputs {
        let same = match (&target, std::fs::canonicalize(input).ok()) {
            (Some(a), Some(b)) => *a == b,
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

/// A progress bar on standard error for long runs (only when standard error
/// is a terminal, so logs and pipes stay clean). Safe to update from threads.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    shown: std::sync::atomic::AtomicUsize,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` units of work, shown if `long` and standard error is a terminal.
    pub fn new(label: &'static str, total: usize, long: bool) -> Self {
        use std::io::IsTerminal;
        Progress {
            label,
            total: total.max(1),
            done: 0.into(),
            shown: 0.into(),
            enabled: long && std::io::stderr().is_terminal(),
        }
    }

    /// Records `k` more units done.
    pub fn add(&self, k: usize) {
        use std::sync::atomic::Ordering;
        if !self.enabled {
            return;
        }
        let done = self.done.fetch_add(k, Ordering::Relaxed) + k;
        let percent = (100 * done / self.total).min(100);
        if self.shown.fetch_max(percent, Ordering::Relaxed) < percent {
            let bar = "#".repeat(percent / 4) + &" ".repeat(25 - percent / 4);
            eprint!("\r{} [{bar}] {percent:3}%", self.label);
        }
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.enabled && self.shown.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            eprintln!();
        }
    }
}
