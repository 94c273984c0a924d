//! Lowering a parsed control stream onto the model language.
//!
//! [`lower`] turns a [`ControlStream`] into model-language text (what
//! `pk translate` prints, compiled with [`crate::model::Model::from_text`])
//! and what the text cannot carry: how to read the data ([`DataPlan`]), the
//! estimation settings ([`EstimationPlan`]) and the correspondence between
//! NONMEM's θ, η, ε and the model's declarations ([`ParameterMap`]).
//!
//! - `$SUBROUTINES ADVAN1/2/3/4/11/12` with `TRANS1/2/3/4/5/6` become a
//!   closed-form `kernel` (TRANS1 rate constants with V = 1, macro constants
//!   converted to micro constants); ADVAN6/8/13/14 with `$MODEL` and `$DES`
//!   become `states` and `d/dt(…)`. `F` of `$ERROR` is `A(n)/Sn` of the
//!   observation's compartment; `F1 ALAG1 R1 D1` become `F(state)`, ….
//! - `$PK`, `$DES`, `$ERROR`, `$PRED` become assignments and `if` blocks;
//!   statements that nothing uses (IRES, IWRES, …) are kept as comments.
//! - `Y = A + Σ B_k·EPS(k)` is linearised in ε as NONMEM does and the
//!   residual variance Σ B_k² σ_k² matched to the language's error models;
//!   `IF` branches of `$ERROR` that choose Y by data items become outputs
//!   with a DVID; M3 (`F_FLAG`, `PHI`) becomes censored observations.
//! - `$OMEGA BLOCK(n) SAME` with `IF (OCC.EQ.k) X = ETA(j)` becomes `iov`.
//!
//! Anything else is refused with the record and line.

pub mod data;
pub mod expr;
pub mod ir;
pub mod params;

use self::data::{DataPlan, Selector};
use self::expr::{bin, name, num, number_text, sum, terms, Product, E};
use self::ir::{assigned, fold, reads, rename_all, retain, rewrite_all, walk_sets, Rec, St};
use self::params::{EtaTarget, NmValues, ParameterMap};
use super::code::{
    BinaryOp, CodeBlock, Expr, ExprKind, Function, Statement, StatementKind, Subscript, UnaryOp, Variable,
};
use super::dataset::Dataset;
use super::error::{NonmemError, SourcePos};
use super::parameters::{BlockForm, CovarianceBlock};
use super::tasks::EstimationMethod;
use super::ControlStream;
use crate::lang::ast::{BinOp, Func};
use crate::population::estimation::Method;
use std::collections::{BTreeSet, HashMap, HashSet};

/// `$ESTIMATION METHOD=SAEM` (optionally followed by `METHOD=IMP EONLY=1`):
/// the options honoured, `None` where not given (the engine's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaemPlan {
    /// `NBURN=`: burn-in iterations.
    pub burn_in: Option<usize>,
    /// `NITER=` of the SAEM step: averaging iterations.
    pub averaging: Option<usize>,
    /// `ISAMPLE=` of the SAEM step: Markov chains per subject.
    pub chains: Option<usize>,
    /// `ISAMPLE=` of a following `METHOD=IMP EONLY=1`: importance samples per subject.
    pub importance_samples: Option<usize>,
    /// `SEED=`.
    pub seed: Option<u64>,
}

/// Estimation as `$ESTIMATION` and `$COVARIANCE` ask.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimationPlan {
    /// The method (with SAEM: the method of the comparison objective, FOCE-I).
    pub method: Method,
    /// `METHOD=SAEM`: estimation by SAEM (`pk::population::saem`), the
    /// objective by importance sampling.
    pub saem: Option<SaemPlan>,
    /// `MAXEVAL=0` (or no `$ESTIMATION`): evaluate the objective only.
    pub evaluate_only: bool,
    /// `MAXEVAL=n`, when given.
    pub max_evaluations: Option<u64>,
    /// Whether `$COVARIANCE` asks for standard errors.
    pub covariance: bool,
    /// `$COVARIANCE MATRIX=R` or `S` when given (`None`: NONMEM's sandwich).
    pub covariance_matrix: Option<String>,
    /// The method as NONMEM titles it in `.ext` tables.
    pub title: String,
    /// What differs from NONMEM's own settings (told to the user).
    pub notes: Vec<String>,
}

/// A control stream lowered onto the model language.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The model text at the control stream's initial estimates.
    pub text: String,
    /// θ, η, ε correspondence.
    pub parameters: ParameterMap,
    /// How the data are passed to the engine.
    pub data: DataPlan,
    /// Estimation settings.
    pub estimation: EstimationPlan,
    /// The control stream's initial estimates.
    pub initial: NmValues,
    /// Remarks on the translation (also written as comments in the text).
    pub notes: Vec<String>,
    render: Render,
}

impl Lowered {
    /// The model text with other values of θ, Ω and Σ (NONMEM numbering),
    /// e.g. final estimates.
    pub fn text_with(&self, values: &NmValues, header: &str) -> String {
        self.render.text(values, header)
    }

    /// The data item a covariate name of the model stands for.
    pub fn covariate_item(&self, name: &str) -> Option<String> {
        self.data
            .covariates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| i.clone())
    }
}

// ------------------------------------------------------------------ errors

fn lower_err(cs: &ControlStream, line: usize, record: &str, message: impl Into<String>) -> NonmemError {
    NonmemError::Lowering {
        at: SourcePos::line(&cs.file, line),
        record: record.to_string(),
        message: message.into(),
    }
}

// ------------------------------------------------------------------ names

/// Words the model language reserves (matched in any case).
const KEYWORDS: &[&str] = &["if", "then", "else", "and", "or", "not", "units"];
/// Names the model language gives a meaning.
const RESERVED: &[&str] = &["TIME", "TAD", "t"];

fn valid_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic())
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

/// A variable name of the code as the model language can carry it.
fn language_variable(n: &str) -> String {
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(n)) || RESERVED.contains(&n) {
        format!("{n}_")
    } else {
        n.to_string()
    }
}

/// Picks unique names: the wanted one when valid and free, else the fallback.
struct NamePool {
    taken: HashSet<String>,
}

impl NamePool {
    fn take(&mut self, wanted: Option<&str>, fallback: &str) -> String {
        if let Some(w) = wanted.map(str::trim) {
            if valid_identifier(w) && !self.taken.contains(&w.to_ascii_uppercase()) {
                self.taken.insert(w.to_ascii_uppercase());
                return w.to_string();
            }
        }
        let mut n = fallback.to_string();
        while self.taken.contains(&n.to_ascii_uppercase()) {
            n.push('_');
        }
        self.taken.insert(n.to_ascii_uppercase());
        n
    }
}

// ------------------------------------------------------------------ structure

#[derive(Debug, Clone)]
enum Structure {
    Kernel {
        advan: u32,
        trans: u32,
        kernel: &'static str,
        states: Vec<String>,
        /// 1-based CMT of the central compartment (default observation).
        central: usize,
    },
    Ode {
        advan: u32,
        states: Vec<String>,
        default_obs: usize,
        default_dose: usize,
    },
    Pred,
}

impl Structure {
    fn states(&self) -> Vec<String> {
        match self {
            Structure::Kernel { states, .. } | Structure::Ode { states, .. } => states.clone(),
            Structure::Pred => Vec::new(),
        }
    }
    fn default_obs(&self) -> usize {
        match self {
            Structure::Kernel { central, .. } => *central,
            Structure::Ode { default_obs, .. } => *default_obs,
            Structure::Pred => 0,
        }
    }
}

/// Kernel, states, central CMT and the PK parameters each TRANS needs.
fn kernel_of(advan: u32) -> Option<(&'static str, &'static [&'static str], usize)> {
    Some(match advan {
        1 => ("one_cmt_iv", &["central"][..], 1),
        2 => ("one_cmt_oral", &["depot", "central"][..], 2),
        3 => ("two_cmt_iv", &["central", "periph"][..], 1),
        4 => ("two_cmt_oral", &["depot", "central", "periph"][..], 2),
        11 => ("three_cmt_iv", &["central", "periph1", "periph2"][..], 1),
        12 => ("three_cmt_oral", &["depot", "central", "periph1", "periph2"][..], 2),
        _ => return None,
    })
}

/// The PK parameters `$PK` must set for ADVANn TRANSm, or the TRANS values allowed.
fn trans_parameters(advan: u32, trans: u32) -> Result<&'static [&'static str], &'static str> {
    Ok(match (advan, trans) {
        (1, 1) => &["K"],
        (1, 2) => &["CL", "V"],
        (2, 1) => &["K", "KA"],
        (2, 2) => &["CL", "V", "KA"],
        (3, 1) => &["K", "K12", "K21"],
        (3, 3) => &["CL", "V", "Q", "VSS"],
        (3, 4) => &["CL", "V1", "Q", "V2"],
        (3, 5) => &["AOB", "ALPHA", "BETA"],
        (3, 6) => &["ALPHA", "BETA", "K21"],
        (4, 1) => &["K", "K23", "K32", "KA"],
        (4, 3) => &["CL", "V", "Q", "VSS", "KA"],
        (4, 4) => &["CL", "V2", "Q", "V3", "KA"],
        (4, 5) => &["AOB", "ALPHA", "BETA", "KA"],
        (4, 6) => &["ALPHA", "BETA", "K32", "KA"],
        (11, 1) => &["K", "K12", "K21", "K13", "K31"],
        (11, 4) => &["CL", "V1", "Q2", "V2", "Q3", "V3"],
        (11, 6) => &["ALPHA", "BETA", "GAMMA", "K21", "K31"],
        (12, 1) => &["K", "K23", "K32", "K24", "K42", "KA"],
        (12, 4) => &["CL", "V2", "Q3", "V3", "Q4", "V4", "KA"],
        (12, 6) => &["ALPHA", "BETA", "GAMMA", "K32", "K42", "KA"],
        (1 | 2, _) => return Err("TRANS1 or TRANS2"),
        (3 | 4, _) => return Err("TRANS1, TRANS3, TRANS4, TRANS5 or TRANS6"),
        _ => return Err("TRANS1, TRANS4 or TRANS6"),
    })
}

