//! `pk bootstrap` (case bootstrap of a population fit): the interval
//! functions against scipy, the resampling streams and strata, the status of a
//! sample, and end to end: shards merged equal the unsharded run byte for
//! byte, with and without strata, and `--merge` refuses what is not one run.

use pk::data::{read_dataset, ReadOptions};
use pk::model::Model;
use pk::population::bootstrap::{
    acceleration, at_bound, bca_interval, bca_levels, bias_correction, draw_below, normal_quantile,
    percentile_interval, resample, Bootstrap, Shard, Status, Strata,
};
use pk::population::estimation::{estimate, EstimationOptions, Parameters, PopValues, PopulationData};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::process::{Command, Output};

fn pk(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn root(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

// ---------------------------------------------------------------- intervals

/// Reference: scipy 1.17.1, `scipy.special.ndtri`, printed with repr.
#[test]
fn normal_quantile_matches_scipy_ndtri() {
    let table = [
        (1e-10, -6.361340902404056),
        (0.001, -3.090232306167813),
        (0.02425, -1.972961051311885),
        (0.05, -1.6448536269514729),
        (0.3, -0.5244005127080409),
        (0.5, 0.0),
        (0.6, 0.2533471031357997),
        (0.7, 0.5244005127080407),
        (0.975, 1.959963984540054),
        (0.999999, 4.753424308817087),
    ];
    for (p, z) in table {
        let got = normal_quantile(p);
        assert!(
            (got - z).abs() <= 1e-14 * z.abs().max(1.0),
            "Φ⁻¹({p}) = {got}, scipy {z}"
        );
    }
    assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    assert_eq!(normal_quantile(1.0), f64::INFINITY);
    assert!(normal_quantile(1.5).is_nan());
}

/// The data and the 40 bootstrap means that scipy drew: Python 3, numpy,
/// scipy 1.17.1:
/// ```text
/// data = np.array([0.8, 1.3, 0.2, 2.9, 0.5, 4.1, 1.1, 0.9, 0.35, 6.2, 1.7, 0.6, 2.2, 0.15, 1.0])
/// res = stats.bootstrap((data,), np.mean, n_resamples=40, method='percentile',
///                       rng=np.random.default_rng(20240607), confidence_level=0.9)
/// res.bootstrap_distribution
/// stats.bootstrap((data,), np.mean, n_resamples=0, bootstrap_result=res,
///                 method='BCa' | 'percentile', confidence_level=0.9 | 0.95).confidence_interval
/// scipy.stats._resampling._bca_interval(..., alpha=0.05, ...)  # α₁, α₂ and a at 90%
/// ```
const DATA: [f64; 15] = [
    0.8, 1.3, 0.2, 2.9, 0.5, 4.1, 1.1, 0.9, 0.35, 6.2, 1.7, 0.6, 2.2, 0.15, 1.0,
];
const MEANS: [f64; 40] = [
    2.503333333333333,
    1.2166666666666666,
    0.8266666666666668,
    1.6066666666666667,
    2.4000000000000004,
    0.8,
    1.6033333333333333,
    1.71,
    1.3399999999999999,
    2.1966666666666668,
    2.1533333333333333,
    2.213333333333333,
    1.09,
    1.113333333333333,
    1.63,
    1.9633333333333332,
    1.72,
    2.1066666666666665,
    1.23,
    1.62,
    2.033333333333333,
    1.78,
    1.2433333333333332,
    1.12,
    1.3433333333333333,
    1.1833333333333333,
    1.0000000000000002,
    1.88,
    1.2100000000000002,
    1.7699999999999998,
    1.9599999999999997,
    2.1766666666666667,
    1.37,
    1.7166666666666663,
    2.0933333333333333,
    1.9266666666666665,
    2.0066666666666664,
    1.6066666666666665,
    2.6300000000000003,
    1.51,
];

/// The jackknife means of `DATA` (leave one out).
fn jackknife_means() -> Vec<f64> {
    (0..DATA.len())
        .map(|i| {
            let rest: Vec<f64> = DATA
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, x)| *x)
                .collect();
            rest.iter().sum::<f64>() / rest.len() as f64
        })
        .collect()
}

