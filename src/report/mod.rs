//! One self-contained HTML report of a population fit: the model, a data
//! summary, the method and its convergence, the objective, the estimates with
//! their standard errors and shrinkage, and every goodness-of-fit figure
//! inline (PNG `data:` URIs). No external resource: it reads offline.

use crate::plot::render::base64;

/// One row of the estimates table.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateRow {
    /// Parameter name, e.g. `CL` or `OMEGA(ETA_CL)`.
    pub name: String,
    /// Estimate.
    pub value: f64,
    /// Standard error, when the covariance step gave one.
    pub se: Option<f64>,
    /// Relative standard error in percent.
    pub rse_percent: Option<f64>,
    /// The scale it was estimated on (e.g. `log`), when known.
    pub scale: Option<String>,
}

/// A figure for the report: its anchor name, title and PNG bytes.
#[derive(Debug, Clone)]
pub struct ReportFigure {
    /// Anchor and file stem, e.g. `dv_vs_pred`.
    pub name: String,
    /// Caption.
    pub title: String,
    /// The PNG image.
    pub png: Vec<u8>,
    /// Width in pixels (the image is shown at most this wide).
    pub width: u32,
}

/// Everything the report shows, computed by the run (nothing is recomputed here).
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Page title, e.g. `pk popfit: two_cmt_pop`.
    pub title: String,
    /// The command line of the run.
    pub command: String,
    /// Where the model comes from (file name, or bundled name).
    pub model_source: String,
    /// The model's text (model language or control stream).
    pub model_text: String,
    /// Data summary as (label, value) rows: file, subjects, observations, doses, BLQ.
    pub data: Vec<(String, String)>,
    /// Estimation method, e.g. `FOCE-I`.
    pub method: String,
    /// Whether the estimation converged.
    pub converged: bool,
    /// The optimiser's message.
    pub message: String,
    /// Objective and run figures as (label, value) rows: OFV, AIC, BIC, iterations, time.
    pub objective: Vec<(String, String)>,
    /// The covariance step: the matrix used, or why there are no standard errors.
    pub covariance: String,
    /// The estimates (empty when the method reports them only as text).
    pub estimates: Vec<EstimateRow>,
    /// η-shrinkage (fraction) per η.
    pub eta_shrinkage: Vec<(String, f64)>,
    /// ε-shrinkage (fraction).
    pub eps_shrinkage: Option<f64>,
    /// The run's printed summary, verbatim.
    pub summary_text: String,
    /// The goodness-of-fit figures.
    pub figures: Vec<ReportFigure>,
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;color:#1d1d1f;background:#fafafa;line-height:1.45}
header{background:#16324f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:1.5em}
header p{margin:4px 0 0;opacity:.85;font-family:monospace;font-size:.9em;word-break:break-all}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}
nav{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px;margin:16px 0}
nav a{margin-right:14px;color:#16324f}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 20px;margin:16px 0}
h2{color:#16324f;border-bottom:2px solid #e3e8ee;padding-bottom:4px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px;border-bottom:1px solid #e6e6e6;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f0f3f7}
pre{background:#f5f6f8;border:1px solid #e1e4e8;padding:10px;overflow:auto;font-size:.85em;max-height:480px}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
figure{margin:18px 0;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.95em;color:#444;margin-top:4px}
";

fn key_values(rows: &[(String, String)]) -> String {
    let mut t = String::from("<table>\n");
    for (k, v) in rows {
        t.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)));
    }
    t.push_str("</table>\n");
    t
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        "-".into()
    }
}

fn estimates_table(r: &RunReport) -> String {
    if r.estimates.is_empty() {
        return "<p>The estimates are in the summary below.</p>\n".into();
    }
    let mut t = String::from(
        "<table>\n<tr><th>parameter</th><th>estimate</th><th>SE</th><th>RSE %</th><th>estimated on</th></tr>\n",
    );
    for e in &r.estimates {
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&e.name),
            number(e.value),
            e.se.map_or("-".into(), |s| format!("{s:.5}")),
            e.rse_percent.map_or("-".into(), |s| format!("{s:.1}")),
            escape(e.scale.as_deref().unwrap_or("-"))
        ));
    }
    t.push_str("</table>\n");
    t
}

