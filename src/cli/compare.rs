//! `pk compare`: fitted individuals against a population model.

use super::output::{refuse_input, write_text};
use clap::Args;
use pk::plot::{forest, ForestRow};
use pk::population::compare::{
    compare_model, group_summary, individuals_from_fit_json, text_report_for, Individual, PublishedFile, ReportHeader,
    SubjectComparison, Z90,
};
use pk::{Error, Result};
use serde_json::{json, Value};

/// Arguments of `pk compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// JSON written by `pk fit --json` (or `pk fit --prior … --json`).
    fit: String,
    /// Population model in the model language (.pk file or bundled name),
    /// e.g. models/clofarabine_bonate2004.pk.
    #[arg(long)]
    population: String,
    /// Published group values to print beside the group (TOML of [[published]] tables),
    /// e.g. fixtures/clofarabine/published.toml.
    #[arg(long)]
    published: Option<String>,
    /// Forest plot (SVG) of the ratios with the 90% population band.
    #[arg(long)]
    plot: Option<String>,
    /// JSON output file.
    #[arg(long)]
    json: Option<String>,
}

/// Runs `pk compare`.
pub fn run(args: CompareArgs) -> Result<()> {
    let mut inputs = vec![args.fit.as_str(), args.population.as_str()];
    inputs.extend(args.published.as_deref());
    for p in [&args.plot, &args.json].into_iter().flatten() {
        refuse_input(p, &inputs)?;
    }
    let model = super::model_args::load_language_model(&args.population)?;
    let published = match &args.published {
        Some(path) => PublishedFile::load(path)?.published,
        None => Vec::new(),
    };
    let text = std::fs::read_to_string(&args.fit).map_err(|e| Error::io(&args.fit, e))?;
    let (individuals, root) = individuals_from_fit_json(&text, &args.fit)?;
    let u = &model.units;
    check_units(
        &model.name(),
        (&u.volume.to_string(), &u.time.to_string()),
        &root,
        &args.fit,
    )?;
    let rows = compare_model(&model, &individuals)?;
    let name = model.name();
    let header = ReportHeader {
        name: &name,
        source: &model.code.description,
        published: &published,
    };
    let out = Outputs {
        plot: args.plot.as_deref(),
        json: args.json.as_deref(),
        inputs: &inputs,
    };
    write_report(&header, &rows, &individuals, &out)
}

/// Where the report goes.
struct Outputs<'a> {
    plot: Option<&'a str>,
    json: Option<&'a str>,
    inputs: &'a [&'a str],
}

/// Compares with a population model in the model language, prints, and
/// writes the plot and JSON (`pk fit --population`).
pub fn report(
    model: &pk::model::Model,
    individuals: &[Individual],
    plot: Option<&str>,
    json_path: Option<&str>,
    inputs: &[&str],
) -> Result<()> {
    let rows = compare_model(model, individuals)?;
    let name = model.name();
    let header = ReportHeader {
        name: &name,
        source: &model.code.description,
        published: &[],
    };
    let out = Outputs {
        plot,
        json: json_path,
        inputs,
    };
    write_report(&header, &rows, individuals, &out)
}

/// Prints the comparison and writes the forest plot and the JSON.
fn write_report(
    h: &ReportHeader<'_>,
    rows: &[SubjectComparison],
    individuals: &[Individual],
    out: &Outputs<'_>,
) -> Result<()> {
    let summary = group_summary(individuals);
    write_text(None, &text_report_for(h, rows, &summary), out.inputs)?;
    if let Some(path) = out.plot {
        forest(
            path,
            &format!("Individuals against {} (band: central 90%)", h.name),
            &forest_rows(rows),
        )?;
        eprintln!("forest plot written to {path}");
    }
    if let Some(path) = out.json {
        let doc = json!({
            "population": h.name,
            "source": h.source,
            "subjects": rows.iter().map(subject_json).collect::<Vec<_>>(),
            "group": {
                "n": summary.n,
                "cl_per_m2_geometric_mean": summary.cl_per_m2,
                "vss_per_m2_geometric_mean": summary.vss_per_m2,
                "t_half_geometric_mean": summary.t_half,
            },
            "published": h.published.iter().map(|p| json!({
                "label": p.label, "source": p.source, "cl_per_m2": p.cl_per_m2,
                "vss_per_m2": p.vss_per_m2, "t_half": p.t_half,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Argument(e.to_string()))?;
        write_text(Some(path), &(text + "\n"), out.inputs)?;
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

/// The fit's volume and time units must be the population model's (`units` = (volume, time)).
fn check_units(model: &str, units: (&str, &str), root: &Value, file: &str) -> Result<()> {
    for (key, expected) in [("volume", units.0), ("time", units.1)] {
        if let Some(found) = root.get("units").and_then(|x| x.get(key)).and_then(Value::as_str) {
            if found != expected {
                return Err(Error::Argument(format!(
                    "{file}: the fit's {key} unit is {found} but population model {model} uses {expected}; \
                     refit with the model's units"
                )));
            }
        }
    }
    Ok(())
}
