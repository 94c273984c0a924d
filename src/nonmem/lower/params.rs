//! θ, Ω and Σ between NONMEM's numbering and the lowered model's
//! declarations: initial values from the control stream or an `.ext` file,
//! estimates back in `$THETA`/`$OMEGA`/`$SIGMA` order, and `.ext` output.

// Lower triangles read best with their indices.
#![allow(clippy::needless_range_loop)]

use crate::model::Model;
use crate::population::estimation::PopValues;
use nalgebra::DMatrix;

/// Standard errors in NONMEM's layout: θ, Ω and Σ (`None` where not estimated).
pub type NmStandardErrors = (Vec<Option<f64>>, Vec<Vec<Option<f64>>>, Vec<Vec<Option<f64>>>);

/// Borrowed standard errors: θ, Σ, Ω (the `.ext` column order).
pub type ExtErrors<'a> = (&'a [Option<f64>], &'a [Vec<Option<f64>>], &'a [Vec<Option<f64>>]);

/// Where a NONMEM η went in the lowered model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtaTarget {
    /// A between-subject η of the model (index in its Ω).
    Omega(usize),
    /// An inter-occasion κ (index in Ω_iov) for occasion `occasion` (0-based)
    /// of an `$OMEGA BLOCK SAME` group.
    Kappa {
        /// Index of κ in the model's Ω_iov.
        index: usize,
        /// Occasion (0: the block that is repeated, 1…: its SAME copies).
        occasion: usize,
    },
    /// A variance fixed at 0: the η is replaced by 0 in the code.
    Removed,
}

/// θ, Ω and Σ in NONMEM's numbering: θ in `$THETA` order, Ω and Σ as full
/// matrices (variances and covariances).
#[derive(Debug, Clone, PartialEq)]
pub struct NmValues {
    /// θ1, θ2, …
    pub theta: Vec<f64>,
    /// Ω (η1, η2, …).
    pub omega: DMatrix<f64>,
    /// Σ (ε1, ε2, …).
    pub sigma: DMatrix<f64>,
}

/// The correspondence between the control stream's θ, η, ε and the model's.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterMap {
    /// Names of the model's θ, in `$THETA` order (the model declares every θ).
    pub theta_names: Vec<String>,
    /// Per NONMEM η (η1 first).
    pub eta: Vec<EtaTarget>,
    /// Names of the model's σ, per NONMEM ε (the model declares every ε).
    pub eps_names: Vec<String>,
    /// Per NONMEM η: whether it is fixed.
    pub eta_fixed: Vec<bool>,
    /// Per NONMEM ε: whether it is fixed.
    pub eps_fixed: Vec<bool>,
    /// Per θ: whether it is fixed.
    pub theta_fixed: Vec<bool>,
    /// Blocks of Ω in NONMEM order: (first η 0-based, size).
    pub omega_blocks: Vec<(usize, usize)>,
}

impl ParameterMap {
    /// The model's values at NONMEM values (`.ext` final estimates or the
    /// control stream's initial estimates).
    pub fn pop_values(&self, model: &Model, nm: &NmValues) -> PopValues {
        let mut v = PopValues::initial(model);
        for (k, t) in nm.theta.iter().enumerate().take(v.theta.len()) {
            v.theta[k] = *t;
        }
        let get = |m: &DMatrix<f64>, i: usize, j: usize| if i < m.nrows() && j < m.ncols() { m[(i, j)] } else { 0.0 };
        for (i, ti) in self.eta.iter().enumerate() {
            for (j, tj) in self.eta.iter().enumerate() {
                match (ti, tj) {
                    (EtaTarget::Omega(a), EtaTarget::Omega(b)) => v.omega[(*a, *b)] = get(&nm.omega, i, j),
                    (EtaTarget::Kappa { index: a, occasion: 0 }, EtaTarget::Kappa { index: b, occasion: 0 }) => {
                        v.omega_iov[(*a, *b)] = get(&nm.omega, i, j)
                    }
                    _ => {}
                }
            }
        }
        for (k, s) in v.sigma_sd.iter_mut().enumerate() {
            *s = get(&nm.sigma, k, k).max(0.0).sqrt();
        }
        v
    }

