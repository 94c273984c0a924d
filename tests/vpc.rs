//! `pk vpc` (issue 16 part 2) on nlmixr2's Infusion_2CPT and Bolus_2CPT
//! (simulated from a two-compartment model, fixtures/nlmixr2/SOURCE.md).
//!
//! The estimates are this engine's FOCE-I fits of `models/two_cmt_pop.pk`
//! (the model the data were simulated from) and `models/one_cmt_pop.pk`
//! (misspecified), written by `pk popfit --write-model` as model files whose
//! initial values are the estimates, as `pk vpc --model` takes them. The coverage numbers asserted are issue 16's acceptance bounds; the
//! measured ones are printed (and stated in the README's VPC section).

use pk::model::Model;
use pk::population::estimation::PopValues;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The leading columns issue 16 asks of `--csv`.
const HEADER: &str = "bin,x,p05_obs,p05_sim,p05_lo,p05_hi,p50_obs,p50_sim,p50_lo,p50_hi,p95_obs,p95_sim,p95_lo,p95_hi";

fn data_path(data: &str) -> String {
    format!("{ROOT}/fixtures/nlmixr2/{data}.csv")
}

/// Fits `model` (a file in models/) to `data` with FOCE-I by `pk popfit
/// --write-model`, the way a user makes the fitted model file `pk vpc` takes;
/// returns its path.
fn fitted_model(model: &str, data: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{model}_{data}.pk"));
    let json = dir.join(format!("{model}_{data}.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "popfit",
            &data_path(data),
            "--model",
            &format!("{ROOT}/models/{model}.pk"),
            "--drop",
            "SS,II",
            "--no-covariance",
            "--write-model",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{model} on {data}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The file written carries the estimates.
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let back = PopValues::initial(&Model::load(out.to_str().unwrap()).unwrap());
    for (a, b) in back.theta.iter().zip(doc["theta"].as_array().unwrap()) {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
    }
    eprintln!("{model} on {data}: OFV {:.3}, θ {:?}", doc["ofv"], back.theta);
    out
}

/// Runs `pk vpc` and returns its --csv output.
fn vpc(data: &str, model: &Path, extra: &[&str], threads: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("vpc.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pk"));
    cmd.args(["vpc", &data_path(data), "--model", model.to_str().unwrap()])
        .args(["--drop", "SS,II", "--n", "200", "--csv", csv.to_str().unwrap()])
        .args(extra);
    if !extra.contains(&"--seed") {
        cmd.args(["--seed", "1"]);
    }
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&csv).unwrap()
}

/// Per (bin x, percentile): whether the observed percentile is inside the
/// simulated interval, from the CSV.
fn inside(csv: &str) -> Vec<(f64, &'static str, bool)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let mut out = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let get = |n: &str| f[col(n)].parse::<f64>().unwrap();
        for p in ["p05", "p50", "p95"] {
            let o = get(&format!("{p}_obs"));
            out.push((
                get("x"),
                p,
                o >= get(&format!("{p}_lo")) && o <= get(&format!("{p}_hi")),
            ));
        }
    }
    out
}

fn share(v: &[(f64, &str, bool)]) -> f64 {
    v.iter().filter(|c| c.2).count() as f64 / v.len() as f64
}

