//! A model file with other values in its declarations: `pk popfit
//! --write-model` writes the fitted θ, Ω, κ and σ as the model's initial
//! values, ready for `simulate --population`, the VPC or a next fit.
//!
//! Only the declaration statements (`theta`, `omega`, `iov`, `sigma`) are
//! rewritten, in place and with the names, bounds, blocks, FIX flags and the
//! comments of their lines as written (a block's values on one line); every other line of the
//! file is kept as it is.

use super::ast::Stmt;
use super::compile::CompiledModel;
use super::parser::parse;
use super::LangError;
use nalgebra::DMatrix;

/// The values to write into the declarations.
#[derive(Debug, Clone, Copy)]
pub struct DeclaredValues<'a> {
    /// θ, in declaration order.
    pub theta: &'a [f64],
    /// Ω of the between-subject η.
    pub omega: &'a DMatrix<f64>,
    /// Ω of the inter-occasion κ (0×0 without IOV).
    pub omega_iov: &'a DMatrix<f64>,
    /// σ variances, in declaration order.
    pub sigma_variance: &'a [f64],
}

/// A declaration statement's lines in the file (0-based, inclusive).
#[derive(Debug, Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
}

const KEYWORDS: [&str; 4] = ["theta", "omega", "iov", "sigma"];

/// The code part of a line (before a `#` comment) and the comment.
fn split_comment(line: &str) -> (&str, &str) {
    match line.find('#') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    }
}

/// The declaration statements' spans: a line starting with a declaration
/// keyword, continued while a `{` is open (a block's values).
fn declaration_spans(lines: &[&str]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let code = split_comment(lines[i]).0;
        let first = code.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if !KEYWORDS.contains(&first.as_str()) {
            i += 1;
            continue;
        }
        let mut depth: i64 = 0;
        let mut last = i;
        loop {
            let code = split_comment(lines[last]).0;
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if depth <= 0 || last + 1 == lines.len() {
                break;
            }
            last += 1;
        }
        spans.push(Span { first: i, last });
        i = last + 1;
    }
    spans
}

fn bounds(lower: f64, upper: f64) -> String {
    match (lower.is_finite(), upper.is_finite()) {
        (false, false) => String::new(),
        (true, false) => format!(" ({lower}, )"),
        (false, true) => format!(" (, {upper})"),
        (true, true) => format!(" ({lower}, {upper})"),
    }
}

fn fix(fixed: bool) -> &'static str {
    if fixed {
        " fix"
    } else {
        ""
    }
}

/// Value (i, j) of the matrix of `names`, by name.
fn element(names: &[String], matrix: &DMatrix<f64>, a: &str, b: &str) -> f64 {
    let i = names.iter().position(|n| n == a);
    let j = names.iter().position(|n| n == b);
    match (i, j) {
        (Some(i), Some(j)) if i < matrix.nrows() && j < matrix.ncols() => matrix[(i, j)],
        _ => f64::NAN,
    }
}

/// The text of the declaration statements `stmts` (all of one span) with `v`.
fn declaration_text(stmts: &[&Stmt], code: &CompiledModel, v: &DeclaredValues<'_>) -> String {
    let mut thetas = Vec::new();
    let mut omegas = Vec::new();
    let mut sigmas = Vec::new();
    for s in stmts {
        match s {
            Stmt::Theta {
                name,
                lower,
                upper,
                fixed,
                ..
            } => {
                let value = code
                    .thetas
                    .iter()
                    .position(|t| &t.name == name)
                    .and_then(|k| v.theta.get(k).copied())
                    .unwrap_or(f64::NAN);
                thetas.push(format!(
                    "theta {name} = {value}{}{}",
                    bounds(*lower, *upper),
                    fix(*fixed)
                ));
            }
            Stmt::Omega {
                names, fixed, occasion, ..
            } => {
                let (all, matrix) = match occasion {
                    Some(_) => (
                        code.iov.as_ref().map(|i| i.effects.names.clone()).unwrap_or_default(),
                        v.omega_iov,
                    ),
                    None => (code.omega.names.clone(), v.omega),
                };
                let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                let keyword = if occasion.is_some() { "iov" } else { "omega" };
                let by = occasion.as_ref().map_or(String::new(), |o| format!(" by {o}"));
                if names.len() == 1 {
                    let value = element(&all, matrix, names[0], names[0]);
                    omegas.push((keyword, format!("{} ~ {value}{}", names[0], fix(*fixed)), by));
                } else {
                    let mut values = Vec::new();
                    for (i, a) in names.iter().enumerate() {
                        for b in &names[..=i] {
                            values.push(format!("{}", element(&all, matrix, a, b)));
                        }
                    }
                    omegas.push((
                        keyword,
                        format!(
                            "block({}) {} ~ {{{}}}{}",
                            names.len(),
                            names.join(", "),
                            values.join(", "),
                            fix(*fixed)
                        ),
                        by,
                    ));
                }
            }
            Stmt::Sigma { name, fixed, .. } => {
                let value = code
                    .sigmas
                    .iter()
                    .position(|s| &s.name == name)
                    .and_then(|k| v.sigma_variance.get(k).copied())
                    .unwrap_or(f64::NAN);
                sigmas.push(format!("{name} ~ {value}{}", fix(*fixed)));
            }
            _ => {}
        }
    }
    let mut out = thetas;
    if let Some((keyword, _, by)) = omegas.first() {
        let parts: Vec<&str> = omegas.iter().map(|(_, p, _)| p.as_str()).collect();
        out.push(format!("{keyword} {}{by}", parts.join(", ")));
    }
    if !sigmas.is_empty() {
        out.push(format!("sigma {}", sigmas.join(", ")));
    }
    out.join("\n")
}