#[test]
fn percentile_and_bca_intervals_match_scipy_bootstrap() {
    let original = DATA.iter().sum::<f64>() / DATA.len() as f64;
    let jack = jackknife_means();
    let a = acceleration(&jack).unwrap();
    assert!(close(a, 0.07085136231152704, 1e-12), "a = {a}");
    let z0 = bias_correction(&MEANS, original).unwrap();
    let (a1, a2) = bca_levels(z0, a, 0.90).unwrap();
    assert!(close(a1, 0.02055900623228432, 1e-12), "α₁ = {a1}");
    assert!(close(a2, 0.8739192939510775, 1e-12), "α₂ = {a2}");
    let cases = [
        (
            0.90,
            (0.9913333333333334, 2.405166666666667),
            (0.8213813664815759, 2.178323715948507),
        ),
        (
            0.95,
            (0.8260000000000002, 2.5064999999999995),
            (0.8117401697150766, 2.322394303601347),
        ),
    ];
    for (level, pct, bca) in cases {
        let p = percentile_interval(&MEANS, level).unwrap();
        let b = bca_interval(&MEANS, original, &jack, level).unwrap();
        assert!(
            close(p.0, pct.0, 1e-12) && close(p.1, pct.1, 1e-12),
            "{level}: percentile {p:?}, scipy {pct:?}"
        );
        assert!(
            close(b.0, bca.0, 1e-12) && close(b.1, bca.1, 1e-12),
            "{level}: BCa {b:?}, scipy {bca:?}"
        );
    }
}

#[test]
fn interval_pieces_by_hand() {
    // Type 7: h = (n−1)p; 1..=11 at 0.05 and 0.95 gives 1.5 and 10.5 (numpy.percentile agrees).
    let v: Vec<f64> = (1..=11).map(f64::from).collect();
    assert_eq!(percentile_interval(&v, 0.9), Some((1.5, 10.5)));
    // Ties count half: below 3 are 2, at or below 4 of 5: (2 + 4)/10 = 0.6; Φ⁻¹(0.6) from scipy.
    let z0 = bias_correction(&[1.0, 2.0, 3.0, 3.0, 5.0], 3.0).unwrap();
    assert!((z0 - 0.2533471031357997).abs() < 1e-15, "{z0}");
    // Jackknife 1, 2, 4: mean 7/3, deviations 4/3, 1/3, −5/3; Σd² = 14/3, Σd³ = −20/9.
    let a = acceleration(&[1.0, 2.0, 4.0]).unwrap();
    let by_hand = (-20.0 / 9.0) / (6.0 * (14.0f64 / 3.0).powf(1.5));
    assert!((a - by_hand).abs() < 1e-15, "{a} vs {by_hand}");
    // Every replicate above the estimate: z₀ = −∞, no BCa interval.
    assert_eq!(bca_interval(&[2.0, 3.0], 1.0, &[1.0, 2.0, 4.0], 0.95), None);
    assert_eq!(acceleration(&[1.0, 1.0, 1.0]), None);
    assert_eq!(percentile_interval(&[], 0.95), None);
}

// ---------------------------------------------------------------- resampling