/// The outside (bin x, percentile) pairs, for the messages.
fn outside(v: &[(f64, &'static str, bool)]) -> Vec<(f64, &'static str)> {
    v.iter().filter(|c| !c.2).map(|c| (c.0, c.1)).collect()
}

/// The number of outside pairs per percentile, for the messages.
fn outside_counts(v: &[(f64, &'static str, bool)]) -> [usize; 3] {
    ["p05", "p50", "p95"].map(|p| v.iter().filter(|c| !c.2 && c.1 == p).count())
}

/// The fitted models of one data set: (two-compartment, one-compartment).
fn fits(data: &str, dir: &Path) -> (PathBuf, PathBuf) {
    (
        fitted_model("two_cmt_pop", data, dir),
        fitted_model("one_cmt_pop", data, dir),
    )
}

/// Issue 16's acceptance: with the two-compartment estimates the observed
/// percentiles fall inside the simulated 95% intervals in ≥ 90% of (bin,
/// percentile) pairs, as a pcVPC (the design has four dose levels, so the
/// prediction-corrected VPC is the one to read) and as a VPC stratified by
/// DOSE; the one-compartment estimates fail both (< 80%). The plain VPC
/// pooling the doses and the VPC on time after dose are printed. Measured
/// (seed 1, 200 replicates; two-compartment / one-compartment): pcVPC
/// Infusion 97.7% / 37.9%, Bolus 96.6% / 38.5%; by DOSE 93.4% / 66.5% and
/// 92.1% / 65.2%; plain 88.5% / 51.7% and 93.7% / 52.9%; on TAD 90.5% /
/// 36.5% and 93.7% / 38.1%.
#[test]
fn two_compartment_fits_pass_and_one_compartment_fits_fail() {
    let dir = tempfile::tempdir().unwrap();
    for data in ["Infusion_2CPT", "Bolus_2CPT"] {
        let (two, one) = fits(data, dir.path());
        let asserted: [&[&str]; 2] = [&["--pred-corr"], &["--stratify", "DOSE"]];
        let printed: [&[&str]; 2] = [&[], &["--x", "tad"]];
        for (k, extra) in asserted.iter().chain(&printed).enumerate() {
            let good = inside(&vpc(data, &two, extra, None));
            let bad = inside(&vpc(data, &one, extra, None));
            let (g, b) = (share(&good), share(&bad));
            eprintln!(
                "{data} {extra:?}: two-compartment {:.1}% of {} inside, outside {:?}; \
                 one-compartment {:.1}% inside, outside (p05, p50, p95) {:?}",
                100.0 * g,
                good.len(),
                outside(&good),
                100.0 * b,
                outside_counts(&bad)
            );
            if k < asserted.len() {
                assert!(g >= 0.9, "{data} {extra:?}: {g}, outside {:?}", outside(&good));
            }
            assert!(b < 0.8, "{data} {extra:?}: the misfit shows too little: {b}");
        }
    }
}

/// The CSV's header is issue 16's, the same seed gives the same bytes on 1
/// and 2 threads, another seed other numbers; the plot and the replicates
/// are written.
#[test]
fn header_seed_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let two = fitted_model("two_cmt_pop", "Infusion_2CPT", dir.path());
    let plot = dir.path().join("vpc.svg");
    let reps = dir.path().join("reps.csv");
    let args = [
        "--plot",
        plot.to_str().unwrap(),
        "--replicates",
        reps.to_str().unwrap(),
        "--log-y",
    ];
    let a = vpc("Infusion_2CPT", &two, &args, Some("1"));
    let b = vpc("Infusion_2CPT", &two, &[], Some("2"));
    let c = vpc("Infusion_2CPT", &two, &["--seed", "12"], Some("2"));
    assert!(a.starts_with(&format!("{HEADER},")), "{}", a.lines().next().unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    // 58 nominal sampling times with 120 observations each: one bin each.
    assert_eq!(a.lines().count(), 59);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polygon"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    let reps = std::fs::read_to_string(&reps).unwrap();
    assert!(reps.starts_with("REP,ID,TIME,TAD,DV,PRED\n"));
    assert_eq!(reps.lines().count(), 1 + 200 * 6960);
    assert!(reps.lines().last().unwrap().starts_with("200,"));
}

/// Infusion_2CPT with an LLOQ of 30 µg/L (BLQ and LLOQ columns added here):
/// the observed 5th percentile is unknown where more than 5% are BLQ, the
/// BLQ fractions are in the CSV and the plot has the BLQ panel; with the
/// two-compartment estimates the observed fraction is inside the simulated
/// interval in ≥ 90% of the bins with any BLQ.
#[test]
fn censored_observations_and_blq_fractions() {
    let dir = tempfile::tempdir().unwrap();
    let two = fitted_model("two_cmt_pop", "Infusion_2CPT", dir.path());
    let text = std::fs::read_to_string(data_path("Infusion_2CPT")).unwrap();
    let mut out = String::new();
    for (k, line) in text.lines().enumerate() {
        if k == 0 {
            out.push_str(&format!("{line},BLQ,LLOQ\n"));
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let (dv, mdv): (f64, &str) = (f[2].parse().unwrap(), f[4]);
        let blq = mdv == "0" && dv < 30.0;
        out.push_str(&format!("{line},{},30\n", u8::from(blq)));
    }
    let data = dir.path().join("blq.csv");
    std::fs::write(&data, out).unwrap();
    let (csv, plot) = (dir.path().join("blq_vpc.csv"), dir.path().join("blq.svg"));
    let run = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args(["vpc", data.to_str().unwrap(), "--model", two.to_str().unwrap()])
        .args(["--drop", "SS,II", "--n", "200", "--seed", "3"])
        .args(["--csv", csv.to_str().unwrap(), "--plot", plot.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (mut with_blq, mut blq_inside, mut hidden) = (0, 0, 0);
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let n: f64 = f[col("n_obs")].parse().unwrap();
        let censored: f64 = f[col("n_censored")].parse().unwrap();
        let obs: f64 = f[col("blq_obs")].parse().unwrap();
        assert!((obs - censored / n).abs() < 1e-12, "{l}");
        if censored / n > 0.05 {
            assert_eq!(f[col("p05_obs")], "", "{l}");
            hidden += 1;
        }
        if censored > 0.0 {
            with_blq += 1;
            let (lo, hi): (f64, f64) = (f[col("blq_lo")].parse().unwrap(), f[col("blq_hi")].parse().unwrap());
            blq_inside += usize::from(obs >= lo && obs <= hi);
        }
    }
    eprintln!("BLQ: {blq_inside} of {with_blq} bins with BLQ inside; p05 hidden in {hidden}");
    assert!(with_blq >= 5 && hidden >= 1);
    assert!(blq_inside as f64 >= 0.9 * with_blq as f64);
    assert!(std::fs::read_to_string(&plot).unwrap().contains("fraction below LLOQ"));
}

/// Bad input: errors naming the column or the option, no panic, nothing written.
#[test]
fn bad_input_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let model = format!("{ROOT}/models/two_cmt_pop.pk");
    let cases: [(&[&str], &str); 5] = [
        (&["--stratify", "NOPE"], "NOPE"),
        (&["--bin-breaks", "4,2"], "--bin-breaks"),
        (&["--x", "dose"], "--x dose"),
        (&["--n", "1"], "--n 1"),
        (&["--inits-from", "run.ext"], "--inits-from"),
    ];
    for (extra, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_pk"))
            .args(["vpc", &data_path("Infusion_2CPT"), "--model", &model, "--drop", "SS,II"])
            .args(["--csv", csv.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(expected) && !err.contains("panicked"), "{extra:?}: {err}");
        assert!(!csv.exists());
    }
}

/// The README's clofarabine example: the pcVPC of the published Bonate 2004
/// model on the bundled phase 2 children (doses per m²), 500 replicates,
/// seed 1, time after dose: all 30 observed percentiles (10 bins) inside;
/// the plot as PNG.
#[test]
fn clofarabine_pcvpc_of_the_published_model() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, png) = (dir.path().join("vpc.csv"), dir.path().join("vpc.png"));
    let out = Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "vpc",
            &format!("{ROOT}/fixtures/clofarabine/clofarabine_phase2.csv"),
            "--model",
            &format!("{ROOT}/models/clofarabine_bonate2004.pk"),
            "--n",
            "500",
            "--seed",
            "1",
            "--pred-corr",
            "--x",
            "tad",
            "--csv",
            csv.to_str().unwrap(),
            "--plot",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "a PNG plot"
    );
    let v = inside(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(v.len(), 30, "10 bins × 3 percentiles");
    assert_eq!(share(&v), 1.0, "outside: {:?}", outside(&v));
}
