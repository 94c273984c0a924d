//! Every `pk` command of the README's tour runs as written from the
//! repository root (issue 14: no placeholder files in the tour), in order, in
//! a temporary directory that links `fixtures/` and `models/`.

#[path = "support/commands.rs"]
mod commands;

/// The `pk` command lines of the README's `sh` blocks, continuation lines joined.
fn tour() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut lines = Vec::new();
    let mut in_block = false;
    for l in readme.lines() {
        if l.starts_with("```") {
            in_block = l == "```sh";
            continue;
        }
        if in_block && !l.trim_start().starts_with('#') {
            lines.push(l);
        }
    }
    commands::joined(&lines)
        .into_iter()
        .filter(|l| l.starts_with("pk "))
        .collect()
}

#[test]
fn every_readme_command_runs_from_the_repository_root() {
    let dir = commands::sandbox();
    let commands = tour();
    assert!(commands.len() >= 20, "{} commands", commands.len());
    for line in &commands {
        commands::run_pk(dir.path(), line);
    }
}
