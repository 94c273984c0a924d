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

/// The WinNonlin reference column of each parameter checked, by CDISC code.
const WINNONLIN: [(&str, &str); 8] = [
    ("CMAX", "Cmax"),
    ("TMAX", "Tmax"),
    ("AUCLST", "AUClast"),
    ("AUCIFO", "AUCINF_obs"),
    ("CLFO", "Cl_F_obs"),
    ("LAMZHL", "HL_Lambda_z"),
    ("LAMZNPT", "No_points_lambda_z"),
    ("TLAG", "Tlag"),
];

/// Independent statistics (not the library's code path): sums of squares about
/// zero, the geometric mean as a power of the product, the median by counting.
fn reference_stats(x: &[f64]) -> [f64; 9] {
    let n = x.len() as f64;
    let sum: f64 = x.iter().sum();
    let mean = sum / n;
    let sumsq: f64 = x.iter().map(|v| v * v).sum();
    let sd = ((sumsq - n * mean * mean) / (n - 1.0)).max(0.0).sqrt();
    let pos: Vec<f64> = x.iter().copied().filter(|v| *v > 0.0).collect();
    let (geomean, geocv) = if pos.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        let m = pos.len() as f64;
        let geomean = pos.iter().product::<f64>().powf(1.0 / m);
        let lg: Vec<f64> = pos.iter().map(|v| (v / geomean).ln()).collect();
        let s2 = lg.iter().map(|d| d * d).sum::<f64>() / (m - 1.0);
        (geomean, (s2.exp() - 1.0).sqrt() * 100.0)
    };
    let mut sorted = x.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = 0.5 * (sorted[x.len() / 2 - 1] + sorted[x.len() / 2]); // 12 values: even
    let cv = if mean == 0.0 { f64::NAN } else { sd / mean * 100.0 };
    [
        mean,
        sd,
        cv,
        geomean,
        geocv,
        median,
        sorted[0],
        sorted[x.len() - 1],
        pos.len() as f64,
    ]
}

