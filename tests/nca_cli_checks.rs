//! Issue 14 for `pk nca`, through the binary: warnings on standard error, refusals,
//! the CLTAU/CLFTAU and C0 columns, `--summary` and `--plots`.

use std::path::Path;
use std::process::{Command, Output};

fn pk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_negative_concentration_warns_on_stderr_with_file_line_subject_value() {
    let dir = tempfile::tempdir().unwrap();
    // Subject 5: the sample on line 5 is negative; subject 6 has none.
    let data = write(
        dir.path(),
        "neg.csv",
        "ID,TIME,DV,AMT,EVID\n5,0,.,100,1\n5,1,8,.,0\n5,2,4,.,0\n5,4,-0.25,.,0\n6,0,.,100,1\n6,1,8,.,0\n6,2,4,.,0\n",
    );
    for (mode, what) in [
        (None, "used as measured (--negative keep)"),
        (Some("zero"), "set to 0 (--negative zero)"),
        (Some("exclude"), "left out of the profile (--negative exclude)"),
    ] {
        let mut args = vec!["nca", data.as_str()];
        if let Some(m) = mode {
            args.extend(["--negative", m]);
        }
        let out = pk(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        let expected =
            format!("warning: {data}, line 5: subject 5: negative concentration DV = -0.25 at time 4: {what}");
        assert!(err.contains(&expected), "{err}");
        assert_eq!(err.matches("negative concentration").count(), 1, "{err}");
    }
    let out = pk(&["nca", &data, "--negative", "clip"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--negative 'clip': expected keep, zero or exclude"));
}

#[test]
fn cli_modelled_rate_is_refused_for_that_subject_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        dir.path(),
        "rate.csv",
        "ID,TIME,DV,AMT,RATE,EVID\n1,0,.,100,-2,1\n1,1,8,.,0,0\n1,2,4,.,0,0\n1,4,2,.,0,0\n\
         2,0,.,100,0,1\n2,1,8,.,0,0\n2,2,4,.,0,0\n2,4,2,.,0,0\n",
    );
    let out = pk(&["nca", &data]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "subject 1 not analysed: subject 1, {data}, line 2, column RATE: RATE = -2"
        )),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Subject 1: not analysed") && text.contains("Subject 2, dose 100"),
        "{text}"
    );
}

#[test]
fn cli_iv_bolus_reports_observed_cmax_and_c0_separately() {
    let dir = tempfile::tempdir().unwrap();
    // C(t) = 10·e^(−(ln 2/2)t) at 1, 2, 4, 8 h: 7.0710678, 5, 2.5, 0.625 (hand values).
    let data = write(
        dir.path(),
        "bolus.csv",
        "ID,TIME,DV,AMT,EVID\n1,0,.,100,1\n1,1,7.0710678118654755,.,0\n1,2,5,.,0\n1,4,2.5,.,0\n1,8,0.625,.,0\n",
    );
    let csv = dir.path().join("out.csv");
    let out = pk(&["nca", &data, "--route", "iv-bolus", "--csv", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(&csv).unwrap();
    // CMAX: the first sample; TMAX 1 h; C0 back-extrapolated = 7.0710678·(7.0710678/5) = 10.
    assert!(table.contains("1,0,CMAX,7.0710678118654755,ng/mL\n"), "{table}");
    assert!(table.contains("1,0,TMAX,1,h\n"), "{table}");
    let c0: f64 = table
        .lines()
        .find_map(|l| l.strip_prefix("1,0,C0,"))
        .and_then(|l| l.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((c0 - 10.0).abs() < 1e-9, "{c0}");
}

#[test]
fn cli_tau_reports_clftau_in_l_per_h() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let out = pk(&[
        "nca",
        "fixtures/nca_winnonlin/theoph_nonmem.csv",
        "--conc-unit",
        "mg/L",
        "--tau",
        "24",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(&csv).unwrap();
    let value = |id: &str, code: &str| -> f64 {
        let prefix = format!("{id},0,{code},");
        let line = table.lines().find(|l| l.starts_with(&prefix)).unwrap();
        assert!(
            line.ends_with(if code == "CLFTAU" { ",L/h" } else { ",mg/L*h" }),
            "{line}"
        );
        line[prefix.len()..].split(',').next().unwrap().parse().unwrap()
    };
    // 320 mg over AUC0–24 (mg/L·h) for every subject: CLss/F = dose/AUCτ in L/h.
    for id in ["1", "6", "12"] {
        let (cl, auc) = (value(id, "CLFTAU"), value(id, "AUCTAU"));
        assert!((cl * auc / 320.0 - 1.0).abs() < 1e-12, "subject {id}: {cl} · {auc}");
    }
    assert!(!table.contains(",CLTAU,"), "CLTAU is for IV doses");
}