    /// NONMEM values from the model's values; `base` gives the elements the
    /// model does not carry (η fixed at 0, Σ covariances).
    pub fn nm_values(&self, v: &PopValues, base: &NmValues) -> NmValues {
        let n = self.eta.len();
        let mut omega = base.omega.clone();
        if omega.nrows() != n {
            omega = DMatrix::zeros(n, n);
        }
        for (i, ti) in self.eta.iter().enumerate() {
            for (j, tj) in self.eta.iter().enumerate() {
                let val = match (ti, tj) {
                    (EtaTarget::Omega(a), EtaTarget::Omega(b)) => v.omega[(*a, *b)],
                    (EtaTarget::Kappa { index: a, occasion: oa }, EtaTarget::Kappa { index: b, occasion: ob })
                        if oa == ob =>
                    {
                        v.omega_iov[(*a, *b)]
                    }
                    (EtaTarget::Removed, _) | (_, EtaTarget::Removed) => omega[(i, j)],
                    _ => 0.0,
                };
                omega[(i, j)] = val;
            }
        }
        let mut sigma = base.sigma.clone();
        for (k, s) in v.sigma_sd.iter().enumerate() {
            if k < sigma.nrows() {
                sigma[(k, k)] = s * s;
            }
        }
        NmValues {
            theta: v.theta.clone(),
            omega,
            sigma,
        }
    }

    /// The identity map of a model written in the language, numbered as
    /// NONMEM would: θ in declaration order; η in Ω's order, then the κ of
    /// inter-occasion variability once (the first occasion); ε in σ's order.
    pub fn of_model(model: &Model) -> Self {
        let c = &model.code;
        let mut eta: Vec<EtaTarget> = (0..c.omega.names.len()).map(EtaTarget::Omega).collect();
        let mut eta_fixed = vec![false; c.omega.names.len()];
        let mut omega_blocks = Vec::new();
        for b in &c.omega.blocks {
            omega_blocks.push((b.start, b.size));
            for f in &mut eta_fixed[b.start..b.start + b.size] {
                *f = b.fixed;
            }
        }
        if let Some(iov) = &c.iov {
            let offset = eta.len();
            eta.extend((0..iov.effects.names.len()).map(|index| EtaTarget::Kappa { index, occasion: 0 }));
            eta_fixed.extend(std::iter::repeat_n(false, iov.effects.names.len()));
            for b in &iov.effects.blocks {
                omega_blocks.push((offset + b.start, b.size));
                for f in &mut eta_fixed[offset + b.start..offset + b.start + b.size] {
                    *f = b.fixed;
                }
            }
        }
        ParameterMap {
            theta_names: c.thetas.iter().map(|t| t.name.clone()).collect(),
            eta,
            eps_names: c.sigmas.iter().map(|s| s.name.clone()).collect(),
            eta_fixed,
            eps_fixed: c.sigmas.iter().map(|s| s.fixed).collect(),
            theta_fixed: c.thetas.iter().map(|t| t.fixed).collect(),
            omega_blocks,
        }
    }

    /// NONMEM values of zeros in this map's dimensions (the base of
    /// [`ParameterMap::nm_values`] for a model written in the language).
    pub fn zero_values(&self) -> NmValues {
        NmValues {
            theta: vec![0.0; self.theta_names.len()],
            omega: DMatrix::zeros(self.eta.len(), self.eta.len()),
            sigma: DMatrix::zeros(self.eps_names.len(), self.eps_names.len()),
        }
    }

    /// Per NONMEM element, the position of its estimate among the model's
    /// reported estimates (`names`: `θ`, `OMEGA(a)`, `OMEGA(a,b)`,
    /// `SIGMA(s)`); `None` where an element is not estimated.
    pub fn nm_positions(&self, model: &Model, names: &[String]) -> NmPositions {
        let find = |n: &str| names.iter().position(|x| x == n);
        let theta = self.theta_names.iter().map(|t| find(t)).collect();
        let c = &model.code;
        let eta_name = |t: &EtaTarget| -> Option<(bool, usize, String)> {
            match t {
                EtaTarget::Omega(a) => Some((false, 0, c.omega.names[*a].clone())),
                EtaTarget::Kappa { index, occasion } => c
                    .iov
                    .as_ref()
                    .map(|iov| (true, *occasion, iov.effects.names[*index].clone())),
                EtaTarget::Removed => None,
            }
        };
        let n = self.eta.len();
        let mut omega = vec![vec![None; n]; n];
        for i in 0..n {
            for j in 0..n {
                let (Some(a), Some(b)) = (eta_name(&self.eta[i]), eta_name(&self.eta[j])) else {
                    continue;
                };
                if a.0 != b.0 || a.1 != b.1 {
                    continue;
                }
                omega[i][j] = if i == j {
                    find(&format!("OMEGA({})", a.2))
                } else {
                    find(&format!("OMEGA({},{})", a.2, b.2)).or_else(|| find(&format!("OMEGA({},{})", b.2, a.2)))
                };
            }
        }
        let m = self.eps_names.len();
        let mut sigma = vec![vec![None; m]; m];
        for (k, name) in self.eps_names.iter().enumerate() {
            sigma[k][k] = find(&format!("SIGMA({name})"));
        }
        NmPositions { theta, omega, sigma }
    }

