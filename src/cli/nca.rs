//! `pk nca`: non-compartmental analysis of every subject and dosing interval of
//! a NONMEM-style data file, with WinNonlin's rules.

use super::output::{num, refuse_input, sanitize, write_text};
use clap::Args;
use pk::data::{read_dataset, ReadOptions};
use pk::nca::data::{subject_nca, BlqAs, BlqRules, DoseScale, IntervalNca, NegativeAs};
use pk::nca::summary::{describe, Descriptive};
use pk::nca::{AucRule, LambdaZChoice, NcaOptions, Route, UnitKind};
use pk::units::{AmountUnit, ConcentrationUnit, TimeUnit};
use pk::{Error, Result};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// Arguments of `pk nca`.
#[derive(Debug, Args)]
pub struct NcaArgs {
    /// NONMEM-style data file (doses from the dose records; RATE or DUR marks an infusion).
    data: String,
    /// AUC rule: linear, linear-up-log-down, linear-log, linear-log-interpolation.
    #[arg(long, default_value = "linear-up-log-down")]
    rule: String,
    /// Route of doses without RATE or DUR: extravascular or iv-bolus.
    #[arg(long, default_value = "extravascular")]
    route: String,
    /// λz from the last N points instead of the best fit.
    #[arg(long, conflicts_with = "lambda_z_range")]
    lambda_z_points: Option<usize>,
    /// λz from the points in START:END (time after the dose).
    #[arg(long)]
    lambda_z_range: Option<String>,
    /// Partial AUC over START:END after the dose (repeatable).
    #[arg(long = "partial", value_name = "START:END")]
    partial: Vec<String>,
    /// Dosing interval τ for AUCτ, Cmin, Cavg, fluctuation, accumulation and the
    /// clearance at steady state dose/AUCτ (CLTAU, CLFTAU for extravascular
    /// doses) (default: the time to the next dose).
    #[arg(long)]
    tau: Option<f64>,
    /// Column holding the LLOQ (samples with DV < LLOQ are BLQ).
    #[arg(long)]
    lloq_column: Option<String>,
    /// Column flagging BLQ samples (non-zero).
    #[arg(long)]
    blq_column: Option<String>,
    /// BLQ before the first measurable sample: zero, missing, lloq/2.
    #[arg(long, default_value = "zero")]
    blq_before: String,
    /// BLQ after the first measurable sample: zero, missing, lloq/2.
    #[arg(long, default_value = "missing")]
    blq_after: String,
    /// Negative measured concentrations (not BLQ): keep (used as measured, as
    /// WinNonlin does), zero, or exclude. Each one is reported on standard
    /// error with its file, line, subject and value, whatever the choice.
    #[arg(long, default_value = "keep", value_name = "keep|zero|exclude")]
    negative: String,
    /// Concentration unit of DV.
    #[arg(long, default_value = "ng/mL")]
    conc_unit: String,
    /// Amount unit of AMT.
    #[arg(long, default_value = "mg")]
    amount_unit: String,
    /// Time unit of TIME.
    #[arg(long, default_value = "h")]
    time_unit: String,
    /// Columns to ignore, comma-separated.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
    /// CSV output file: ID, DOSE_TIME, PPTESTCD, PPORRES, PPORRESU.
    #[arg(long)]
    csv: Option<String>,
    /// CSV file of descriptive statistics across subjects for every parameter:
    /// parameter,unit,n,mean,sd,cv_pct,geomean,geocv_pct,median,min,max,n_geo
    /// (geometric statistics over the n_geo positive values). The same table is
    /// printed after the per-subject results.
    #[arg(long, value_name = "FILE")]
    summary: Option<String>,
    /// Directory for one SVG per subject (and dosing interval) of the λz
    /// regression: log concentration against time, the points used highlighted,
    /// the line, λz, adjusted R² and t½. Created if missing; its parent must exist.
    #[arg(long, value_name = "DIR")]
    plots: Option<String>,
}

fn span(text: &str, what: &str) -> Result<(f64, f64)> {
    let parse = |s: &str| s.trim().parse::<f64>().ok();
    match text.split_once(':').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(a), Some(b))) if b > a => Ok((a, b)),
        _ => Err(Error::Argument(format!(
            "{what} '{text}': expected START:END with END > START, e.g. 0:24"
        ))),
    }
}

