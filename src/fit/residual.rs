//! The residual error model of a fit is the model file's (the language's
//! `output … ~ error model`, one definition for every subcommand). This module
//! reads which σ a fit estimates from it, and implements `--error additive |
//! proportional | combined`, a convenience that rewrites every output's error
//! model (and the `sigma` declarations) before the model is compiled.

use super::error_model::{Criterion, Weighting};
use crate::error::{Error, Result};
use crate::lang::ast::Combine;
use crate::lang::{OutputDecl, TermKind};
use crate::model::Model;

/// A residual error model that replaces the model file's (`--error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOverride {
    /// `add(sigma_add)`.
    Additive,
    /// `prop(sigma_prop)`.
    Proportional,
    /// `add(sigma_add) + prop(sigma_prop)`.
    Combined,
}

impl ErrorOverride {
    /// The error model as written in the language.
    fn text(self) -> &'static str {
        match self {
            ErrorOverride::Additive => "add(sigma_add)",
            ErrorOverride::Proportional => "prop(sigma_prop)",
            ErrorOverride::Combined => "add(sigma_add) + prop(sigma_prop)",
        }
    }

    /// The `sigma` declarations it needs (starting values only: σ is estimated).
    fn sigma_lines(self) -> Vec<&'static str> {
        match self {
            ErrorOverride::Additive => vec!["sigma sigma_add ~ 1"],
            ErrorOverride::Proportional => vec!["sigma sigma_prop ~ 0.01"],
            ErrorOverride::Combined => vec!["sigma sigma_add ~ 1", "sigma sigma_prop ~ 0.01"],
        }
    }
}

impl std::fmt::Display for ErrorOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorOverride::Additive => "additive",
            ErrorOverride::Proportional => "proportional",
            ErrorOverride::Combined => "combined",
        })
    }
}

/// What `--error` and `--weight` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorChoice {
    /// A residual error model replacing the file's, if any.
    pub replace: Option<ErrorOverride>,
    /// Classical weighted least squares instead of maximum likelihood.
    pub weighting: Option<Weighting>,
}

impl ErrorChoice {
    /// Parses `--error` (`additive`, `proportional`, `combined`, `wls`; none:
    /// the model file's error model) and `--weight` (with `wls` only).
    pub fn parse(error: Option<&str>, weight: Option<&str>) -> Result<Self> {
        let Some(text) = error else {
            return match weight {
                Some(w) => Err(Error::Argument(format!(
                    "--weight {w} applies to --error wls only; the model file's error model weights by its own variance"
                ))),
                None => Ok(ErrorChoice::default()),
            };
        };
        let replace = match text.trim().to_ascii_lowercase().as_str() {
            "additive" | "add" => Some(ErrorOverride::Additive),
            "proportional" | "prop" => Some(ErrorOverride::Proportional),
            "combined" => Some(ErrorOverride::Combined),
            "wls" | "ls" | "ols" => None,
            _ => {
                return Err(Error::Argument(format!(
                    "error model '{text}': expected additive, proportional, combined or wls"
                )))
            }
        };
        match (replace, weight) {
            (None, w) => Ok(ErrorChoice {
                replace: None,
                weighting: Some(w.map_or(Ok(Weighting::Uniform), Weighting::parse)?),
            }),
            (Some(_), Some(w)) => Err(Error::Argument(format!(
                "--weight {w} applies to --error wls only; the {text} model weights by its own variance"
            ))),
            (Some(r), None) => Ok(ErrorChoice {
                replace: Some(r),
                weighting: None,
            }),
        }
    }

    /// The model to fit: `model` itself, or with its error models replaced.
    pub fn apply(&self, model: &Model) -> Result<Model> {
        match self.replace {
            Some(r) => replace_error_model(model, r),
            None => Ok(model.clone()),
        }
    }
}

/// `model` with every output's error model replaced by `e`, and its `sigma`
/// declarations by the ones `e` needs (the file is rewritten and compiled again).
pub fn replace_error_model(model: &Model, e: ErrorOverride) -> Result<Model> {
    let mut lines = Vec::with_capacity(model.code.source.len() + 2);
    for line in &model.code.source {
        let code = line.split('#').next().unwrap_or("");
        let first = code.split_whitespace().next().unwrap_or("");
        if first == "sigma" {
            continue;
        }
        match code.find('~').filter(|_| first == "output") {
            Some(k) => {
                let options: Vec<&str> = code[k + 1..]
                    .split_whitespace()
                    .filter(|w| w.starts_with("dvid=") || w.starts_with("cmt=") || *w == "unscaled")
                    .collect();
                lines.push(format!("{} ~ {} {}", code[..k].trim_end(), e.text(), options.join(" ")));
            }
            None => lines.push(line.clone()),
        }
    }
    lines.extend(e.sigma_lines().into_iter().map(String::from));
    Model::from_text(&lines.join("\n"), &model.origin).map_err(|err| Error::Model {
        model: model.origin.clone(),
        message: format!("--error {e} replaces the outputs' error models, and the model no longer compiles: {err}"),
    })
}

/// What a fit of `model` minimises, and which σ (indices of the model's
/// `sigma` declarations) it estimates, in the order of [`Criterion`]'s σ.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSpec {
    /// Likelihood form or weighted least squares.
    pub criterion: Criterion,
    /// Indices of the estimated σ among the model's `sigma` declarations.
    pub sigma_index: Vec<usize>,
    /// Their names.
    pub sigma_names: Vec<String>,
}