    /// Standard errors in NONMEM's layout from the model's reported
    /// estimates (`names`) and their SEs. `None` where an element is not estimated.
    pub fn nm_standard_errors(&self, model: &Model, names: &[String], se: &[f64]) -> NmStandardErrors {
        let p = self.nm_positions(model, names);
        let pick = |k: &Option<usize>| k.map(|k| se[k]);
        let matrix = |m: &[Vec<Option<usize>>]| m.iter().map(|row| row.iter().map(pick).collect()).collect();
        (p.theta.iter().map(pick).collect(), matrix(&p.omega), matrix(&p.sigma))
    }
}

impl ParameterMap {
    /// Fixed flags in NONMEM's layout (θ, Σ, Ω), for the `.ext` file: an
    /// element outside every block (an off-diagonal between blocks) counts as fixed.
    pub fn fixed_flags(&self) -> (Vec<bool>, Vec<Vec<bool>>, Vec<Vec<bool>>) {
        let n = self.eta.len();
        let ns = self.eps_names.len();
        let mut omega_fixed = vec![vec![true; n]; n];
        for &(first, size) in &self.omega_blocks {
            for i in first..first + size {
                for j in first..first + size {
                    omega_fixed[i][j] = self.eta_fixed[i];
                }
            }
        }
        let mut sigma_fixed = vec![vec![true; ns]; ns];
        for (k, f) in self.eps_fixed.iter().enumerate() {
            sigma_fixed[k][k] = *f;
        }
        (self.theta_fixed.clone(), sigma_fixed, omega_fixed)
    }

    /// The map with the κ of inter-occasion variability repeated for
    /// `occasions` occasions, as NONMEM numbers them with `$OMEGA BLOCK SAME`
    /// (for the `.phi` file of a model written in the language).
    pub fn with_occasions(&self, occasions: usize) -> ParameterMap {
        let mut map = self.clone();
        let kappas: Vec<(usize, bool)> = self
            .eta
            .iter()
            .zip(&self.eta_fixed)
            .filter_map(|(t, f)| match t {
                EtaTarget::Kappa { index, occasion: 0 } => Some((*index, *f)),
                _ => None,
            })
            .collect();
        for occasion in 1..occasions {
            for &(index, fixed) in &kappas {
                map.eta.push(EtaTarget::Kappa { index, occasion });
                map.eta_fixed.push(fixed);
            }
        }
        map
    }

    /// Where NONMEM's η `k` sits in a subject's random effects b = (η,
    /// κ of occasion 1, κ of occasion 2, …), for a subject with `occasions`
    /// occasions; `None` for an η fixed at 0 or an occasion it does not have.
    pub fn b_position(&self, k: usize, n_eta: usize, n_kappa: usize, occasions: usize) -> Option<usize> {
        match self.eta.get(k)? {
            EtaTarget::Omega(a) => Some(*a),
            EtaTarget::Kappa { index, occasion } if *occasion < occasions => Some(n_eta + occasion * n_kappa + index),
            _ => None,
        }
    }
}

/// One subject's line of a `.phi` file.
#[derive(Debug, Clone, Copy)]
pub struct PhiSubject<'a> {
    /// Subject id.
    pub id: &'a str,
    /// Its random effects b̂ = (η, κ per occasion).
    pub b: &'a [f64],
    /// Their conditional covariance.
    pub covariance: &'a DMatrix<f64>,
    /// Its occasions.
    pub occasions: usize,
    /// Its contribution to the OFV.
    pub objective: f64,
}

