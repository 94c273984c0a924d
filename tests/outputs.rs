//! Issue 14, "nothing lost": output paths are checked before any computation,
//! two outputs may not name one file, and a run killed at any moment leaves
//! each output either as it was or whole.

use std::process::{Command, Output};

fn pk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap()
}

fn popfit_pheno(extra: &[&str]) -> Output {
    let mut args = vec!["popfit", "fixtures/pheno/pheno.csv", "--model", "models/pheno.pk"];
    args.extend_from_slice(extra);
    pk(&args)
}

#[test]
fn a_missing_output_directory_is_found_before_the_estimation() {
    let out = popfit_pheno(&["--json", "/no/such/dir/fit.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot write /no/such/dir/fit.json: the directory /no/such/dir does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("iteration"), "refused before estimating: {stderr}");
    let out = popfit_pheno(&["--plots", "/no/such/dir/plots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the directory /no/such/dir does not exist"));
}

#[test]
fn two_outputs_naming_one_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("out.txt");
    let same = same.to_str().unwrap();
    let out = popfit_pheno(&["--json", same, "--table", same]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("two outputs name the same file"), "{stderr}");
    assert!(!std::path::Path::new(same).exists());
}

/// SIGKILL at 12 moments spread over a popfit run that rewrites an existing
/// JSON output (a whole run is timed first; the kills fall at 0, 1/12, …,
/// 11/12 of it and just after it): after each kill the file is the previous
/// document or a whole new one (valid JSON with an OFV), and nothing is
/// beside it but, at most, the hidden `.fit.json.pk-*.tmp` of a write cut short.
#[test]
fn a_killed_run_never_leaves_a_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fit.json");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_pk"))
            .args([
                "popfit",
                "fixtures/pheno/pheno.csv",
                "--model",
                "models/pheno.pk",
                "--no-covariance",
            ])
            .args(["--json", json.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let t0 = std::time::Instant::now();
    assert!(run().wait().unwrap().success());
    let whole = t0.elapsed();
    let previous = "{\"previous\": true}\n";
    let mut replaced = 0;
    for k in 0..=12u32 {
        std::fs::write(&json, previous).unwrap();
        let mut child = run();
        std::thread::sleep(whole * k / 12);
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&json).unwrap();
        if text != previous {
            let doc: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("kill {k}: partial output ({e}): {text}"));
            assert!(doc["ofv"].as_f64().is_some(), "kill {k}: {text}");
            replaced += 1;
        }
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name == "fit.json" || (name.starts_with(".fit.json.pk-") && name.ends_with(".tmp")),
                "{name}"
            );
        }
    }
    eprintln!("whole run {whole:?}; the output was replaced (whole) in {replaced} of 13 killed runs");
}

/// An allocation that cannot be satisfied (address space limited to 1 GB, a
/// 9.9 million-point grid) ends with a clear message and exit status 1, not
/// an abort, and writes no output (issue 14).
#[test]
fn out_of_memory_is_a_clear_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("g.csv");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pk"))
        .args([
            "simulate",
            "--model",
            "two_cmt_iv",
            "--regimen",
            "100 mg",
            "--grid",
            "0:0.00001:99",
            "--out",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: out of memory: an allocation of "),
        "{stderr}"
    );
    assert!(!out_file.exists());
}
