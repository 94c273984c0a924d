//! `pk popfit RUN.ctl`: a NONMEM control stream lowered onto the model
//! language, its data read as `$INPUT`/`$DATA` say, estimated as
//! `$ESTIMATION` says, with NONMEM's result files.

use super::*;

/// `pk popfit RUN.ctl`: the control stream lowered onto the model language,
/// its data read as `$INPUT`/`$DATA` say, estimated as `$ESTIMATION` says.
#[allow(clippy::needless_range_loop)]
pub(super) fn run_control_stream(args: PopfitArgs) -> Result<()> {
    let imported =
        crate::cli::population_input::read_control_stream(&args.data, args.model.as_deref(), &args.selection)?;
    let lowered = &imported.lowered;
    let model = &imported.model;
    // Inputs: the control stream, its data file and the .ext read.
    let mut inputs = vec![args.data.as_str(), imported.records.file.as_str()];
    if let Some(p) = &args.inits_from {
        inputs.push(p.as_str());
    }
    let table_files = table_files(&imported, args.tables.as_deref())?;
    for p in [
        &args.json,
        &args.table,
        &args.patab,
        &args.ext,
        &args.write_model,
        &args.cov,
        &args.phi,
        &args.report,
    ]
    .into_iter()
    .flatten()
    .chain(table_files.iter().map(|(p, _)| p))
    {
        refuse_input(p, &inputs)?;
    }
    if let Some(dir) = &args.plots {
        pk::output::check_writable(dir)?;
    }
    let use_saem = match &args.method {
        Some(m) => saem::requested(Some(m)),
        None => lowered.estimation.saem.is_some(),
    };
    if !use_saem {
        saem::refuse_flags(&args)?;
    }
    let method = match &args.method {
        Some(m) if !use_saem => Method::parse(m)?,
        _ => lowered.estimation.method,
    };
    let pop = PopulationData::new(model, &imported.data)?;
    crate::cli::population_input::report_censoring(&pop);
    let start = match &args.inits_from {
        Some(p) => imported.values_from_ext(p)?,
        None => imported.initial_values(),
    };
    let evaluate = args.evaluate || lowered.estimation.evaluate_only;
    if use_saem && args.cov.is_some() {
        return Err(Error::Argument(
            "--cov does not apply to SAEM: it has no covariance step here".into(),
        ));
    }
    if use_saem && args.phi.is_some() {
        return Err(Error::Argument(
            "--phi is not written for SAEM yet (its η are conditional means, not modes)".into(),
        ));
    }
    if use_saem && args.evaluate {
        return Err(Error::Argument("--evaluate does not apply to SAEM".into()));
    }
    let started = std::time::Instant::now();
    let saem_run = if use_saem {
        let options = saem::options(&args, lowered.estimation.saem.as_ref())?;
        Some(saem::run(model, &pop, &start, &options)?)
    } else {
        None
    };
    let fit = if let Some(run) = &saem_run {
        run.population.clone()
    } else if evaluate {
        pk::population::estimation::evaluate_at(model, &pop, &start, method)?
    } else {
        let options = EstimationOptions {
            method,
            max_iterations: args.max_iterations,
            progress: true,
        };
        estimate_with_progress(model, &pop, &start, &options)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    let matrix = covariance_matrix(&args, lowered.estimation.covariance_matrix.as_deref())?;
    let skip = match &saem_run {
        Some(_) => Some("not computed by SAEM".to_string()),
        None => skip_reason(&args, lowered.estimation.covariance),
    };
    let cov = run_covariance_step(model, &pop, &start, &fit, skip, matrix)?;
    let rows = diagnostics(model, &pop, &fit)?;
    let report = Report::new(model, &pop, &fit, cov, matrix, elapsed, epsilon_shrinkage(&rows));
    let params = &lowered.parameters;
    let nm = params.nm_values(&fit.values, &lowered.initial);
    let names: Vec<String> = report.estimates.iter().map(|e| e.name.clone()).collect();
    let nm_se = report.se.as_ref().map(|s| params.nm_standard_errors(model, &names, s));
    let mut text = match &saem_run {
        Some(run) => saem::text(model, &pop, run),
        None => report.text(),
    };
    text.push_str(&nonmem_summary(&imported, &nm, nm_se.as_ref()));
    write_text(None, &text, &inputs)?;
    let summary = text;
    if let Some(path) = &args.json {
        let mut doc = match &saem_run {
            Some(run) => saem::json(model, &pop, run),
            None => report.json(),
        };
        if let Value::Object(m) = &mut doc {
            let matrix = |x: &DMatrix<f64>| -> Value {
                json!((0..x.nrows())
                    .map(|i| (0..x.ncols()).map(|j| x[(i, j)]).collect::<Vec<_>>())
                    .collect::<Vec<_>>())
            };
            m.insert("control_stream".into(), json!(args.data));
            m.insert("evaluate_only".into(), json!(evaluate));
            m.insert("theta".into(), json!(nm.theta));
            m.insert("omega".into(), matrix(&nm.omega));
            m.insert("sigma".into(), matrix(&nm.sigma));
            m.insert("theta_names".into(), json!(params.theta_names));
            m.insert("omega_names".into(), json!(eta_labels(&imported)));
            m.insert("sigma_names".into(), json!(params.eps_names));
            m.remove("omega_iov");
            m.remove("omega_iov_names");
            match &nm_se {
                Some((t, o, s)) => {
                    m.insert("se".into(), json!({"theta": t, "omega": o, "sigma": s}));
                }
                None => {
                    m.remove("se");
                }
            }
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), &inputs)?;
    }
    if let Some(path) = &args.ext {
        let (title, ofv) = match &saem_run {
            Some(run) => (lowered.estimation.title.clone(), run.fit.importance.ofv),
            None => (nonmem_title(method), fit.evaluation.ofv),
        };
        let history = if saem_run.is_some() { &[][..] } else { &fit.history[..] };
        let text = ext_file_text(params, &nm, nm_se.as_ref(), (&title, ofv), history);
        write_text(Some(path), &text, &inputs)?;
    }
    if let Some(path) = &args.phi {
        write_text(Some(path), &phi_file_text(params, &pop, &fit), &inputs)?;
    }
    if let Some(path) = &args.write_model {
        let header = match &saem_run {
            Some(run) => format!(
                "# Estimates of `pk popfit {}` (SAEM, −2LL by importance sampling {:.4} ± {:.4}) as initial values\n",
                args.data, run.fit.importance.ofv, run.fit.importance.se
            ),
            None => format!(
                "# Estimates of `pk popfit {}` ({}, OFV {:.4}{}) as initial values\n",
                args.data,
                fit.method,
                fit.evaluation.ofv,
                if evaluate { ", evaluated only" } else { "" }
            ),
        };
        write_text(Some(path), &lowered.text_with(&nm, &header), &inputs)?;
    }
    super::write_tables(&args, model, (&imported.data, &pop), &fit, &rows, &inputs)?;
    for (path, tables) in &table_files {
        let mut text = String::new();
        for &k in tables {
            let (t, notes) =
                pk::nonmem::table::table_text(&imported.control.tables[k], k + 1, &imported, &pop, &fit, &rows)?;
            for n in notes {
                eprintln!("note: {n}");
            }
            text.push_str(&t);
        }
        write_text(Some(path), &text, &inputs)?;
    }
    let mut d = report::Diagnostics::new(model, &imported.data, &pop, &fit, &rows)
        .with_vpc(args.report_vpc, args.seed.unwrap_or(1));
    d.model_text = (
        args.data.clone(),
        std::fs::read_to_string(&args.data).unwrap_or_default(),
    );
    let values = saem_run.is_none().then_some(&report);
    report::write(
        args.plots.as_deref(),
        args.report.as_deref(),
        &d,
        values,
        &summary,
        &inputs,
    )?;
    cov_file(args.cov.as_deref(), params, model, &report, &inputs)?;
    if !fit.converged {
        return Err(Error::Argument(format!(
            "the {method} estimation did not converge: {}; the numbers above are not estimates",
            fit.message
        )));
    }
    Ok(())
}