/// The text of a NONMEM `.phi` file: per subject its η (ETA(k) in the map's
/// numbering, 0 where a subject has no such η), their conditional
/// covariance (ETC(i,j), the lower triangle) and its OFV contribution (OBJ).
pub fn phi_text(
    method_title: &str,
    map: &ParameterMap,
    n_eta: usize,
    n_kappa: usize,
    subjects: &[PhiSubject<'_>],
) -> String {
    let n = map.eta.len();
    let mut t = format!(
        "TABLE NO.     1: {method_title}: Goal Function=MINIMUM VALUE OF OBJECTIVE FUNCTION: Problem=1 Subproblem=0 Superproblem1=0 Iteration1=0 Superproblem2=0 Iteration2=0\n"
    );
    let mut header = vec!["SUBJECT_NO".to_string(), "ID".to_string()];
    header.extend((1..=n).map(|k| format!("ETA({k})")));
    for i in 1..=n {
        for j in 1..=i {
            header.push(format!("ETC({i},{j})"));
        }
    }
    header.push("OBJ".into());
    t.push_str(&header.iter().map(|h| format!(" {h:<15}")).collect::<String>());
    t.push('\n');
    for (k, s) in subjects.iter().enumerate() {
        let pos = |e: usize| {
            map.b_position(e, n_eta, n_kappa, s.occasions)
                .filter(|&p| p < s.b.len())
        };
        t.push_str(&format!(" {:>15} {:>15}", k + 1, s.id));
        for e in 0..n {
            t.push(' ');
            t.push_str(&ext_number(pos(e).map_or(0.0, |p| s.b[p])));
        }
        for i in 0..n {
            for j in 0..=i {
                let v = match (pos(i), pos(j)) {
                    (Some(a), Some(b)) => s.covariance[(a, b)],
                    _ => 0.0,
                };
                t.push(' ');
                t.push_str(&ext_number(v));
            }
        }
        t.push(' ');
        t.push_str(&ext_number(s.objective));
        t.push('\n');
    }
    t
}

/// Where each NONMEM element's estimate sits among a model's reported
/// estimates: θ, Ω and Σ (full matrices), `None` where not estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct NmPositions {
    /// θ1, θ2, …
    pub theta: Vec<Option<usize>>,
    /// Ω(i, j).
    pub omega: Vec<Vec<Option<usize>>>,
    /// Σ(i, j).
    pub sigma: Vec<Vec<Option<usize>>>,
}

impl NmPositions {
    /// The elements in `.ext`/`.cov` column order (θ, then the lower
    /// triangles of Σ and Ω, row by row), each with its name and position.
    pub fn columns(&self) -> Vec<(String, Option<usize>)> {
        let mut out: Vec<(String, Option<usize>)> = self
            .theta
            .iter()
            .enumerate()
            .map(|(k, p)| (format!("THETA{}", k + 1), *p))
            .collect();
        for (label, m) in [("SIGMA", &self.sigma), ("OMEGA", &self.omega)] {
            for (i, row) in m.iter().enumerate() {
                for (j, p) in row.iter().enumerate().take(i + 1) {
                    out.push((format!("{label}({},{})", i + 1, j + 1), *p));
                }
            }
        }
        out
    }
}

/// The text of a NONMEM `.cov` file (or `.cor`, given the correlation
/// matrix): one table, a row and a column per θ, Σ and Ω element in `.ext`
/// order, zeros for elements not estimated and for the copies of an
/// estimate (`$OMEGA BLOCK SAME`), as NONMEM writes them.
pub fn cov_text(method_title: &str, positions: &NmPositions, matrix: &DMatrix<f64>) -> String {
    let mut columns = positions.columns();
    let mut seen = std::collections::HashSet::new();
    for (_, p) in &mut columns {
        if let Some(k) = *p {
            if !seen.insert(k) {
                *p = None;
            }
        }
    }
    let mut t = format!(
        "TABLE NO.     1: {method_title}: Goal Function=MINIMUM VALUE OF OBJECTIVE FUNCTION: Problem=1 Subproblem=0 Superproblem1=0 Iteration1=0 Superproblem2=0 Iteration2=0\n"
    );
    t.push_str(&format!(" {:<12}", "NAME"));
    for (name, _) in &columns {
        t.push_str(&format!(" {name:<15}"));
    }
    t.push('\n');
    for (name, row) in &columns {
        t.push_str(&format!(" {name:<12}"));
        for (_, col) in &columns {
            let v = match (row, col) {
                (Some(i), Some(j)) => matrix[(*i, *j)],
                _ => 0.0,
            };
            t.push(' ');
            t.push_str(&ext_number(v));
        }
        t.push('\n');
    }
    t
}

