//! Initial estimates from the data, without the user.
//!
//! For linear IV models with one or two compartments (the `one_cmt_iv` and
//! `two_cmt_iv` kernels, observed in the central compartment), the
//! concentration after any dosing history is a sum of exponential modes,
//! C(t) = Σk ck·Rk(t), where Rk is the response of a one-compartment system
//! with rate constant λk and unit volume to the subject's actual doses
//! (boluses, infusions, ADDL, SS), computed by the engine itself. Given the
//! exponents the coefficients are linear, so a grid of exponents with a
//! weighted linear least-squares fit of the coefficients (weights 1/y²) finds
//! the curve-stripping estimates of all phases at once; the macro constants
//! convert to CL, V1, Q, V2. The best grid points in distinct regions become
//! the starts of the local fits.
//!
//! Other models start from the model file's initial values with the volumes
//! and clearances scaled so that the predicted level matches the observed one.
//!
//! Estimates of the kernel's parameters (CL, V1, …) become starts of the θ
//! through each θ's *role*: θ plays the role of parameter K when K is
//! proportional to θ at the initial values (a 1 % change of θ changes K by
//! 1 % and no other kernel parameter), as in `CL = TVCL * (WT/70)^0.75`.

use super::problem::SubjectProblem;
use crate::lang::{Dynamics, Kernel};
use crate::model::{Model, Values};

/// A start: natural values of the free parameters, in the order of the problem's free parameters.
pub type Start = Vec<(String, f64)>;

const GRID: usize = 24;

/// The kernel and code parameters a θ can stand for.
const ROLES: [&str; 11] = ["CL", "V", "V1", "Q", "V2", "Q2", "V3", "Q3", "KA", "VMAX", "KM"];

/// Up to `n` starts for `problem`, best first.
pub fn automatic_starts(problem: &SubjectProblem, n: usize) -> Vec<Start> {
    let roles = roles(problem);
    let mut starts = Vec::new();
    if let Some(compartments) = strippable(problem) {
        if let Some(responses) = unit_responses(problem) {
            starts = exponential_grid(problem, &roles, compartments, &responses, n);
        }
    }
    if starts.is_empty() {
        starts = scaled_model_starts(problem, &roles, n);
    }
    starts
}