/// Unit text of each kind of value.
pub struct NcaUnits {
    conc: String,
    time: String,
}

impl NcaUnits {
    fn of(&self, kind: UnitKind) -> String {
        let (c, t) = (&self.conc, &self.time);
        match kind {
            UnitKind::Conc => c.clone(),
            UnitKind::Time => t.clone(),
            UnitKind::PerTime => format!("1/{t}"),
            UnitKind::ConcTime => format!("{c}*{t}"),
            UnitKind::ConcTime2 => format!("{c}*{t}^2"),
            UnitKind::Clearance => format!("L/{t}"),
            UnitKind::Volume => "L".into(),
            UnitKind::Percent => "%".into(),
            UnitKind::Ratio | UnitKind::Count => String::new(),
        }
    }
}

fn route_name(r: Route) -> String {
    match r {
        Route::Extravascular => "extravascular".into(),
        Route::IvBolus => "iv bolus".into(),
        Route::IvInfusion(d) => format!("iv infusion over {d}"),
    }
}

/// Runs `pk nca`.
pub fn run(args: NcaArgs) -> Result<()> {
    let rule = AucRule::parse(&args.rule).map_err(Error::Argument)?;
    let bolus_route = match args.route.to_ascii_lowercase().as_str() {
        "extravascular" | "ev" | "oral" => Route::Extravascular,
        "iv-bolus" | "iv" | "bolus" => Route::IvBolus,
        other => {
            return Err(Error::Argument(format!(
                "--route '{other}': expected extravascular or iv-bolus"
            )))
        }
    };
    let lambda_z = match (args.lambda_z_points, &args.lambda_z_range) {
        (Some(n), _) if n < 3 => {
            return Err(Error::Argument(format!(
                "--lambda-z-points {n}: λz needs at least 3 points"
            )))
        }
        (Some(n), _) => LambdaZChoice::Points(n),
        (None, Some(r)) => {
            let (a, b) = span(r, "--lambda-z-range")?;
            LambdaZChoice::Range(a, b)
        }
        (None, None) => LambdaZChoice::BestFit,
    };
    let partial = args
        .partial
        .iter()
        .map(|p| span(p, "--partial"))
        .collect::<Result<Vec<_>>>()?;
    if let Some(t) = args.tau.filter(|t| !(*t > 0.0 && t.is_finite())) {
        return Err(Error::Argument(format!("--tau must be a positive interval, got {t}")));
    }
    let options = NcaOptions {
        rule,
        lambda_z,
        partial,
        tau: args.tau,
    };
    let blq = BlqRules {
        lloq_column: args.lloq_column.clone(),
        flag_column: args.blq_column.clone(),
        before_first: BlqAs::parse(&args.blq_before)?,
        after_first: BlqAs::parse(&args.blq_after)?,
        negative: NegativeAs::parse(&args.negative)?,
    };
    let conc = ConcentrationUnit::parse(&args.conc_unit)?;
    let amount = AmountUnit::parse(&args.amount_unit)?;
    let time = TimeUnit::parse(&args.time_unit)?;
    let scale = DoseScale(amount.grams() / conc.grams_per_litre());
    let units = NcaUnits {
        conc: conc.to_string(),
        time: time.to_string(),
    };
    let inputs = [args.data.as_str()];
    for p in [&args.json, &args.csv, &args.summary].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    if let Some(dir) = &args.plots {
        pk::output::check_writable(dir)?;
    }
    let data = read_dataset(
        &args.data,
        &ReadOptions {
            drop: args.drop.clone(),
        },
    )?;
    data.require_dv()?;
    for (flag, column) in [("--blq-column", &args.blq_column), ("--lloq-column", &args.lloq_column)] {
        if let Some(c) = column {
            if data.covariate_index(c).is_none() {
                return Err(Error::Argument(format!(
                    "{flag} {c}: {} has no column {c} (its other columns: {})",
                    args.data,
                    data.covariate_names.join(", ")
                )));
            }
        }
    }
    let results: Vec<(String, Result<Vec<IntervalNca>>)> = data
        .subjects
        .iter()
        .map(|s| {
            let mut r = subject_nca(&data, s, bolus_route, &blq, &options, scale);
            if args.plots.is_none() {
                // The samples are kept for the λz plots only.
                for iv in r.iter_mut().flatten() {
                    iv.times = Vec::new();
                    iv.conc = Vec::new();
                }
            }
            (s.id.clone(), r)
        })
        .collect();
    report_problems(&results);
    let stats = summary(&results, &units);
    let mut out = text(&results, &units, rule, &amount.to_string());
    out.push_str(&summary_text(&stats));
    write_text(None, &out, &inputs)?;
    if let Some(path) = &args.summary {
        write_text(Some(path), &summary_csv(&stats), &inputs)?;
    }
    if let Some(dir) = &args.plots {
        write_plots(dir, &results, &units)?;
    }
    if let Some(path) = &args.csv {
        write_text(Some(path), &csv(&results, &units), &inputs)?;
    }
    if let Some(path) = &args.json {
        let doc = json_doc(&results, &units, rule);
        let s = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(s + "\n"), &inputs)?;
    }
    let analysed = results
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|ivs| ivs.iter().any(|iv| iv.result.is_ok())));
    if !analysed {
        return Err(Error::Argument(format!(
            "no subject of {} could be analysed (the reasons are above)",
            args.data
        )));
    }
    Ok(())
}