#[test]
fn shards_partition_the_samples() {
    let total = 23;
    let mut all: Vec<usize> = (1..=4)
        .flat_map(|i| Shard { index: i, count: 4 }.samples(total))
        .collect();
    all.sort();
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
    assert_eq!(Shard::parse("2/3").unwrap().samples(8), vec![2, 5, 8]);
    assert!(Shard::parse("2/3").unwrap().runs(5) && !Shard::parse("2/3").unwrap().runs(6));
    for bad in ["0/2", "3/2", "1/0", "x", "1/2/3", "-1/2", "1/"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn draws_are_uniform_and_below_the_bound() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut counts = [0usize; 7];
    for _ in 0..70_000 {
        counts[draw_below(&mut rng, 7) as usize] += 1;
    }
    // Each count is Binomial(70000, 1/7): mean 10000, SD 92.6; within 5 SD.
    for c in counts {
        assert!((c as f64 - 10_000.0).abs() < 463.0, "{counts:?}");
    }
    assert_eq!(draw_below(&mut rng, 1), 0);
}

/// Replicate r's subjects are the high words of next_u64·n on stream r of
/// ChaCha8 seeded by the seed (the rejection of Lemire's method, a low word
/// below 2⁶⁴ mod n, is checked not to occur here), whatever else was drawn.
#[test]
fn a_replicate_draws_from_its_own_stream() {
    let n = 59u64;
    let strata = Strata::none(n as usize);
    let seed = 7;
    for r in [1u64, 2, 5, 200] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(r);
        let expected: Vec<usize> = (0..n)
            .map(|_| {
                let m = u128::from(rng.next_u64()) * u128::from(n);
                assert!((m as u64) >= n.wrapping_neg() % n);
                (m >> 64) as usize
            })
            .collect();
        assert_eq!(resample(seed, r, &strata), expected, "replicate {r}");
    }
    // Order of evaluation does not matter: replicate 5 alone equals replicate 5 after others.
    let alone = resample(seed, 5, &strata);
    let after: Vec<Vec<usize>> = (1..=5).rev().map(|r| resample(seed, r, &strata)).collect();
    assert_eq!(after[0], alone);
    assert_ne!(resample(seed, 4, &strata), alone);
    assert_ne!(resample(seed + 1, 5, &strata), alone);
}

