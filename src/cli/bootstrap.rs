//! `pk bootstrap`: non-parametric case bootstrap of a population fit, with
//! percentile and BCa intervals, sharding over machines and `--merge`.

use super::bootstrap_file::{merge, Row, SamplesFile, Settings};
use super::model_args::DataSelection;
use super::output::{refuse_input, write_text, Progress};
use super::population_input::{self, PopulationInput};
use clap::Args;
use pk::population::bootstrap::{summarise, Bootstrap, Kind, ParameterSummary, Sample, Shard, Status, Strata};
use pk::population::estimation::{estimate, EstimationOptions, Method};
use pk::{Error, Result};
use rayon::prelude::*;
use serde_json::{json, Value};

/// The most replicates of one run (each keeps its subjects' indices in memory).
const MAX_SAMPLES: usize = 1_000_000;

/// Arguments of `pk bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// NONMEM-style data file (with --model), or a NONMEM control stream (.ctl, .mod, .con).
    #[arg(required_unless_present = "merge")]
    data: Option<String>,
    /// Number of bootstrap replicates.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Seed: replicate r draws its subjects from stream r of ChaCha8 seeded by it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Resample within the strata of this column (constant within each subject).
    #[arg(long, value_name = "COLUMN")]
    stratify: Option<String>,
    /// Confidence level of the intervals, in percent.
    #[arg(long, default_value_t = 95.0)]
    ci: f64,
    /// Skip the jackknife (one refit per subject) and so the BCa intervals.
    #[arg(long)]
    no_bca: bool,
    /// Statuses of the replicates (and jackknife samples) that enter the
    /// intervals: ok, at_bound, not_converged (comma-separated; by default ok
    /// only, as PsN skips terminated and near-boundary runs).
    #[arg(long, value_delimiter = ',', default_value = "ok")]
    include: Vec<String>,
    /// Run only samples i, i+K, i+2K, … (replicates and jackknife samples alike); needs --out.
    #[arg(long, value_name = "i/K")]
    shard: Option<String>,
    /// Join the --out files of the shards of one run (all K of them) and print the intervals.
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with_all = [
        "data", "model", "samples", "seed", "stratify", "method", "max_iterations", "shard", "no_bca",
        "inits_from", "drop", "accept",
    ])]
    merge: Vec<String>,
    /// CSV with one row per sample: sample, replicate, status, ofv, every parameter, subjects, message.
    #[arg(long)]
    out: Option<String>,
    /// JSON with the settings, the shares of each status and the intervals.
    #[arg(long)]
    json: Option<String>,
    #[command(flatten)]
    fit: population_input::FitArgs,
}

/// Runs `pk bootstrap`.
pub fn run(args: BootstrapArgs) -> Result<()> {
    let level = confidence_level(args.ci)?;
    let include = included_statuses(&args.include)?;
    if !args.merge.is_empty() {
        return run_merge(&args, level, &include);
    }
    let data_path = args.data.clone().unwrap_or_default();
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    if shard != Shard::ALL && args.out.is_none() {
        return Err(Error::Argument(
            "--shard needs --out FILE: a shard's samples are joined by pk bootstrap --merge".into(),
        ));
    }
    if args.samples == 0 || args.samples > MAX_SAMPLES {
        return Err(Error::Argument(format!(
            "--samples {}: give between 1 and {MAX_SAMPLES} replicates",
            args.samples
        )));
    }
    let input = args.fit.load(&data_path)?;
    let inputs: Vec<&str> = input.inputs.iter().map(String::as_str).collect();
    for p in [&args.out, &args.json].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    if input.evaluate_only {
        return Err(Error::Argument(format!(
            "{data_path}: the control stream only evaluates the objective (MAXEVAL=0): \
             a bootstrap estimates; remove MAXEVAL=0 from $ESTIMATION"
        )));
    }
    let method = args.fit.method(&input)?;
    let strata = strata(&input, args.stratify.as_deref())?;
    let file = run_samples(&args, &input, method, &strata, shard)?;
    let text = file.text()?;
    if let Some(path) = &args.out {
        write_text(Some(path), &text, &inputs)?;
    }
    if shard != Shard::ALL {
        let n = |k| file.of_kind(k).len();
        eprintln!(
            "shard {shard}: {} replicates and {} jackknife samples written to {}; join the {} shards with \
             pk bootstrap --merge FILE… --out FILE",
            n(Kind::Bootstrap),
            n(Kind::Jackknife),
            args.out.as_deref().unwrap_or("-"),
            shard.count
        );
        return Ok(());
    }
    report(&file, level, &include, args.json.as_deref(), &inputs)
}