/// The files the control stream's `$TABLE` records go to under `dir`, each
/// with the indices of its tables (tables naming the same FILE= share a
/// file, in order, as NONMEM appends them). Without `dir`, a note says the
/// tables are not written.
fn table_files(imported: &pk::nonmem::import::Import, dir: Option<&str>) -> Result<Vec<(String, Vec<usize>)>> {
    let tables = &imported.control.tables;
    let Some(dir) = dir else {
        for t in tables {
            eprintln!(
                "note: $TABLE (line {}{}) is not written: add --tables DIR to write it there in NONMEM's layout",
                t.line,
                t.file.as_ref().map_or(String::new(), |f| format!(", FILE={f}"))
            );
        }
        return Ok(Vec::new());
    };
    if !Path::new(dir).is_dir() {
        return Err(Error::Argument(format!(
            "--tables {dir}: no such directory (it is not created)"
        )));
    }
    let mut files: Vec<(String, Vec<usize>)> = Vec::new();
    for (k, t) in tables.iter().enumerate() {
        let name = match &t.file {
            Some(f) => Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .ok_or_else(|| Error::Argument(format!("$TABLE (line {}): FILE={f} names no file", t.line)))?,
            None => format!("table{}", k + 1),
        };
        let path = Path::new(dir).join(name).to_string_lossy().to_string();
        match files.iter_mut().find(|(p, _)| *p == path) {
            Some((_, list)) => list.push(k),
            None => files.push((path, vec![k])),
        }
    }
    Ok(files)
}