/// pheno with a column LOW = 1 where APGR < 5 (10 subjects) and a time-varying column.
fn pheno_with_strata(dir: &Path) -> String {
    let text = std::fs::read_to_string(root("fixtures/pheno/pheno.csv")).unwrap();
    let mut out = String::new();
    for (k, line) in text.lines().enumerate() {
        if k == 0 {
            out.push_str(&format!("{line},LOW,VARY\n"));
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let low = (f[4].parse::<f64>().unwrap() < 5.0) as u8;
        out.push_str(&format!("{line},{low},{}\n", k % 2));
    }
    let path = dir.join("pheno_strata.csv");
    std::fs::write(&path, out).unwrap();
    path.to_string_lossy().to_string()
}

#[test]
fn strata_keep_their_sizes_and_members() {
    let dir = tempfile::tempdir().unwrap();
    let data = read_dataset(pheno_with_strata(dir.path()), &ReadOptions::default()).unwrap();
    let strata = Strata::by_column(&data, "low").unwrap();
    assert_eq!(strata.labels, vec!["0", "1"]);
    assert_eq!(strata.members[0].len(), 49);
    assert_eq!(strata.members[1].len(), 10);
    let mut drawn_low = [0usize; 10];
    for r in 1..=200 {
        let s = resample(3, r, &strata);
        assert_eq!(s.len(), 59);
        for (i, &j) in s.iter().enumerate() {
            assert_eq!(
                strata.of_subject[i], strata.of_subject[j],
                "replicate {r}, position {i}"
            );
        }
        for &j in &s {
            if let Some(k) = strata.members[1].iter().position(|&m| m == j) {
                drawn_low[k] += 1;
            }
        }
    }
    // Each of the 10 low-APGR subjects is drawn (10 draws × 200 replicates, p = 1/10): about 200 times.
    assert!(drawn_low.iter().all(|&c| c > 120 && c < 280), "{drawn_low:?}");
    let e = Strata::by_column(&data, "NOPE").unwrap_err().to_string();
    assert!(
        e.contains("--stratify NOPE") && e.contains("has no such column") && e.contains("LOW"),
        "{e}"
    );
    let e = Strata::by_column(&data, "VARY").unwrap_err().to_string();
    assert!(e.contains("VARY varies within subject 1"), "{e}");
}

// ---------------------------------------------------------------- samples

fn pheno() -> (Model, PopulationData) {
    let model = Model::load(&root("models/pheno.pk")).unwrap();
    let data = read_dataset(root("fixtures/pheno/pheno.csv"), &ReadOptions::default()).unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    (model, pop)
}

#[test]
fn at_bound_is_relative_to_the_original_distance() {
    let (model, _) = pheno();
    let params = Parameters::of(&model);
    let original = PopValues::initial(&model);
    assert_eq!(at_bound(&model, &params, &original, &original), None);
    let mut v = original.clone();
    v.theta[0] = original.theta[0] * 1e-3; // distance to 0: 1e-3 of the original's
    assert_eq!(at_bound(&model, &params, &original, &v).as_deref(), Some("PTVCL"));
    v.theta[0] = original.theta[0] * 2e-3;
    assert_eq!(at_bound(&model, &params, &original, &v), None);
    let mut v = original.clone();
    v.theta[2] = -0.99 + 1e-4; // APGR_V: bound −0.99, original 0.1 (distance 1.09)
    assert_eq!(at_bound(&model, &params, &original, &v).as_deref(), Some("APGR_V"));
    let mut v = original.clone();
    v.omega[(1, 1)] = original.omega[(1, 1)] * 1e-4;
    assert_eq!(
        at_bound(&model, &params, &original, &v).as_deref(),
        Some("OMEGA(eta_v)")
    );
}

#[test]
fn samples_report_not_converged_and_failed() {
    let (model, pop) = pheno();
    let options = EstimationOptions::default();
    let fit = estimate(&model, &pop, &PopValues::initial(&model), &options).unwrap();
    assert!(fit.converged);
    // One outer iteration from the original estimates cannot converge on a resample.
    let short = EstimationOptions {
        max_iterations: 1,
        ..options
    };
    let boot = Bootstrap::new(&model, &pop, &fit.values, &short);
    let s = boot.replicate(11, 1, &Strata::none(59));
    assert_eq!(s.status, Status::NotConverged, "{s:?}");
    assert_eq!(s.estimates.len(), 6);
    assert!(!s.message.is_empty());
    // A start with Ω not positive definite fails, with the error kept.
    let mut bad = fit.values.clone();
    bad.omega[(0, 0)] = -1.0;
    let boot = Bootstrap::new(&model, &pop, &bad, &options);
    let s = boot.jackknife(3);
    assert_eq!(s.status, Status::Failed);
    assert!(s.message.contains("positive definite"), "{}", s.message);
    assert!(s.ofv.is_none() && s.estimates.is_empty());
    assert_eq!(s.subjects, vec![2]);
    // The converged fit's own sample.
    let boot = Bootstrap::new(&model, &pop, &fit.values, &options);
    let o = boot.original_sample(&fit);
    assert_eq!((o.status, o.ofv), (Status::Ok, Some(fit.evaluation.ofv)));
    assert_eq!(boot.names()[3], "OMEGA(eta_cl)");
}

// ---------------------------------------------------------------- end to end

/// The rows of a samples file (after the `#` lines and the header) as fields.
fn rows(text: &str) -> Vec<Vec<String>> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn pheno_shards_merge_into_the_unsharded_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, model) = (root("fixtures/pheno/pheno.csv"), root("models/pheno.pk"));
    let run_seed = |seed: &str, extra: &[&str]| {
        let mut a = vec!["bootstrap", &data, "--model", &model, "--samples", "8", "--seed", seed];
        a.extend_from_slice(extra);
        pk(d, &a)
    };
    let run = |extra: &[&str]| run_seed("7", extra);
    let whole = ok(&run(&["--out", "all.csv", "--json", "all.json"]));
    let shard1 = run(&["--shard", "1/2", "--out", "s1.csv"]);
    assert!(
        String::from_utf8_lossy(&shard1.stderr).contains("bootstrap: 100%"),
        "a progress line per tenth"
    );
    ok(&shard1);
    ok(&run(&["--shard", "2/2", "--out", "s2.csv"]));
    let merged = ok(&pk(
        d,
        &["bootstrap", "--merge", "s2.csv", "s1.csv", "--out", "merged.csv"],
    ));
    assert_eq!(read(d, "all.csv"), read(d, "merged.csv"));
    assert_eq!(whole, merged, "the printed intervals");

    // The file: the original, 8 replicates, 59 jackknife samples; shards hold their own.
    let all = rows(&read(d, "all.csv"));
    assert_eq!(all.len(), 1 + 8 + 59);
    assert_eq!(
        (all[0][0].as_str(), all[1][0].as_str(), all[9][0].as_str()),
        ("original", "bootstrap", "jackknife")
    );
    let s1 = rows(&read(d, "s1.csv"));
    let replicates: Vec<&str> = s1
        .iter()
        .filter(|r| r[0] == "bootstrap")
        .map(|r| r[1].as_str())
        .collect();
    assert_eq!(replicates, ["1", "3", "5", "7"]);
    assert_eq!(s1.iter().filter(|r| r[0] == "jackknife").count(), 30);
    // A replicate's subjects are its stream's, in the shard as in the whole run.
    let strata = Strata::none(59);
    for r in all.iter().filter(|r| r[0] == "bootstrap") {
        let k: u64 = r[1].parse().unwrap();
        let ids: Vec<String> = resample(7, k, &strata).iter().map(|i| (i + 1).to_string()).collect();
        assert_eq!(r[10], ids.join(" "), "replicate {k}");
    }

    // The report: every parameter with both intervals, around the estimate.
    assert!(whole.contains("Replicates: ok "), "{whole}");
    assert!(whole.contains("95% percentile") && whole.contains("95% BCa"), "{whole}");
    let doc: serde_json::Value = serde_json::from_str(&read(d, "all.json")).unwrap();
    let params = doc["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 6);
    for p in params {
        let est = p["estimate"].as_f64().unwrap();
        let (lo, hi) = (
            p["percentile"][0].as_f64().unwrap(),
            p["percentile"][1].as_f64().unwrap(),
        );
        assert!(
            lo < hi && p["bca"][0].as_f64().unwrap() < p["bca"][1].as_f64().unwrap(),
            "{p}"
        );
        assert!(p["se"].as_f64().unwrap() > 0.0);
        assert!(lo < est * 1.5 && hi > est / 1.5, "{p}");
    }
    assert_eq!(doc["replicates"]["total"], 8);
    assert_eq!(doc["jackknife"]["total"], 59);
    let statuses = doc["replicates"]["status"].as_object().unwrap();
    assert_eq!(statuses.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 8);

    // --merge refuses what is not exactly one run.
    let err = |args: &[&str]| failure(&pk(d, args));
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv"]),
        "error: --merge: shard 2/2 is missing (give the files of all 2 shards)"
    );
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv", "s1.csv", "s2.csv"]),
        "error: --merge: shard 1/2 is given twice (s1.csv, s1.csv)"
    );
    ok(&run_seed("8", &["--shard", "2/2", "--out", "other.csv"]));
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv", "other.csv"]),
        "error: --merge: other.csv is not a shard of the run of s1.csv: seed 8 against 7"
    );
    let s2 = read(d, "s2.csv");
    let cut: String = s2
        .lines()
        .filter(|l| !l.starts_with("bootstrap,4,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("cut.csv"), cut).unwrap();
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv", "cut.csv"]),
        "error: --merge: 1 replicates missing (4): a shard's file is incomplete"
    );
    let line4 = s2.lines().find(|l| l.starts_with("bootstrap,4,")).unwrap();
    std::fs::write(d.join("dup.csv"), format!("{s2}{line4}\n")).unwrap();
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv", "dup.csv"]),
        "error: --merge: replicate 4 is in dup.csv twice"
    );
    let moved = s2.replace("bootstrap,4,", "bootstrap,3,");
    std::fs::write(d.join("moved.csv"), moved).unwrap();
    assert_eq!(
        err(&["bootstrap", "--merge", "s1.csv", "moved.csv"]),
        "error: --merge: moved.csv is shard 2/2 but has replicate 3"
    );
    // A complete file alone re-prints the intervals, here at 90%.
    let again = ok(&pk(d, &["bootstrap", "--merge", "all.csv", "--ci", "90"]));
    assert!(again.contains("90% percentile") && again.contains("90% BCa"), "{again}");
    // Inputs are never written over.
    assert!(err(&["bootstrap", "--merge", "s1.csv", "s2.csv", "--out", "s1.csv"]).contains("it is an input file"));
}