/// Warnings (each negative concentration, once even if two intervals share the
/// sample) and the subjects or intervals not analysed, on standard error: so
/// that nothing is lost when standard output goes to a file.
fn report_problems(results: &[(String, Result<Vec<IntervalNca>>)]) {
    let mut seen = std::collections::HashSet::new();
    for (id, r) in results {
        match r {
            Err(e) => eprintln!("subject {id} not analysed: {e}"),
            Ok(intervals) => {
                for iv in intervals {
                    for w in &iv.warnings {
                        if seen.insert(w.as_str()) {
                            eprintln!("warning: {w}");
                        }
                    }
                    if let Err(e) = &iv.result {
                        eprintln!("subject {id}, dose at {}: not analysed: {e}", fmt(iv.dose_time));
                    }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v}")
    } else {
        format!("{v:.6}")
    }
}

fn text(results: &[(String, Result<Vec<IntervalNca>>)], u: &NcaUnits, rule: AucRule, amount: &str) -> String {
    let mut s = format!("NCA, {rule}\n\n");
    for (id, r) in results {
        match r {
            Err(e) => {
                let _ = writeln!(s, "Subject {id}: not analysed: {e}\n");
            }
            Ok(intervals) => {
                for iv in intervals {
                    let _ = writeln!(
                        s,
                        "Subject {id}, dose {} {amount} at {} {} ({}):",
                        fmt(iv.dose),
                        fmt(iv.dose_time),
                        u.time,
                        route_name(iv.route)
                    );
                    for w in &iv.warnings {
                        let _ = writeln!(s, "  warning: {w}");
                    }
                    match &iv.result {
                        Err(e) => {
                            let _ = writeln!(s, "  not analysed: {e}");
                        }
                        Ok(n) => {
                            let cells: Vec<String> = n
                                .values(iv.route)
                                .into_iter()
                                .filter_map(|(code, v, kind)| {
                                    v.map(|v| format!("{code:<9}{:>14} {:<12}", fmt(v), u.of(kind)))
                                })
                                .collect();
                            for row in cells.chunks(3) {
                                let _ = writeln!(s, "  {}", row.join(" ").trim_end());
                            }
                            for (a, b, v) in &n.partial {
                                let _ = writeln!(s, "  AUC {a}-{b} {}: {}", u.time, fmt(*v));
                            }
                            for f in &n.flags {
                                let _ = writeln!(s, "  flag: {f}");
                            }
                        }
                    }
                    s.push('\n');
                }
            }
        }
    }
    s
}

fn csv(results: &[(String, Result<Vec<IntervalNca>>)], u: &NcaUnits) -> String {
    let mut s = String::from("ID,DOSE_TIME,PPTESTCD,PPORRES,PPORRESU\n");
    for (id, r) in results {
        for iv in r.iter().flatten() {
            if let Ok(n) = &iv.result {
                for (code, v, kind) in n.values(iv.route) {
                    if let Some(v) = v {
                        let _ = writeln!(s, "{id},{},{code},{v},{}", iv.dose_time, u.of(kind));
                    }
                }
                for (a, b, v) in &n.partial {
                    let _ = writeln!(
                        s,
                        "{id},{},AUCINT_{a}_{b},{v},{}",
                        iv.dose_time,
                        u.of(UnitKind::ConcTime)
                    );
                }
            }
        }
    }
    s
}

fn json_doc(results: &[(String, Result<Vec<IntervalNca>>)], u: &NcaUnits, rule: AucRule) -> Value {
    let subjects: Vec<Value> = results
        .iter()
        .map(|(id, r)| match r {
            Err(e) => json!({"id": id, "error": e.to_string()}),
            Ok(intervals) => {
                let ivs: Vec<Value> = intervals
                    .iter()
                    .map(|iv| match &iv.result {
                        Err(e) => json!({
                            "dose_time": iv.dose_time,
                            "dose": iv.dose,
                            "error": e.to_string(),
                            "warnings": iv.warnings,
                        }),
                        Ok(n) => {
                            let mut values = Map::new();
                            for (code, v, kind) in n.values(iv.route) {
                                values.insert(
                                    code.to_string(),
                                    json!({"value": v.filter(|x| x.is_finite()), "unit": u.of(kind)}),
                                );
                            }
                            let partial: Vec<Value> = n
                                .partial
                                .iter()
                                .map(|(a, b, v)| json!({"start": a, "end": b, "auc": v.is_finite().then_some(*v)}))
                                .collect();
                            json!({
                                "dose_time": iv.dose_time,
                                "dose": iv.dose,
                                "route": route_name(iv.route),
                                "values": values,
                                "partial_auc": partial,
                                "flags": n.flags,
                                "warnings": iv.warnings,
                            })
                        }
                    })
                    .collect();
                json!({"id": id, "intervals": ivs})
            }
        })
        .collect();
    json!({"rule": rule.to_string(), "subjects": subjects})
}

/// One row of the descriptive statistics: parameter label, unit, statistics.
type SummaryRow = (String, String, Descriptive);

/// Statistics across subjects of every parameter, in the order the parameters
/// first appear. With several dosing intervals per subject, each interval (by
/// its rank: dose 1, dose 2, …) is summarised apart.
fn summary(results: &[(String, Result<Vec<IntervalNca>>)], u: &NcaUnits) -> Vec<SummaryRow> {
    let several = results.iter().any(|(_, r)| r.as_ref().is_ok_and(|v| v.len() > 1));
    let mut groups: Vec<(String, String, Vec<f64>)> = Vec::new();
    let mut add = |label: String, unit: String, v: f64| match groups.iter_mut().find(|g| g.0 == label && g.1 == unit) {
        Some(g) => g.2.push(v),
        None => groups.push((label, unit, vec![v])),
    };
    for (_, r) in results {
        for (k, iv) in r.iter().flatten().enumerate() {
            let Ok(n) = &iv.result else { continue };
            let label = |code: &str| {
                if several {
                    format!("{code} (dose {})", k + 1)
                } else {
                    code.to_string()
                }
            };
            for (code, v, kind) in n.values(iv.route) {
                if let Some(v) = v {
                    add(label(code), u.of(kind), v);
                }
            }
            for (a, b, v) in &n.partial {
                add(label(&format!("AUCINT_{a}_{b}")), u.of(UnitKind::ConcTime), *v);
            }
        }
    }
    groups
        .into_iter()
        .filter_map(|(label, unit, values)| describe(&values).map(|d| (label, unit, d)))
        .collect()
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| ".".into(), num)
}

fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut s = String::from("parameter,unit,n,mean,sd,cv_pct,geomean,geocv_pct,median,min,max,n_geo\n");
    for (label, unit, d) in rows {
        let _ = writeln!(
            s,
            "{label},{unit},{},{},{},{},{},{},{},{},{},{}",
            d.n,
            num(d.mean),
            opt(d.sd),
            opt(d.cv_pct),
            opt(d.geomean),
            opt(d.geocv_pct),
            num(d.median),
            num(d.min),
            num(d.max),
            d.n_geo
        );
    }
    s
}

