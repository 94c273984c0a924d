//! Initial estimates from the data, without the user.
//!
//! For linear IV models with one or two compartments, the concentration after
//! any dosing history is a sum of exponential modes, C(t) = Σk ck·Rk(t), where
//! Rk is the response of a one-compartment system with rate constant λk and
//! unit volume to the subject's actual doses (boluses, infusions, ADDL, SS),
//! computed by the engine itself. Given the exponents the coefficients are
//! linear, so a grid of exponents with a weighted linear least-squares fit of
//! the coefficients (weights 1/y²) finds the curve-stripping estimates of all
//! phases at once; the macro constants convert to CL, V1, Q, V2. The best
//! grid points in distinct regions become the starts of the local fits.
//!
//! Other models start from the model file's initial values with the volumes
//! and clearances scaled so that the predicted level matches the observed one.

use super::problem::SubjectProblem;
use crate::dosing::predict;
use crate::model::{Absorption, Elimination, ModalKinetics, Structure};

/// A start: natural values of the free parameters, in the order of the problem's free parameters.
pub type Start = Vec<(String, f64)>;

const GRID: usize = 24;

/// Up to `n` starts for `problem`, best first.
pub fn automatic_starts(problem: &SubjectProblem, n: usize) -> Vec<Start> {
    let s = problem.model().structure;
    let iv_linear = s.absorption == Absorption::None && s.elimination == Elimination::Linear && s.compartments <= 2;
    let all_central = problem.doses.iter().all(|d| d.target == 1);
    let mut starts = Vec::new();
    if iv_linear && all_central {
        if let Some(responses) = unit_responses(problem) {
            starts = exponential_grid(problem, s.compartments, &responses, n);
        }
    }
    if starts.is_empty() {
        starts = scaled_model_starts(problem, n);
    }
    starts
}

/// λ grid and the unit responses R_λ at the observations.
struct Responses {
    lambdas: Vec<f64>,
    r: Vec<Vec<f64>>,
}

fn unit_responses(problem: &SubjectProblem) -> Option<Responses> {
    let timeline = problem.timeline()?;
    let first_dose = problem
        .doses
        .iter()
        .map(|d| d.time + d.lag)
        .fold(f64::INFINITY, f64::min);
    let last = problem.obs.iter().map(|o| o.time).fold(f64::NEG_INFINITY, f64::max);
    let first_obs = problem
        .obs
        .iter()
        .map(|o| o.time - first_dose)
        .filter(|&t| t > 0.0)
        .fold(f64::INFINITY, f64::min);
    let span = last - first_dose;
    if !(span > 0.0) || !first_obs.is_finite() {
        return None;
    }
    let lo = 0.3 / span;
    let hi = (20.0 / first_obs).max(100.0 * lo);
    let lambdas: Vec<f64> = (0..GRID)
        .map(|i| lo * (hi / lo).powf(i as f64 / (GRID - 1) as f64))
        .collect();
    let structure = Structure {
        compartments: 1,
        absorption: Absorption::None,
        elimination: Elimination::Linear,
    };
    let scale = problem.model().units.concentration_scale();
    let mut r = Vec::with_capacity(GRID);
    for &lambda in &lambdas {
        let mut p = problem.space.params_at(&vec![0.0; problem.space.len()]);
        p.structure = structure;
        p.cl = lambda;
        p.v = [1.0; 3];
        let mut k = ModalKinetics::new(&p)?;
        let mut out = vec![0.0; problem.obs.len()];
        predict(&mut k, timeline, &[1], scale, &mut out, None).ok()?;
        r.push(out);
    }
    Some(Responses { lambdas, r })
}

