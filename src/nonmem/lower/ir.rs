//! Statements of the lowering: abbreviated code with names resolved, before
//! it is written as model-language text.

use super::expr::E;

/// Which record a statement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rec {
    /// `$PK`.
    Pk,
    /// `$DES`.
    Des,
    /// `$ERROR`.
    Error,
    /// `$PRED`.
    Pred,
}

impl Rec {
    /// The record as written in messages.
    pub fn name(self) -> &'static str {
        match self {
            Rec::Pk => "$PK",
            Rec::Des => "$DES",
            Rec::Error => "$ERROR",
            Rec::Pred => "$PRED",
        }
    }
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum St {
    /// `target = value`.
    Set {
        /// The variable (model-language name).
        target: String,
        /// The value.
        value: E,
        /// Line in the control stream.
        line: usize,
        /// Column.
        column: usize,
        /// The record.
        rec: Rec,
        /// The statement as written (for comments).
        text: String,
        /// Why the statement cannot be lowered, raised only if it is used.
        bad: Option<String>,
    },
    /// `if c { … } else if … else { … }`.
    If {
        /// Conditions and bodies.
        arms: Vec<(E, Vec<St>)>,
        /// The `else` body.
        otherwise: Vec<St>,
        /// Line of the `IF`.
        line: usize,
        /// Column.
        column: usize,
        /// The record.
        rec: Rec,
        /// Why a condition cannot be lowered.
        bad: Option<String>,
    },
}

impl St {
    /// Line of the statement.
    pub fn line(&self) -> usize {
        match self {
            St::Set { line, .. } | St::If { line, .. } => *line,
        }
    }
}

/// The conditions on the path to a statement: (condition, whether it must hold).
pub type Path = Vec<(E, bool)>;

/// A visitor of assignments with their paths.
pub type SetVisitor<'v, 'a> = dyn FnMut(&'a St, &[(E, bool)]) + 'v;

/// Calls `f` on every assignment, entering `if` bodies, with the conditions
/// on its path (condition, whether it must hold).
pub fn walk_sets<'a>(list: &'a [St], path: &mut Path, f: &mut SetVisitor<'_, 'a>) {
    for s in list {
        match s {
            St::Set { .. } => f(s, path),
            St::If { arms, otherwise, .. } => {
                let n0 = path.len();
                for (c, body) in arms {
                    path.push((c.clone(), true));
                    walk_sets(body, path, f);
                    path.pop();
                    path.push((c.clone(), false));
                }
                walk_sets(otherwise, path, f);
                path.truncate(n0);
            }
        }
    }
}

/// Every variable assigned anywhere in `list`.
pub fn assigned(list: &[St], out: &mut Vec<String>) {
    walk_sets(list, &mut Vec::new(), &mut |s, _| {
        if let St::Set { target, .. } = s {
            out.push(target.clone());
        }
    });
}

/// Removes the assignments for which `drop` holds, and `if` statements left empty.
pub fn retain(list: &mut Vec<St>, keep: &mut dyn FnMut(&St) -> bool) {
    list.retain_mut(|s| match s {
        St::Set { .. } => keep(s),
        St::If { arms, otherwise, .. } => {
            for (_, b) in arms.iter_mut() {
                retain(b, keep);
            }
            retain(otherwise, keep);
            arms.iter().any(|(_, b)| !b.is_empty()) || !otherwise.is_empty()
        }
    });
}

/// Replaces names in every expression of `list`.
pub fn rename_all(list: &mut [St], map: &dyn Fn(&str) -> Option<String>) {
    for s in list {
        match s {
            St::Set { target, value, .. } => {
                if let Some(n) = map(target) {
                    *target = n;
                }
                *value = value.rename(map);
            }
            St::If { arms, otherwise, .. } => {
                for (c, b) in arms.iter_mut() {
                    *c = c.rename(map);
                    rename_all(b, map);
                }
                rename_all(otherwise, map);
            }
        }
    }
}

/// Folds constant conditions (ICALL) and drops arms that can never run.
pub fn fold(list: Vec<St>) -> Vec<St> {
    let mut out = Vec::new();
    for s in list {
        match s {
            St::Set { .. } => out.push(s),
            St::If {
                arms,
                otherwise,
                line,
                column,
                rec,
                bad,
            } => {
                let mut kept: Vec<(E, Vec<St>)> = Vec::new();
                let mut rest = Some(fold(otherwise));
                for (c, body) in arms {
                    let c = c.simplify();
                    let body = fold(body);
                    match c {
                        E::Num(0.0) => continue,
                        E::Num(_) => {
                            // Always true: it ends the chain.
                            rest = Some(body);
                            break;
                        }
                        c => kept.push((c, body)),
                    }
                }
                let otherwise = rest.unwrap_or_default();
                if kept.is_empty() {
                    out.extend(otherwise);
                } else {
                    out.push(St::If {
                        arms: kept,
                        otherwise,
                        line,
                        column,
                        rec,
                        bad,
                    });
                }
            }
        }
    }
    out
}

/// Rewrites every expression of `list` (values and conditions).
pub fn rewrite_all(list: &mut [St], f: &dyn Fn(&E) -> Option<E>) {
    for s in list {
        match s {
            St::Set { value, .. } => *value = value.rewrite(f),
            St::If { arms, otherwise, .. } => {
                for (c, b) in arms.iter_mut() {
                    *c = c.rewrite(f);
                    rewrite_all(b, f);
                }
                rewrite_all(otherwise, f);
            }
        }
    }
}

/// Whether any expression of `list` reads `n`.
pub fn reads(list: &[St], n: &str) -> bool {
    list.iter().any(|s| match s {
        St::Set { value, .. } => value.reads(n),
        St::If { arms, otherwise, .. } => arms.iter().any(|(c, b)| c.reads(n) || reads(b, n)) || reads(otherwise, n),
    })
}