fn summary_text(rows: &[SummaryRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let g = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.5}"));
    let mut s = String::from("Descriptive statistics across subjects\n");
    let _ = writeln!(
        s,
        "  {:<18} {:<12} {:>3} {:>12} {:>12} {:>8} {:>12} {:>8} {:>12} {:>12} {:>12}",
        "parameter", "unit", "N", "mean", "SD", "CV%", "geo. mean", "geo. CV%", "median", "min", "max"
    );
    for (label, unit, d) in rows {
        let _ = writeln!(
            s,
            "  {label:<18} {unit:<12} {:>3} {:>12} {:>12} {:>8} {:>12} {:>8} {:>12} {:>12} {:>12}",
            d.n,
            format!("{:.5}", d.mean),
            g(d.sd),
            d.cv_pct.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
            g(d.geomean),
            d.geocv_pct.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
            format!("{:.5}", d.median),
            format!("{:.5}", d.min),
            format!("{:.5}", d.max),
        );
    }
    for (label, _, d) in rows.iter().filter(|(_, _, d)| d.n_geo < d.n) {
        let _ = writeln!(
            s,
            "  note: {label}: geometric mean and CV% over {} of {} values (zero or negative values have no logarithm)",
            d.n_geo, d.n
        );
    }
    s
}

/// One λz plot per subject and dosing interval: `lambda_z_ID.svg`, or
/// `lambda_z_ID_doseK.svg` when the subject has several intervals (two IDs
/// that sanitize alike get `_2`, `_3`… rather than overwrite each other).
fn write_plots(dir: &str, results: &[(String, Result<Vec<IntervalNca>>)], u: &NcaUnits) -> Result<()> {
    pk::output::create_output_dir(dir)?;
    let mut taken = std::collections::HashSet::new();
    let mut written = 0;
    for (id, r) in results {
        let Ok(intervals) = r else { continue };
        for (k, iv) in intervals.iter().enumerate() {
            let base = if intervals.len() > 1 {
                format!("lambda_z_{}_dose{}", sanitize(id), k + 1)
            } else {
                format!("lambda_z_{}", sanitize(id))
            };
            let mut name = base.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{base}_{n}");
            }
            let path = std::path::Path::new(dir).join(format!("{name}.svg"));
            let plot = lambda_z_plot(id, iv, intervals.len() > 1, u);
            pk::plot::lambda_z(&path.to_string_lossy(), &plot)?;
            written += 1;
        }
    }
    eprintln!("{written} λz plots written to {dir}");
    Ok(())
}