impl ErrorSpec {
    /// Reads the error model of every output of `model`: `add(s)`, `prop(s)`
    /// or `add(a) + prop(b)` shared by every output (σ not fixed) have
    /// closed-form derivatives; any other is [`Criterion::General`], which
    /// estimates every σ not fixed. `weighting` asks for weighted least squares instead.
    pub fn of(model: &Model, weighting: Option<Weighting>) -> Result<Self> {
        if let Some(w) = weighting {
            return Ok(ErrorSpec {
                criterion: Criterion::WeightedLeastSquares(w),
                sigma_index: Vec::new(),
                sigma_names: Vec::new(),
            });
        }
        let forms: Vec<Option<(Criterion, Vec<usize>)>> =
            model.code.outputs.iter().map(|o| form_of(model, o)).collect();
        if model.code.outputs.is_empty() {
            return Err(Error::Model {
                model: model.origin.clone(),
                message: "the model has no output to fit".into(),
            });
        }
        let (criterion, sigma_index) = match forms.first() {
            Some(Some(first)) if forms.iter().all(|f| f.as_ref() == Some(first)) => first.clone(),
            _ => {
                let free: Vec<usize> = (0..model.code.sigmas.len())
                    .filter(|&k| !model.code.sigmas[k].fixed)
                    .collect();
                (Criterion::General { n_sigma: free.len() }, free)
            }
        };
        let sigma_names = sigma_index.iter().map(|&k| model.code.sigmas[k].name.clone()).collect();
        Ok(ErrorSpec {
            criterion,
            sigma_index,
            sigma_names,
        })
    }
}

/// The likelihood form of one output and its σ indices, if it is one a fit estimates.
fn form_of(model: &Model, o: &OutputDecl) -> Option<(Criterion, Vec<usize>)> {
    let c = &model.code;
    let sigma = |k: usize| {
        let name = o.term_names.get(k)?.as_deref()?;
        let shadowed = c.variables.iter().any(|(v, _)| v == name);
        c.sigmas
            .iter()
            .position(|s| s.name == name && !s.fixed)
            .filter(|_| !shadowed)
    };
    let kinds: Vec<TermKind> = o.terms.iter().filter(|t| t.2.is_none()).map(|t| t.0).collect();
    if kinds.len() != o.terms.len() {
        return None;
    }
    match kinds.as_slice() {
        [TermKind::Add] => Some((Criterion::Additive, vec![sigma(0)?])),
        [TermKind::Prop] => Some((Criterion::Proportional, vec![sigma(0)?])),
        [TermKind::Add, TermKind::Prop] if o.combine == Combine::Variances => {
            Some((Criterion::Combined, vec![sigma(0)?, sigma(1)?]))
        }
        [TermKind::Prop, TermKind::Add] if o.combine == Combine::Variances => {
            Some((Criterion::Combined, vec![sigma(1)?, sigma(0)?]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::runtime::residual_variance;

    /// `--error` rewrites the outputs of the bundled two_cmt_iv.pk, whose own error model is prop(prop).
    #[test]
    fn error_override_replaces_the_outputs_error_model() {
        let file = Model::load("two_cmt_iv").unwrap();
        let own = ErrorSpec::of(&file, None).unwrap();
        assert_eq!(own.criterion, Criterion::Proportional);
        assert_eq!(own.sigma_names, ["prop"]);
        for (e, criterion, names) in [
            (ErrorOverride::Additive, Criterion::Additive, vec!["sigma_add"]),
            (ErrorOverride::Proportional, Criterion::Proportional, vec!["sigma_prop"]),
            (
                ErrorOverride::Combined,
                Criterion::Combined,
                vec!["sigma_add", "sigma_prop"],
            ),
        ] {
            let model = replace_error_model(&file, e).unwrap();
            let spec = ErrorSpec::of(&model, None).unwrap();
            assert_eq!(spec.criterion, criterion, "{e}");
            assert_eq!(spec.sigma_names, names, "{e}");
            assert_eq!(model.name(), "two_cmt_iv");
        }
    }

    /// The fit's variance formulas are those of the language's error models:
    /// Var at f = 7.5 with SDs a = 0.3, b = 0.2 (ln of them as the fit holds them).
    #[test]
    fn criterion_variance_equals_the_language_error_model() {
        let file = Model::load("two_cmt_iv").unwrap();
        let (a, b, f) = (0.3f64, 0.2f64, 7.5);
        for e in [
            ErrorOverride::Additive,
            ErrorOverride::Proportional,
            ErrorOverride::Combined,
        ] {
            let model = replace_error_model(&file, e).unwrap();
            let spec = ErrorSpec::of(&model, None).unwrap();
            let c = &model.code;
            // Slots as the runtime fills them: σ SDs, then the output's SD terms evaluated from them.
            let mut x = vec![0.0; c.layout.n_slots];
            let sds: Vec<f64> = spec
                .sigma_names
                .iter()
                .map(|n| if n == "sigma_add" { a } else { b })
                .collect();
            let o = &c.outputs[0];
            for ((_, slot, _), name) in o.terms.iter().zip(&o.term_names) {
                let name = name.as_deref().unwrap();
                x[*slot as usize] = if name == "sigma_add" { a } else { b };
            }
            let log_sigma: Vec<f64> = sds.iter().map(|s| s.ln()).collect();
            let fit = spec.criterion.variance(f, &log_sigma);
            let language = residual_variance(o, &x, f);
            assert!((fit - language).abs() < 1e-14 * language, "{e}: {fit} vs {language}");
        }
    }
}