#[test]
fn stratified_shards_merge_into_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = pheno_with_strata(d);
    let run = |extra: &[&str]| {
        let mut a = vec![
            "bootstrap",
            &data,
            "--model",
            "pheno",
            "--samples",
            "6",
            "--seed",
            "3",
            "--stratify",
            "LOW",
            "--no-bca",
            "--drop",
            "VARY",
        ];
        a.extend_from_slice(extra);
        pk(d, &a)
    };
    let whole = ok(&run(&["--out", "all.csv"]));
    for i in 1..=3 {
        ok(&run(&["--shard", &format!("{i}/3"), "--out", &format!("s{i}.csv")]));
    }
    let merged = ok(&pk(
        d,
        &[
            "bootstrap",
            "--merge",
            "s1.csv",
            "s2.csv",
            "s3.csv",
            "--out",
            "merged.csv",
        ],
    ));
    assert_eq!(read(d, "all.csv"), read(d, "merged.csv"));
    assert_eq!(whole, merged);
    assert!(whole.contains("stratified: LOW (2 strata)"), "{whole}");
    assert!(whole.contains("No jackknife (--no-bca)"), "{whole}");
    // Every replicate has 10 subjects with APGR < 5 (IDs from the data), as the data.
    let text = std::fs::read_to_string(&data).unwrap();
    let low: std::collections::BTreeSet<String> = text
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(8) == Some("1"))
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(low.len(), 10);
    let all = rows(&read(d, "all.csv"));
    assert_eq!(all.len(), 7);
    for r in all.iter().filter(|r| r[0] == "bootstrap") {
        let drawn: Vec<&str> = r[10].split(' ').collect();
        assert_eq!(drawn.len(), 59);
        assert_eq!(
            drawn.iter().filter(|id| low.contains(**id)).count(),
            10,
            "replicate {}",
            r[1]
        );
    }
}

