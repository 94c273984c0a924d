//! Goodness-of-fit figures of a population fit: DV against PRED and IPRED
//! (linear and log), CWRES against time, time after dose and PRED, |IWRES|
//! against IPRED, η histograms and QQ plots, η against covariates, and
//! pages of individual fits.

use super::figure::{Axis, Chart, Figure, HLine, Histogram, Individual, Qq, Scatter, Strips};
use crate::data::Dataset;
use crate::population::estimation::ObservationRow;

/// Subjects per page of individual fits.
pub const SUBJECTS_PER_PAGE: usize = 12;

/// Covariates drawn against η at most (the first ones of the data).
pub const MAX_COVARIATES: usize = 8;

/// A covariate, one value per subject (NaN where missing).
#[derive(Debug, Clone)]
pub struct Covariate {
    /// Column name.
    pub name: String,
    /// Per subject, in the order of [`GofInput::ids`].
    pub values: Vec<f64>,
}

/// What the goodness-of-fit figures are drawn from.
#[derive(Debug, Clone)]
pub struct GofInput<'a> {
    /// The diagnostics, one row per observation.
    pub rows: &'a [ObservationRow],
    /// Concentration unit, e.g. `mg/L`.
    pub concentration_unit: String,
    /// Time unit, e.g. `h`.
    pub time_unit: String,
    /// Subject IDs.
    pub ids: Vec<String>,
    /// η names.
    pub eta_names: Vec<String>,
    /// ω (SD) of each η.
    pub omega_sd: Vec<f64>,
    /// η̂ per subject (in the order of `ids`), one value per η.
    pub etas: Vec<Vec<f64>>,
    /// Subject-level covariates.
    pub covariates: Vec<Covariate>,
}

/// Every goodness-of-fit figure of `input`, in report order.
pub fn gof_figures(input: &GofInput<'_>) -> Vec<Figure> {
    let mut figures = observation_figures(input);
    figures.extend(eta_figures(input));
    figures.extend(individual_pages(input));
    figures
}

fn scatter(x: Axis, y: Axis, points: Vec<(f64, f64)>) -> Scatter {
    Scatter {
        x,
        y,
        points,
        identity: false,
        hlines: Vec::new(),
        smooth: true,
    }
}

fn figure(name: &str, title: &str, chart: Chart) -> Figure {
    Figure {
        name: name.into(),
        title: title.into(),
        chart,
    }
}

/// DV against PRED and IPRED, residual plots.
fn observation_figures(input: &GofInput<'_>) -> Vec<Figure> {
    let rows = input.rows;
    let conc = format!("({})", input.concentration_unit);
    let time = format!("({})", input.time_unit);
    // A censored observation's DV is its limit: not drawn against predictions.
    let observed = || rows.iter().filter(|r| r.blq == 0);
    let mut out = Vec::new();
    for (pred_name, of) in [("PRED", 0usize), ("IPRED", 1)] {
        let points: Vec<(f64, f64)> = observed()
            .map(|r| (if of == 0 { r.pred } else { r.ipred }, r.dv))
            .collect();
        let kind = if of == 0 { "population" } else { "individual" };
        for log in [false, true] {
            let axis = |l: String| if log { Axis::log(l) } else { Axis::linear(l) };
            let mut s = scatter(
                axis(format!("{pred_name} {conc}")),
                axis(format!("DV {conc}")),
                points.clone(),
            );
            s.identity = true;
            let suffix = if log { "_log" } else { "" };
            let scale = if log { " (log axes)" } else { "" };
            out.push(figure(
                &format!("dv_vs_{}{suffix}", pred_name.to_lowercase()),
                &format!("Observed versus {kind} prediction{scale}"),
                Chart::Scatter(s),
            ));
        }
    }
    let bands = vec![
        HLine { y: 0.0, dashed: false },
        HLine { y: -2.0, dashed: true },
        HLine { y: 2.0, dashed: true },
    ];
    let residual = |name: &str, title: &str, x: String, f: fn(&ObservationRow) -> f64| {
        let mut s = scatter(
            Axis::linear(x),
            Axis::linear("CWRES"),
            rows.iter().map(|r| (f(r), r.cwres)).collect(),
        );
        s.hlines = bands.clone();
        figure(name, title, Chart::Scatter(s))
    };
    out.push(residual(
        "cwres_vs_time",
        "Conditional weighted residuals versus time",
        format!("Time {time}"),
        |r| r.time,
    ));
    out.push(residual(
        "cwres_vs_tad",
        "Conditional weighted residuals versus time after dose",
        format!("Time after dose {time}"),
        |r| r.tad,
    ));
    out.push(residual(
        "cwres_vs_pred",
        "Conditional weighted residuals versus PRED",
        format!("PRED {conc}"),
        |r| r.pred,
    ));
    out.push(figure(
        "abs_iwres_vs_ipred",
        "|IWRES| versus individual prediction",
        Chart::Scatter(scatter(
            Axis::linear(format!("IPRED {conc}")),
            Axis::linear("|IWRES|"),
            observed().map(|r| (r.ipred, r.iwres.abs())).collect(),
        )),
    ));
    out
}