/// The role of each free θ: the parameter it scales and the ratio θ/K at the initial values.
type Roles = Vec<Option<(&'static str, f64)>>;

fn individual_at(problem: &SubjectProblem, theta: &[f64]) -> Option<Vec<(String, f64)>> {
    let sigma = problem.model().sigma_sd_init();
    let values = Values {
        theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &sigma,
    };
    let sets = problem
        .model()
        .individual_parameters(problem.prepared(), &values)
        .ok()?;
    sets.into_iter().next().map(|s| s.values)
}

fn roles(problem: &SubjectProblem) -> Roles {
    let x0 = problem.space.initial_x();
    let theta0 = problem.space.theta_at(&x0);
    let Some(base) = individual_at(problem, &theta0) else {
        return vec![None; problem.space.len()];
    };
    let get = |values: &[(String, f64)], name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    problem
        .space
        .free
        .iter()
        .map(|fp| {
            let mut theta = theta0.clone();
            theta[fp.index] *= 1.01;
            let moved = individual_at(problem, &theta)?;
            let mut role = None;
            for name in ROLES {
                let (Some(a), Some(b)) = (get(&base, name), get(&moved, name)) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                if role.is_some() || !(a > 0.0) || ((b / a) - 1.01).abs() > 1e-9 {
                    return None;
                }
                role = Some((name, theta0[fp.index] / a));
            }
            role
        })
        .collect()
}

/// The number of compartments when curve stripping applies: a one- or
/// two-compartment IV kernel observed through its central amount, no dose
/// attributes in the code, every dose into the central compartment.
fn strippable(problem: &SubjectProblem) -> Option<usize> {
    let c = &problem.model().code;
    let compartments = match c.dynamics {
        Dynamics::Kernel(Kernel::OneCmtIv) => 1,
        Dynamics::Kernel(Kernel::TwoCmtIv) => 2,
        _ => return None,
    };
    let plain = !c.attribute_set.iter().flatten().any(|a| *a);
    let central = c.outputs.iter().all(|o| o.folded == Some(0) && !o.unscaled);
    let (_, subject) = problem.source();
    let doses_central = subject
        .records
        .iter()
        .filter(|r| r.is_dose())
        .all(|r| r.cmt <= 1 && r.rate >= 0.0);
    (plain && central && doses_central).then_some(compartments)
}

/// λ grid and the unit responses R_λ at the observations.
struct Responses {
    lambdas: Vec<f64>,
    r: Vec<Vec<f64>>,
}

/// A one-compartment model in the problem model's units, whose predictions
/// with CL = λ and V = 1 are the unit responses.
fn unit_model(model: &Model) -> Option<Model> {
    let text = "theta CL = 1 (1e-300, 1e300)\ntheta V = 1 (1e-300, 1e300)\nsigma s ~ 1\n\
                kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ add(s)\n";
    let mut unit = Model::from_text(text, "unit response").ok()?;
    unit.units = model.units;
    Some(unit)
}

fn unit_responses(problem: &SubjectProblem) -> Option<Responses> {
    let unit = unit_model(problem.model())?;
    let (data, subject) = problem.source();
    let prepared = unit.subject(data, subject).ok()?;
    if prepared.obs.len() != problem.prepared().obs.len() {
        return None;
    }
    let first_dose = subject
        .records
        .iter()
        .filter(|r| r.is_dose())
        .map(|r| r.time)
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
    let mut r = Vec::with_capacity(GRID);
    for &lambda in &lambdas {
        let values = Values {
            theta: &[lambda, 1.0],
            eta: &[],
            kappa: &[],
            sigma_sd: &[1.0],
        };
        let f = unit.predict(&prepared, &values).ok()?.f;
        r.push(problem.kept().iter().map(|&i| f[i]).collect());
    }
    Some(Responses { lambdas, r })
}

/// A candidate from the grid: weighted sum of squares and the named parameters.
struct Candidate {
    ss: f64,
    lambdas: [usize; 2],
    params: Vec<(&'static str, f64)>,
}

fn exponential_grid(
    problem: &SubjectProblem,
    roles: &Roles,
    compartments: usize,
    resp: &Responses,
    n: usize,
) -> Vec<Start> {
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
    chosen.iter().map(|c| to_start(problem, roles, &c.params)).collect()
}

/// Natural values for the free parameters: from `named` (values of the
/// parameters the θ play the role of) where given, else the model's initial
/// value; clamped into the bounds.
fn to_start(problem: &SubjectProblem, roles: &Roles, named: &[(&str, f64)]) -> Start {
    problem
        .space
        .free
        .iter()
        .zip(roles)
        .map(|(fp, role)| {
            let v = role
                .and_then(|(k, ratio)| named.iter().find(|(n, _)| *n == k).map(|(_, v)| v * ratio))
                .unwrap_or(fp.init);
            (fp.name.clone(), v.clamp(fp.lower, fp.upper))
        })
        .collect()
}

/// The model's initial values with volumes and clearances scaled to the observed level,
/// and variants with clearances halved and doubled.
fn scaled_model_starts(problem: &SubjectProblem, roles: &Roles, n: usize) -> Vec<Start> {
    let x = problem.space.initial_x();
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
        problem
            .space
            .free
            .iter()
            .zip(roles)
            .map(|(fp, role)| {
                let v = match role.map(|r| r.0) {
                    Some("V" | "V1" | "V2" | "V3") => fp.init / level,
                    Some("CL" | "Q" | "Q2" | "Q3" | "VMAX") => fp.init / level * cl_factor,
                    _ => fp.init,
                };
                (fp.name.clone(), v.clamp(fp.lower, fp.upper))
            })
            .collect()
    };
    [1.0, 0.5, 2.0, 0.25, 4.0]
        .iter()
        .take(n.max(1))
        .map(|&c| scaled(c))
        .collect()
}