/// The samples file is the same bits on 1 and 3 threads (subjects are summed
/// in a fixed order; replicates run in parallel).
#[test]
fn thread_count_does_not_change_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = root("fixtures/pheno/pheno.csv");
    for threads in ["1", "3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pk"))
            .args([
                "bootstrap",
                &data,
                "--model",
                "pheno",
                "--samples",
                "4",
                "--seed",
                "5",
                "--no-bca",
            ])
            .args(["--out", &format!("t{threads}.csv")])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(d)
            .output()
            .unwrap();
        ok(&out);
    }
    assert_eq!(read(d, "t1.csv"), read(d, "t3.csv"));
}

#[test]
fn control_stream_bootstrap_uses_its_model_and_method() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = pk(
        d,
        &[
            "bootstrap",
            &root("fixtures/pheno/pheno_real.mod"),
            "--samples",
            "3",
            "--no-bca",
            "--include",
            "ok,at_bound,not_converged",
            "--out",
            "cs.csv",
        ],
    );
    let text = ok(&out);
    assert!(text.contains("FOCE-I") && text.contains("Intervals from the"), "{text}");
    let file = read(d, "cs.csv");
    assert!(
        file.contains("# method: FOCE-I\n") && file.contains("# seed: 1\n"),
        "{file}"
    );
    let header = file.lines().find(|l| l.starts_with("sample,")).unwrap();
    assert!(header.starts_with("sample,replicate,status,ofv,"), "{header}");
    assert!(header.ends_with(",subjects,message"), "{header}");
    assert_eq!(rows(&file).len(), 4);
}

