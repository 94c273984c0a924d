//! Recognition of user ODEs that are a linear mammillary system, so that they
//! are solved by the closed-form kernel instead of numerically.
//!
//! The analysis is structural and done once at compile time: every derivative
//! must be a homogeneous linear combination of states with coefficients free
//! of states and of `t` (`d/dt(central) = -CL/V1*central + Q/V2*periph - …`),
//! and the pattern of which state feeds which must be that of a kernel: a
//! central compartment, up to two peripherals exchanging with it only, and
//! at most one depot emptying into it. Whether the coefficients also satisfy
//! the kernel's relations (what leaves a peripheral or the depot arrives in
//! the central compartment) depends on the parameter values; the runtime
//! checks them for each parameter set and integrates numerically where they
//! do not hold (see `model::runtime`).

use super::ast::{BinOp, Expr};
use super::compile::Kernel;
use std::collections::BTreeSet;

/// What a name in the ODE code is.
pub enum NameKind {
    /// State `i`.
    State(usize),
    /// The integration time `t`.
    Time,
    /// A variable that depends on states, with its expression when it is
    /// assigned once, unconditionally (`None`: anything else).
    StateVariable(Option<Expr>),
    /// Anything constant over a parameter set: θ, covariates, individual parameters.
    Constant,
}

/// A recognised linear mammillary system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearStructure {
    /// The kernel that solves it.
    pub kernel: Kernel,
    /// The central state.
    pub central: usize,
    /// The depot, if any.
    pub depot: Option<usize>,
    /// The peripheral states, in state order.
    pub peripherals: Vec<usize>,
    /// The kernel's engine index of each state (depot 0, central 1, peripherals 2, 3).
    pub engine: Vec<usize>,
}

/// The states a linear expression reads, and whether it has a term without a
/// state; `None` when it is not linear in the states (or reads `t`).
struct Linear {
    states: BTreeSet<usize>,
    constant: bool,
}

fn linear(e: &Expr, kind: &dyn Fn(&str) -> NameKind, depth: usize) -> Option<Linear> {
    let constant = |c: bool| {
        Some(Linear {
            states: BTreeSet::new(),
            constant: c,
        })
    };
    let state_free = |x: &Linear| x.states.is_empty();
    match e {
        Expr::Num(x) => constant(*x != 0.0),
        Expr::Name(n, _) => match kind(n) {
            NameKind::State(i) => Some(Linear {
                states: BTreeSet::from([i]),
                constant: false,
            }),
            NameKind::Time => None,
            NameKind::StateVariable(Some(x)) if depth < 32 => linear(&x, kind, depth + 1),
            NameKind::StateVariable(_) => None,
            NameKind::Constant => constant(true),
        },
        Expr::Neg(a) => linear(a, kind, depth),
        Expr::Bin(op, a, b) => {
            let (a, b) = (linear(a, kind, depth)?, linear(b, kind, depth)?);
            match op {
                BinOp::Add | BinOp::Sub => Some(Linear {
                    states: a.states.union(&b.states).copied().collect(),
                    constant: a.constant || b.constant,
                }),
                BinOp::Mul if state_free(&a) || state_free(&b) => Some(Linear {
                    states: a.states.union(&b.states).copied().collect(),
                    constant: a.constant && b.constant,
                }),
                BinOp::Div if state_free(&b) => Some(a),
                _ if state_free(&a) && state_free(&b) => constant(true),
                _ => None,
            }
        }
        Expr::Not(a) => linear(a, kind, depth).filter(state_free).and(constant(true)),
        Expr::Call(_, args) => {
            for a in args {
                linear(a, kind, depth).filter(state_free)?;
            }
            constant(true)
        }
        Expr::If(c, a, b) => {
            for x in [c, a, b] {
                linear(x, kind, depth).filter(state_free)?;
            }
            constant(true)
        }
    }
}