fn shrinkage_table(r: &RunReport) -> String {
    if r.eta_shrinkage.is_empty() && r.eps_shrinkage.is_none() {
        return String::new();
    }
    let mut t = String::from(
        "<h3>Shrinkage (SD-based, as NONMEM)</h3>\n<table>\n<tr><th>effect</th><th>shrinkage %</th></tr>\n",
    );
    let eps = r.eps_shrinkage.map(|s| ("ε".to_string(), s));
    for (n, s) in r.eta_shrinkage.iter().cloned().chain(eps) {
        t.push_str(&format!("<tr><td>{}</td><td>{:.1}</td></tr>\n", escape(&n), 100.0 * s));
    }
    t.push_str("</table>\n");
    t
}

fn figures_html(r: &RunReport) -> String {
    let mut t = String::new();
    for f in &r.figures {
        t.push_str(&format!(
            "<figure id=\"fig-{name}\"><img alt=\"{title}\" width=\"{w}\" src=\"data:image/png;base64,{data}\"><figcaption>{title}</figcaption></figure>\n",
            name = escape(&f.name),
            title = escape(&f.title),
            w = f.width,
            data = base64(&f.png)
        ));
    }
    t
}

/// The report as one HTML document.
pub fn html(r: &RunReport) -> String {
    let status = if r.converged {
        "<span class=\"ok\">converged</span>"
    } else {
        "<span class=\"bad\">NOT converged</span>"
    };
    let mut objective = r.objective.clone();
    objective.insert(0, ("method".into(), r.method.clone()));
    let sections = [
        (
            "model",
            "Model",
            format!(
                "<p>{}</p>\n<pre>{}</pre>\n",
                escape(&r.model_source),
                escape(&r.model_text)
            ),
        ),
        ("data", "Data", key_values(&r.data)),
        (
            "estimation",
            "Estimation",
            format!(
                "<p>Status: {status}. {}</p>\n{}<p>Covariance step: {}</p>\n",
                escape(&r.message),
                key_values(&objective),
                escape(&r.covariance)
            ),
        ),
        (
            "estimates",
            "Estimates",
            format!(
                "{}{}<h3>Summary as printed</h3>\n<pre>{}</pre>\n",
                estimates_table(r),
                shrinkage_table(r),
                escape(&r.summary_text)
            ),
        ),
        ("gof", "Goodness of fit", figures_html(r)),
    ];
    let mut t = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header><h1>{}</h1><p>{}</p></header>\n<main>\n<nav>",
        escape(&r.title),
        escape(&r.title),
        escape(&r.command)
    );
    for (id, heading, _) in &sections {
        t.push_str(&format!("<a href=\"#{id}\">{heading}</a>"));
    }
    t.push_str("</nav>\n");
    for (id, heading, body) in &sections {
        t.push_str(&format!(
            "<section id=\"{id}\">\n<h2>{heading}</h2>\n{body}</section>\n"
        ));
    }
    t.push_str("</main>\n</body>\n</html>\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\">'"), "a&lt;b &amp; &quot;c&quot;&gt;&#39;");
    }

    #[test]
    fn every_section_and_figure_is_in_the_page() {
        let r = RunReport {
            title: "pk popfit: <m>".into(),
            model_text: "theta CL = 1 <x>".into(),
            data: vec![("subjects".into(), "3".into())],
            method: "FOCE-I".into(),
            converged: true,
            estimates: vec![EstimateRow {
                name: "CL".into(),
                value: 1.5,
                se: Some(0.1),
                rse_percent: Some(6.7),
                scale: Some("log".into()),
            }],
            eta_shrinkage: vec![("ETA_CL".into(), 0.12)],
            eps_shrinkage: Some(0.05),
            figures: vec![ReportFigure {
                name: "dv_vs_pred".into(),
                title: "Observed versus PRED".into(),
                png: vec![0x89, b'P', b'N', b'G'],
                width: 700,
            }],
            ..RunReport::default()
        };
        let page = html(&r);
        for id in ["model", "data", "estimation", "estimates", "gof"] {
            assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        assert!(page.contains("theta CL = 1 &lt;x&gt;"));
        assert!(page.contains("<td>CL</td><td>1.500000</td><td>0.10000</td><td>6.7</td><td>log</td>"));
        assert!(page.contains("<td>ETA_CL</td><td>12.0</td>"));
        assert!(page.contains("src=\"data:image/png;base64,iVBORw==\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