/// Helper statements and the kernel's arguments for ADVANn TRANSm (`v` maps
/// a NONMEM PK parameter to its name in the model).
/// Helper assignments, and the kernel's arguments by name.
type KernelCall = (Vec<(String, E)>, Vec<(&'static str, E)>);

fn kernel_arguments(advan: u32, trans: u32, v: &dyn Fn(&str) -> E) -> KernelCall {
    let d = |a: E, b: E| bin(BinOp::Div, a, b);
    let m = |a: E, b: E| bin(BinOp::Mul, a, b);
    let s = |a: E, b: E| bin(BinOp::Sub, a, b);
    let a = |x: E, y: E| bin(BinOp::Add, x, y);
    let one = || num(1.0);
    let mut helpers: Vec<(String, E)> = Vec::new();
    let oral = matches!(advan, 2 | 4 | 12);
    let mut args: Vec<(&'static str, E)> = match (advan, trans) {
        (1 | 2, 1) => vec![("CL", v("K")), ("V", one())],
        (1 | 2, _) => vec![("CL", v("CL")), ("V", v("V"))],
        (3, 1) => vec![
            ("CL", v("K")),
            ("V1", one()),
            ("Q", v("K12")),
            ("V2", d(v("K12"), v("K21"))),
        ],
        (4, 1) => vec![
            ("CL", v("K")),
            ("V1", one()),
            ("Q", v("K23")),
            ("V2", d(v("K23"), v("K32"))),
        ],
        (3 | 4, 3) => vec![
            ("CL", v("CL")),
            ("V1", v("V")),
            ("Q", v("Q")),
            ("V2", s(v("VSS"), v("V"))),
        ],
        (3, 4) => vec![("CL", v("CL")), ("V1", v("V1")), ("Q", v("Q")), ("V2", v("V2"))],
        (4, 4) => vec![("CL", v("CL")), ("V1", v("V2")), ("Q", v("Q")), ("V2", v("V3"))],
        (3 | 4, 5 | 6) => {
            let k21 = if advan == 3 { "K21" } else { "K32" };
            let k21e = if trans == 5 {
                // k21 = (AOB·β + α) / (AOB + 1)
                helpers.push((
                    format!("{k21}_"),
                    d(a(m(v("AOB"), v("BETA")), v("ALPHA")), a(v("AOB"), one())),
                ));
                name(&format!("{k21}_"))
            } else {
                v(k21)
            };
            helpers.push(("K10_".into(), d(m(v("ALPHA"), v("BETA")), k21e.clone())));
            helpers.push((
                "K12_".into(),
                s(s(a(v("ALPHA"), v("BETA")), k21e.clone()), name("K10_")),
            ));
            vec![
                ("CL", name("K10_")),
                ("V1", one()),
                ("Q", name("K12_")),
                ("V2", d(name("K12_"), k21e)),
            ]
        }
        (11, 1) => vec![
            ("CL", v("K")),
            ("V1", one()),
            ("Q2", v("K12")),
            ("V2", d(v("K12"), v("K21"))),
            ("Q3", v("K13")),
            ("V3", d(v("K13"), v("K31"))),
        ],
        (12, 1) => vec![
            ("CL", v("K")),
            ("V1", one()),
            ("Q2", v("K23")),
            ("V2", d(v("K23"), v("K32"))),
            ("Q3", v("K24")),
            ("V3", d(v("K24"), v("K42"))),
        ],
        (11, 4) => vec![
            ("CL", v("CL")),
            ("V1", v("V1")),
            ("Q2", v("Q2")),
            ("V2", v("V2")),
            ("Q3", v("Q3")),
            ("V3", v("V3")),
        ],
        (12, 4) => vec![
            ("CL", v("CL")),
            ("V1", v("V2")),
            ("Q2", v("Q3")),
            ("V2", v("V3")),
            ("Q3", v("Q4")),
            ("V3", v("V4")),
        ],
        (11 | 12, _) => {
            let (k21, k31) = if advan == 11 { ("K21", "K31") } else { ("K32", "K42") };
            let (al, be, ga) = (v("ALPHA"), v("BETA"), v("GAMMA"));
            // k10 = αβγ/(k21·k31); S = α+β+γ−k10−k21−k31 = k12+k13;
            // P = αβ+αγ+βγ−k10k21−k10k31−k21k31 = k12k31+k13k21.
            helpers.push((
                "K10_".into(),
                d(m(m(al.clone(), be.clone()), ga.clone()), m(v(k21), v(k31))),
            ));
            helpers.push((
                "S_".into(),
                s(
                    s(s(a(a(al.clone(), be.clone()), ga.clone()), name("K10_")), v(k21)),
                    v(k31),
                ),
            ));
            helpers.push((
                "P_".into(),
                s(
                    s(
                        s(
                            a(a(m(al.clone(), be.clone()), m(al, ga.clone())), m(be, ga)),
                            m(name("K10_"), v(k21)),
                        ),
                        m(name("K10_"), v(k31)),
                    ),
                    m(v(k21), v(k31)),
                ),
            ));
            helpers.push((
                "K12_".into(),
                d(s(name("P_"), m(name("S_"), v(k21))), s(v(k31), v(k21))),
            ));
            helpers.push(("K13_".into(), s(name("S_"), name("K12_"))));
            vec![
                ("CL", name("K10_")),
                ("V1", one()),
                ("Q2", name("K12_")),
                ("V2", d(name("K12_"), v(k21))),
                ("Q3", name("K13_")),
                ("V3", d(name("K13_"), v(k31))),
            ]
        }
        _ => Vec::new(),
    };
    if oral {
        args.push(("KA", v("KA")));
    }
    (helpers, args)
}

// ------------------------------------------------------------------ expressions

#[derive(Debug, Clone)]
enum EtaRef {
    Name(String),
    Zero,
    Placeholder,
}

struct Resolver<'a> {
    cs: &'a ControlStream,
    theta: Vec<String>,
    eta: Vec<EtaRef>,
    n_eps: usize,
    states: Vec<String>,
    /// NONMEM data item label or synonym (upper case) → model covariate name.
    items: HashMap<String, String>,
    /// Variables assigned in any code record (NONMEM names).
    assigned: HashSet<String>,
    /// Data items read (model covariate names).
    used_items: std::cell::RefCell<BTreeSet<String>>,
    /// Statements refused whether used or not: (line, record, reason).
    hard: std::cell::RefCell<Vec<(usize, Rec, String)>>,
}

/// Placeholder name of an η of a SAME group before IOV is recognised.
fn placeholder(j: usize) -> String {
    format!("__ETA_{j}")
}

impl Resolver<'_> {
    fn variable(&self, v: &Variable, rec: Rec) -> Result<E, String> {
        let idx = v.index().map(|i| i as usize);
        let n = v.name.as_str();
        if !v.subscripts.is_empty() {
            return match n {
                "THETA" => match (&v.subscripts[..], idx) {
                    (_, Some(i)) if i >= 1 && i <= self.theta.len() => Ok(name(&self.theta[i - 1])),
                    (_, Some(i)) => Err(format!("THETA({i}): the control stream has {} θ", self.theta.len())),
                    ([Subscript::Label(l)], _) => self
                        .cs
                        .thetas
                        .iter()
                        .position(|t| t.name.as_deref() == Some(l.as_str()))
                        .map(|k| name(&self.theta[k]))
                        .ok_or_else(|| format!("THETA({l}): no θ is labelled {l}")),
                    _ => Err(format!("{v}: expected THETA(n)")),
                },
                "ETA" => match idx
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|k| self.eta.get(k).map(|r| (k, r)))
                {
                    Some((_, EtaRef::Name(s))) => Ok(name(s)),
                    Some((_, EtaRef::Zero)) => Ok(num(0.0)),
                    Some((k, EtaRef::Placeholder)) => Ok(name(&placeholder(k + 1))),
                    None => Err(format!("{v}: $OMEGA has {} η", self.eta.len())),
                },
                "EPS" | "ERR" => match (rec, idx) {
                    (Rec::Error | Rec::Pred, Some(i)) if i >= 1 && i <= self.n_eps => Ok(E::Eps(i)),
                    (Rec::Error | Rec::Pred, _) => Err(format!("{v}: $SIGMA has {} ε", self.n_eps)),
                    _ => Err(format!("{v} is only allowed in $ERROR or $PRED")),
                },
                "A" => match (rec, idx) {
                    (Rec::Error | Rec::Des, Some(i)) if i >= 1 && i <= self.states.len() => {
                        Ok(name(&self.states[i - 1]))
                    }
                    (Rec::Error | Rec::Des, _) => Err(format!(
                        "{v}: the model has compartments 1 to {} (the output compartment cannot be read)",
                        self.states.len()
                    )),
                    _ => Err(format!("{v}: compartment amounts are read in $DES and $ERROR only")),
                },
                "DADT" if rec == Rec::Des => match idx {
                    Some(i) if i >= 1 && i <= self.states.len() => Ok(name(&format!("DADT_{i}"))),
                    _ => Err(format!("{v}: the model has {} compartments", self.states.len())),
                },
                "OMEGA" | "SIGMA" => {
                    let (i, j) = match &v.subscripts[..] {
                        [Subscript::Index(i), Subscript::Index(j)] => (*i as usize, *j as usize),
                        _ => return Err(format!("{v}: expected {n}(i,j)")),
                    };
                    let blocks = if n == "OMEGA" { &self.cs.omega } else { &self.cs.sigma };
                    let block = blocks
                        .iter()
                        .find(|b| (b.first..b.first + b.size).contains(&i) && (b.first..b.first + b.size).contains(&j));
                    match block {
                        Some(b) if b.fixed => Ok(num(b.get(i - b.first, j - b.first).unwrap_or(0.0))),
                        Some(_) => Err(format!(
                            "{v} reads an estimated variance; the model language has no name for it (fix it, or write the value)"
                        )),
                        None => Err(format!("{v}: no such element of ${n}")),
                    }
                }
                "MTIME" | "MNEXT" | "MPAST" | "MNOW" | "MTDIFF" => Err(format!(
                    "{v}: model event times (MTIME) are not supported; give the time as a data record instead"
                )),
                "COM" => Err(format!("{v}: COMMON variables (COM) are not supported")),
                _ => Err(format!("{v}: indexed variable {n}(…) is not supported")),
            };
        }
        if rec == Rec::Des && n == "T" {
            return Ok(name("t"));
        }
        if n == "TIME" {
            return Ok(name("TIME"));
        }
        if let Some(c) = self.items.get(n) {
            if !self.assigned.contains(n) {
                self.used_items.borrow_mut().insert(c.clone());
                return Ok(name(c));
            }
        }
        match n {
            "ICALL" => return Ok(num(2.0)),
            "NEWIND" => {
                return Err(
                    "NEWIND (first record of an individual) has no equivalent in the model language: the code runs once per record with no memory of the previous one".into(),
                )
            }
            "F" if rec == Rec::Error => return Ok(name("F")),
            "F" if rec == Rec::Pk => return Err("F is the prediction; $PK cannot read it".into()),
            "Y" if rec != Rec::Pred || !self.assigned.contains("Y") => {
                return Err("Y is the observation's model; the code cannot read it".into())
            }
            "MTIME" | "MNEXT" | "MPAST" | "MNOW" | "MTDIFF" => {
                return Err(format!("{n}: model event times (MTIME) are not supported"))
            }
            "IREP" | "NIREC" | "NDREC" | "IERPRD" | "PRED_" | "RES_" | "WRES_" | "COMACT" | "COMSAV" | "IPRED_" => {
                return Err(format!("{n}: NONMEM's internal variable {n} has no equivalent in the model language"))
            }
            _ => {}
        }
        if !self.assigned.contains(n) {
            return Err(format!("{n} is neither a data item of $INPUT nor assigned in the code"));
        }
        Ok(name(&language_variable(n)))
    }

    fn expr(&self, e: &Expr, rec: Rec) -> Result<E, String> {
        Ok(match &e.kind {
            ExprKind::Number(v) => num(*v),
            ExprKind::Variable(v) => self.variable(v, rec)?,
            ExprKind::Unary { op, operand } => {
                let a = self.expr(operand, rec)?;
                match op {
                    UnaryOp::Neg => E::Neg(Box::new(a)),
                    UnaryOp::Plus => a,
                    UnaryOp::Not => E::Not(Box::new(a)),
                }
            }
            ExprKind::Binary { op, left, right } => {
                let a = self.expr(left, rec)?;
                let b = self.expr(right, rec)?;
                let op = match op {
                    BinaryOp::Add => BinOp::Add,
                    BinaryOp::Sub => BinOp::Sub,
                    BinaryOp::Mul => BinOp::Mul,
                    BinaryOp::Div => BinOp::Div,
                    BinaryOp::Pow => BinOp::Pow,
                    BinaryOp::Eq => BinOp::Eq,
                    BinaryOp::Ne => BinOp::Ne,
                    BinaryOp::Lt => BinOp::Lt,
                    BinaryOp::Le => BinOp::Le,
                    BinaryOp::Gt => BinOp::Gt,
                    BinaryOp::Ge => BinOp::Ge,
                    BinaryOp::And => BinOp::And,
                    BinaryOp::Or => BinOp::Or,
                };
                bin(op, a, b)
            }
            ExprKind::Call { function, args } => {
                let a: Vec<E> = args.iter().map(|x| self.expr(x, rec)).collect::<Result<_, _>>()?;
                let call = |f: Func, x: E| E::Call(f, vec![x]);
                let first = a.first().cloned().unwrap_or(num(0.0));
                match function {
                    Function::Exp => call(Func::Exp, first),
                    Function::Log => call(Func::Log, first),
                    Function::Log10 => call(Func::Log10, first),
                    Function::Sqrt => call(Func::Sqrt, first),
                    Function::Abs => call(Func::Abs, first),
                    Function::Phi => call(Func::Phi, first),
                    Function::Min | Function::Max => {
                        let f = if *function == Function::Min { Func::Min } else { Func::Max };
                        let mut it = a.into_iter();
                        let mut acc = it.next().unwrap_or(num(0.0));
                        for x in it {
                            acc = E::Call(f, vec![acc, x]);
                        }
                        acc
                    }
                    // NONMEM's protected functions (PEXP: exp(100) above 100; PLOG,
                    // PLOG10: the argument at least 1E-300; PSQRT: at least 0).
                    Function::Pexp => call(Func::Exp, E::Call(Func::Min, vec![first, num(100.0)])),
                    Function::Plog => call(Func::Log, E::Call(Func::Max, vec![first, num(1e-300)])),
                    Function::Plog10 => call(Func::Log10, E::Call(Func::Max, vec![first, num(1e-300)])),
                    Function::Psqrt => call(Func::Sqrt, E::Call(Func::Max, vec![first, num(0.0)])),
                    other => {
                        return Err(format!(
                            "the function {} is not in the model language (it has exp, log, log10, sqrt, abs, min, max, phi)",
                            other.name()
                        ))
                    }
                }
            }
        })
    }
}

// ------------------------------------------------------------------ code

/// Lowers the statements of one record.
fn lower_code(r: &Resolver, block: &CodeBlock, rec: Rec, notes: &mut Vec<String>) -> Vec<St> {
    fn go(r: &Resolver, list: &[Statement], rec: Rec, notes: &mut Vec<String>) -> Vec<St> {
        let mut out = Vec::new();
        for s in list {
            match &s.kind {
                StatementKind::Assign { target, value } => {
                    let text = format!("{target} = {value}");
                    let mut bad = None;
                    let t = match (target.name.as_str(), target.index(), rec) {
                        ("CALLFL", None, _) => {
                            notes.push(format!(
                                "{} line {}: {text} is a calling-protocol directive; the engine runs the code at every record whose inputs change",
                                rec.name(),
                                s.line
                            ));
                            continue;
                        }
                        ("A_0", Some(i), Rec::Pk) if (i as usize) <= r.states.len() && i >= 1 => format!("A_0_{i}"),
                        ("DADT", Some(i), Rec::Des) if (i as usize) <= r.states.len() && i >= 1 => format!("DADT_{i}"),
                        ("Y", None, Rec::Error | Rec::Pred) => "Y".into(),
                        ("F_FLAG", None, Rec::Error | Rec::Pred) => "F_FLAG".into(),
                        ("F", None, Rec::Pred) => "F".into(),
                        ("F", None, _) => {
                            bad = Some(format!("{} cannot assign F, the prediction of PREDPP", rec.name()));
                            "F".into()
                        }
                        (n, None, _) => {
                            if r.items.contains_key(n) && n != "Y" {
                                bad = Some(format!("{n} is a data item of $INPUT; the code cannot assign it"));
                            }
                            language_variable(n)
                        }
                        _ => {
                            // Not an ordinary variable: refused whether or not anything reads it.
                            let why = match target.name.as_str() {
                                "MTIME" => format!("{target}: model event times (MTIME) are not supported; give the time as a data record instead"),
                                "COM" => format!("{target}: COMMON variables (COM) are not supported"),
                                _ => format!("assignment to {target} is not supported in {}", rec.name()),
                            };
                            r.hard.borrow_mut().push((s.line, rec, why.clone()));
                            bad = Some(why);
                            target.to_string()
                        }
                    };
                    let value = match r.expr(value, rec) {
                        Ok(v) => v.simplify(),
                        Err(m) => {
                            bad = bad.or(Some(m));
                            num(0.0)
                        }
                    };
                    out.push(St::Set {
                        target: t,
                        value,
                        line: s.line,
                        column: s.column,
                        rec,
                        text,
                        bad,
                    });
                }
                StatementKind::If {
                    branches, otherwise, ..
                } => {
                    let mut bad = None;
                    let arms = branches
                        .iter()
                        .map(|b| {
                            let c = match r.expr(&b.condition, rec) {
                                Ok(c) => c,
                                Err(m) => {
                                    bad = bad.clone().or(Some(m));
                                    // Kept (not folded away) so that the refusal is raised if used.
                                    name("__unresolved")
                                }
                            };
                            (c, go(r, &b.body, rec, notes))
                        })
                        .collect();
                    let otherwise = otherwise.as_ref().map(|o| go(r, o, rec, notes)).unwrap_or_default();
                    out.push(St::If {
                        arms,
                        otherwise,
                        line: s.line,
                        column: s.column,
                        rec,
                        bad,
                    });
                }
                StatementKind::Unsupported { statement, reason, .. } => out.push(St::Set {
                    target: format!("__unsupported_{}", s.line),
                    value: num(0.0),
                    line: s.line,
                    column: s.column,
                    rec,
                    text: statement.clone(),
                    bad: Some(format!("statement {statement} is not supported: {reason}")),
                }),
            }
        }
        out
    }
    fold(go(r, &block.statements, rec, notes))
}

// ------------------------------------------------------------------ IOV

/// One `$OMEGA` block followed by `BLOCK SAME` copies: κ of `size` per occasion.
#[derive(Debug, Clone)]
struct SameGroup {
    /// 0-based index of the first η of each occasion's block.
    firsts: Vec<usize>,
    size: usize,
    line: usize,
}