/// The mammillary structure of the ODEs `derivatives[i]` (the derivative of
/// state i), or `None` when they are not a linear system a kernel solves.
pub fn recognise(derivatives: &[Expr], kind: &dyn Fn(&str) -> NameKind) -> Option<LinearStructure> {
    let n = derivatives.len();
    // reads[i]: the states in the derivative of state i (flows into i, and i's own loss).
    let mut reads = Vec::with_capacity(n);
    for e in derivatives {
        let l = linear(e, kind, 0)?;
        if l.constant {
            return None;
        }
        reads.push(l.states);
    }
    let feeds = |from: usize| -> Vec<usize> { (0..n).filter(|&i| i != from && reads[i].contains(&from)).collect() };
    // A depot: nothing flows in, and it empties into exactly one state.
    let depots: Vec<usize> = (0..n)
        .filter(|&d| reads[d].iter().all(|&j| j == d) && reads[d].contains(&d) && feeds(d).len() == 1)
        .collect();
    let depot = match depots.as_slice() {
        [] => None,
        [d] => Some(*d),
        _ => return None,
    };
    let central = match depot {
        Some(d) => feeds(d)[0],
        None => (0..n).find(|&c| (0..n).all(|p| p == c || (reads[p].contains(&c) && reads[c].contains(&p))))?,
    };
    let peripherals: Vec<usize> = (0..n).filter(|&p| p != central && Some(p) != depot).collect();
    for &p in &peripherals {
        // A peripheral exchanges with the central compartment only.
        let expected = BTreeSet::from([central, p]);
        if reads[p] != expected || !reads[central].contains(&p) {
            return None;
        }
    }
    if !reads[central]
        .iter()
        .all(|&j| j == central || Some(j) == depot || peripherals.contains(&j))
    {
        return None;
    }
    let kernel = match (peripherals.len(), depot.is_some()) {
        (0, false) => Kernel::OneCmtIv,
        (1, false) => Kernel::TwoCmtIv,
        (2, false) => Kernel::ThreeCmtIv,
        (0, true) => Kernel::OneCmtOral,
        (1, true) => Kernel::TwoCmtOral,
        (2, true) => Kernel::ThreeCmtOral,
        _ => return None,
    };
    let mut engine = vec![0; n];
    engine[central] = 1;
    for (k, &p) in peripherals.iter().enumerate() {
        engine[p] = 2 + k;
    }
    Some(LinearStructure {
        kernel,
        central,
        depot,
        peripherals,
        engine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::parser::parse_expr as parse_expression;

    fn structure(states: &[&str], derivatives: &[&str]) -> Option<LinearStructure> {
        let exprs: Vec<Expr> = derivatives.iter().map(|d| parse_expression(d).unwrap()).collect();
        let kind = |n: &str| match states.iter().position(|s| *s == n) {
            Some(i) => NameKind::State(i),
            None if n == "t" => NameKind::Time,
            None => NameKind::Constant,
        };
        recognise(&exprs, &kind)
    }

    #[test]
    fn two_compartments_with_a_depot() {
        let s = structure(
            &["depot", "central", "periph"],
            &[
                "-KA*depot",
                "KA*depot - CL/V1*central - Q/V1*central + Q/V2*periph",
                "Q/V1*central - Q/V2*periph",
            ],
        )
        .unwrap();
        assert_eq!(s.kernel, Kernel::TwoCmtOral);
        assert_eq!((s.central, s.depot, s.engine.clone()), (1, Some(0), vec![0, 1, 2]));
    }

    #[test]
    fn states_in_any_order() {
        let s = structure(
            &["p2", "c", "p1"],
            &[
                "k13*c - k31*p2",
                "-(k10 + k12 + k13)*c + k21*p1 + k31*p2",
                "k12*c - k21*p1",
            ],
        )
        .unwrap();
        assert_eq!(s.kernel, Kernel::ThreeCmtIv);
        assert_eq!((s.central, s.engine.clone()), (1, vec![2, 1, 3]));
    }

    #[test]
    fn nonlinear_inputs_time_and_other_shapes_are_not_recognised() {
        // Michaelis–Menten elimination.
        assert!(structure(&["c"], &["-VM*c/(KM + c)"]).is_none());
        // A zero-order input.
        assert!(structure(&["c"], &["R0 - K*c"]).is_none());
        // A time-varying coefficient.
        assert!(structure(&["c"], &["-K*exp(-t)*c"]).is_none());
        // A chain of three (parent → metabolite → second metabolite).
        assert!(structure(&["a", "b", "c"], &["-K1*a", "K1*a - K2*b", "K2*b - K3*c"]).is_none());
        // A peripheral that also eliminates is still solved numerically
        // when its coefficients break the relations; structurally it passes here.
        assert!(structure(&["c", "p"], &["-K*c + K21*p", "K12*c - K21*p - KP*p"]).is_some());
    }
}