/// The model's name of each NONMEM η (κ names for inter-occasion η; "0" for η fixed at 0).
fn eta_labels(imported: &pk::nonmem::import::Import) -> Vec<String> {
    use pk::nonmem::lower::params::EtaTarget;
    let c = &imported.model.code;
    imported
        .lowered
        .parameters
        .eta
        .iter()
        .map(|t| match t {
            EtaTarget::Omega(i) => c.omega.names[*i].clone(),
            EtaTarget::Kappa { index, occasion } => format!(
                "{} (occasion {})",
                c.iov
                    .as_ref()
                    .map_or(String::new(), |v| v.effects.names[*index].clone()),
                occasion + 1
            ),
            EtaTarget::Removed => "0 (fixed)".into(),
        })
        .collect()
}

/// θ, Ω and Σ in the control stream's numbering, NONMEM-like.
#[allow(clippy::needless_range_loop)]
fn nonmem_summary(
    imported: &pk::nonmem::import::Import,
    nm: &pk::nonmem::lower::params::NmValues,
    se: Option<&pk::nonmem::lower::params::NmStandardErrors>,
) -> String {
    let p = &imported.lowered.parameters;
    let fmt_se = |s: Option<f64>| s.map_or("-".to_string(), |v| format!("{v:.5}"));
    let mut t = String::from("\nIn the control stream's numbering:\n");
    for (k, v) in nm.theta.iter().enumerate() {
        t.push_str(&format!(
            "THETA{:<4} {:<20} {:>14.6} {:>12}{}\n",
            k + 1,
            p.theta_names[k],
            v,
            fmt_se(se.and_then(|s| s.0[k])),
            if p.theta_fixed[k] { "  FIX" } else { "" }
        ));
    }
    let labels = eta_labels(imported);
    for i in 0..nm.omega.nrows() {
        for j in 0..=i {
            if i != j && nm.omega[(i, j)] == 0.0 {
                continue;
            }
            t.push_str(&format!(
                "OMEGA({},{}) {:<20} {:>14.6} {:>12}\n",
                i + 1,
                j + 1,
                if i == j { labels[i].clone() } else { String::new() },
                nm.omega[(i, j)],
                fmt_se(se.and_then(|s| s.1[i][j]))
            ));
        }
    }
    for k in 0..nm.sigma.nrows() {
        t.push_str(&format!(
            "SIGMA({},{}) {:<20} {:>14.6} {:>12}{}\n",
            k + 1,
            k + 1,
            p.eps_names[k],
            nm.sigma[(k, k)],
            fmt_se(se.and_then(|s| s.2[k][k])),
            if p.eps_fixed[k] { "  FIX" } else { "" }
        ));
    }
    t
}