/// `--ci` in percent as a level in (0, 1).
fn confidence_level(ci: f64) -> Result<f64> {
    if ci > 0.0 && ci < 100.0 {
        Ok(ci / 100.0)
    } else {
        Err(Error::Argument(format!(
            "--ci {ci}: give the confidence level in percent, between 0 and 100 (e.g. 95)"
        )))
    }
}

/// `--include`: statuses entering the intervals (`failed` has no estimates).
fn included_statuses(names: &[String]) -> Result<Vec<Status>> {
    let mut out = Vec::new();
    for n in names {
        let s = Status::parse(n)?;
        if s == Status::Failed {
            return Err(Error::Argument(
                "--include failed: a failed sample has no estimates; include ok, at_bound or not_converged".into(),
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// The strata of `--stratify` (one stratum without it), reported on standard error.
fn strata(input: &PopulationInput, column: Option<&str>) -> Result<Strata> {
    let n = input.data.subjects.len();
    let Some(column) = column else {
        return Ok(Strata::none(n));
    };
    let strata = Strata::by_column(&input.dataset, column)?;
    if strata.n_subjects() != n {
        return Err(Error::Argument(format!(
            "--stratify {column}: {} subjects in the data, {n} prepared for the model",
            strata.n_subjects()
        )));
    }
    let sizes: Vec<String> = strata
        .labels
        .iter()
        .zip(&strata.members)
        .map(|(l, m)| format!("{column}={l}: {}", m.len()))
        .collect();
    eprintln!("strata ({}): {}", strata.labels.len(), sizes.join(", "));
    if let Some((l, _)) = strata.labels.iter().zip(&strata.members).find(|(_, m)| m.len() == 1) {
        eprintln!("warning: the stratum {column}={l} has one subject: every replicate keeps it as it is");
    }
    Ok(strata)
}

/// The settings lines of a run.
fn settings(args: &BootstrapArgs, input: &PopulationInput, method: Method, strata: &Strata, shard: Shard) -> Settings {
    let pairs = [
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("inputs", input.inputs.join(" ")),
        ("content", content_hash(&input.inputs, &args.fit.selection)),
        ("model", input.model.name()),
        ("subjects", input.data.subjects.len().to_string()),
        ("method", method.to_string()),
        ("max_iterations", args.fit.max_iterations.to_string()),
        ("seed", args.seed.to_string()),
        ("samples", args.samples.to_string()),
        (
            "stratify",
            match &args.stratify {
                Some(c) => format!("{c} ({} strata)", strata.labels.len()),
                None => "-".into(),
            },
        ),
        (
            "jackknife",
            if args.no_bca { 0 } else { input.data.subjects.len() }.to_string(),
        ),
    ];
    Settings {
        pairs: pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
    .with_shard(shard)
}

/// FNV-1a (64 bit) of the bytes of the input files and the data selection:
/// shards of one run must have read the same inputs.
fn content_hash(inputs: &[String], selection: &DataSelection) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in inputs {
        match std::fs::read(p) {
            Ok(bytes) => eat(&bytes),
            Err(_) => eat(p.as_bytes()),
        }
        eat(&[0]);
    }
    eat(format!("{selection:?}").as_bytes());
    format!("fnv1a64 {h:016x}")
}

/// The original fit, then this shard's replicates and jackknife samples.
fn run_samples(
    args: &BootstrapArgs,
    input: &PopulationInput,
    method: Method,
    strata: &Strata,
    shard: Shard,
) -> Result<SamplesFile> {
    let options = EstimationOptions {
        method,
        max_iterations: args.fit.max_iterations,
        progress: false,
    };
    let started = std::time::Instant::now();
    eprintln!("original fit ({method}, {} subjects)…", input.data.subjects.len());
    let fit = estimate(&input.model, &input.data, &input.start, &options)?;
    if !fit.converged {
        return Err(Error::Argument(format!(
            "the original {method} fit did not converge ({}); every replicate starts from it: \
             fix the fit with pk popfit first",
            fit.message
        )));
    }
    let boot = Bootstrap::new(&input.model, &input.data, &fit.values, &options);
    let settings = settings(args, input, method, strata, shard);
    let n_jack = settings.number("jackknife", "settings")?;
    let tasks: Vec<(Kind, usize)> = shard
        .samples(args.samples)
        .into_iter()
        .map(|r| (Kind::Bootstrap, r))
        .chain(shard.samples(n_jack).into_iter().map(|j| (Kind::Jackknife, j)))
        .collect();
    let progress = Progress::new("bootstrap", tasks.len(), true);
    let samples: Vec<Sample> = tasks
        .par_iter()
        .map(|&(kind, k)| {
            let s = match kind {
                Kind::Jackknife => boot.jackknife(k),
                _ => boot.replicate(args.seed, k, strata),
            };
            progress.add(1);
            s
        })
        .collect();
    progress.finish();
    eprintln!(
        "original fit and {} samples{} in {:.1} s",
        tasks.len(),
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(" (shard {shard})")
        },
        started.elapsed().as_secs_f64()
    );
    let ids: Vec<&str> = input.data.subjects.iter().map(|s| s.data.id.as_str()).collect();
    let mut rows = vec![row(&boot.original_sample(&fit), &ids, false)];
    rows.extend(samples.iter().map(|s| row(s, &ids, true)));
    Ok(SamplesFile {
        settings,
        names: boot.names(),
        rows,
    })
}

/// A sample as a row: subjects by ID (none listed for the original fit).
fn row(s: &Sample, ids: &[&str], list_subjects: bool) -> Row {
    Row {
        kind: s.kind,
        index: s.index,
        status: s.status,
        ofv: s.ofv,
        estimates: s.estimates.clone(),
        subjects: if list_subjects {
            s.subjects.iter().map(|&i| ids[i]).collect::<Vec<_>>().join(" ")
        } else {
            String::new()
        },
        message: s.message.replace(['\n', '\r'], " "),
    }
}

/// `--merge`: joins the shards, writes `--out`, prints the intervals.
fn run_merge(args: &BootstrapArgs, level: f64, include: &[Status]) -> Result<()> {
    let inputs: Vec<&str> = args.merge.iter().map(String::as_str).collect();
    for p in [&args.out, &args.json].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let mut files = Vec::new();
    for path in &args.merge {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        files.push((path.clone(), SamplesFile::parse(&text, path)?));
    }
    let merged = merge(&files)?;
    if let Some(path) = &args.out {
        write_text(Some(path), &merged.text()?, &inputs)?;
    }
    report(&merged, level, include, args.json.as_deref(), &inputs)
}

/// Counts of each status among `rows`.
fn counts(rows: &[&Row]) -> Vec<(Status, usize)> {
    Status::ALL
        .into_iter()
        .map(|s| (s, rows.iter().filter(|r| r.status == s).count()))
        .collect()
}

/// Prints the shares and the intervals (and writes `--json`); an error when
/// no replicate enters them.
fn report(file: &SamplesFile, level: f64, include: &[Status], json_path: Option<&str>, inputs: &[&str]) -> Result<()> {
    let original = file
        .original()
        .ok_or_else(|| Error::Argument("the samples have no row of the original fit".into()))?;
    if original.estimates.len() != file.names.len() {
        return Err(Error::Argument(format!(
            "the original fit's row has no estimates (status {})",
            original.status
        )));
    }
    let replicates = file.of_kind(Kind::Bootstrap);
    let jackknife = file.of_kind(Kind::Jackknife);
    let used = |rows: &[&Row]| -> Vec<Vec<f64>> {
        rows.iter()
            .filter(|r| include.contains(&r.status) && r.estimates.len() == file.names.len())
            .map(|r| r.estimates.clone())
            .collect()
    };
    let (rep_used, jack_used) = (used(&replicates), used(&jackknife));
    let summary = summarise(
        &file.names,
        &original.estimates,
        &slices(&rep_used),
        &slices(&jack_used),
        level,
    );
    let shares = Shares {
        replicates: counts(&replicates),
        jackknife: counts(&jackknife),
        n_replicates: replicates.len(),
        n_jackknife: jackknife.len(),
        used: rep_used.len(),
        jackknife_used: jack_used.len(),
    };
    let text = report_text(file, original, &shares, &summary, level, include);
    write_text(None, &text, inputs)?;
    if let Some(path) = json_path {
        let doc = report_json(file, original, &shares, &summary, level, include);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), inputs)?;
    }
    if rep_used.is_empty() {
        return Err(Error::Argument(format!(
            "no replicate has a status in --include {}: no intervals",
            names_of(include)
        )));
    }
    Ok(())
}

fn slices(v: &[Vec<f64>]) -> Vec<&[f64]> {
    v.iter().map(Vec::as_slice).collect()
}

/// How many samples had each status, and how many entered the intervals.
struct Shares {
    replicates: Vec<(Status, usize)>,
    jackknife: Vec<(Status, usize)>,
    n_replicates: usize,
    n_jackknife: usize,
    used: usize,
    jackknife_used: usize,
}

fn names_of(include: &[Status]) -> String {
    include.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// `n (p%)` for each status.
fn share_text(counts: &[(Status, usize)], total: usize) -> String {
    counts
        .iter()
        .map(|(s, n)| format!("{s} {n} ({:.1}%)", 100.0 * *n as f64 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A number to 5 significant digits.
fn sig(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        return format!("{v:.4e}");
    }
    let digits = if a == 0.0 { 0 } else { a.log10().floor() as i32 };
    format!("{v:.*}", (4 - digits).max(0) as usize)
}

fn interval_text(i: Option<(f64, f64)>) -> String {
    i.map_or("-".into(), |(a, b)| format!("[{}, {}]", sig(a), sig(b)))
}

fn report_text(
    file: &SamplesFile,
    original: &Row,
    shares: &Shares,
    summary: &[ParameterSummary],
    level: f64,
    include: &[Status],
) -> String {
    let s = &file.settings;
    let get = |k: &str| s.get(k).unwrap_or("-").to_string();
    let mut t = format!(
        "Bootstrap of {} ({} subjects, {}): {} replicates, seed {}, stratified: {}\n",
        get("model"),
        get("subjects"),
        get("method"),
        shares.n_replicates,
        get("seed"),
        get("stratify")
    );
    t.push_str(&format!(
        "Original OFV {}\n",
        original.ofv.map_or("-".into(), |v| format!("{v:.4}"))
    ));
    t.push_str(&format!(
        "Replicates: {}\n",
        share_text(&shares.replicates, shares.n_replicates)
    ));
    if shares.n_jackknife > 0 {
        t.push_str(&format!(
            "Jackknife (one subject left out each, for the BCa acceleration): {}\n",
            share_text(&shares.jackknife, shares.n_jackknife)
        ));
    } else {
        t.push_str("No jackknife (--no-bca): no BCa intervals\n");
    }
    t.push_str(&format!(
        "Intervals from the {} replicates{} with status {} (--include)\n",
        shares.used,
        if shares.n_jackknife > 0 {
            format!(" and {} jackknife samples", shares.jackknife_used)
        } else {
            String::new()
        },
        names_of(include)
    ));
    let pct = format!("{}%", 100.0 * level);
    t.push_str(&format!(
        "\n{:<24} {:>12} {:>12} {:>12} {:>28} {:>28}\n",
        "parameter",
        "estimate",
        "median",
        "SE",
        format!("{pct} percentile"),
        format!("{pct} BCa")
    ));
    for p in summary {
        t.push_str(&format!(
            "{:<24} {:>12} {:>12} {:>12} {:>28} {:>28}\n",
            p.name,
            sig(p.estimate),
            sig(p.median),
            sig(p.se),
            interval_text(p.percentile),
            interval_text(p.bca)
        ));
    }
    t
}

fn report_json(
    file: &SamplesFile,
    original: &Row,
    shares: &Shares,
    summary: &[ParameterSummary],
    level: f64,
    include: &[Status],
) -> Value {
    let settings: serde_json::Map<String, Value> =
        file.settings.pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let counts = |c: &[(Status, usize)]| -> Value {
        Value::Object(c.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect())
    };
    let pair = |i: Option<(f64, f64)>| i.map(|(a, b)| json!([a, b]));
    let finite = |v: f64| v.is_finite().then_some(v);
    let parameters: Vec<Value> = summary
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "estimate": p.estimate,
                "n": p.n,
                "median": finite(p.median),
                "se": finite(p.se),
                "percentile": pair(p.percentile),
                "z0": p.z0.and_then(finite),
                "acceleration": p.acceleration.and_then(finite),
                "bca": pair(p.bca),
            })
        })
        .collect();
    json!({
        "settings": settings,
        "ofv": original.ofv,
        "confidence_level": level,
        "include": include.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "replicates": {"total": shares.n_replicates, "used": shares.used, "status": counts(&shares.replicates)},
        "jackknife": {"total": shares.n_jackknife, "used": shares.jackknife_used, "status": counts(&shares.jackknife)},
        "parameters": parameters,
    })
}