#[test]
fn bad_bootstrap_arguments_get_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = root("fixtures/pheno/pheno.csv");
    let control = root("fixtures/pheno/pheno_real.mod");
    let cases: [(Vec<&str>, String); 8] = [
        (
            vec!["bootstrap", &data],
            format!("error: {data}: give the model with --model FILE (or pass a NONMEM control stream, .ctl or .mod)"),
        ),
        (
            vec!["bootstrap", &control, "--model", "pheno"],
            format!("error: {control} is a NONMEM control stream: it carries its model, --model is for data files"),
        ),
        (
            vec![
                "bootstrap",
                &data,
                "--model",
                "pheno",
                "--shard",
                "3/2",
                "--out",
                "x.csv",
            ],
            "error: --shard 3/2: expected i/K with 1 ≤ i ≤ K, e.g. 2/8".into(),
        ),
        (
            vec!["bootstrap", &data, "--model", "pheno", "--shard", "1/2"],
            "error: --shard needs --out FILE: a shard's samples are joined by pk bootstrap --merge".into(),
        ),
        (
            vec!["bootstrap", &data, "--model", "pheno", "--ci", "120"],
            "error: --ci 120: give the confidence level in percent, between 0 and 100 (e.g. 95)".into(),
        ),
        (
            vec!["bootstrap", &data, "--model", "pheno", "--include", "ok,failed"],
            "error: --include failed: a failed sample has no estimates; include ok, at_bound or not_converged".into(),
        ),
        (
            vec!["bootstrap", &data, "--model", "pheno", "--stratify", "NOPE"],
            format!(
                "error: --stratify NOPE: {data} has no such column (columns other than the NONMEM items: WGT, APGR)"
            ),
        ),
        (
            vec!["bootstrap", &data, "--model", "pheno", "--samples", "0"],
            "error: --samples 0: give between 1 and 1000000 replicates".into(),
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(failure(&pk(d, &args)), expected, "{args:?}");
    }
    let not_a_file = pk(d, &["bootstrap", "--merge", &data]);
    assert!(failure(&not_a_file).contains("not a samples file of pk bootstrap --out"));
}

/// The acceptance run: 200 replicates of pheno with the jackknife (BCa),
/// about 260 fits; see README (`pk bootstrap`) and BENCHMARKS.md.
#[test]
#[ignore = "long: 200 replicates and 59 jackknife refits of pheno (about 20 s on 2 cores)"]
fn pheno_200_replicates_with_bca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, model) = (root("fixtures/pheno/pheno.csv"), root("models/pheno.pk"));
    let started = std::time::Instant::now();
    let text = ok(&pk(
        d,
        &[
            "bootstrap",
            &data,
            "--model",
            &model,
            "--samples",
            "200",
            "--seed",
            "2024",
            "--json",
            "b.json",
        ],
    ));
    eprintln!(
        "{text}200 replicates + 59 jackknife fits: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let doc: serde_json::Value = serde_json::from_str(&read(d, "b.json")).unwrap();
    assert_eq!(doc["replicates"]["total"], 200);
    assert!(
        doc["replicates"]["used"].as_u64().unwrap() >= 180,
        "{}",
        doc["replicates"]
    );
    for p in doc["parameters"].as_array().unwrap() {
        let est = p["estimate"].as_f64().unwrap();
        for key in ["percentile", "bca"] {
            let (lo, hi) = (p[key][0].as_f64().unwrap(), p[key][1].as_f64().unwrap());
            assert!(
                lo < est && est < hi,
                "{key} of {}: [{lo}, {hi}] against {est}",
                p["name"]
            );
        }
    }
}