fn same_groups(omega: &[CovarianceBlock]) -> Vec<SameGroup> {
    let mut out: Vec<SameGroup> = Vec::new();
    for b in omega {
        if let BlockForm::Same { source } = b.form {
            match out.iter_mut().find(|g| g.firsts[0] == omega[source].first - 1) {
                Some(g) => g.firsts.push(b.first - 1),
                None => out.push(SameGroup {
                    firsts: vec![omega[source].first - 1, b.first - 1],
                    size: b.size,
                    line: omega[source].line,
                }),
            }
        }
    }
    out
}

/// `COL == value` (either order) → (COL, value).
fn column_equals(c: &E) -> Option<(String, f64)> {
    match c {
        E::Bin(BinOp::Eq, a, b) => match (&**a, &**b) {
            (E::Name(n), E::Num(v)) | (E::Num(v), E::Name(n)) => Some((n.clone(), *v)),
            _ => None,
        },
        _ => None,
    }
}

struct IovFound {
    column: String,
    /// Occasion values in occasion order.
    values: Vec<f64>,
}

/// Recognises `X = 0; IF (OCC.EQ.v1) X = ETA(j1); IF (OCC.EQ.v2) X = ETA(j2)`
/// (or one `IF … ELSE IF …`) for every η of the SAME groups, and rewrites it
/// as `X = κ`.
fn recognise_iov(
    code: &mut Vec<St>,
    groups: &[SameGroup],
    kappa_of: &dyn Fn(usize, usize) -> String,
    items: &HashSet<String>,
) -> Result<IovFound, String> {
    // (variable, η 0-based, column, value) from every selection.
    let mut picks: Vec<(String, usize, String, f64)> = Vec::new();
    let mut defaults: HashMap<String, usize> = HashMap::new();
    let is_placeholder = |e: &E| -> Option<usize> {
        match e {
            E::Name(n) => n
                .strip_prefix("__ETA_")
                .and_then(|d| d.parse::<usize>().ok())
                .map(|j| j - 1),
            _ => None,
        }
    };
    let mut selection_statements: Vec<usize> = Vec::new();
    for (k, s) in code.iter().enumerate() {
        match s {
            St::Set {
                target,
                value: E::Num(0.0),
                ..
            } => {
                defaults.entry(target.clone()).or_insert(k);
            }
            St::If { arms, otherwise, .. } => {
                let mut found = Vec::new();
                let mut ok = true;
                for (c, body) in arms {
                    let Some((col, v)) = column_equals(c) else {
                        ok = false;
                        break;
                    };
                    for b in body {
                        match b {
                            St::Set { target, value, .. } => match is_placeholder(value) {
                                Some(j) => found.push((target.clone(), j, col.clone(), v)),
                                None => ok = false,
                            },
                            _ => ok = false,
                        }
                    }
                }
                for b in otherwise {
                    if !matches!(b, St::Set { value: E::Num(z), .. } if *z == 0.0) {
                        ok = false;
                    }
                }
                if ok && !found.is_empty() {
                    picks.extend(found);
                    selection_statements.push(k);
                }
            }
            _ => {}
        }
    }
    let line = groups.first().map_or(0, |g| g.line);
    let column = picks
        .first()
        .map(|p| p.2.clone())
        .ok_or_else(|| format!("$OMEGA BLOCK SAME (line {line}) repeats a block for inter-occasion variability, but $PK selects none of its η by IF (OCC.EQ.k) X = ETA(j)"))?;
    if picks.iter().any(|p| p.2 != column) {
        return Err(format!(
            "the inter-occasion η are selected by more than one data item ({column}, …); the model language has one occasion column"
        ));
    }
    if !items.contains(&column) {
        return Err(format!(
            "the inter-occasion η are selected by {column}, which is not a data item"
        ));
    }
    let n_occ = groups[0].firsts.len();
    let mut values: Vec<Option<f64>> = vec![None; n_occ];
    let mut variables = Vec::new();
    for g in groups {
        if g.firsts.len() != n_occ {
            return Err(format!(
                "the BLOCK SAME groups have different numbers of occasions ({} and {n_occ})",
                g.firsts.len()
            ));
        }
        let mut vars = Vec::new();
        for p in 0..g.size {
            let mut var: Option<String> = None;
            for (o, first) in g.firsts.iter().enumerate() {
                let j = first + p;
                let hits: Vec<&(String, usize, String, f64)> = picks.iter().filter(|x| x.1 == j).collect();
                let [hit] = hits.as_slice() else {
                    return Err(format!(
                        "ETA({}) of the BLOCK SAME group of line {} is selected {} times; expected once, as IF ({column}.EQ.k) X = ETA({})",
                        j + 1,
                        g.line,
                        hits.len(),
                        j + 1
                    ));
                };
                match &var {
                    None => var = Some(hit.0.clone()),
                    Some(v) if *v != hit.0 => {
                        return Err(format!(
                            "ETA({}) goes to {} but ETA({}) of the same position in another occasion goes to {v}",
                            j + 1,
                            hit.0,
                            g.firsts[0] + p + 1
                        ))
                    }
                    _ => {}
                }
                match values[o] {
                    None => values[o] = Some(hit.3),
                    Some(v) if v != hit.3 => {
                        return Err(format!(
                            "occasion {} is {column} = {v} for one η and {column} = {} for ETA({})",
                            o + 1,
                            hit.3,
                            j + 1
                        ))
                    }
                    _ => {}
                }
            }
            vars.push(var.unwrap_or_default());
        }
        variables.push(vars);
    }
    if picks.len() != groups.iter().map(|g| g.size * g.firsts.len()).sum::<usize>() {
        return Err("an η outside the BLOCK SAME groups is selected by occasion".into());
    }
    // Rewrite: the default (or the first selection) becomes X = κ; the rest goes.
    let mut replace: HashMap<usize, Vec<St>> = HashMap::new();
    let mut remove: HashSet<usize> = selection_statements.iter().copied().collect();
    for (g, vars) in variables.iter().enumerate() {
        for (p, v) in vars.iter().enumerate() {
            let first_sel = selection_statements
                .iter()
                .copied()
                .find(|k| {
                    let mut hit = false;
                    walk_sets(std::slice::from_ref(&code[*k]), &mut Vec::new(), &mut |s, _| {
                        if matches!(s, St::Set { target, .. } if target == v) {
                            hit = true;
                        }
                    });
                    hit
                })
                .unwrap_or(0);
            let at = defaults.get(v).copied().filter(|d| *d < first_sel);
            let k = at.unwrap_or(first_sel);
            if let Some(d) = at {
                remove.insert(d);
            }
            let (line, column, rec) = match &code[k] {
                St::Set { line, column, rec, .. } | St::If { line, column, rec, .. } => (*line, *column, *rec),
            };
            replace.entry(k).or_default().push(St::Set {
                target: v.clone(),
                value: name(&kappa_of(g, p)),
                line,
                column,
                rec,
                text: format!("{v} = ETA(…) of the occasion"),
                bad: None,
            });
        }
    }
    let old = std::mem::take(code);
    for (k, s) in old.into_iter().enumerate() {
        if let Some(r) = replace.remove(&k) {
            code.extend(r);
        }
        if !remove.contains(&k) {
            code.push(s);
        }
    }
    Ok(IovFound {
        column,
        values: values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
    })
}

// ------------------------------------------------------------------ residual error

/// Y = A + Σ_k B_k·ε_k to first order in ε (NONMEM's own treatment).
fn linearise(e: &E) -> Result<(E, Vec<(usize, E)>), String> {
    fn merge(a: Vec<(usize, E)>, b: Vec<(usize, E)>, sign: f64) -> Vec<(usize, E)> {
        let mut out = a;
        for (k, x) in b {
            let x = if sign < 0.0 { E::Neg(Box::new(x)) } else { x };
            match out.iter_mut().find(|(j, _)| *j == k) {
                Some((_, y)) => *y = bin(BinOp::Add, y.clone(), x),
                None => out.push((k, x)),
            }
        }
        out
    }
    let scale = |b: Vec<(usize, E)>, f: &E, div: bool| -> Vec<(usize, E)> {
        b.into_iter()
            .map(|(k, x)| (k, bin(if div { BinOp::Div } else { BinOp::Mul }, x, f.clone())))
            .collect()
    };
    Ok(match e {
        E::Num(_) | E::Name(_) => (e.clone(), Vec::new()),
        E::Eps(k) => (num(0.0), vec![(*k, num(1.0))]),
        E::Neg(a) => {
            let (a0, b) = linearise(a)?;
            (E::Neg(Box::new(a0)), merge(Vec::new(), b, -1.0))
        }
        E::Bin(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (a0, ab) = linearise(a)?;
            let (b0, bb) = linearise(b)?;
            let sign = if *op == BinOp::Add { 1.0 } else { -1.0 };
            (bin(*op, a0, b0), merge(ab, bb, sign))
        }
        E::Bin(BinOp::Mul, a, b) => {
            let (a0, ab) = linearise(a)?;
            let (b0, bb) = linearise(b)?;
            if !ab.is_empty() && !bb.is_empty() {
                return Err(format!("{e} multiplies ε by ε"));
            }
            let terms = if ab.is_empty() {
                scale(bb, &a0, false)
            } else {
                scale(ab, &b0, false)
            };
            (bin(BinOp::Mul, a0, b0), terms)
        }
        E::Bin(BinOp::Div, a, b) => {
            if b.has_eps() {
                return Err(format!("{e} divides by an expression of ε"));
            }
            let (a0, ab) = linearise(a)?;
            ((bin(BinOp::Div, a0, (**b).clone())), scale(ab, b, true))
        }
        E::Call(Func::Exp, args) if args[0].has_eps() => {
            let (a0, ab) = linearise(&args[0])?;
            let ex = E::Call(Func::Exp, vec![a0]);
            (ex.clone(), scale(ab, &ex, false))
        }
        other if !other.has_eps() => (other.clone(), Vec::new()),
        other => {
            return Err(format!(
                "{other} is not linear in ε (only sums, products with terms free of ε, and EXP(… + ε) are)"
            ))
        }
    })
}

/// One term of an output's error model, as model-language text.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Var(E),
    Add(E),
    Prop(E),
    Power(E, E),
    Combined1(E, E),
}

/// The parts of an SD expression B relative to the prediction `a`:
/// B = add + prop·a, or B = coefficient · a^exponent.
enum SdShape {
    Linear(Vec<E>, Vec<E>),
    Power(E, E),
    Root(Vec<E>, Vec<E>),
}

fn shape_of(b: &E, a: &E, state_free: &dyn Fn(&E) -> bool) -> Option<SdShape> {
    let pa = Product::of(a);
    if let E::Call(Func::Sqrt, args) = b {
        // B = sqrt(α + γ·a²)
        let aa = Product::of(&bin(BinOp::Mul, a.clone(), a.clone()));
        let (mut alpha, mut gamma) = (Vec::new(), Vec::new());
        for t in terms(&args[0]) {
            if state_free(&t) {
                alpha.push(t);
            } else {
                let q = Product::of(&t).divide(&aa)?;
                if !q.all(state_free) {
                    return None;
                }
                gamma.push(q.expr());
            }
        }
        return Some(SdShape::Root(alpha, gamma));
    }
    let (mut add, mut prop) = (Vec::new(), Vec::new());
    let ts = terms(b);
    for t in &ts {
        if state_free(t) {
            add.push(t.clone());
            continue;
        }
        if let Some(q) = Product::of(t).divide(&pa) {
            if q.all(state_free) {
                prop.push(q.expr());
                continue;
            }
        }
        // c · a^p
        if ts.len() == 1 {
            let p = Product::of(t);
            let k = p
                .num
                .iter()
                .position(|f| matches!(f, E::Bin(BinOp::Pow, x, e) if **x == *a && state_free(e)))?;
            let E::Bin(_, _, exponent) = &p.num[k] else { return None };
            let mut rest = p.clone();
            rest.num.remove(k);
            if rest.all(state_free) {
                return Some(SdShape::Power(rest.expr(), (**exponent).clone()));
            }
        }
        return None;
    }
    Some(SdShape::Linear(add, prop))
}