/// The values of η `k` over subjects.
fn eta_column(input: &GofInput<'_>, k: usize) -> Vec<f64> {
    input
        .etas
        .iter()
        .map(|e| e.get(k).copied().unwrap_or(f64::NAN))
        .collect()
}

/// Histograms, QQ plots, and η against each covariate.
fn eta_figures(input: &GofInput<'_>) -> Vec<Figure> {
    let n_eta = input.eta_names.len();
    if n_eta == 0 || input.etas.is_empty() {
        return Vec::new();
    }
    let sd = |k: usize| input.omega_sd.get(k).copied().unwrap_or(f64::NAN);
    let hist = (0..n_eta)
        .map(|k| Histogram {
            label: input.eta_names[k].clone(),
            values: eta_column(input, k),
            sd: sd(k),
        })
        .collect();
    let qq = (0..n_eta)
        .map(|k| Qq {
            label: input.eta_names[k].clone(),
            values: eta_column(input, k),
            sd: sd(k),
        })
        .collect();
    let mut out = vec![
        figure(
            "eta_histograms",
            "Histograms of the individual η estimates, with N(0, ω²)",
            Chart::Histograms(hist),
        ),
        figure(
            "eta_qq",
            "Normal QQ plots of the individual η estimates (line: N(0, ω²))",
            Chart::Qqs(qq),
        ),
    ];
    for c in input.covariates.iter().take(MAX_COVARIATES) {
        out.push(eta_vs_covariate(input, c));
    }
    out
}

/// Whether a covariate is categorical: at most 6 distinct values, all integers.
fn categories(values: &[f64]) -> Option<Vec<f64>> {
    let mut distinct: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    (distinct.len() <= 6 && distinct.iter().all(|v| v.fract() == 0.0)).then_some(distinct)
}

fn eta_vs_covariate(input: &GofInput<'_>, c: &Covariate) -> Figure {
    let name = format!("eta_vs_{}", file_safe(&c.name));
    let title = format!("Individual η estimates versus {}", c.name);
    let chart = match categories(&c.values) {
        Some(levels) => Chart::Strips(
            input
                .eta_names
                .iter()
                .enumerate()
                .map(|(k, eta)| {
                    let column = eta_column(input, k);
                    let groups = levels
                        .iter()
                        .map(|level| {
                            let values = c
                                .values
                                .iter()
                                .zip(&column)
                                .filter(|(v, _)| *v == level)
                                .map(|(_, e)| *e)
                                .collect();
                            (format!("{level}"), values)
                        })
                        .collect();
                    let strips = Strips {
                        x_label: c.name.clone(),
                        y_label: eta.clone(),
                        groups,
                    };
                    (String::new(), strips)
                })
                .collect(),
        ),
        None => Chart::Scatters(
            input
                .eta_names
                .iter()
                .enumerate()
                .map(|(k, eta)| {
                    let points = c.values.iter().copied().zip(eta_column(input, k)).collect();
                    let mut s = scatter(Axis::linear(c.name.clone()), Axis::linear(eta.clone()), points);
                    s.hlines = vec![HLine { y: 0.0, dashed: false }];
                    (String::new(), s)
                })
                .collect(),
        ),
    };
    figure(&name, &title, chart)
}

/// A name usable in a file name: letters, digits, `_` and `-`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect()
}

/// One subject's DV points and its IPRED and PRED lines (one per output).
fn individual(id: &str, rows: &[&ObservationRow]) -> Individual {
    let mut outputs: Vec<&str> = rows.iter().map(|r| r.output.as_str()).collect();
    outputs.sort_unstable();
    outputs.dedup();
    let line = |output: &str, f: fn(&ObservationRow) -> f64| {
        let mut l: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.output == output)
            .map(|r| (r.time, f(r)))
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        l.sort_by(|a, b| a.0.total_cmp(&b.0));
        l
    };
    Individual {
        id: id.to_string(),
        dv: rows.iter().filter(|r| r.blq == 0).map(|r| (r.time, r.dv)).collect(),
        ipred: outputs.iter().map(|o| line(o, |r| r.ipred)).collect(),
        pred: outputs.iter().map(|o| line(o, |r| r.pred)).collect(),
    }
}

/// Pages of [`SUBJECTS_PER_PAGE`] individual fits (IPRED and PRED at the observation times).
fn individual_pages(input: &GofInput<'_>) -> Vec<Figure> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_id: std::collections::HashMap<&str, Vec<&ObservationRow>> = std::collections::HashMap::new();
    for r in input.rows {
        let entry = by_id.entry(r.id.as_str()).or_default();
        if entry.is_empty() {
            order.push(r.id.as_str());
        }
        entry.push(r);
    }
    let subjects: Vec<Individual> = order.iter().map(|id| individual(id, &by_id[id])).collect();
    let pages = subjects.len().div_ceil(SUBJECTS_PER_PAGE);
    subjects
        .chunks(SUBJECTS_PER_PAGE)
        .enumerate()
        .map(|(p, chunk)| {
            figure(
                &format!("individuals_{}", p + 1),
                &format!("Individual fits, page {} of {pages}", p + 1),
                Chart::Individuals {
                    x_label: format!("Time ({})", input.time_unit),
                    y_label: format!("Concentration ({})", input.concentration_unit),
                    subjects: chunk.to_vec(),
                },
            )
        })
        .collect()
}