/// `source` with its declarations' values replaced by `values`. `code` is
/// the compiled `source` (for the order of θ, η, κ and σ).
pub fn with_values(source: &str, code: &CompiledModel, values: &DeclaredValues<'_>) -> Result<String, LangError> {
    let stmts = parse(source)?;
    let lines: Vec<&str> = source.lines().collect();
    let spans = declaration_spans(&lines);
    let line_of = |s: &Stmt| -> Option<usize> {
        match s {
            Stmt::Theta { pos, .. } | Stmt::Sigma { pos, .. } | Stmt::Omega { pos, .. } => Some(pos.line - 1),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let Some(span) = spans.iter().find(|s| s.first == i) else {
            out.push(lines[i].to_string());
            i += 1;
            continue;
        };
        let inside: Vec<&Stmt> = stmts
            .iter()
            .filter(|s| line_of(s).is_some_and(|l| l >= span.first && l <= span.last))
            .collect();
        let comments: Vec<&str> = (span.first..=span.last)
            .map(|l| split_comment(lines[l]).1.trim_end())
            .filter(|c| !c.is_empty())
            .collect();
        let comment = comments.join(" ");
        let text = declaration_text(&inside, code, values);
        out.push(if comment.is_empty() {
            text
        } else {
            format!("{text}  {comment}")
        });
        i = span.last + 1;
    }
    let mut text = out.join("\n");
    if source.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "# a model\n\
theta TVCL = 3 (0.01, 100)   # L/h\n\
theta TVV = 60 (1, )\n\
theta F1X = 0.5 fix\n\
omega eta_cl ~ 0.1\n\
omega block(2) eta_v, eta_ka ~ {0.2,\n    0.01, 0.3}  # correlated\n\
iov kappa_cl ~ 0.05 by OCC\n\
sigma prop ~ 0.04, add ~ 1 fix\n\
CL = TVCL * exp(eta_cl + kappa_cl)\n\
V = TVV * exp(eta_v)\n\
KA = F1X * exp(eta_ka)\n\
kernel one_cmt_oral(KA, CL, V)\n\
output CP = central / V ~ add(add) + prop(prop)\n";

    #[test]
    fn declarations_take_the_new_values_and_everything_else_stays() {
        let code = crate::lang::parse_model(MODEL, "m.pk").unwrap();
        let omega = DMatrix::from_row_slice(3, 3, &[0.11, 0.0, 0.0, 0.0, 0.22, 0.015, 0.0, 0.015, 0.33]);
        let omega_iov = DMatrix::from_element(1, 1, 0.055);
        let values = DeclaredValues {
            theta: &[3.5, 61.25, 0.5],
            omega: &omega,
            omega_iov: &omega_iov,
            sigma_variance: &[0.0441, 1.0],
        };
        let text = with_values(MODEL, &code, &values).unwrap();
        let expected = "# a model\n\
theta TVCL = 3.5 (0.01, 100)  # L/h\n\
theta TVV = 61.25 (1, )\n\
theta F1X = 0.5 fix\n\
omega eta_cl ~ 0.11\n\
omega block(2) eta_v, eta_ka ~ {0.22, 0.015, 0.33}  # correlated\n\
iov kappa_cl ~ 0.055 by OCC\n\
sigma prop ~ 0.0441, add ~ 1 fix\n\
CL = TVCL * exp(eta_cl + kappa_cl)\n\
V = TVV * exp(eta_v)\n\
KA = F1X * exp(eta_ka)\n\
kernel one_cmt_oral(KA, CL, V)\n\
output CP = central / V ~ add(add) + prop(prop)\n";
        assert_eq!(text, expected);
        let again = crate::lang::parse_model(&text, "m.pk").unwrap();
        assert_eq!(again.thetas[1].init, 61.25);
        assert_eq!(again.omega.matrix[(2, 1)], 0.015);
    }
}