fn lambda_z_plot(id: &str, iv: &IntervalNca, several: bool, u: &NcaUnits) -> pk::plot::LambdaZPlot {
    let points: Vec<(f64, f64)> = iv.times.iter().copied().zip(iv.conc.iter().copied()).collect();
    let who = if several {
        format!("Subject {id}, dose at {} {}", fmt(iv.dose_time), u.time)
    } else {
        format!("Subject {id}")
    };
    let (title, used, line) = match &iv.result {
        Err(e) => (format!("{who}: not analysed: {e}"), Vec::new(), None),
        Ok(n) => match n.lambda_z {
            None => (format!("{who}: λz not estimated"), Vec::new(), None),
            Some(l) => {
                let (a, b) = l.range;
                let used: Vec<(f64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|&(t, c)| c > 0.0 && t >= a && t <= b)
                    .collect();
                let end = iv.times.last().copied().unwrap_or(b).max(b);
                let line: Vec<(f64, f64)> = (0..=40)
                    .map(|i| {
                        let t = a + (end - a) * i as f64 / 40.0;
                        (t, (l.intercept - l.lambda_z * t).exp())
                    })
                    .collect();
                let title = format!(
                    "{who}: λz = {:.5} 1/{}, R²adj = {:.6}, t½ = {:.3} {} ({} points, {a}–{b} {})",
                    l.lambda_z,
                    u.time,
                    l.r2_adjusted,
                    std::f64::consts::LN_2 / l.lambda_z,
                    u.time,
                    l.n,
                    u.time
                );
                let label = format!("ln C = {:.4} − {:.5}·t", l.intercept, l.lambda_z);
                (title, used, Some((line, label)))
            }
        },
    };
    pk::plot::LambdaZPlot {
        title,
        x: format!("Time after the dose ({})", u.time),
        y: format!("Concentration ({}, log scale)", u.conc),
        points,
        used,
        line,
    }
}
