//! `pk compare`: fitted individuals against a population model.

use super::output::{refuse_input, write_text};
use clap::Args;
use pk::plot::{forest, ForestRow};
use pk::population::compare::{
    compare, group_summary, individuals_from_fit_json, text_report, Individual, SubjectComparison, Z90,
};
use pk::population::PopulationModel;
use pk::{Error, Result};
use serde_json::{json, Value};

/// Arguments of `pk compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// JSON written by `pk fit --json` (or `pk fit --prior … --json`).
    fit: String,
    /// Population model file (e.g. models/clofarabine_bonate2004.toml).
    #[arg(long)]
    population: String,
    /// Forest plot (SVG) of the ratios with the 90% population band.
    #[arg(long)]
    plot: Option<String>,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
}

/// Runs `pk compare`.
pub fn run(args: CompareArgs) -> Result<()> {
    let inputs = [args.fit.as_str(), args.population.as_str()];
    for p in [&args.plot, &args.json].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let model = PopulationModel::load(&args.population)?;
    let text = std::fs::read_to_string(&args.fit).map_err(|e| Error::io(&args.fit, e))?;
    let (individuals, root) = individuals_from_fit_json(&text, &args.fit)?;
    check_units(&model, &root, &args.fit)?;
    report(
        &model,
        &individuals,
        args.plot.as_deref(),
        args.json.as_deref(),
        &inputs,
    )
}

/// Compares, prints, and writes the plot and JSON (shared with `pk fit --population`).
pub fn report(
    model: &PopulationModel,
    individuals: &[Individual],
    plot: Option<&str>,
    json_path: Option<&str>,
    inputs: &[&str],
) -> Result<()> {
    let rows = compare(model, individuals)?;
    let summary = group_summary(individuals);
    write_text(None, &text_report(model, &rows, &summary), inputs)?;
    if let Some(path) = plot {
        forest(
            path,
            &format!("Individuals against {} (band: central 90%)", model.name),
            &forest_rows(&rows),
        )?;
        eprintln!("forest plot written to {path}");
    }
    if let Some(path) = json_path {
        let doc = json!({
            "population": model.name,
            "source": model.source,
            "subjects": rows.iter().map(subject_json).collect::<Vec<_>>(),
            "group": {
                "n": summary.n,
                "cl_per_m2_geometric_mean": summary.cl_per_m2,
                "vss_per_m2_geometric_mean": summary.vss_per_m2,
                "t_half_geometric_mean": summary.t_half,
            },
            "published": model.published.iter().map(|p| json!({
                "label": p.label, "source": p.source, "cl_per_m2": p.cl_per_m2,
                "vss_per_m2": p.vss_per_m2, "t_half": p.t_half,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), inputs)?;
    }
    Ok(())
}

fn forest_rows(rows: &[SubjectComparison]) -> Vec<ForestRow> {
    let mut names: Vec<&str> = Vec::new();
    for s in rows {
        for p in &s.parameters {
            if !names.contains(&p.name.as_str()) {
                names.push(&p.name);
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        for s in rows {
            if let Some(p) = s.parameters.iter().find(|p| p.name == name) {
                out.push(ForestRow {
                    label: format!("{} {}", s.id, p.name),
                    ratio: p.ratio,
                    band: p.omega.map(|w| ((-Z90 * w).exp(), (Z90 * w).exp())),
                    flagged: p.flag.is_some(),
                });
            }
        }
    }
    out
}

fn subject_json(s: &SubjectComparison) -> Value {
    json!({
        "id": s.id,
        "converged": s.converged,
        "covariates": s.covariates.iter().map(|(n, v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "parameters": s.parameters.iter().map(|p| (p.name.clone(), json!({
            "individual": p.individual, "typical": p.typical, "ratio": p.ratio, "eta": p.eta,
            "omega": p.omega, "z": p.z, "percentile": p.percentile, "flag": p.flag,
        }))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The fit's volume and time units must be the population model's.
fn check_units(model: &PopulationModel, root: &Value, file: &str) -> Result<()> {
    let u = &model.structural.units;
    for (key, expected) in [("volume", u.volume.to_string()), ("time", u.time.to_string())] {
        if let Some(found) = root.get("units").and_then(|x| x.get(key)).and_then(Value::as_str) {
            if found != expected {
                return Err(Error::Argument(format!(
                    "{file}: the fit's {key} unit is {found} but population model {} uses {expected}; \
                     refit with the model's units",
                    model.name
                )));
            }
        }
    }
    Ok(())
}