/// A number as NONMEM writes it in `.ext` files (`FORMAT=s1PE16.8`): ` 4.69555000E-03`.
pub fn ext_number(v: f64) -> String {
    if !v.is_finite() {
        return format!(
            "{:>13}",
            if v.is_nan() {
                "NaN"
            } else if v > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
        );
    }
    let s = format!("{v:.8E}");
    let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{mantissa:>11}E{sign}{:02}", e.abs())
}

/// The text of a NONMEM `.ext` file: one row per outer iteration
/// (`iterations`: number, values, OFV), the final estimates (ITERATION
/// −1000000000), the standard errors (−1000000001) when given, and the
/// fixed-parameter flags (−1000000006).
pub fn ext_text(
    method_title: &str,
    values: &NmValues,
    ofv: f64,
    se: Option<ExtErrors<'_>>,
    fixed: (&[bool], &[Vec<bool>], &[Vec<bool>]),
    iterations: &[(i64, NmValues, f64)],
) -> String {
    let nt = values.theta.len();
    let ns = values.sigma.nrows();
    let no = values.omega.nrows();
    let mut header = vec!["ITERATION".to_string()];
    header.extend((1..=nt).map(|k| format!("THETA{k}")));
    for i in 0..ns {
        for j in 0..=i {
            header.push(format!("SIGMA({},{})", i + 1, j + 1));
        }
    }
    for i in 0..no {
        for j in 0..=i {
            header.push(format!("OMEGA({},{})", i + 1, j + 1));
        }
    }
    header.push("OBJ".into());
    let mut t = format!(
        "TABLE NO.     1: {method_title}: Goal Function=MINIMUM VALUE OF OBJECTIVE FUNCTION: Problem=1 Subproblem=0 Superproblem1=0 Iteration1=0 Superproblem2=0 Iteration2=0\n"
    );
    t.push_str(&header.iter().map(|h| format!("{h:>16}")).collect::<Vec<_>>().join(""));
    t.push('\n');
    let row = |iteration: i64, vals: Vec<f64>| -> String {
        let mut r = format!("{iteration:>16}");
        for v in vals {
            r.push(' ');
            r.push_str(&ext_number(v));
        }
        r.push('\n');
        r
    };
    let flat = |v: &NmValues, ofv: f64| -> Vec<f64> {
        let mut r: Vec<f64> = v.theta.clone();
        for i in 0..ns {
            for j in 0..=i {
                r.push(v.sigma.get((i, j)).copied().unwrap_or(f64::NAN));
            }
        }
        for i in 0..no {
            for j in 0..=i {
                r.push(v.omega.get((i, j)).copied().unwrap_or(f64::NAN));
            }
        }
        r.push(ofv);
        r
    };
    for (iteration, v, ofv) in iterations {
        t.push_str(&row(*iteration, flat(v, *ofv)));
    }
    t.push_str(&row(-1_000_000_000, flat(values, ofv)));
    // NONMEM writes 1.00000E+10 for elements without a standard error.
    const NONE: f64 = 1e10;
    if let Some((th, sg, om)) = se {
        let mut r: Vec<f64> = th.iter().map(|s| s.unwrap_or(NONE)).collect();
        for i in 0..ns {
            for j in 0..=i {
                r.push(sg[i][j].unwrap_or(NONE));
            }
        }
        for i in 0..no {
            for j in 0..=i {
                r.push(om[i][j].unwrap_or(NONE));
            }
        }
        r.push(0.0);
        t.push_str(&row(-1_000_000_001, r));
    }
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut r: Vec<f64> = fixed.0.iter().map(|b| flag(*b)).collect();
    for i in 0..ns {
        for j in 0..=i {
            r.push(flag(fixed.1[i][j]));
        }
    }
    for i in 0..no {
        for j in 0..=i {
            r.push(flag(fixed.2[i][j]));
        }
    }
    r.push(0.0);
    t.push_str(&row(-1_000_000_006, r));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_nonmem_writes_them() {
        assert_eq!(ext_number(4.69555e-3), " 4.69555000E-03");
        assert_eq!(ext_number(-1.5), "-1.50000000E+00");
        assert_eq!(ext_number(586.27605628), " 5.86276056E+02");
        assert_eq!(ext_number(0.0), " 0.00000000E+00");
    }
}