#[test]
fn cli_summary_statistics_equal_an_independent_calculation_on_winnonlin_theoph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.csv");
    let out = pk(&[
        "nca",
        "fixtures/nca_winnonlin/theoph_nonmem.csv",
        "--conc-unit",
        "mg/L",
        "--rule",
        "linear",
        "--summary",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("parameter,unit,n,mean,sd,cv_pct,geomean,geocv_pct,median,min,max,n_geo")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // The reference: Phoenix WinNonlin's per-subject values (linear rule), 12 subjects.
    let mut reader =
        csv::Reader::from_path("fixtures/nca_winnonlin/Final_Parameters_Pivoted_Theoph_Linear.csv").unwrap();
    let headers = reader.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    for (code, column) in WINNONLIN {
        let k = headers.iter().position(|h| h == column).unwrap();
        let x: Vec<f64> = records.iter().map(|r| r[k].parse().unwrap()).collect();
        let want = reference_stats(&x);
        let row = rows
            .iter()
            .find(|r| r[0] == code)
            .unwrap_or_else(|| panic!("no row {code}"));
        assert_eq!(row[2], "12", "{code}: N");
        let got: Vec<f64> = [3, 4, 5, 6, 7, 8, 9, 10, 11]
            .iter()
            .map(|&i| {
                if row[i] == "." {
                    f64::NAN
                } else {
                    row[i].parse().unwrap()
                }
            })
            .collect();
        for (i, name) in [
            "mean",
            "sd",
            "cv_pct",
            "geomean",
            "geocv_pct",
            "median",
            "min",
            "max",
            "n_geo",
        ]
        .iter()
        .enumerate()
        {
            let (g, w) = (got[i], want[i]);
            let ok = if w.is_nan() {
                g.is_nan()
            } else if w == 0.0 {
                g.abs() < 1e-12
            } else {
                ((g - w) / w).abs() < 1e-7
            };
            assert!(ok, "{code} {name}: pk {g}, independent {w}");
        }
    }
    // By hand: the 12 Tmax values sorted are 0.63, 0.98, 1, 1.02, 1.07, 1.12 | 1.15, 1.92,
    // 2.02, 3.48, 3.52, 3.55: median (1.12 + 1.15)/2 = 1.135; Cmax mean 105.11/12 = 8.759167.
    let field = |code: &str, i: usize| -> f64 { rows.iter().find(|r| r[0] == code).unwrap()[i].parse().unwrap() };
    assert!((field("TMAX", 8) - 1.135).abs() < 1e-12);
    assert!((field("CMAX", 3) - 105.11 / 12.0).abs() < 1e-12);
    // Tlag is 0 for every subject: no geometric statistics, and the text says why.
    let tlag = rows.iter().find(|r| r[0] == "TLAG").unwrap();
    assert_eq!((tlag[6], tlag[7], tlag[11]), (".", ".", "0"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Descriptive statistics across subjects"), "{stdout}");
    assert!(
        stdout.contains("note: TLAG: geometric mean and CV% over 0 of 12 values"),
        "{stdout}"
    );
}

#[test]
fn cli_plots_one_lambda_z_svg_per_subject() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = pk(&[
        "nca",
        "fixtures/nca_winnonlin/theoph_nonmem.csv",
        "--conc-unit",
        "mg/L",
        "--rule",
        "linear",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("12 λz plots written to"), "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Each plot as SVG and as PNG.
    assert_eq!(names.len(), 24, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.starts_with("lambda_z_") && (n.ends_with(".svg") || n.ends_with(".png"))));
    assert_eq!(names.iter().filter(|n| n.ends_with(".png")).count(), 12);
    let svg = std::fs::read_to_string(plots.join("lambda_z_1.svg")).unwrap();
    // WinNonlin, subject 1: Lambda_z 0.048456997, Rsq_adjusted 0.999999459,
    // HL_Lambda_z 14.30437757, 3 points from 9.05 to 24.37 h.
    assert!(
        svg.contains("Subject 1: λz = 0.04846 1/h, R²adj = 0.999999, t½ = 14.304 h (3 points, 9.05–24.37 h)"),
        "{svg}"
    );
    // All 11 samples drawn; the 3 used for λz highlighted (plus the legend's mark).
    assert_eq!(
        svg.matches(r##"r="4" opacity="1" fill="none" stroke="#000000""##)
            .count(),
        11 + 1
    );
    assert_eq!(svg.matches(r##"fill="#D62728""##).count(), 3 + 1);
    assert!(svg.contains("used for λz (3 points)") && svg.contains("ln C = "));
    // The parent of the plot directory must exist: refused before any work.
    let missing = dir.path().join("no/such/plots");
    let out = pk(&[
        "nca",
        "fixtures/nca_winnonlin/theoph_nonmem.csv",
        "--plots",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!dir.path().join("no").exists());
}

#[test]
fn cli_summary_and_plots_keep_dosing_intervals_apart() {
    let dir = tempfile::tempdir().unwrap();
    // Two subjects, doses at 0 and 12 h (ADDL 1, II 12). Subject 1 peaks at 8 then 10,
    // subject 2 at 6 then 8: CMAX (dose 1) mean (8 + 6)/2 = 7, CMAX (dose 2) mean 9.
    let data = write(
        dir.path(),
        "md.csv",
        "ID,TIME,DV,AMT,EVID,ADDL,II\n1,0,.,100,1,1,12\n1,1,8,.,0,.,.\n1,4,4,.,0,.,.\n1,8,2,.,0,.,.\n\
         1,13,10,.,0,.,.\n1,16,5,.,0,.,.\n1,20,2.5,.,0,.,.\n1,24,1.25,.,0,.,.\n\
         2,0,.,100,1,1,12\n2,1,6,.,0,.,.\n2,4,3,.,0,.,.\n2,8,1.5,.,0,.,.\n\
         2,13,8,.,0,.,.\n2,16,4,.,0,.,.\n2,20,2,.,0,.,.\n2,24,1,.,0,.,.\n",
    );
    let (summary, plots) = (dir.path().join("s.csv"), dir.path().join("p"));
    let out = pk(&[
        "nca",
        &data,
        "--summary",
        summary.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("\nCMAX (dose 1),ng/mL,2,7,"), "{text}");
    assert!(text.contains("\nCMAX (dose 2),ng/mL,2,9,"), "{text}");
    for name in [
        "lambda_z_1_dose1.svg",
        "lambda_z_1_dose2.svg",
        "lambda_z_2_dose1.svg",
        "lambda_z_2_dose2.svg",
    ] {
        assert!(plots.join(name).exists(), "{name}");
    }
}