/// A candidate from the grid: weighted sum of squares and the named parameters.
struct Candidate {
    ss: f64,
    lambdas: [usize; 2],
    params: Vec<(&'static str, f64)>,
}

fn exponential_grid(problem: &SubjectProblem, compartments: usize, resp: &Responses, n: usize) -> Vec<Start> {
    let y = problem.dv();
    let ymax = y.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let w: Vec<f64> = y
        .iter()
        .map(|&y| if y > 0.0 { 1.0 / (y * y) } else { 1.0 / (ymax * ymax) })
        .collect();
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).zip(&w).map(|((a, b), w)| a * b * w).sum() };
    let yy = dot(&y, &y);
    let mut candidates = Vec::new();
    for i in 0..resp.lambdas.len() {
        let ri = &resp.r[i];
        let (rr, ry) = (dot(ri, ri), dot(ri, &y));
        if compartments == 1 {
            let c = ry / rr;
            if c > 0.0 {
                let v = 1.0 / c;
                candidates.push(Candidate {
                    ss: yy - c * ry,
                    lambdas: [i, i],
                    params: vec![("CL", resp.lambdas[i] * v), ("V", v), ("V1", v)],
                });
            }
            continue;
        }
        for j in i + 1..resp.lambdas.len() {
            // β = λi (slow), α = λj (fast): solve the 2×2 normal equations for (cβ, cα).
            let rj = &resp.r[j];
            let (jj, ij, jy) = (dot(rj, rj), dot(ri, rj), dot(rj, &y));
            let det = rr * jj - ij * ij;
            if !(det > 1e-12 * rr * jj) {
                continue;
            }
            let cb = (ry * jj - jy * ij) / det;
            let ca = (jy * rr - ry * ij) / det;
            if !(ca > 0.0 && cb > 0.0) {
                continue;
            }
            let (alpha, beta) = (resp.lambdas[j], resp.lambdas[i]);
            let v1 = 1.0 / (ca + cb);
            let k21 = (ca * beta + cb * alpha) / (ca + cb);
            let k10 = alpha * beta / k21;
            let k12 = alpha + beta - k21 - k10;
            if !(k12 > 0.0) {
                continue;
            }
            candidates.push(Candidate {
                ss: yy - cb * ry - ca * jy,
                lambdas: [i, j],
                params: vec![("CL", k10 * v1), ("V1", v1), ("Q", k12 * v1), ("V2", k12 * v1 / k21)],
            });
        }
    }
    candidates.sort_by(|a, b| a.ss.total_cmp(&b.ss));
    let mut chosen: Vec<&Candidate> = Vec::new();
    for c in &candidates {
        let distinct = chosen
            .iter()
            .all(|d| c.lambdas.iter().zip(&d.lambdas).any(|(a, b)| a.abs_diff(*b) >= 3));
        if distinct {
            chosen.push(c);
        }
        if chosen.len() == n {
            break;
        }
    }
    chosen.iter().map(|c| to_start(problem, &c.params)).collect()
}

/// Natural values for the free parameters: from `named` where given, else the model's initial value;
/// clamped into the bounds.
fn to_start(problem: &SubjectProblem, named: &[(&str, f64)]) -> Start {
    problem
        .space
        .free
        .iter()
        .map(|fp| {
            let init = problem.model().parameter(&fp.name).map_or(1.0, |s| s.init);
            let v = named.iter().find(|(n, _)| *n == fp.name).map_or(init, |(_, v)| *v);
            (fp.name.clone(), v.clamp(fp.lower, fp.upper))
        })
        .collect()
}

/// The model's initial values with volumes and clearances scaled to the observed level,
/// and variants with clearances halved and doubled.
fn scaled_model_starts(problem: &SubjectProblem, n: usize) -> Vec<Start> {
    let init: Vec<(&str, f64)> = problem
        .model()
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.init))
        .collect();
    let x: Vec<f64> = problem
        .space
        .free
        .iter()
        .map(|fp| fp.to_estimation(init.iter().find(|(n, _)| *n == fp.name).map_or(1.0, |v| v.1)))
        .collect();
    let mut f = vec![0.0; problem.obs.len()];
    let level = if problem.predict(&x, &mut f).is_ok() {
        let pairs: Vec<(f64, f64)> = problem
            .obs
            .iter()
            .zip(&f)
            .filter(|(o, &f)| o.dv > 0.0 && f > 0.0)
            .map(|(o, &f)| (o.dv, f))
            .collect();
        if pairs.is_empty() {
            1.0
        } else {
            (pairs.iter().map(|(y, f)| (y / f).ln()).sum::<f64>() / pairs.len() as f64).exp()
        }
    } else {
        1.0
    };
    let scaled = |cl_factor: f64| -> Start {
        let named: Vec<(&str, f64)> = init
            .iter()
            .map(|&(name, v)| match name {
                "V" | "V1" | "V2" | "V3" => (name, v / level),
                "CL" | "Q" | "Q2" | "Q3" | "VMAX" => (name, v / level * cl_factor),
                _ => (name, v),
            })
            .collect();
        to_start(problem, &named)
    };
    [1.0, 0.5, 2.0, 0.25, 4.0]
        .iter()
        .take(n.max(1))
        .map(|&c| scaled(c))
        .collect()
}
