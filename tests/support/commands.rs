//! Running documented `pk` command lines (README, `--help` examples) as a
//! user would type them from the repository root, in a temporary directory
//! that links `fixtures/` and `models/` so that outputs land there.

use std::path::Path;
use std::process::Command;

/// A temporary directory with `fixtures/` and `models/` linked in.
pub fn sandbox() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for d in ["fixtures", "models"] {
        std::os::unix::fs::symlink(root.join(d), dir.path().join(d)).unwrap();
    }
    dir
}

/// Splits a command line as a shell does for these examples: blanks separate
/// words, double quotes group, `# …` ends the line, `> FILE` redirects
/// standard output.
pub fn words(line: &str) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '#' if !quoted && cur.is_empty() => break,
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            _ => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    let redirect = out.iter().position(|w| w == ">").map(|k| {
        let file = out[k + 1].clone();
        out.truncate(k);
        file
    });
    (out, redirect)
}

/// Joins lines ending in `\` with the next.
pub fn joined(lines: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for l in lines {
        let t = l.trim();
        let continues = t.ends_with('\\');
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(t.trim_end_matches('\\').trim());
        if !continues {
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// Runs `line` (`pk …`) in `dir`; panics with its standard error if it fails.
pub fn run_pk(dir: &Path, line: &str) {
    let (w, redirect) = words(line);
    assert_eq!(w[0], "pk", "{line}");
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args(&w[1..])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{line}` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(f) = redirect {
        std::fs::write(dir.join(f), &out.stdout).unwrap();
    }
}