/// The subject-level covariates of `data` for the subjects `ids`: columns
/// constant within every subject that vary between subjects (time-varying
/// columns, and constants, are left out).
pub fn subject_covariates(data: &Dataset, ids: &[String]) -> Vec<Covariate> {
    let subject = |id: &String| data.subjects.iter().find(|s| &s.id == id);
    let mut out = Vec::new();
    for (j, name) in data.covariate_names.iter().enumerate() {
        let mut values = Vec::with_capacity(ids.len());
        let mut constant_within = true;
        for id in ids {
            let column: Vec<f64> = subject(id)
                .map(|s| s.records.iter().filter_map(|r| r.covariates.get(j).copied()).collect())
                .unwrap_or_default();
            let first = column.first().copied().unwrap_or(f64::NAN);
            constant_within &= column.iter().all(|v| *v == first || (v.is_nan() && first.is_nan()));
            values.push(first);
        }
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let varies = finite.iter().any(|v| *v != finite[0]);
        if constant_within && varies {
            out.push(Covariate {
                name: name.clone(),
                values,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, time: f64, dv: f64) -> ObservationRow {
        ObservationRow {
            id: id.into(),
            time,
            tad: time,
            output: "c".into(),
            dv,
            blq: 0,
            pred: dv * 1.1,
            ipred: dv * 0.95,
            res: dv * -0.1,
            wres: 0.3,
            cwres: (time - 3.0) / 2.0,
            iwres: 0.1 * (time - 2.0),
        }
    }

    /// 14 subjects × 5 observations, 2 η, a continuous and a categorical covariate.
    pub(crate) fn sample_rows() -> Vec<ObservationRow> {
        (0..14)
            .flat_map(|i| (1..=5).map(move |t| row(&format!("{}", i + 1), t as f64, 10.0 / t as f64 + i as f64)))
            .collect()
    }

    pub(crate) fn sample_input(rows: &[ObservationRow]) -> GofInput<'_> {
        let ids: Vec<String> = (1..=14).map(|i| i.to_string()).collect();
        GofInput {
            rows,
            concentration_unit: "mg/L".into(),
            time_unit: "h".into(),
            eta_names: vec!["ETA_CL".into(), "ETA_V".into()],
            omega_sd: vec![0.3, 0.2],
            etas: (0..14)
                .map(|i| vec![0.05 * (i as f64 - 7.0), 0.02 * (i % 3) as f64])
                .collect(),
            covariates: vec![
                Covariate {
                    name: "WT".into(),
                    values: (0..14).map(|i| 50.0 + 3.0 * i as f64).collect(),
                },
                Covariate {
                    name: "SEX".into(),
                    values: (0..14).map(|i| (i % 2) as f64).collect(),
                },
            ],
            ids,
        }
    }

    #[test]
    fn every_figure_is_made_with_two_pages_of_individuals() {
        let rows = sample_rows();
        let names: Vec<String> = gof_figures(&sample_input(&rows)).into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "dv_vs_pred",
                "dv_vs_pred_log",
                "dv_vs_ipred",
                "dv_vs_ipred_log",
                "cwres_vs_time",
                "cwres_vs_tad",
                "cwres_vs_pred",
                "abs_iwres_vs_ipred",
                "eta_histograms",
                "eta_qq",
                "eta_vs_WT",
                "eta_vs_SEX",
                "individuals_1",
                "individuals_2",
            ]
        );
    }

    #[test]
    fn categorical_covariates_are_strips_continuous_are_scatters() {
        let rows = sample_rows();
        let figures = gof_figures(&sample_input(&rows));
        let by_name = |n: &str| figures.iter().find(|f| f.name == n).unwrap();
        assert!(matches!(by_name("eta_vs_WT").chart, Chart::Scatters(ref v) if v.len() == 2));
        match &by_name("eta_vs_SEX").chart {
            Chart::Strips(v) => {
                assert_eq!(v.len(), 2);
                let labels: Vec<&str> = v[0].1.groups.iter().map(|g| g.0.as_str()).collect();
                assert_eq!(labels, ["0", "1"]);
                assert_eq!(v[0].1.groups[0].1.len(), 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_figure_renders_as_svg_and_png() {
        let rows = sample_rows();
        for f in gof_figures(&sample_input(&rows)) {
            let svg = f.svg().unwrap();
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{}",
                f.name
            );
            let marks = if f.name == "eta_histograms" { "<rect" } else { "<circle" };
            assert!(svg.matches(marks).count() >= 10, "{}: no data drawn", f.name);
            let png = f.png().unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", f.name);
            assert!(png.len() > 5_000, "{}: {} bytes", f.name, png.len());
            let img = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), f.size(), "{}", f.name);
            let coloured = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            assert!(coloured > 2_000, "{}: {coloured} non-white pixels", f.name);
        }
    }
}