/// √(Σ terms) as an expression, without the root when it is a single square.
fn root_of(ts: &[E]) -> E {
    if let [t] = ts {
        let p = Product::of(t);
        if p.coefficient > 0.0 {
            let mut half = Vec::new();
            let mut rest = p.num.clone();
            let mut ok = true;
            while let Some(f) = rest.pop() {
                match rest.iter().position(|g| *g == f) {
                    Some(k) => {
                        rest.remove(k);
                        half.push(f);
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && p.den.is_empty() {
                return Product {
                    coefficient: p.coefficient.sqrt(),
                    num: half,
                    den: Vec::new(),
                }
                .expr()
                .simplify();
            }
        }
    }
    E::Call(Func::Sqrt, vec![sum(ts)])
}

/// The error model of an output Y = a + Σ b_k ε_k (a and b_k with the state-dependent
/// variables inlined), σ_k named `sigma[k]` (standing for its SD).
fn error_terms(
    a: &E,
    bs: &[(usize, E)],
    raw: &[(usize, E)],
    sigma: &[String],
    state_free: &dyn Fn(&E) -> bool,
) -> Result<Vec<Term>, String> {
    match matched_terms(a, bs, sigma, state_free) {
        Ok(t) => Ok(t),
        Err(why) => {
            // Any other W: the variance Σ (B_k·σ_k)² given directly.
            let parts: Vec<E> = raw
                .iter()
                .map(|(k, b)| (*k, b.simplify()))
                .filter(|(_, b)| !matches!(b, E::Num(v) if *v == 0.0))
                .map(|(k, b)| bin(BinOp::Pow, bin(BinOp::Mul, b, name(&sigma[k - 1])).simplify(), num(2.0)))
                .collect();
            if parts.is_empty() {
                return Err(why);
            }
            Ok(vec![Term::Var(sum(&parts))])
        }
    }
}

fn matched_terms(
    a: &E,
    bs: &[(usize, E)],
    sigma: &[String],
    state_free: &dyn Fn(&E) -> bool,
) -> Result<Vec<Term>, String> {
    let times = |x: E, k: usize| bin(BinOp::Mul, x, name(&sigma[k - 1])).simplify();
    let mut out = Vec::new();
    let mut mixed: Option<Term> = None;
    for (k, b) in bs {
        let b = b.simplify();
        if matches!(b, E::Num(v) if v == 0.0) {
            continue;
        }
        match shape_of(&b, a, state_free) {
            Some(SdShape::Linear(add, prop)) => match (add.is_empty(), prop.is_empty()) {
                (false, true) => out.push(Term::Add(times(sum(&add), *k))),
                (true, false) => out.push(Term::Prop(times(sum(&prop), *k))),
                (false, false) => {
                    mixed = Some(Term::Combined1(times(sum(&add), *k), times(sum(&prop), *k)));
                }
                (true, true) => {}
            },
            Some(SdShape::Root(alpha, gamma)) => {
                if !alpha.is_empty() {
                    out.push(Term::Add(times(root_of(&alpha), *k)));
                }
                if !gamma.is_empty() {
                    out.push(Term::Prop(times(root_of(&gamma), *k)));
                }
            }
            Some(SdShape::Power(c, p)) => out.push(Term::Power(times(c, *k), p)),
            None => {
                return Err(format!(
                    "the SD of EPS({k}) is {b}; the model language's error models are add, prop, add + prop, combined1 (θa + θb·F), power and exp"
                ))
            }
        }
    }
    if let Some(m) = mixed {
        if !out.is_empty() {
            return Err(
                "an ε whose SD is θa + θb·F (combined1) together with other ε: the model language cannot add these variances"
                    .into(),
            );
        }
        out.push(m);
    }
    if out.len() > 4 {
        return Err("more than four residual-error terms".into());
    }
    if out.is_empty() {
        return Err("Y has no ε: no residual error".into());
    }
    Ok(out)
}

fn term_text(terms: &[Term]) -> String {
    terms
        .iter()
        .map(|t| match t {
            Term::Var(a) => format!("var({a})"),
            Term::Add(a) => format!("add({a})"),
            Term::Prop(a) => format!("prop({a})"),
            Term::Power(a, p) => format!("power({a}, {p})"),
            Term::Combined1(a, b) => format!("combined1({a}, {b})"),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

// ------------------------------------------------------------------ rendering

#[derive(Debug, Clone)]
struct ThetaDecl {
    name: String,
    lower: f64,
    upper: f64,
    fixed: bool,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct OmegaDecl {
    names: Vec<String>,
    /// 0-based NONMEM η of each name.
    etas: Vec<usize>,
    fixed: Vec<bool>,
    block: bool,
    occasion: Option<String>,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct SigmaDecl {
    name: String,
    fixed: bool,
}

#[derive(Debug, Clone)]
struct Render {
    head: String,
    covariates: Vec<String>,
    thetas: Vec<ThetaDecl>,
    omegas: Vec<OmegaDecl>,
    sigmas: Vec<SigmaDecl>,
    body: String,
}

fn bound(v: f64) -> String {
    if v.is_finite() {
        number_text(v)
    } else {
        String::new()
    }
}

impl Render {
    fn text(&self, v: &NmValues, header: &str) -> String {
        let mut t = String::new();
        t.push_str(header);
        t.push_str(&self.head);
        if !self.covariates.is_empty() {
            t.push_str(&format!("covariates {}\n", self.covariates.join(", ")));
        }
        for (k, th) in self.thetas.iter().enumerate() {
            let init = v.theta.get(k).copied().unwrap_or(0.0);
            let mut line = format!("theta {} = {}", th.name, number_text(init));
            if th.lower.is_finite() || th.upper.is_finite() {
                line.push_str(&format!(" ({}, {})", bound(th.lower), bound(th.upper)));
            }
            if th.fixed {
                line.push_str(" fix");
            }
            if let Some(c) = &th.comment {
                line.push_str(&format!("  # {c}"));
            }
            t.push_str(&line);
            t.push('\n');
        }
        for o in &self.omegas {
            let kw = if o.occasion.is_some() { "iov" } else { "omega" };
            let mut line = if o.block {
                let mut vals = Vec::new();
                for i in 0..o.etas.len() {
                    for j in 0..=i {
                        vals.push(number_text(v.omega[(o.etas[i], o.etas[j])]));
                    }
                }
                format!(
                    "{kw} block({}) {} ~ {{{}}}{}",
                    o.names.len(),
                    o.names.join(", "),
                    vals.join(", "),
                    if o.fixed.iter().any(|f| *f) { " fix" } else { "" }
                )
            } else {
                let parts: Vec<String> = o
                    .names
                    .iter()
                    .zip(&o.etas)
                    .zip(&o.fixed)
                    .map(|((n, e), f)| {
                        format!(
                            "{n} ~ {}{}",
                            number_text(v.omega[(*e, *e)]),
                            if *f { " fix" } else { "" }
                        )
                    })
                    .collect();
                format!("{kw} {}", parts.join(", "))
            };
            if let Some(col) = &o.occasion {
                line.push_str(&format!(" by {col}"));
            }
            if let Some(c) = &o.comment {
                line.push_str(&format!("  # {c}"));
            }
            t.push_str(&line);
            t.push('\n');
        }
        for (k, s) in self.sigmas.iter().enumerate() {
            let val = if k < v.sigma.nrows() { v.sigma[(k, k)] } else { 0.0 };
            t.push_str(&format!(
                "sigma {} ~ {}{}\n",
                s.name,
                number_text(val),
                if s.fixed { " fix" } else { "" }
            ));
        }
        t.push_str(&self.body);
        t
    }
}

fn indent(n: usize) -> String {
    "    ".repeat(n)
}

fn render_code(list: &[St], depth: usize, live: &HashSet<(usize, usize)>, out: &mut String) {
    for s in list {
        let key = (
            s.line(),
            match s {
                St::Set { column, .. } | St::If { column, .. } => *column,
            },
        );
        let is_live = live.contains(&key);
        match s {
            St::Set {
                target, value, text, ..
            } => {
                if is_live {
                    out.push_str(&format!("{}{target} = {value}\n", indent(depth)));
                } else {
                    out.push_str(&format!("{}# not used by the model: {text}\n", indent(depth)));
                }
            }
            St::If { arms, otherwise, .. } => {
                if !is_live {
                    let mut inner = String::new();
                    render_if(arms, otherwise, 0, live, &mut inner, true);
                    for l in inner.lines() {
                        out.push_str(&format!("{}# not used by the model: {l}\n", indent(depth)));
                    }
                    continue;
                }
                render_if(arms, otherwise, depth, live, out, false);
            }
        }
    }
}

fn render_if(
    arms: &[(E, Vec<St>)],
    otherwise: &[St],
    depth: usize,
    live: &HashSet<(usize, usize)>,
    out: &mut String,
    all: bool,
) {
    let everything: HashSet<(usize, usize)> = if all {
        let mut h = HashSet::new();
        fn collect(list: &[St], h: &mut HashSet<(usize, usize)>) {
            for s in list {
                match s {
                    St::Set { line, column, .. } => {
                        h.insert((*line, *column));
                    }
                    St::If {
                        arms,
                        otherwise,
                        line,
                        column,
                        ..
                    } => {
                        h.insert((*line, *column));
                        for (_, b) in arms {
                            collect(b, h);
                        }
                        collect(otherwise, h);
                    }
                }
            }
        }
        for (_, b) in arms {
            collect(b, &mut h);
        }
        collect(otherwise, &mut h);
        h
    } else {
        HashSet::new()
    };
    let live = if all { &everything } else { live };
    for (k, (c, body)) in arms.iter().enumerate() {
        if k == 0 {
            out.push_str(&format!("{}if {c} {{\n", indent(depth)));
        } else {
            out.push_str(&format!("{}}} else if {c} {{\n", indent(depth)));
        }
        render_code(body, depth + 1, live, out);
    }
    if !otherwise.is_empty() {
        out.push_str(&format!("{}}} else {{\n", indent(depth)));
        render_code(otherwise, depth + 1, live, out);
    }
    out.push_str(&format!("{}}}\n", indent(depth)));
}

// ------------------------------------------------------------------ liveness

fn key(s: &St) -> (usize, usize) {
    match s {
        St::Set { line, column, .. } | St::If { line, column, .. } => (*line, *column),
    }
}

/// Marks the statements whose results reach `roots`, to a fixed point.
fn liveness(code: &[St], roots: &HashSet<String>) -> (HashSet<(usize, usize)>, HashSet<String>) {
    let mut needed = roots.clone();
    let mut live: HashSet<(usize, usize)> = HashSet::new();
    loop {
        let before = (needed.len(), live.len());
        fn mark(list: &[St], needed: &mut HashSet<String>, live: &mut HashSet<(usize, usize)>) -> bool {
            let mut any = false;
            for s in list.iter().rev() {
                match s {
                    St::Set { target, value, .. } => {
                        if needed.contains(target) {
                            live.insert(key(s));
                            let mut v = Vec::new();
                            value.names(&mut v);
                            needed.extend(v);
                            any = true;
                        }
                    }
                    St::If { arms, otherwise, .. } => {
                        let mut inner = false;
                        for (_, b) in arms {
                            inner |= mark(b, needed, live);
                        }
                        inner |= mark(otherwise, needed, live);
                        if inner {
                            live.insert(key(s));
                            for (c, _) in arms {
                                let mut v = Vec::new();
                                c.names(&mut v);
                                needed.extend(v);
                            }
                            any = true;
                        }
                    }
                }
            }
            any
        }
        mark(code, &mut needed, &mut live);
        if (needed.len(), live.len()) == before {
            break;
        }
    }
    (live, needed)
}

/// The first reason a live statement cannot be lowered.
fn first_bad(code: &[St], live: &HashSet<(usize, usize)>) -> Option<(usize, Rec, String)> {
    for s in code {
        if !live.contains(&key(s)) {
            continue;
        }
        match s {
            St::Set {
                bad: Some(b),
                line,
                rec,
                ..
            } => return Some((*line, *rec, b.clone())),
            St::If {
                bad,
                arms,
                otherwise,
                line,
                rec,
                ..
            } => {
                if let Some(b) = bad {
                    return Some((*line, *rec, b.clone()));
                }
                for (_, body) in arms {
                    if let Some(x) = first_bad(body, live) {
                        return Some(x);
                    }
                }
                if let Some(x) = first_bad(otherwise, live) {
                    return Some(x);
                }
            }
            _ => {}
        }
    }
    None
}

/// Variables read at a point where they may not have been assigned yet
/// (assigned only under some `IF`): (variable, line read, lines assigned with their conditions).
fn maybe_unassigned(code: &[St], vars: &HashSet<String>, live: &HashSet<(usize, usize)>) -> Vec<(String, usize)> {
    fn go(
        list: &[St],
        defined: &mut HashSet<String>,
        vars: &HashSet<String>,
        live: &HashSet<(usize, usize)>,
        out: &mut Vec<(String, usize)>,
    ) {
        for s in list {
            if !live.contains(&key(s)) {
                continue;
            }
            fn check(
                e: &E,
                line: usize,
                defined: &HashSet<String>,
                vars: &HashSet<String>,
                out: &mut Vec<(String, usize)>,
            ) {
                let mut v = Vec::new();
                e.names(&mut v);
                for n in v {
                    if vars.contains(&n) && !defined.contains(&n) && !out.iter().any(|(x, _)| *x == n) {
                        out.push((n, line));
                    }
                }
            }
            match s {
                St::Set {
                    target, value, line, ..
                } => {
                    check(value, *line, defined, vars, out);
                    defined.insert(target.clone());
                }
                St::If {
                    arms, otherwise, line, ..
                } => {
                    let mut after: Option<HashSet<String>> = None;
                    for (c, b) in arms {
                        check(c, *line, defined, vars, out);
                        let mut d = defined.clone();
                        go(b, &mut d, vars, live, out);
                        after = Some(match after {
                            None => d,
                            Some(a) => a.intersection(&d).cloned().collect(),
                        });
                    }
                    let mut d = defined.clone();
                    go(otherwise, &mut d, vars, live, out);
                    let a = after.unwrap_or_default();
                    *defined = a.intersection(&d).cloned().collect();
                }
            }
        }
    }
    let mut out = Vec::new();
    go(code, &mut HashSet::new(), vars, live, &mut out);
    out
}

// ------------------------------------------------------------------ lowering

/// Values of the data items on observation records (for the observation
/// compartments and DVID values).
fn observed_values(ds: Option<&Dataset>, item: &str, pred: bool) -> Option<BTreeSet<i64>> {
    let ds = ds?;
    let k = ds.column_index(item)?;
    Some(
        ds.rows
            .iter()
            .filter(|r| data::is_observation(ds, r, pred))
            .map(|r| r.nonmem(k).round() as i64)
            .collect(),
    )
}

/// Lowers a control stream. `data` (the records `$INPUT`/`$DATA` keep) tells
/// the observation compartments and DVID values; without it the default
/// observation compartment is assumed.
pub fn lower(cs: &ControlStream, data: Option<&Dataset>) -> Result<Lowered, NonmemError> {
    // Unsupported records now; unsupported statements (EXIT, CALL, DO WHILE …)
    // once the simulation blocks (IF (ICALL.EQ.4)) have dropped out.
    if let Some(e) = cs
        .unsupported_items()
        .into_iter()
        .find(|e| matches!(e, NonmemError::UnsupportedRecord { .. }))
    {
        return Err(e);
    }
    let mut notes: Vec<String> = Vec::new();

    // Estimation.
    let estimation = estimation_plan(cs)?;

    // Structure.
    let pred = cs.pred.is_some();
    let structure = if pred {
        if cs.pk.is_some() || cs.error.is_some() {
            return Err(lower_err(
                cs,
                cs.pred.as_ref().map_or(1, |b| b.line),
                "$PRED",
                "$PRED cannot be combined with $PK or $ERROR",
            ));
        }
        Structure::Pred
    } else {
        let sub = cs.subroutines.as_ref().ok_or_else(|| {
            lower_err(
                cs,
                1,
                "$SUBROUTINES",
                "no $SUBROUTINES (ADVAN) and no $PRED: the model has no structure",
            )
        })?;
        let advan = sub
            .advan
            .ok_or_else(|| lower_err(cs, sub.line, "$SUBROUTINES", "no ADVANn"))?;
        let trans = sub.trans.unwrap_or(1);
        if let Some((kernel, states, central)) = kernel_of(advan) {
            trans_parameters(advan, trans).map_err(|allowed| {
                lower_err(
                    cs,
                    sub.line,
                    "$SUBROUTINES",
                    format!("ADVAN{advan} TRANS{trans}: ADVAN{advan} takes {allowed}"),
                )
            })?;
            if cs.des.is_some() {
                return Err(lower_err(
                    cs,
                    cs.des.as_ref().map_or(1, |d| d.line),
                    "$DES",
                    format!("$DES with ADVAN{advan}: differential equations need ADVAN6 or ADVAN13"),
                ));
            }
            Structure::Kernel {
                advan,
                trans,
                kernel,
                states: states.iter().map(|s| s.to_string()).collect(),
                central,
            }
        } else if matches!(advan, 6 | 8 | 13 | 14) {
            let model = cs.model.as_ref().ok_or_else(|| {
                lower_err(
                    cs,
                    sub.line,
                    "$MODEL",
                    format!("ADVAN{advan} needs $MODEL with its compartments"),
                )
            })?;
            if cs.des.is_none() {
                return Err(lower_err(cs, sub.line, "$DES", format!("ADVAN{advan} needs $DES")));
            }
            if model.compartments.is_empty() {
                return Err(lower_err(
                    cs,
                    model.line,
                    "$MODEL",
                    "no COMP=(…): the compartments are unknown",
                ));
            }
            for c in &model.compartments {
                for a in &c.attributes {
                    let ok = ["NOOFF", "NODOSE", "NODOS"].iter().any(|x| a.starts_with(x));
                    if !ok {
                        return Err(lower_err(
                            cs,
                            c.line,
                            "$MODEL",
                            format!(
                                "COMP=({}, {a}): the attribute {a} is not supported (compartments are always on)",
                                c.name
                            ),
                        ));
                    }
                }
            }
            let default_obs = model
                .compartments
                .iter()
                .position(|c| c.default_observation)
                .unwrap_or(0)
                + 1;
            let default_dose = model.compartments.iter().position(|c| c.default_dose).unwrap_or(0) + 1;
            if let Some(t) = sub.tol {
                notes.push(format!(
                    "TOL={t} of $SUBROUTINES: the engine integrates the ODEs to a relative tolerance of 1e-10"
                ));
            }
            Structure::Ode {
                advan,
                states: model.compartments.iter().map(|c| c.name.clone()).collect(),
                default_obs,
                default_dose,
            }
        } else {
            let why = match advan {
                5 | 7 => "general linear models (ADVAN5/7) are not supported: write the model with $DES (ADVAN13)",
                9 | 15 => "algebraic equations (ADVAN9/15, $AES) are not supported",
                10 => "ADVAN10 (one compartment, Michaelis-Menten) is not supported: write it with $DES (ADVAN13)",
                _ => "this ADVAN is not supported",
            };
            return Err(lower_err(cs, sub.line, "$SUBROUTINES", format!("ADVAN{advan}: {why}")));
        }
    };
    if cs.pk.is_none() && !pred {
        return Err(lower_err(cs, 1, "$PK", "no $PK record"));
    }
    if cs.error.is_none() && !pred {
        return Err(lower_err(
            cs,
            1,
            "$ERROR",
            "no $ERROR record: the observations have no model",
        ));
    }

    // Σ must be diagonal.
    for b in &cs.sigma {
        for i in 0..b.size {
            for j in 0..i {
                if b.get(i, j).unwrap_or(0.0) != 0.0 {
                    return Err(lower_err(
                        cs,
                        b.line,
                        "$SIGMA",
                        "a $SIGMA block with covariances: the model language declares each σ on its own (diagonal Σ)",
                    ));
                }
            }
        }
    }

    // Data items.
    let kept: Vec<&super::InputColumn> = cs.input.iter().filter(|c| !c.dropped).collect();
    let mut items: HashMap<String, String> = HashMap::new();
    for c in &kept {
        let lang = match c.name.as_str() {
            "TIME" => "TIME".to_string(),
            // Column names the engine reads as censoring: the control stream's own items are data.
            "BLQ" | "LLOQ" | "CENS" => format!("{}_", c.name),
            n => language_variable(n),
        };
        items.insert(c.name.clone(), lang.clone());
        if let Some(s) = &c.synonym {
            items.insert(s.clone(), lang);
        }
    }
    for c in &kept {
        if matches!(c.name.as_str(), "DATE" | "DAT1" | "DAT2" | "DAT3") {
            return Err(lower_err(
                cs,
                c.line,
                "$INPUT",
                format!("{}: clock times and dates are not supported; give TIME as elapsed time, or drop the item ({}=DROP)", c.name, c.name),
            ));
        }
        if matches!(
            c.name.as_str(),
            "L2" | "CONT" | "CALL" | "XVID1" | "XVID2" | "XVID3" | "XVID4" | "XVID5"
        ) {
            return Err(lower_err(
                cs,
                c.line,
                "$INPUT",
                format!("the data item {} is not supported; drop it ({}=DROP)", c.name, c.name),
            ));
        }
    }

    // Variables assigned anywhere (NONMEM names).
    let mut assigned_names: HashSet<String> = HashSet::new();
    for b in cs.code_blocks() {
        for (t, _) in b.assignments() {
            if t.subscripts.is_empty() {
                assigned_names.insert(t.name.clone());
            }
        }
    }

    // States: kernel names, or $MODEL names made unique.
    let mut states = structure.states();
    for s in states.iter_mut() {
        let clash = assigned_names.contains(s.as_str())
            || items.contains_key(s.as_str())
            || !valid_identifier(s)
            || RESERVED.contains(&s.as_str());
        if clash {
            let base = if valid_identifier(s) {
                format!("{s}_CMT")
            } else {
                format!("CMT_{s}")
            };
            *s = base
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
                .collect();
        }
    }

    // Names taken by the code, the data and the states.
    let mut pool = NamePool { taken: HashSet::new() };
    for n in assigned_names.iter().chain(items.keys()).chain(states.iter()) {
        pool.taken.insert(n.to_ascii_uppercase());
    }
    for n in [
        "TIME", "TAD", "T", "F", "Y", "A_0", "DADT", "K10_", "K12_", "K13_", "S_", "P_", "K21_", "K32_",
    ] {
        pool.taken.insert(n.to_string());
    }

    // θ names.
    let theta_names: Vec<String> = cs
        .thetas
        .iter()
        .enumerate()
        .map(|(k, t)| pool.take(t.name.as_deref().or(t.label.as_deref()), &format!("THETA_{}", k + 1)))
        .collect();

    // Ω: SAME groups (IOV), η fixed at 0, names.
    let n_eta: usize = cs.omega.iter().map(|b| b.size).sum();
    let groups = same_groups(&cs.omega);
    let in_group = |j: usize| {
        groups
            .iter()
            .any(|g| g.firsts.iter().any(|f| (*f..f + g.size).contains(&j)))
    };
    let mut eta_refs: Vec<EtaRef> = vec![EtaRef::Zero; n_eta];
    let mut eta_target: Vec<EtaTarget> = vec![EtaTarget::Removed; n_eta];
    let mut eta_fixed = vec![false; n_eta];
    let mut omega_decls: Vec<OmegaDecl> = Vec::new();
    let mut n_model_eta = 0usize;
    let initial_omega = cs.omega_matrix();
    for b in &cs.omega {
        let first = b.first - 1;
        for i in 0..b.size {
            eta_fixed[first + i] = b.fixed;
        }
        if in_group(first) {
            for i in 0..b.size {
                eta_refs[first + i] = EtaRef::Placeholder;
            }
            continue;
        }
        let zero = b.size == 1 && b.fixed && b.values.first() == Some(&0.0);
        if zero {
            notes.push(format!(
                "ETA({}) has its variance fixed at 0: it is replaced by 0",
                b.first
            ));
            continue;
        }
        let mut names = Vec::new();
        for i in 0..b.size {
            let label = b.names[i].as_deref().or(b.labels[i].as_deref());
            let n = pool.take(label, &format!("ETA_{}", first + i + 1));
            eta_refs[first + i] = EtaRef::Name(n.clone());
            eta_target[first + i] = EtaTarget::Omega(n_model_eta);
            n_model_eta += 1;
            names.push(n);
        }
        let block = b.size > 1 || b.form == BlockForm::Block;
        // Consecutive diagonal elements of one record share a line.
        match omega_decls.last_mut() {
            Some(last) if !block && !last.block && last.occasion.is_none() && b.form == BlockForm::Diagonal => {
                last.names.extend(names);
                last.etas.push(first);
                last.fixed.push(b.fixed);
            }
            _ => omega_decls.push(OmegaDecl {
                names,
                etas: (first..first + b.size).collect(),
                fixed: vec![b.fixed; b.size],
                block,
                occasion: None,
                comment: None,
            }),
        }
    }
    // κ names (from the labels of the block that SAME repeats).
    let mut kappa_names: Vec<Vec<String>> = Vec::new();
    for g in &groups {
        let src = cs.omega.iter().find(|b| b.first - 1 == g.firsts[0]);
        let mut names = Vec::new();
        for p in 0..g.size {
            let label = src.and_then(|b| b.names[p].as_deref().or(b.labels[p].as_deref()));
            names.push(pool.take(label, &format!("KAPPA_{}", g.firsts[0] + p + 1)));
        }
        kappa_names.push(names);
    }
    let mut n_kappa = 0usize;
    for g in &groups {
        for (o, first) in g.firsts.iter().enumerate() {
            for p in 0..g.size {
                eta_target[first + p] = EtaTarget::Kappa {
                    index: n_kappa + p,
                    occasion: o,
                };
            }
        }
        n_kappa += g.size;
    }

    // ε names.
    let n_eps: usize = cs.sigma.iter().map(|b| b.size).sum();
    let mut sigma_decls = Vec::new();
    let mut eps_names = Vec::new();
    let mut eps_fixed = Vec::new();
    for b in &cs.sigma {
        for i in 0..b.size {
            let label = b.names[i].as_deref().or(b.labels[i].as_deref());
            let n = pool.take(label, &format!("EPS_{}", b.first + i));
            sigma_decls.push(SigmaDecl {
                name: n.clone(),
                fixed: b.fixed,
            });
            eps_names.push(n);
            eps_fixed.push(b.fixed);
        }
    }

    // Code.
    let resolver = Resolver {
        cs,
        theta: theta_names.clone(),
        eta: eta_refs,
        n_eps,
        states: states.clone(),
        items: items.clone(),
        assigned: assigned_names.clone(),
        used_items: Default::default(),
        hard: Default::default(),
    };
    let mut pk = cs
        .pk
        .as_ref()
        .map(|b| lower_code(&resolver, b, Rec::Pk, &mut notes))
        .unwrap_or_default();
    let mut des = cs
        .des
        .as_ref()
        .map(|b| lower_code(&resolver, b, Rec::Des, &mut notes))
        .unwrap_or_default();
    let mut err = match (&cs.error, &cs.pred) {
        (Some(b), _) => lower_code(&resolver, b, Rec::Error, &mut notes),
        (_, Some(b)) => lower_code(&resolver, b, Rec::Pred, &mut notes),
        _ => Vec::new(),
    };

    if let Some((line, rec, why)) = resolver.hard.borrow().first() {
        return Err(lower_err(cs, *line, rec.name(), why.clone()));
    }
    for list in [&pk, &des, &err] {
        let mut found: Option<(usize, Rec, String)> = None;
        walk_sets(list, &mut Vec::new(), &mut |s, _| {
            if let St::Set {
                target,
                line,
                rec,
                bad: Some(b),
                ..
            } = s
            {
                if target.starts_with("__unsupported_") && found.is_none() {
                    found = Some((*line, *rec, b.clone()));
                }
            }
        });
        if let Some((line, rec, why)) = found {
            return Err(lower_err(cs, line, rec.name(), why));
        }
    }

    // IOV.
    let mut occasions = None;
    if !groups.is_empty() {
        let item_names: HashSet<String> = items.values().cloned().collect();
        let found = recognise_iov(&mut pk, &groups, &|g, p| kappa_names[g][p].clone(), &item_names)
            .map_err(|m| lower_err(cs, groups[0].line, "$OMEGA", format!("BLOCK SAME: {m}")))?;
        for (gi, g) in groups.iter().enumerate() {
            omega_decls.push(OmegaDecl {
                names: kappa_names[gi].clone(),
                etas: (g.firsts[0]..g.firsts[0] + g.size).collect(),
                fixed: vec![eta_fixed[g.firsts[0]]; g.size],
                block: g.size > 1
                    || cs
                        .omega
                        .iter()
                        .any(|b| b.first - 1 == g.firsts[0] && b.form == BlockForm::Block),
                occasion: Some(found.column.clone()),
                comment: Some(format!(
                    "ETA({}) … for {} = {}",
                    g.firsts
                        .iter()
                        .map(|f| (f + 1).to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    found.column,
                    found
                        .values
                        .iter()
                        .map(|v| number_text(*v))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
        resolver.used_items.borrow_mut().insert(found.column.clone());
        occasions = Some((
            items
                .iter()
                .find(|(_, l)| **l == found.column)
                .map_or(found.column.clone(), |(k, _)| k.clone()),
            found.values.clone(),
        ));
    }
    // Any η of a SAME group left in the code is not an IOV selection.
    for list in [&pk, &des, &err] {
        let mut leftover = None;
        walk_sets(list, &mut Vec::new(), &mut |s, _| {
            if let St::Set { value, line, .. } = s {
                if value.names_contain_prefix("__ETA_") && leftover.is_none() {
                    leftover = Some(*line);
                }
            }
        });
        if let Some(l) = leftover {
            return Err(lower_err(
                cs,
                l,
                "$PK",
                "an η of an $OMEGA BLOCK SAME group is used outside an occasion selection IF (OCC.EQ.k) X = ETA(j)",
            ));
        }
    }

    // `IF (AMT.GT.0) BTIME = TIME` … `TIME - BTIME`: the time after the last dose (TAD).
    recognise_tad(&mut pk, &mut des, &mut err, &items, &mut notes);

    // $DES variables also assigned elsewhere are renamed in $DES.
    if !des.is_empty() {
        let mut des_vars = Vec::new();
        assigned(&des, &mut des_vars);
        let mut other = Vec::new();
        assigned(&pk, &mut other);
        assigned(&err, &mut other);
        let clash: HashSet<String> = des_vars.into_iter().filter(|v| other.contains(v)).collect();
        if !clash.is_empty() {
            rename_all(&mut des, &|n| clash.contains(n).then(|| format!("{n}_DES")));
        }
    }

    // ---------------------------------------------------------- residual error
    let rec_name = if pred { "$PRED" } else { "$ERROR" };
    let mut eps_vars: HashMap<String, E> = HashMap::new();
    let mut y_leaves: Vec<(ir::Path, E, usize)> = Vec::new();
    let mut flags: Vec<(ir::Path, E)> = Vec::new();
    let mut eps_problem: Option<(usize, String)> = None;
    walk_sets(&err, &mut Vec::new(), &mut |s, path| {
        let St::Set {
            target,
            value,
            line,
            bad,
            ..
        } = s
        else {
            return;
        };
        if bad.is_some() && (target == "Y" || value.has_eps()) {
            eps_problem.get_or_insert((*line, bad.clone().unwrap_or_default()));
        }
        let v = value.substitute(&|n| eps_vars.get(n).cloned());
        if target == "Y" {
            y_leaves.push((path.to_vec(), v, *line));
        } else if target == "F_FLAG" {
            flags.push((path.to_vec(), v));
        } else if v.has_eps() {
            if !path.is_empty() {
                eps_problem.get_or_insert((
                    *line,
                    format!("{target} depends on ε and is assigned under an IF; only Y may be"),
                ));
            }
            eps_vars.insert(target.clone(), v);
        }
    });
    if let Some((line, m)) = eps_problem {
        return Err(lower_err(cs, line, rec_name, m));
    }
    if y_leaves.is_empty() {
        return Err(lower_err(cs, 1, rec_name, format!("{rec_name} never assigns Y")));
    }
    let eps_var_names: HashSet<String> = eps_vars.keys().cloned().collect();
    retain(&mut err, &mut |s| match s {
        St::Set { target, value, .. } => {
            !(target == "Y"
                || target == "F_FLAG"
                || (eps_var_names.contains(target) && value.has_eps())
                || (eps_var_names.contains(target) && value.substitute(&|n| eps_vars.get(n).cloned()).has_eps()))
        }
        _ => true,
    });

    // F: the scaled amount of the observation's compartment.
    let s_var = |c: usize| -> Option<String> {
        let n = format!("S{c}");
        if assigned_names.contains(&n) {
            return Some(n);
        }
        if c == structure.default_obs() && !matches!(structure, Structure::Ode { .. }) && assigned_names.contains("SC")
        {
            return Some("SC".into());
        }
        None
    };
    let mut obs_cmts: BTreeSet<usize> = BTreeSet::new();
    if !pred {
        match observed_values(data, "CMT", pred) {
            Some(set) => {
                for c in set {
                    if c < 0 {
                        return Err(lower_err(cs, 1, "$DATA", format!("observations with CMT = {c}: negative compartments (turning a compartment off) are not supported")));
                    }
                    let c = if c == 0 { structure.default_obs() } else { c as usize };
                    if c > states.len() {
                        return Err(lower_err(
                            cs,
                            1,
                            "$DATA",
                            format!("observations in CMT {c}, which the model does not have (its compartments are 1 to {}; the output compartment cannot be observed)", states.len()),
                        ));
                    }
                    obs_cmts.insert(c);
                }
            }
            None => {
                obs_cmts.insert(structure.default_obs());
            }
        }
        if obs_cmts.is_empty() {
            obs_cmts.insert(structure.default_obs());
        }
    }
    let scaled = |c: usize| -> E {
        let a = name(&states[c - 1]);
        match s_var(c) {
            Some(s) => bin(BinOp::Div, a, name(&language_variable(&s))),
            None => a,
        }
    };
    let f_expr: Option<E> = if pred {
        None
    } else {
        let list: Vec<usize> = obs_cmts.iter().copied().collect();
        let mut e = scaled(*list.last().unwrap_or(&structure.default_obs()));
        if list.len() > 1 {
            resolver
                .used_items
                .borrow_mut()
                .insert(items.get("CMT").cloned().unwrap_or("CMT".into()));
            for c in list[..list.len() - 1].iter().rev() {
                e = E::If(
                    Box::new(bin(BinOp::Eq, name("CMT"), num(*c as f64))),
                    Box::new(scaled(*c)),
                    Box::new(e),
                );
            }
        }
        Some(e)
    };

    // Definitions for inlining, and state dependence.
    let mut all_code: Vec<St> = Vec::new();
    all_code.extend(pk.iter().cloned());
    all_code.extend(des.iter().cloned());
    all_code.extend(err.iter().cloned());
    let mut count: HashMap<String, usize> = HashMap::new();
    walk_sets(&all_code, &mut Vec::new(), &mut |s, _| {
        if let St::Set { target, .. } = s {
            *count.entry(target.clone()).or_default() += 1;
        }
    });
    // Variables assigned once (inside an IF too: M3 writes DUM and CUMD in its branch).
    let mut defs: HashMap<String, E> = HashMap::new();
    walk_sets(&all_code, &mut Vec::new(), &mut |s, _| {
        if let St::Set { target, value, .. } = s {
            if count.get(target) == Some(&1) {
                defs.insert(target.clone(), value.clone());
            }
        }
    });
    if let Some(f) = &f_expr {
        defs.insert("F".into(), f.clone());
    }
    let mut state_dep: HashSet<String> = states.iter().cloned().collect();
    state_dep.insert("t".into());
    state_dep.insert("F".into());
    loop {
        let n0 = state_dep.len();
        walk_sets(&all_code, &mut Vec::new(), &mut |s, path| {
            if let St::Set { target, value, .. } = s {
                let mut v = Vec::new();
                value.names(&mut v);
                for (c, _) in path {
                    c.names(&mut v);
                }
                if v.iter().any(|n| state_dep.contains(n)) {
                    state_dep.insert(target.clone());
                }
            }
        });
        if state_dep.len() == n0 {
            break;
        }
    }
    let inline = |e: &E| -> E {
        let mut x = e.clone();
        for _ in 0..50 {
            let y = x.substitute(&|n| {
                if state_dep.contains(n) {
                    defs.get(n).cloned()
                } else {
                    None
                }
            });
            if y == x {
                break;
            }
            x = y;
        }
        x.simplify()
    };
    let state_free = |e: &E| -> bool {
        let mut v = Vec::new();
        e.names(&mut v);
        !v.iter().any(|n| state_dep.contains(n))
    };

    // Outputs.
    let item_lang: HashSet<String> = items.values().cloned().collect();
    let data_condition = |c: &E| -> bool {
        let mut v = Vec::new();
        c.names(&mut v);
        v.iter().all(|n| item_lang.contains(n) || n == "TIME")
    };
    struct Out {
        name: String,
        value: E,
        terms: Vec<Term>,
        dvid: Option<i64>,
        line: usize,
        /// Inlined prediction and SD (for M3 pairing).
        a_inline: E,
        sds: Vec<(usize, E)>,
        /// The prediction as $ERROR names it, when the output writes it out.
        inlined_from: Option<E>,
    }
    let mut outs: Vec<Out> = Vec::new();
    let mut censored: Vec<(usize, E, E, E)> = Vec::new(); // (leaf index, limit, a', s')
    let mut leaf_output: Vec<Option<usize>> = Vec::new();
    for (li, (path, value, line)) in y_leaves.iter().enumerate() {
        let value = value.simplify();
        if !value.has_eps() {
            // M3: Y = PHI((LIMIT − IPRED)/W) with F_FLAG = 1 on the same path.
            let flagged = flags
                .iter()
                .any(|(p, v)| p == path && matches!(v.simplify(), E::Num(x) if x == 1.0));
            let inlined = inline(&value);
            if let (E::Call(Func::Phi, args), true) = (&inlined, flagged) {
                if let E::Bin(BinOp::Div, top, sd) = &args[0] {
                    if let E::Bin(BinOp::Sub, limit, pr) = &**top {
                        if data_condition(limit) {
                            censored.push((li, (**limit).clone(), inline(pr), inline(sd)));
                            leaf_output.push(None);
                            continue;
                        }
                    }
                }
                return Err(lower_err(
                    cs,
                    *line,
                    rec_name,
                    format!("Y = {value}: M3 is read as Y = PHI((LLOQ − IPRED)/W), with LLOQ a data item or a number"),
                ));
            }
            if value.reads_phi() || !flags.is_empty() {
                return Err(lower_err(
                    cs,
                    *line,
                    rec_name,
                    format!(
                        "Y = {value} with F_FLAG: only Beal's M3 (F_FLAG = 1, Y = PHI((LLOQ − IPRED)/W)) is supported"
                    ),
                ));
            }
            return Err(lower_err(
                cs,
                *line,
                rec_name,
                format!("Y = {value} has no ε: no residual error"),
            ));
        }
        let (a, bs) = linearise(&value).map_err(|m| lower_err(cs, *line, rec_name, format!("Y: {m}")))?;
        let a = a.simplify();
        let a_in = inline(&a);
        let bs_in: Vec<(usize, E)> = bs.iter().map(|(k, b)| (*k, inline(b))).collect();
        let terms = error_terms(&a_in, &bs_in, &bs, &eps_names, &state_free)
            .map_err(|m| lower_err(cs, *line, rec_name, format!("Y = {value}: {m}")))?;
        let dvid = path.iter().find_map(|(c, truth)| {
            column_equals(c)
                .filter(|(n, _)| *truth && items.get("DVID") == Some(n))
                .map(|(_, v)| v as i64)
        });
        // A prediction that is one compartment amount times an expression of
        // the parameters is written as such, which the engine folds (computed
        // once per parameter set rather than at every observation).
        let one_state = {
            let p = Product::of(&a_in);
            let states_in_num = p
                .num
                .iter()
                .filter(|f| matches!(f, E::Name(n) if states.contains(n)))
                .count();
            let rest_free = p
                .num
                .iter()
                .filter(|f| !matches!(f, E::Name(n) if states.contains(n)))
                .chain(&p.den)
                .all(&state_free);
            states_in_num == 1 && rest_free
        };
        let terms_free = terms.iter().all(|t| match t {
            Term::Add(x) | Term::Prop(x) | Term::Var(x) => state_free(x),
            Term::Power(x, y) | Term::Combined1(x, y) => state_free(x) && state_free(y),
        });
        let inline_value = one_state && terms_free && a != a_in;
        let inlined_from = inline_value.then(|| a.clone());
        let value = if inline_value { a_in.clone() } else { a };
        leaf_output.push(Some(outs.len()));
        outs.push(Out {
            name: String::new(),
            value,
            terms,
            dvid,
            line: *line,
            a_inline: a_in,
            sds: bs_in,
            inlined_from,
        });
    }
    // F_FLAG = 1 only where Y = PHI(…) (M3).
    for (path, v) in &flags {
        let zero = matches!(v.simplify(), E::Num(x) if x == 0.0);
        let m3 = censored.iter().any(|(li, ..)| y_leaves[*li].0 == *path);
        if !zero && !m3 {
            let line = y_leaves.iter().find(|l| l.0 == *path).map_or(1, |l| l.2);
            return Err(lower_err(
                cs,
                line,
                rec_name,
                format!("F_FLAG = {v} with a Y that is not PHI((LLOQ − IPRED)/W): only Beal's M3 (F_FLAG = 1, Y = PHI(…)) is supported"),
            ));
        }
    }
    // Pair each M3 branch with the output it censors.
    let mut censored_output: Vec<(usize, usize, E)> = Vec::new();
    for (li, limit, a_c, s_c) in &censored {
        let line = y_leaves[*li].2;
        let k = outs.iter().position(|o| o.a_inline == *a_c).ok_or_else(|| {
            lower_err(
                cs,
                line,
                rec_name,
                format!("M3: the prediction in PHI(…) is {a_c}, which no Y of {rec_name} predicts"),
            )
        })?;
        let o = &outs[k];
        let consistent = match o.sds.as_slice() {
            [(e, b)] => {
                let sigma = cs.sigma_matrix()[(*e - 1, *e - 1)];
                let fixed = eps_fixed[*e - 1];
                Product::of(s_c).divide(&Product::of(b)).is_some_and(|q| {
                    q.num.is_empty()
                        && q.den.is_empty()
                        && fixed
                        && (q.coefficient.abs() - sigma.sqrt()).abs() < 1e-12 * sigma.sqrt().max(1.0)
                })
            }
            _ => false,
        };
        if !consistent {
            return Err(lower_err(
                cs,
                line,
                rec_name,
                "M3: the SD in PHI((LLOQ − IPRED)/W) must be the SD of the residual error of the other branch (W with one ε whose σ is fixed, W·SQRT(SIGMA(1,1)))",
            ));
        }
        censored_output.push((*li, k, limit.clone()));
    }
    // DVIDs and names.
    let single = outs.len() == 1 && censored.is_empty() && y_leaves[0].0.is_empty();
    let mut used_dvid: BTreeSet<i64> = outs.iter().filter_map(|o| o.dvid).collect();
    let mut next = 1;
    for o in outs.iter_mut() {
        if o.dvid.is_none() {
            while used_dvid.contains(&next) {
                next += 1;
            }
            o.dvid = Some(next);
            used_dvid.insert(next);
        }
    }
    let code_reads_dvid = resolver
        .used_items
        .borrow()
        .contains(items.get("DVID").map_or("DVID", |s| s.as_str()));
    for (k, o) in outs.iter_mut().enumerate() {
        o.name = if single {
            "Y".into()
        } else {
            format!("Y_{}", o.dvid.unwrap_or(k as i64 + 1))
        };
    }
    if single && code_reads_dvid {
        if let Some(set) = observed_values(data, "DVID", pred) {
            match set.iter().collect::<Vec<_>>().as_slice() {
                [d] => outs[0].dvid = Some(**d),
                _ => {
                    return Err(lower_err(
                        cs,
                        y_leaves[0].2,
                        rec_name,
                        "the code reads DVID, the data have several DVID values, and Y is the same for all: the engine routes observations by DVID",
                    ))
                }
            }
        }
    }
    let mut selectors: Vec<Selector> = Vec::new();
    if !single {
        for (li, (path, _, line)) in y_leaves.iter().enumerate() {
            for (c, _) in path {
                if !data_condition(c) {
                    return Err(lower_err(
                        cs,
                        *line,
                        rec_name,
                        format!("Y is chosen by the condition {c}, which is not on data items alone: the engine chooses an output per observation from the data"),
                    ));
                }
            }
            let (dvid, limit) = match leaf_output[li] {
                Some(k) => (outs[k].dvid.unwrap_or(1), None),
                None => {
                    let (_, k, limit) =
                        censored_output
                            .iter()
                            .find(|x| x.0 == li)
                            .cloned()
                            .unwrap_or((li, 0, num(0.0)));
                    (outs[k].dvid.unwrap_or(1), Some(limit))
                }
            };
            selectors.push(Selector {
                conditions: path.clone(),
                dvid,
                censored_limit: limit,
                line: *line,
            });
        }
    }

    // ---------------------------------------------------------- structure statements
    let v_name = |n: &str| -> E { name(&language_variable(n)) };
    let mut kernel_line = String::new();
    let mut helper_stmts: Vec<St> = Vec::new();
    let mut roots: HashSet<String> = HashSet::new();
    let mut required: Vec<String> = Vec::new();
    match &structure {
        Structure::Kernel {
            advan, trans, kernel, ..
        } => {
            for p in trans_parameters(*advan, *trans).unwrap_or(&[]) {
                required.push(p.to_string());
            }
            let (helpers, args) = kernel_arguments(*advan, *trans, &v_name);
            for (n, e) in helpers {
                let mut v = Vec::new();
                e.names(&mut v);
                roots.extend(v);
                helper_stmts.push(St::Set {
                    target: n.clone(),
                    value: e,
                    line: usize::MAX - 1,
                    column: helper_stmts.len(),
                    rec: Rec::Pk,
                    text: n,
                    bad: None,
                });
            }
            for (_, e) in &args {
                let mut v = Vec::new();
                e.names(&mut v);
                roots.extend(v);
            }
            kernel_line = format!(
                "kernel {kernel}({})\n",
                args.iter()
                    .map(|(k, e)| format!("{k} = {e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Structure::Ode { .. } | Structure::Pred => {}
    }
    for r in &required {
        if !assigned_names.contains(r) {
            // Only kernels require parameters.
            let Structure::Kernel { advan, trans, .. } = &structure else {
                continue;
            };
            return Err(lower_err(
                cs,
                cs.pk.as_ref().map_or(1, |b| b.line),
                "$PK",
                format!(
                    "ADVAN{advan} TRANS{trans} needs {}; $PK does not set {r}",
                    trans_parameters(*advan, *trans).unwrap_or(&[]).join(", ")
                ),
            ));
        }
    }
    // Dose attributes, initial conditions, derivatives.
    let mut attr_lines: Vec<String> = Vec::new();
    let mut attr_defaults: Vec<(String, f64)> = Vec::new();
    for (i, st) in states.iter().enumerate() {
        let n = i + 1;
        for (nm, attr, default) in [
            (format!("F{n}"), "F", 1.0),
            (format!("ALAG{n}"), "ALAG", 0.0),
            (format!("R{n}"), "RATE", 0.0),
            (format!("D{n}"), "DUR", 0.0),
        ] {
            if pk_assigns(&pk, &nm) {
                attr_lines.push(format!("{attr}({st}) = {}", language_variable(&nm)));
                roots.insert(language_variable(&nm));
                attr_defaults.push((language_variable(&nm), default));
            }
        }
    }
    let mut initial_lines = Vec::new();
    for (i, st) in states.iter().enumerate() {
        let n = format!("A_0_{}", i + 1);
        if pk_assigns(&pk, &n) {
            initial_lines.push(format!("{st}(0) = {n}"));
            roots.insert(n.clone());
            attr_defaults.push((n, 0.0));
        }
    }
    let mut derivative_lines = Vec::new();
    if let Structure::Ode { .. } = &structure {
        let mut dadt_read = false;
        walk_sets(&all_code, &mut Vec::new(), &mut |s, path| {
            if let St::Set { value, .. } = s {
                if value.names_contain_prefix("DADT_") {
                    dadt_read = true;
                }
            }
            for (c, _) in path {
                if c.names_contain_prefix("DADT_") {
                    dadt_read = true;
                }
            }
        });
        for (i, st) in states.iter().enumerate() {
            let d = format!("DADT_{}", i + 1);
            // Direct when assigned once, unconditionally, and nothing it reads is assigned after it.
            let top: Vec<usize> = des
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s, St::Set { target, .. } if *target == d))
                .map(|(k, _)| k)
                .collect();
            let total = *count.get(&d).unwrap_or(&0);
            if total == 0 {
                return Err(lower_err(
                    cs,
                    cs.des.as_ref().map_or(1, |b| b.line),
                    "$DES",
                    format!(
                        "DADT({}) of compartment {} is never assigned",
                        i + 1,
                        cs.model.as_ref().map_or(st.clone(), |m| m.compartments[i].name.clone())
                    ),
                ));
            }
            // A single top-level DADT(n) = expr whose inputs are not reassigned
            // later becomes the derivative itself.
            let direct = (!dadt_read && total == 1 && top.len() == 1)
                .then(|| top[0])
                .filter(|&k| match &des[k] {
                    St::Set { value, .. } => {
                        let mut reads = Vec::new();
                        value.names(&mut reads);
                        let mut later = Vec::new();
                        assigned(&des[k + 1..], &mut later);
                        assigned(&err, &mut later);
                        !reads.iter().any(|r| later.contains(r))
                    }
                    _ => false,
                });
            if let Some(St::Set { value, .. }) = direct.map(|k| des.remove(k)) {
                let mut v = Vec::new();
                value.names(&mut v);
                roots.extend(v);
                derivative_lines.push(format!("d/dt({st}) = {value}"));
            } else {
                roots.insert(d.clone());
                derivative_lines.push(format!("d/dt({st}) = {d}"));
            }
        }
        if let Structure::Ode { default_dose, .. } = &structure {
            if *default_dose != 1 {
                derivative_lines.push(format!("dose {}", states[default_dose - 1]));
            }
        }
    }
    // Output expressions.
    let mut output_lines = Vec::new();
    for o in &outs {
        let mut v = Vec::new();
        o.value.names(&mut v);
        for t in &o.terms {
            match t {
                Term::Add(a) | Term::Prop(a) | Term::Var(a) => a.names(&mut v),
                Term::Power(a, b) | Term::Combined1(a, b) => {
                    a.names(&mut v);
                    b.names(&mut v);
                }
            }
        }
        roots.extend(v);
        let mut line = format!("output {} = {} ~ {}", o.name, o.value, term_text(&o.terms));
        if !single || code_reads_dvid {
            line.push_str(&format!(" dvid={}", o.dvid.unwrap_or(1)));
        }
        if !pred && obs_cmts.len() == 1 {
            let c = *obs_cmts.iter().next().unwrap_or(&1);
            line.push_str(&format!(" cmt={c}"));
        }
        line.push_str(" unscaled");
        output_lines.push((line, o.line));
    }
    // F, when read.
    let mut f_stmt: Vec<St> = Vec::new();
    if let Some(f) = &f_expr {
        f_stmt.push(St::Set {
            target: "F".into(),
            value: f.clone(),
            line: usize::MAX,
            column: 0,
            rec: Rec::Error,
            text: "F".into(),
            bad: None,
        });
    }

    // ---------------------------------------------------------- liveness
    let mut code: Vec<St> = Vec::new();
    code.extend(pk.iter().cloned());
    code.extend(helper_stmts.iter().cloned());
    code.extend(des.iter().cloned());
    code.extend(f_stmt.iter().cloned());
    code.extend(err.iter().cloned());
    let (live, needed) = liveness(&code, &roots);
    if let Some((line, rec, m)) = first_bad(&code, &live) {
        return Err(lower_err(cs, line, rec.name(), m));
    }
    // Variables that may be read before any assignment: NONMEM keeps the value
    // of an earlier record; the model language starts each record from 0.
    let mut assigned_all = Vec::new();
    assigned(&code, &mut assigned_all);
    let vars: HashSet<String> = assigned_all.into_iter().collect();
    let mut root_reads: Vec<St> = code.clone();
    for r in &roots {
        root_reads.push(St::Set {
            target: "__root".into(),
            value: name(r),
            line: usize::MAX,
            column: 1,
            rec: Rec::Error,
            text: String::new(),
            bad: None,
        });
    }
    let mut live_all = live.clone();
    live_all.insert((usize::MAX, 1));
    let mut prepend: Vec<(String, f64)> = Vec::new();
    let record_items = ["TIME", "AMT", "EVID", "MDV", "DV", "CMT", "RATE", "SS", "II", "ADDL"];
    for (v, read_line) in maybe_unassigned(&root_reads, &vars, &live_all) {
        // The conditions under which it is assigned.
        let mut conds: Vec<(usize, String)> = Vec::new();
        walk_sets(&code, &mut Vec::new(), &mut |s, path| {
            if let St::Set { target, line, .. } = s {
                if *target == v {
                    for (c, _) in path {
                        let mut n = Vec::new();
                        c.names(&mut n);
                        for x in n {
                            let is_record = record_items.iter().any(|r| items.get(*r) == Some(&x) || x == *r);
                            if is_record || state_dep.contains(&x) {
                                conds.push((*line, c.to_string()));
                            }
                        }
                    }
                }
            }
        });
        if let Some((line, c)) = conds.first() {
            return Err(lower_err(
                cs,
                *line,
                "$PK",
                format!(
                    "{v} is assigned only when {c} and read on other records{}: NONMEM keeps its value from an earlier record, which the model language does not (each record starts from 0); assign {v} on every path",
                    if read_line == usize::MAX { String::new() } else { format!(" (line {read_line})") }
                ),
            ));
        }
        let default = attr_defaults.iter().find(|(n, _)| *n == v).map_or(0.0, |d| d.1);
        notes.push(format!(
            "{v} is assigned only under an IF; it starts at {} on records where no branch assigns it (NONMEM would keep an earlier record's value)",
            number_text(default)
        ));
        prepend.push((v, default));
    }

    // ---------------------------------------------------------- text
    let mut body = String::new();
    let section = |title: &str, body: &mut String| {
        body.push('\n');
        body.push_str(&format!("# {title}\n"));
    };
    let mut code_live = live.clone();
    let mut pre_stmts: Vec<St> = Vec::new();
    for (k, (v, d)) in prepend.iter().enumerate() {
        pre_stmts.push(St::Set {
            target: v.clone(),
            value: num(*d),
            line: 0,
            column: k,
            rec: Rec::Pk,
            text: String::new(),
            bad: None,
        });
        code_live.insert((0, k));
    }
    section(if pred { "$PRED" } else { "$PK" }, &mut body);
    render_code(&pre_stmts, 0, &code_live, &mut body);
    if pred {
        render_code(&err, 0, &code_live, &mut body);
        body.push_str("# $PRED has no compartments: this kernel receives no dose and is not read\n");
        body.push_str("kernel one_cmt_iv(CL = 1, V = 1)\n");
    } else {
        render_code(&pk, 0, &code_live, &mut body);
        if !helper_stmts.is_empty() {
            if let Structure::Kernel { trans, .. } = &structure {
                body.push_str(&format!("# TRANS{trans}: micro constants of the kernel\n"));
            }
            render_code(&helper_stmts, 0, &code_live, &mut body);
        }
        if let Structure::Kernel { trans, .. } = &structure {
            if *trans == 1 || *trans >= 5 {
                body.push_str("# rate constants with V1 = 1: the kernel's amounts are NONMEM's A(n)\n");
            }
        }
        body.push_str(&kernel_line);
        if let Structure::Ode { .. } = &structure {
            body.push_str(&format!("states {}\n", states.join(", ")));
        }
        for l in &attr_lines {
            body.push_str(l);
            body.push('\n');
        }
        for l in &initial_lines {
            body.push_str(l);
            body.push('\n');
        }
        if !des.is_empty() || !derivative_lines.is_empty() {
            section("$DES", &mut body);
            render_code(&des, 0, &code_live, &mut body);
            for l in &derivative_lines {
                body.push_str(l);
                body.push('\n');
            }
        }
        section("$ERROR", &mut body);
        if live.contains(&(usize::MAX, 0)) {
            body.push_str(&format!(
                "F = {}  # the scaled amount of the observation's compartment\n",
                f_expr.as_ref().map(|f| f.to_string()).unwrap_or_default()
            ));
        }
        render_code(&err, 0, &code_live, &mut body);
    }
    for (k, o) in outs.iter().enumerate() {
        let (line, yline) = &output_lines[k];
        let censoring = censored_output.iter().filter(|c| c.1 == k).count();
        let path = &y_leaves
            .iter()
            .find(|l| l.2 == *yline)
            .map(|l| l.0.clone())
            .unwrap_or_default();
        if !path.is_empty() {
            body.push_str(&format!(
                "# Y of line {yline}: observations with {}\n",
                path.iter()
                    .map(|(c, t)| if *t { c.to_string() } else { format!("not ({c})") })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        if let Some(a) = &o.inlined_from {
            body.push_str(&format!(
                "# the prediction {a} written out: one amount times parameters, computed once per parameter set\n"
            ));
        }
        if censoring > 0 {
            body.push_str("# M3: the observations where $ERROR sets F_FLAG = 1 enter as P(Y < LLOQ); give the data a CENS column (1) with LLOQ in DV\n");
        }
        body.push_str(line);
        body.push('\n');
    }

    // Covariates: the data items the live code reads, in $INPUT order.
    let used = resolver.used_items.borrow().clone();
    let mut needed_items: BTreeSet<String> = BTreeSet::new();
    for n in &needed {
        if used.contains(n) {
            needed_items.insert(n.clone());
        }
    }
    if let Some(f) = &f_expr {
        if live.contains(&(usize::MAX, 0)) || outs.iter().any(|o| o.value.reads("F")) {
            let mut v = Vec::new();
            f.names(&mut v);
            for n in v {
                if used.contains(&n) {
                    needed_items.insert(n);
                }
            }
        }
    }
    let mut covariates: Vec<String> = Vec::new();
    let mut covariate_items: Vec<(String, String)> = Vec::new();
    for c in &kept {
        let lang = items.get(&c.name).cloned().unwrap_or_default();
        if needed_items.contains(&lang) && lang != "TIME" && !covariates.contains(&lang) {
            covariates.push(lang.clone());
            covariate_items.push((lang, c.name.clone()));
        }
    }
    if let Some((col, _)) = &occasions {
        let lang = items.get(col).cloned().unwrap_or(col.clone());
        if !covariate_items.iter().any(|(l, _)| *l == lang) {
            covariate_items.push((lang, col.clone()));
        }
    }
    // Selector conditions read data items too.
    for s in &selectors {
        let mut v = Vec::new();
        for (c, _) in &s.conditions {
            c.names(&mut v);
        }
        if let Some(l) = &s.censored_limit {
            l.names(&mut v);
        }
        for n in v {
            if let Some(c) = kept.iter().find(|c| items.get(&c.name) == Some(&n)) {
                if !covariate_items.iter().any(|(l, _)| *l == n) {
                    covariate_items.push((n.clone(), c.name.clone()));
                }
            }
        }
    }

    // Header.
    let mut head = String::new();
    let title = cs
        .problem
        .as_ref()
        .map(|p| p.title.replace('"', "'"))
        .unwrap_or_default();
    let stem = std::path::Path::new(&cs.file)
        .file_stem()
        .map_or(cs.file.clone(), |s| s.to_string_lossy().to_string());
    head.push_str(&format!(
        "name \"{}\"\n",
        if title.is_empty() { stem.clone() } else { title.clone() }
    ));
    let structure_text = match &structure {
        Structure::Kernel { advan, trans, .. } => format!("ADVAN{advan} TRANS{trans}"),
        Structure::Ode { advan, .. } => format!("ADVAN{advan} with $DES"),
        Structure::Pred => "$PRED".into(),
    };
    let mut comments = format!(
        "# {} ({structure_text}), lowered from NONMEM's control stream\n",
        cs.file
    );
    comments.push_str(&format!(
        "# estimation: {}{}\n",
        if estimation.saem.is_some() {
            "SAEM".to_string()
        } else {
            estimation.method.to_string()
        },
        if estimation.evaluate_only {
            " (objective at the initial estimates only)"
        } else {
            ""
        }
    ));
    comments.push_str(
        "# Predictions are in the units of the data (NONMEM's scale factors S1, S2, …): outputs are `unscaled`.\n",
    );
    for n in notes.iter().chain(&estimation.notes) {
        comments.push_str(&format!("# note: {n}\n"));
    }
    let render = Render {
        head: comments + &head,
        covariates,
        thetas: cs
            .thetas
            .iter()
            .zip(&theta_names)
            .map(|(t, n)| ThetaDecl {
                name: n.clone(),
                lower: t.lower,
                upper: t.upper,
                fixed: t.fixed,
                comment: t.label.clone().filter(|l| Some(l.as_str()) != Some(n.as_str())),
            })
            .collect(),
        omegas: omega_decls,
        sigmas: sigma_decls,
        body,
    };
    let mut initial_theta = Vec::new();
    for (k, t) in cs.thetas.iter().enumerate() {
        let v = match t.init {
            Some(v) => v,
            None => {
                let mid = 0.5 * (t.lower + t.upper);
                notes.push(format!(
                    "THETA({}) has no initial estimate (low,,up): the midpoint {} is used",
                    k + 1,
                    number_text(mid)
                ));
                mid
            }
        };
        initial_theta.push(v);
    }
    let initial = NmValues {
        theta: initial_theta,
        omega: initial_omega,
        sigma: cs.sigma_matrix(),
    };
    let text = render.text(&initial, "");
    let parameters = ParameterMap {
        theta_names,
        eta: eta_target,
        eps_names,
        eta_fixed,
        eps_fixed,
        theta_fixed: cs.thetas.iter().map(|t| t.fixed).collect(),
        omega_blocks: cs.omega.iter().map(|b| (b.first - 1, b.size)).collect(),
    };
    Ok(Lowered {
        text,
        parameters,
        data: DataPlan {
            pred,
            covariates: covariate_items,
            selectors,
            occasions,
            code_reads_dvid,
        },
        estimation,
        initial,
        notes,
        render,
    })
}

/// The NONMEM idiom for the time after dose: `IF (AMT.GT.0) BTIME = TIME`
/// (or EVID.EQ.1) and `TIME - BTIME`, which is the model language's TAD. The
/// assignment goes when every read of BTIME is `TIME - BTIME`.
fn recognise_tad(
    pk: &mut Vec<St>,
    des: &mut [St],
    err: &mut [St],
    items: &HashMap<String, String>,
    notes: &mut Vec<String>,
) {
    let amt = items.get("AMT").cloned().unwrap_or_default();
    let evid = items.get("EVID").cloned().unwrap_or_default();
    let is_dose_test = |c: &E| -> bool {
        let one = |c: &E| match c {
            E::Bin(BinOp::Gt | BinOp::Ne, a, b) => {
                matches!((&**a, &**b), (E::Name(n), E::Num(z)) if *n == amt && *z == 0.0)
            }
            E::Bin(BinOp::Eq, a, b) => {
                matches!((&**a, &**b), (E::Name(n), E::Num(v)) if *n == evid && (*v == 1.0 || *v == 4.0))
            }
            _ => false,
        };
        match c {
            E::Bin(BinOp::Or, a, b) => one(a) && one(b),
            _ => one(c),
        }
    };
    let mut all = Vec::new();
    assigned(pk, &mut all);
    assigned(des, &mut all);
    assigned(err, &mut all);
    let candidates: Vec<(usize, String, usize)> = pk
        .iter()
        .enumerate()
        .filter_map(|(k, s)| match s {
            St::If {
                arms, otherwise, line, ..
            } if arms.len() == 1 && otherwise.is_empty() && is_dose_test(&arms[0].0) => match arms[0].1.as_slice() {
                [St::Set {
                    target,
                    value: E::Name(t),
                    ..
                }] if t == "TIME" => Some((k, target.clone(), *line)),
                _ => None,
            },
            _ => None,
        })
        .filter(|(_, x, _)| all.iter().filter(|a| *a == x).count() == 1)
        .collect();
    for (k, x, line) in candidates.into_iter().rev() {
        let tad = |e: &E| match e {
            E::Bin(BinOp::Sub, a, b)
                if matches!(&**a, E::Name(t) if t == "TIME") && matches!(&**b, E::Name(n) if *n == x) =>
            {
                Some(name("TAD"))
            }
            _ => None,
        };
        rewrite_all(pk, &tad);
        rewrite_all(des, &tad);
        rewrite_all(err, &tad);
        if !reads(pk, &x) && !reads(des, &x) && !reads(err, &x) {
            pk.remove(k);
            notes.push(format!(
                "$PK line {line}: TIME − {x}, with {x} the TIME of the last dose record, is the model language's TAD"
            ));
        }
    }
}

fn pk_assigns(pk: &[St], n: &str) -> bool {
    let mut hit = false;
    walk_sets(pk, &mut Vec::new(), &mut |s, _| {
        if matches!(s, St::Set { target, .. } if target == n) {
            hit = true;
        }
    });
    hit
}

impl E {
    fn names_contain_prefix(&self, prefix: &str) -> bool {
        let mut v = Vec::new();
        self.names(&mut v);
        v.iter().any(|n| n.starts_with(prefix))
    }
    fn reads_phi(&self) -> bool {
        match self {
            E::Call(Func::Phi, _) => true,
            E::Call(_, a) => a.iter().any(E::reads_phi),
            E::Neg(a) | E::Not(a) => a.reads_phi(),
            E::Bin(_, a, b) => a.reads_phi() || b.reads_phi(),
            E::If(c, a, b) => c.reads_phi() || a.reads_phi() || b.reads_phi(),
            _ => false,
        }
    }
}

// ------------------------------------------------------------------ estimation

/// `METHOD=SAEM`, alone or followed by `METHOD=IMP EONLY=1` (NONMEM's usual
/// pair: SAEM estimates, then the objective by importance sampling), lowered
/// to the engine's SAEM: NBURN, NITER, ISAMPLE (chains) and SEED of the SAEM
/// record and ISAMPLE of the IMP record are honoured, other options get a note.
/// `None` when no record asks for SAEM; an error for SAEM followed by another method.
fn saem_plan(cs: &ControlStream, notes: &mut Vec<String>) -> Result<Option<SaemPlan>, NonmemError> {
    let Some(first) = cs
        .estimations
        .iter()
        .position(|e| e.method == Some(EstimationMethod::Saem))
    else {
        return Ok(None);
    };
    let mut plan = SaemPlan::default();
    let count = |e: &super::tasks::Estimation, o: &super::source::RecordOption| {
        o.value
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                lower_err(
                    cs,
                    e.line,
                    "$ESTIMATION",
                    format!(
                        "{}={}: expected a whole number",
                        o.name,
                        o.value.as_deref().unwrap_or("")
                    ),
                )
            })
    };
    let mut imp = false;
    for e in &cs.estimations[first..] {
        let is_imp = match &e.method {
            None | Some(EstimationMethod::Saem) if !imp => false,
            Some(EstimationMethod::Importance) => true,
            None if imp => true,
            _ => {
                return Err(lower_err(
                    cs,
                    e.line,
                    "$ESTIMATION",
                    "METHOD=SAEM may only be followed by METHOD=IMP EONLY=1 (the objective by importance sampling)",
                ))
            }
        };
        if e.likelihood || e.centering {
            return Err(lower_err(
                cs,
                e.line,
                "$ESTIMATION",
                "LIKELIHOOD/-2LL and CENTERING are not supported",
            ));
        }
        if is_imp {
            imp = true;
            let eonly = e.other.iter().find(|o| o.name == "EONLY").and_then(|o| o.value.clone());
            if eonly.as_deref().map(str::trim) != Some("1") {
                return Err(lower_err(
                    cs,
                    e.line,
                    "$ESTIMATION",
                    "METHOD=IMP after SAEM must be EONLY=1: the engine evaluates the objective by importance sampling, it does not estimate by IMP",
                ));
            }
            for o in &e.other {
                match o.name.as_str() {
                    "EONLY" => {}
                    "ISAMPLE" => plan.importance_samples = Some(count(e, o)? as usize),
                    "SEED" => plan.seed = Some(count(e, o)?),
                    other => notes.push(format!(
                        "$ESTIMATION METHOD=IMP (line {}): {other} is not honoured (the engine's importance sampling: one pass, multivariate t proposals from the SAEM chains)",
                        e.line
                    )),
                }
            }
            continue;
        }
        for o in &e.other {
            match o.name.as_str() {
                "NBURN" => plan.burn_in = Some(count(e, o)? as usize),
                "NITER" => plan.averaging = Some(count(e, o)? as usize),
                "ISAMPLE" => plan.chains = Some(count(e, o)? as usize),
                "SEED" => plan.seed = Some(count(e, o)?),
                other => notes.push(format!(
                    "$ESTIMATION METHOD=SAEM (line {}): {other} is not honoured",
                    e.line
                )),
            }
        }
        if e.maxeval.is_some() {
            notes.push(format!(
                "$ESTIMATION METHOD=SAEM (line {}): MAXEVAL does not apply to SAEM (NBURN and NITER set its length)",
                e.line
            ));
        }
    }
    if first > 0 {
        notes.push("$ESTIMATION records before METHOD=SAEM are not run: SAEM starts from the initial estimates".into());
    }
    Ok(Some(plan))
}

fn estimation_plan(cs: &ControlStream) -> Result<EstimationPlan, NonmemError> {
    let mut notes = Vec::new();
    let covariance = cs.covariance.is_some();
    let covariance_matrix = cs.covariance.as_ref().and_then(|c| c.matrix.clone());
    let Some(last) = cs.estimations.last() else {
        return Ok(EstimationPlan {
            method: Method::Fo,
            saem: None,
            evaluate_only: true,
            max_evaluations: None,
            covariance,
            covariance_matrix,
            title: "First Order".into(),
            notes: vec!["no $ESTIMATION: the objective is evaluated at the initial estimates (FO)".into()],
        });
    };
    if let Some(plan) = saem_plan(cs, &mut notes)? {
        return Ok(EstimationPlan {
            method: Method::FoceI,
            saem: Some(plan),
            evaluate_only: false,
            max_evaluations: None,
            covariance,
            covariance_matrix,
            title: "Stochastic Approximation Expectation-Maximization".into(),
            notes,
        });
    }
    // Options carry over from earlier $ESTIMATION records, as in NONMEM.
    let mut method = None;
    let mut inter = None;
    let mut laplace = false;
    let mut maxeval = None;
    for e in &cs.estimations {
        if let Some(m) = &e.method {
            method = Some(m.clone());
        }
        if let Some(i) = e.interaction {
            inter = Some(i);
        }
        laplace |= e.laplacian;
        if e.maxeval.is_some() {
            maxeval = e.maxeval;
        }
        if e.likelihood {
            return Err(lower_err(
                cs,
                e.line,
                "$ESTIMATION",
                "LIKELIHOOD/-2LL (Y is a likelihood) is not supported: write Y with EPS",
            ));
        }
        if e.centering {
            return Err(lower_err(cs, e.line, "$ESTIMATION", "CENTERING is not supported"));
        }
        for o in &e.other {
            if matches!(o.name.as_str(), "EONLY" | "ISAMPLE" | "NBURN" | "NITER" | "AUTO") {
                return Err(lower_err(
                    cs,
                    e.line,
                    "$ESTIMATION",
                    format!("{}: options of the EM and Bayesian methods are not supported", o.name),
                ));
            }
        }
    }
    let method = match method.unwrap_or(EstimationMethod::FirstOrder) {
        EstimationMethod::FirstOrder => {
            if inter == Some(true) {
                return Err(lower_err(
                    cs,
                    last.line,
                    "$ESTIMATION",
                    "METHOD=0 with INTERACTION: NONMEM does not allow it",
                ));
            }
            if laplace {
                return Err(lower_err(
                    cs,
                    last.line,
                    "$ESTIMATION",
                    "LAPLACIAN with METHOD=0: the Laplacian method is METHOD=1 LAPLACIAN",
                ));
            }
            Method::Fo
        }
        EstimationMethod::Conditional => {
            if laplace {
                if inter != Some(true) {
                    notes.push(
                        "LAPLACIAN without INTERACTION: the engine's Laplacian method always has the interaction"
                            .into(),
                    );
                }
                Method::Laplace
            } else if inter == Some(true) {
                Method::FoceI
            } else {
                Method::Foce
            }
        }
        other => {
            let name = match other {
                EstimationMethod::Hybrid => "HYBRID".to_string(),
                EstimationMethod::Its => "ITS".into(),
                EstimationMethod::Importance => "IMP".into(),
                EstimationMethod::ImportanceMap => "IMPMAP".into(),
                EstimationMethod::Saem => "SAEM".into(),
                EstimationMethod::Bayes => "BAYES".into(),
                EstimationMethod::Nuts => "NUTS".into(),
                EstimationMethod::Direct => "DIRECT".into(),
                EstimationMethod::Other(s) => s,
                _ => String::new(),
            };
            let line = cs
                .estimations
                .iter()
                .rev()
                .find(|e| e.method.is_some())
                .map_or(last.line, |e| e.line);
            return Err(lower_err(
                cs,
                line,
                "$ESTIMATION",
                format!("METHOD={name} is not supported: the engine estimates by FO (METHOD=0), FOCE (METHOD=1), FOCE-I (METHOD=1 INTER) and Laplace (METHOD=1 LAPLACIAN)"),
            ));
        }
    };
    let title = match method {
        Method::Fo => "First Order",
        Method::Foce => "First Order Conditional Estimation",
        Method::FoceI => "First Order Conditional Estimation with Interaction",
        Method::Laplace => "Laplacian Conditional Estimation with Interaction",
    }
    .to_string();
    Ok(EstimationPlan {
        method,
        saem: None,
        evaluate_only: maxeval == Some(0),
        max_evaluations: maxeval,
        covariance,
        covariance_matrix,
        title,
        notes,
    })
}
