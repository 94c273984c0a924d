//! Every example in the subcommands' `--help` runs as written from the
//! repository root (issue 14: `--help` of each subcommand has examples, and
//! none of them is a placeholder). The examples run in order in a temporary
//! directory that links `fixtures/` and `models/`.

#[path = "support/commands.rs"]
mod commands;

use std::process::Command;

const SUBCOMMANDS: [&str; 10] = [
    "simulate",
    "fit",
    "nca",
    "compare",
    "popfit",
    "bootstrap",
    "sir",
    "vpc",
    "translate",
    "models",
];

/// The example command lines of `pk SUB --help` (continuation lines joined).
fn examples(sub: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = help.lines().collect();
    let mut picked = Vec::new();
    let mut k = 0;
    while k < lines.len() {
        if lines[k].starts_with("  pk ") {
            let start = k;
            while lines[k].trim_end().ends_with('\\') && k + 1 < lines.len() {
                k += 1;
            }
            picked.extend(commands::joined(&lines[start..=k]));
        }
        k += 1;
    }
    picked
}

#[test]
fn every_help_example_runs_from_the_repository_root() {
    let dir = commands::sandbox();
    let mut count = 0;
    for sub in SUBCOMMANDS {
        let list = examples(sub);
        assert!(!list.is_empty(), "pk {sub} --help has no example");
        for line in list {
            commands::run_pk(dir.path(), &line);
            count += 1;
        }
    }
    assert!(count >= 14, "{count} examples");
}
