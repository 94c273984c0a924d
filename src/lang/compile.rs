//! Checks a parsed model and compiles it: resolves every name (θ, η, κ, σ,
//! covariates, states, variables), splits the code into what runs once per
//! record (individual parameters), what runs inside the ODE right-hand side,
//! and what runs at an observation (outputs and their residual error), and
//! lays every value out in one slot array.

use super::ast::{BinOp, Combine, ErrorTerm, Expr, Pos, Stmt};
use super::program::{Op, Program};
use super::LangError;
use nalgebra::DMatrix;
use std::collections::{HashMap, HashSet};

/// A θ: a fixed effect, estimated within its bounds unless fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct ThetaDecl {
    /// Name.
    pub name: String,
    /// Initial (or fixed) value.
    pub init: f64,
    /// Lower bound (−∞ when none).
    pub lower: f64,
    /// Upper bound (+∞ when none).
    pub upper: f64,
    /// Held fixed.
    pub fixed: bool,
}

/// A block of a random-effect covariance matrix (a diagonal element is a block of size 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// First index.
    pub start: usize,
    /// Size.
    pub size: usize,
    /// Held fixed.
    pub fixed: bool,
}

/// Random effects: names, covariance matrix and its block structure.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomEffects {
    /// Names in matrix order.
    pub names: Vec<String>,
    /// Covariance matrix (block diagonal).
    pub matrix: DMatrix<f64>,
    /// The blocks, in order.
    pub blocks: Vec<Block>,
}

impl RandomEffects {
    fn empty() -> Self {
        RandomEffects {
            names: Vec::new(),
            matrix: DMatrix::zeros(0, 0),
            blocks: Vec::new(),
        }
    }
    fn push_block(&mut self, names: Vec<String>, lower_triangle: &[f64], fixed: bool) {
        let n0 = self.names.len();
        let k = names.len();
        let mut m = DMatrix::zeros(n0 + k, n0 + k);
        m.view_mut((0, 0), (n0, n0)).copy_from(&self.matrix);
        let mut idx = 0;
        for i in 0..k {
            for j in 0..=i {
                m[(n0 + i, n0 + j)] = lower_triangle[idx];
                m[(n0 + j, n0 + i)] = lower_triangle[idx];
                idx += 1;
            }
        }
        self.matrix = m;
        self.names.extend(names);
        self.blocks.push(Block {
            start: n0,
            size: k,
            fixed,
        });
    }
}

/// Inter-occasion variability: κ drawn afresh for each occasion, with one
/// covariance shared by all occasions (NONMEM's `$OMEGA BLOCK SAME`).
#[derive(Debug, Clone, PartialEq)]
pub struct Iov {
    /// Data column numbering the occasions.
    pub occasion: String,
    /// κ names, covariance and blocks.
    pub effects: RandomEffects,
}

/// A σ: the variance of a standard residual ε. In an error model its name stands for its SD.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaDecl {
    /// Name.
    pub name: String,
    /// Variance.
    pub variance: f64,
    /// Held fixed.
    pub fixed: bool,
}

/// A closed-form kernel: linear mammillary models with IV or first-order input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// One compartment, IV.
    OneCmtIv,
    /// Two compartments, IV.
    TwoCmtIv,
    /// Three compartments, IV.
    ThreeCmtIv,
    /// One compartment, first-order absorption.
    OneCmtOral,
    /// Two compartments, first-order absorption.
    TwoCmtOral,
    /// Three compartments, first-order absorption.
    ThreeCmtOral,
}

/// Kernel name, kernel, parameter names (aliases after `|`), state names.
type KernelInfo = (&'static str, Kernel, &'static [&'static str], &'static [&'static str]);

const KERNELS: &[KernelInfo] = &[
    ("one_cmt_iv", Kernel::OneCmtIv, &["CL", "V|V1"], &["central"]),
    (
        "two_cmt_iv",
        Kernel::TwoCmtIv,
        &["CL", "V1", "Q|Q2", "V2"],
        &["central", "periph"],
    ),
    (
        "three_cmt_iv",
        Kernel::ThreeCmtIv,
        &["CL", "V1", "Q2", "V2", "Q3", "V3"],
        &["central", "periph1", "periph2"],
    ),
    (
        "one_cmt_oral",
        Kernel::OneCmtOral,
        &["CL", "V|V1", "KA"],
        &["depot", "central"],
    ),
    (
        "two_cmt_oral",
        Kernel::TwoCmtOral,
        &["CL", "V1", "Q|Q2", "V2", "KA"],
        &["depot", "central", "periph"],
    ),
    (
        "three_cmt_oral",
        Kernel::ThreeCmtOral,
        &["CL", "V1", "Q2", "V2", "Q3", "V3", "KA"],
        &["depot", "central", "periph1", "periph2"],
    ),
];

impl Kernel {
    /// Number of disposition compartments.
    pub fn compartments(self) -> usize {
        match self {
            Kernel::OneCmtIv | Kernel::OneCmtOral => 1,
            Kernel::TwoCmtIv | Kernel::TwoCmtOral => 2,
            Kernel::ThreeCmtIv | Kernel::ThreeCmtOral => 3,
        }
    }
    /// Whether the kernel has a depot with first-order absorption.
    pub fn has_depot(self) -> bool {
        matches!(self, Kernel::OneCmtOral | Kernel::TwoCmtOral | Kernel::ThreeCmtOral)
    }
    /// The kernel's name in model files.
    pub fn name(self) -> &'static str {
        KERNELS.iter().find(|k| k.1 == self).map_or("?", |k| k.0)
    }
    /// Canonical parameter names, in argument order.
    pub fn parameters(self) -> Vec<&'static str> {
        let info = KERNELS.iter().find(|k| k.1 == self).map_or(&[][..], |k| k.2);
        info.iter().map(|p| p.split('|').next().unwrap_or(p)).collect()
    }
    /// State names, in CMT order.
    pub fn states(self) -> &'static [&'static str] {
        KERNELS.iter().find(|k| k.1 == self).map_or(&[][..], |k| k.3)
    }
    /// All kernel names.
    pub fn names() -> Vec<&'static str> {
        KERNELS.iter().map(|k| k.0).collect()
    }
}

/// How the predictions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamics {
    /// A closed-form kernel.
    Kernel(Kernel),
    /// User ODEs.
    Ode,
}

/// One term of a residual error model (its SD value sits in a slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// SD = s.
    Add,
    /// SD = s·f.
    Prop,
    /// SD = s·f^c (c in the second slot).
    Power,
    /// Additive s on the log scale (log-transform both sides).
    Exp,
    /// SD = s, any expression (may read the prediction's variables).
    Sd,
    /// Variance = s, any expression (NONMEM's W² forms).
    Var,
}

/// An output: its value and its residual error model.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    /// Name.
    pub name: String,
    /// DVID routed to this output (default: its position, from 1).
    pub dvid: i64,
    /// CMT routed to this output when the data have no DVID, if declared.
    pub cmt: Option<i64>,
    /// Reported without the amount/volume → concentration scale.
    pub unscaled: bool,
    /// Slot of the predicted value.
    pub value_slot: u32,
    /// Error terms: kind, slot of the SD, slot of the exponent (power).
    pub terms: Vec<(TermKind, u32, Option<u32>)>,
    /// Per term, the name its SD argument is, when it is a plain name (a σ or θ).
    pub term_names: Vec<Option<String>>,
    /// How the terms combine.
    pub combine: Combine,
    /// `Some(state)` when the output is folded: its value slot then holds a
    /// coefficient (set with the individual parameters), and the output is that
    /// coefficient times the amount in `state`.
    pub folded: Option<usize>,
    /// Where it is declared.
    pub pos: Pos,
}

/// How observations below the limit of quantification are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Blq {
    /// Beal's M3: P(y < LLOQ) enters the likelihood (default).
    #[default]
    M3,
    /// Beal's M1: BLQ observations are dropped, with a message.
    M1,
}

/// Dose attributes per state: bioavailability, lag time, modelled rate, modelled duration.
pub const ATTRIBUTES: [&str; 4] = ["F", "ALAG", "RATE", "DUR"];

/// Where each kind of value sits in the slot array.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    /// Total number of slots.
    pub n_slots: usize,
    /// First θ slot.
    pub theta: usize,
    /// First η slot.
    pub eta: usize,
    /// First κ slot.
    pub kappa: usize,
    /// First σ slot (SDs).
    pub sigma: usize,
    /// First covariate slot.
    pub covariate: usize,
    /// Slot of TIME (the record's time).
    pub time: usize,
    /// Slot of TAD (time after the last dose).
    pub tad: usize,
    /// Slot of `t` (the integration time in ODEs, the output time in outputs).
    pub t: usize,
    /// First state slot.
    pub state: usize,
    /// First kernel-argument slot.
    pub kernel: usize,
    /// First dose-attribute slot: `attribute + 4·state + k`, k indexing [`ATTRIBUTES`].
    pub attribute: usize,
    /// First initial-condition slot.
    pub initial: usize,
    /// First derivative slot.
    pub derivative: usize,
}

/// A checked and compiled model.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    /// `name "…"`, if given.
    pub name: Option<String>,
    /// `description "…"`.
    pub description: String,
    /// `units` items as written (kind → unit text).
    pub units: Vec<(String, String)>,
    /// θ in declaration order.
    pub thetas: Vec<ThetaDecl>,
    /// Between-subject η.
    pub omega: RandomEffects,
    /// Inter-occasion κ.
    pub iov: Option<Iov>,
    /// σ in declaration order.
    pub sigmas: Vec<SigmaDecl>,
    /// Data columns the code reads, in declaration order.
    pub covariates: Vec<String>,
    /// Kernel or ODE.
    pub dynamics: Dynamics,
    /// State names, in CMT order (CMT 1 is the first).
    pub states: Vec<String>,
    /// State that doses go to when the record's CMT is 0 or missing.
    pub default_dose: usize,
    /// Outputs.
    pub outputs: Vec<OutputDecl>,
    /// BLQ handling.
    pub blq: Blq,
    /// Slot layout.
    pub layout: Layout,
    /// Which dose attributes the code sets, per state: `attribute_set[state][k]`.
    pub attribute_set: Vec<[bool; 4]>,
    /// Which states have an initial condition.
    pub initial_set: Vec<bool>,
    /// Individual-parameter code: run once per record whose inputs changed.
    pub pk: Program,
    /// ODE right-hand side (empty for kernels).
    pub des: Program,
    /// Output code: run at each observation.
    pub out: Program,
    /// Whether the individual-parameter code reads TIME or TAD (then it runs at every record).
    pub pk_reads_time: bool,
    /// The closed-form kernel that solves the user ODEs, when they are a
    /// linear mammillary system (see [`super::linear`]).
    pub linear: Option<super::linear::LinearStructure>,
    /// Variables of the individual-parameter code (assigned names that do not
    /// depend on states), with their slots, in order of first assignment.
    pub variables: Vec<(String, usize)>,
    /// The source lines, for messages.
    pub source: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Theta(usize),
    Eta(usize),
    Kappa(usize),
    Sigma(usize),
    Covariate(usize),
    Time,
    Tad,
    T,
    State(usize),
    Local(usize),
}

/// A `kernel NAME(args)` statement: name, arguments, position.
type KernelCall = (String, Vec<(Option<String>, Expr)>, Pos);

struct Decls {
    units: Vec<(String, String)>,
    name: Option<String>,
    description: String,
    covariates: Vec<(String, Pos)>,
    thetas: Vec<(ThetaDecl, Pos)>,
    omega: RandomEffects,
    iov: Option<Iov>,
    sigmas: Vec<(SigmaDecl, Pos)>,
    kernel: Option<KernelCall>,
    states_decl: Option<Vec<(String, Pos)>>,
    derivatives: Vec<(String, Expr, Pos)>,
    initials: Vec<(String, Expr, Pos)>,
    attributes: Vec<(String, String, Expr, Pos)>,
    default_dose: Option<(String, Pos)>,
    outputs: Vec<Stmt>,
    blq: Option<(String, Pos)>,
    code: Vec<Stmt>,
    names: HashMap<String, Pos>,
}

/// Compiles a parsed model. `source` is the file text (for messages).
pub fn compile(stmts: Vec<Stmt>, source: &str) -> Result<CompiledModel, LangError> {
    let lines: Vec<String> = source.lines().map(str::to_string).collect();
    let err = |pos: Pos, message: String| {
        LangError::at(
            pos.line,
            pos.col,
            lines.get(pos.line.wrapping_sub(1)).map_or("", |s| s.as_str()),
            message,
        )
    };
    let d = collect(stmts, &err)?;
    Compiler::new(d, lines.clone(), &err)?.finish()
}

/// Whether `unit` is a unit of `kind` (amount, volume, time, concentration).
fn check_unit(kind: &str, unit: &str) -> Result<(), String> {
    use crate::units::{AmountUnit, ConcentrationUnit, TimeUnit, VolumeUnit};
    let checked = match kind {
        "amount" => AmountUnit::parse(unit).map(|_| ()),
        "volume" => VolumeUnit::parse(unit).map(|_| ()),
        "time" => TimeUnit::parse(unit).map(|_| ()),
        "concentration" => ConcentrationUnit::parse(unit).map(|_| ()),
        other => {
            return Err(format!(
                "unknown unit kind {other}: expected amount, volume, time or concentration"
            ))
        }
    };
    checked.map_err(|e| e.to_string())
}

fn collect(stmts: Vec<Stmt>, err: &dyn Fn(Pos, String) -> LangError) -> Result<Decls, LangError> {
    let mut d = Decls {
        units: Vec::new(),
        name: None,
        description: String::new(),
        covariates: Vec::new(),
        thetas: Vec::new(),
        omega: RandomEffects::empty(),
        iov: None,
        sigmas: Vec::new(),
        kernel: None,
        states_decl: None,
        derivatives: Vec::new(),
        initials: Vec::new(),
        attributes: Vec::new(),
        default_dose: None,
        outputs: Vec::new(),
        blq: None,
        code: Vec::new(),
        names: HashMap::new(),
    };
    let declare = |d: &mut Decls, name: &str, pos: Pos, what: &str| -> Result<(), LangError> {
        if let Some(first) = d.names.get(name) {
            return Err(err(
                pos,
                format!(
                    "{name} is declared twice (as {what} here, first at line {})",
                    first.line
                ),
            ));
        }
        d.names.insert(name.to_string(), pos);
        Ok(())
    };
    for s in stmts {
        match s {
            Stmt::Units(items, pos) => {
                for (kind, unit) in &items {
                    check_unit(kind, unit).map_err(|m| err(pos, m))?;
                }
                d.units.extend(items)
            }
            Stmt::Meta(k, v) => {
                if k == "name" {
                    d.name = Some(v);
                } else {
                    d.description = v;
                }
            }
            Stmt::Covariates(names) => {
                for (n, p) in names {
                    declare(&mut d, &n, p, "a covariate")?;
                    d.covariates.push((n, p));
                }
            }
            Stmt::Theta {
                name,
                init,
                lower,
                upper,
                fixed,
                pos,
            } => {
                declare(&mut d, &name, pos, "a θ")?;
                if !(init.is_finite() && lower <= init && init <= upper) {
                    return Err(err(
                        pos,
                        format!("θ {name}: need lower <= init <= upper with a finite init, got {lower} <= {init} <= {upper}"),
                    ));
                }
                d.thetas.push((
                    ThetaDecl {
                        name,
                        init,
                        lower,
                        upper,
                        // Equal bounds leave nothing to estimate: fixed, as in NONMEM.
                        fixed: fixed || lower == upper,
                    },
                    pos,
                ));
            }
            Stmt::Omega {
                names,
                values,
                fixed,
                occasion,
                pos,
            } => {
                for (n, p) in &names {
                    declare(&mut d, n, *p, if occasion.is_some() { "a κ" } else { "an η" })?;
                }
                let k = names.len();
                if values.len() != k * (k + 1) / 2 {
                    return Err(err(
                        pos,
                        format!(
                            "a block of {k} needs {} values (the lower triangle by rows), got {}",
                            k * (k + 1) / 2,
                            values.len()
                        ),
                    ));
                }
                if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                    return Err(err(pos, format!("a variance must be a finite number, got {v}")));
                }
                let names: Vec<String> = names.into_iter().map(|n| n.0).collect();
                let mut block = RandomEffects::empty();
                block.push_block(names.clone(), &values, fixed);
                let zero_fixed = fixed && block.matrix.iter().all(|v| *v == 0.0);
                if !(positive_definite(&block.matrix) || zero_fixed) {
                    return Err(err(
                        pos,
                        format!(
                            "the variance matrix of {} is not positive definite (variances must be > 0, correlations within (−1, 1))",
                            names.join(", ")
                        ),
                    ));
                }
                match occasion {
                    None => d.omega.push_block(names, &values, fixed),
                    Some(col) => {
                        let iov = d.iov.get_or_insert_with(|| Iov {
                            occasion: col.clone(),
                            effects: RandomEffects::empty(),
                        });
                        if iov.occasion != col {
                            return Err(err(
                                pos,
                                format!(
                                    "all iov must use one occasion column; {} uses {col}, an earlier one {}",
                                    names.join(", "),
                                    iov.occasion
                                ),
                            ));
                        }
                        iov.effects.push_block(names, &values, fixed);
                    }
                }
            }
            Stmt::Sigma {
                name,
                value,
                fixed,
                pos,
            } => {
                declare(&mut d, &name, pos, "a σ")?;
                if !(value >= 0.0 && value.is_finite()) || (value == 0.0 && !fixed) {
                    return Err(err(pos, format!("σ {name}: the variance must be > 0, got {value}")));
                }
                d.sigmas.push((
                    SigmaDecl {
                        name,
                        variance: value,
                        fixed,
                    },
                    pos,
                ));
            }
            Stmt::Kernel { name, args, pos } => {
                if d.kernel.is_some() {
                    return Err(err(pos, "a second kernel: a model has one".into()));
                }
                d.kernel = Some((name, args, pos));
            }
            Stmt::States(names) => {
                if d.states_decl.is_some() {
                    return Err(err(names[0].1, "a second `states` declaration".into()));
                }
                d.states_decl = Some(names);
            }
            Stmt::Derivative(s, e, p) => d.derivatives.push((s, e, p)),
            Stmt::Initial(s, e, p) => d.initials.push((s, e, p)),
            Stmt::DoseAttribute(a, s, e, p) => d.attributes.push((a, s, e, p)),
            Stmt::DefaultDose(s, p) => d.default_dose = Some((s, p)),
            Stmt::Blq(m, p) => d.blq = Some((m, p)),
            o @ Stmt::Output { .. } => d.outputs.push(o),
            code @ (Stmt::Assign(..) | Stmt::If(..)) => d.code.push(code),
        }
    }
    Ok(d)
}

/// Whether a symmetric matrix is positive definite, with every eigenvalue
/// above 1e-10 of the largest (a correlation of ±1 is refused, even where
/// rounding lets a Cholesky factorisation through).
pub fn positive_definite(m: &DMatrix<f64>) -> bool {
    if m.nrows() == 0 {
        return true;
    }
    if m.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let eig = nalgebra::SymmetricEigen::new(m.clone()).eigenvalues;
    let largest = eig.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    eig.iter().all(|&e| e > 1e-10 * largest) && largest > 0.0
}

struct Compiler<'e> {
    d: Decls,
    lines: Vec<String>,
    err: &'e dyn Fn(Pos, String) -> LangError,
    syms: HashMap<String, Sym>,
    states: Vec<String>,
    dynamics: Dynamics,
    layout: Layout,
    locals: Vec<String>,
    local0: usize,
    temp0: usize,
    max_temp: usize,
    state_dependent: HashSet<String>,
}

fn assigned(stmts: &[Stmt], out: &mut Vec<(String, Pos)>) {
    for s in stmts {
        match s {
            Stmt::Assign(n, _, p) => out.push((n.clone(), *p)),
            Stmt::If(arms, other) => {
                for (_, b) in arms {
                    assigned(b, out);
                }
                assigned(other, out);
            }
            _ => {}
        }
    }
}

/// The expressions assigned to `name` anywhere in `stmts`.
fn assignments_of(stmts: &[Stmt], name: &str, out: &mut Vec<Expr>) {
    for s in stmts {
        match s {
            Stmt::Assign(n, e, _) if n == name => out.push(e.clone()),
            Stmt::If(arms, other) => {
                for (_, b) in arms {
                    assignments_of(b, name, out);
                }
                assignments_of(other, name, out);
            }
            _ => {}
        }
    }
}

fn names_in(e: &Expr, out: &mut Vec<(String, Pos)>) {
    match e {
        Expr::Num(_) => {}
        Expr::Name(n, p) => out.push((n.clone(), *p)),
        Expr::Neg(a) | Expr::Not(a) => names_in(a, out),
        Expr::Bin(_, a, b) => {
            names_in(a, out);
            names_in(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| names_in(a, out)),
        Expr::If(c, a, b) => {
            names_in(c, out);
            names_in(a, out);
            names_in(b, out);
        }
    }
}

impl<'e> Compiler<'e> {
    fn new(d: Decls, lines: Vec<String>, err: &'e dyn Fn(Pos, String) -> LangError) -> Result<Self, LangError> {
        let mut c = Compiler {
            d,
            lines,
            err,
            syms: HashMap::new(),
            states: Vec::new(),
            dynamics: Dynamics::Ode,
            layout: Layout::default(),
            locals: Vec::new(),
            local0: 0,
            temp0: 0,
            max_temp: 0,
            state_dependent: HashSet::new(),
        };
        c.structure()?;
        c.symbols()?;
        Ok(c)
    }

    fn fail(&self, pos: Pos, message: String) -> LangError {
        (self.err)(pos, message)
    }

    /// Kernel or ODE, and the state names.
    fn structure(&mut self) -> Result<(), LangError> {
        match (&self.d.kernel, self.d.derivatives.first()) {
            (Some((_, _, kp)), Some((_, _, dp))) => {
                return Err(self.fail(
                    *dp,
                    format!(
                        "d/dt equations and a kernel (line {}) cannot be combined: use one or the other",
                        kp.line
                    ),
                ))
            }
            (None, None) => {
                return Err(self.fail(
                    Pos { line: 1, col: 1 },
                    format!(
                        "the model has no structure: add `kernel NAME(...)` ({}) or d/dt(state) = … equations",
                        Kernel::names().join(", ")
                    ),
                ))
            }
            (Some((name, _, pos)), None) => {
                let info = KERNELS.iter().find(|k| k.0.eq_ignore_ascii_case(name)).ok_or_else(|| {
                    self.fail(
                        *pos,
                        format!("unknown kernel {name}: expected one of {}", Kernel::names().join(", ")),
                    )
                })?;
                self.dynamics = Dynamics::Kernel(info.1);
                self.states = info.3.iter().map(|s| s.to_string()).collect();
                if let Some(decl) = &self.d.states_decl {
                    return Err(self.fail(
                        decl[0].1,
                        format!(
                            "a kernel names its own states ({}); `states` is for ODE models",
                            self.states.join(", ")
                        ),
                    ));
                }
            }
            (None, Some(_)) => {
                self.dynamics = Dynamics::Ode;
                self.states = match &self.d.states_decl {
                    Some(list) => list.iter().map(|s| s.0.clone()).collect(),
                    None => {
                        let mut s: Vec<String> = Vec::new();
                        for (n, _, _) in &self.d.derivatives {
                            if !s.contains(n) {
                                s.push(n.clone());
                            }
                        }
                        s
                    }
                };
                for (n, _, p) in &self.d.derivatives {
                    if !self.states.contains(n) {
                        return Err(self.fail(*p, format!("d/dt({n}): {n} is not in the `states` list")));
                    }
                    if self.d.derivatives.iter().filter(|x| &x.0 == n).count() > 1 {
                        return Err(self.fail(*p, format!("d/dt({n}) is given twice")));
                    }
                }
                if let Some(missing) = self
                    .states
                    .iter()
                    .find(|s| !self.d.derivatives.iter().any(|x| &x.0 == *s))
                {
                    let p = self.d.states_decl.as_ref().map_or(Pos::default(), |l| l[0].1);
                    return Err(self.fail(p, format!("state {missing} has no d/dt({missing}) equation")));
                }
            }
        }
        Ok(())
    }

    fn symbols(&mut self) -> Result<(), LangError> {
        let nt = self.d.thetas.len();
        let ne = self.d.omega.names.len();
        let nk = self.d.iov.as_ref().map_or(0, |i| i.effects.names.len());
        let ns = self.d.sigmas.len();
        let nc = self.d.covariates.len();
        let nst = self.states.len();
        let mut l = Layout {
            theta: 0,
            ..Layout::default()
        };
        l.eta = l.theta + nt;
        l.kappa = l.eta + ne;
        l.sigma = l.kappa + nk;
        l.covariate = l.sigma + ns;
        l.time = l.covariate + nc;
        l.tad = l.time + 1;
        l.t = l.tad + 1;
        l.state = l.t + 1;
        let n_kernel = match self.dynamics {
            Dynamics::Kernel(k) => k.parameters().len(),
            Dynamics::Ode => 0,
        };
        l.kernel = l.state + nst;
        l.attribute = l.kernel + n_kernel;
        l.initial = l.attribute + 4 * nst;
        l.derivative = l.initial + nst;
        self.local0 = l.derivative + nst;
        self.layout = l;
        for (i, (t, _)) in self.d.thetas.iter().enumerate() {
            self.syms.insert(t.name.clone(), Sym::Theta(i));
        }
        for (i, n) in self.d.omega.names.iter().enumerate() {
            self.syms.insert(n.clone(), Sym::Eta(i));
        }
        if let Some(iov) = &self.d.iov {
            for (i, n) in iov.effects.names.iter().enumerate() {
                self.syms.insert(n.clone(), Sym::Kappa(i));
            }
        }
        for (i, (s, _)) in self.d.sigmas.iter().enumerate() {
            self.syms.insert(s.name.clone(), Sym::Sigma(i));
        }
        for (i, (c, _)) in self.d.covariates.iter().enumerate() {
            self.syms.insert(c.clone(), Sym::Covariate(i));
        }
        for (i, s) in self.states.iter().enumerate() {
            if let Some(first) = self.d.names.get(s) {
                return Err(self.fail(
                    *first,
                    format!("{s} is a state of the model and cannot be declared again"),
                ));
            }
            self.syms.insert(s.clone(), Sym::State(i));
        }
        for (name, sym) in [("TIME", Sym::Time), ("TAD", Sym::Tad), ("t", Sym::T)] {
            if let Some(p) = self.d.names.get(name) {
                return Err(self.fail(*p, format!("{name} is a reserved name")));
            }
            self.syms.insert(name.to_string(), sym);
        }
        // Locals: every assigned name.
        let mut targets = Vec::new();
        assigned(&self.d.code, &mut targets);
        for (n, p) in targets {
            match self.syms.get(&n) {
                Some(Sym::Local(_)) => {}
                Some(other) => {
                    return Err(self.fail(p, format!("{n} is {}; it cannot be assigned", describe_sym(*other))))
                }
                None => {
                    let slot = self.local0 + self.locals.len();
                    self.syms.insert(n.clone(), Sym::Local(slot));
                    self.locals.push(n);
                }
            }
        }
        self.temp0 = self.local0 + self.locals.len();
        Ok(())
    }

    fn check_names(&self, e: &Expr, context: &str) -> Result<(), LangError> {
        let mut names = Vec::new();
        names_in(e, &mut names);
        for (n, p) in names {
            if !self.syms.contains_key(&n) {
                let hint = self
                    .syms
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&n))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                return Err(self.fail(
                    p,
                    format!(
                        "unknown name {n} in {context}{hint}: declare it (theta, omega, iov, sigma, covariates) or assign it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The mammillary structure of the user ODEs, when they have one.
    fn linear_structure(&self) -> Option<super::linear::LinearStructure> {
        use super::linear::{recognise, NameKind};
        if self.dynamics != Dynamics::Ode {
            return None;
        }
        let mut derivatives = vec![None; self.states.len()];
        for (s, e, _) in &self.d.derivatives {
            let i = self.states.iter().position(|x| x == s)?;
            derivatives[i] = Some(e.clone());
        }
        let derivatives: Vec<Expr> = derivatives.into_iter().collect::<Option<_>>()?;
        let kind = |n: &str| match self.syms.get(n) {
            Some(Sym::State(i)) => NameKind::State(*i),
            Some(Sym::T) => NameKind::Time,
            Some(Sym::Local(_)) if self.state_dependent.contains(n) => {
                let mut all = Vec::new();
                assignments_of(&self.d.code, n, &mut all);
                let top_level = self.d.code.iter().any(|s| matches!(s, Stmt::Assign(m, _, _) if m == n));
                NameKind::StateVariable((all.len() == 1 && top_level).then(|| all.remove(0)))
            }
            _ => NameKind::Constant,
        };
        recognise(&derivatives, &kind)
    }

    /// Whether an expression reads a state, `t`, or a state-dependent variable.
    fn depends_on_states(&self, e: &Expr) -> bool {
        let mut names = Vec::new();
        names_in(e, &mut names);
        names.iter().any(|(n, _)| {
            matches!(self.syms.get(n), Some(Sym::State(_)) | Some(Sym::T)) || self.state_dependent.contains(n)
        })
    }

    /// Marks state-dependent variables, to a fixed point.
    fn classify(&mut self) {
        loop {
            let before = self.state_dependent.len();
            let code = std::mem::take(&mut self.d.code);
            self.classify_block(&code, false);
            self.d.code = code;
            if self.state_dependent.len() == before {
                break;
            }
        }
    }

    fn classify_block(&mut self, stmts: &[Stmt], inherited: bool) {
        for s in stmts {
            match s {
                Stmt::Assign(n, e, _) if inherited || self.depends_on_states(e) => {
                    self.state_dependent.insert(n.clone());
                }
                Stmt::If(arms, other) => {
                    let dep = inherited || arms.iter().any(|(c, _)| self.depends_on_states(c));
                    for (_, b) in arms {
                        self.classify_block(b, dep);
                    }
                    self.classify_block(other, dep);
                }
                _ => {}
            }
        }
    }

    fn finish(mut self) -> Result<CompiledModel, LangError> {
        // Every expression refers to known names.
        let code = std::mem::take(&mut self.d.code);
        self.check_code(&code, &mut HashSet::new())?;
        self.d.code = code;
        self.classify();
        let l = self.layout.clone();
        let nst = self.states.len();

        // Individual-parameter program.
        let mut pk = Program::default();
        let code = self.d.code.clone();
        self.gen_block(&code, false, &mut pk)?;
        let pk_pure = |c: &Self, e: &Expr, what: &str, pos: Pos| -> Result<(), LangError> {
            c.check_names(e, what)?;
            if c.depends_on_states(e) {
                return Err(c.fail(
                    pos,
                    format!("{what} depends on the states; it must be computed from parameters and covariates"),
                ));
            }
            Ok(())
        };
        if let (Dynamics::Kernel(k), Some((_, args, kpos))) = (self.dynamics, self.d.kernel.clone()) {
            let params = KERNELS.iter().find(|x| x.1 == k).map_or(&[][..], |x| x.2);
            let mut given: Vec<Option<Expr>> = vec![None; params.len()];
            for (i, (key, e)) in args.iter().enumerate() {
                let idx = match key {
                    None => i,
                    Some(key) => params
                        .iter()
                        .position(|p| p.split('|').any(|a| a.eq_ignore_ascii_case(key)))
                        .ok_or_else(|| {
                            self.fail(
                                kpos,
                                format!(
                                    "kernel {} has no parameter {key}; its parameters are {}",
                                    k.name(),
                                    k.parameters().join(", ")
                                ),
                            )
                        })?,
                };
                if idx >= params.len() {
                    return Err(self.fail(
                        kpos,
                        format!(
                            "kernel {} takes {} parameters ({}), got {}",
                            k.name(),
                            params.len(),
                            k.parameters().join(", "),
                            args.len()
                        ),
                    ));
                }
                given[idx] = Some(e.clone());
            }
            for (i, g) in given.into_iter().enumerate() {
                let name = k.parameters()[i];
                // A missing argument defaults to the variable of the same name.
                let e = match g {
                    Some(e) => e,
                    None => {
                        let alias = params[i].split('|').find(|a| self.syms.contains_key(*a));
                        match alias {
                            Some(a) => Expr::Name(a.to_string(), kpos),
                            None => {
                                return Err(self.fail(
                                    kpos,
                                    format!(
                                        "kernel {} needs {name}, but the code never sets it (its parameters: {})",
                                        k.name(),
                                        k.parameters().join(", ")
                                    ),
                                ))
                            }
                        }
                    }
                };
                pk_pure(&self, &e, &format!("kernel parameter {name}"), kpos)?;
                self.gen_assign_expr(&e, (l.kernel + i) as u32, kpos, &mut pk);
            }
        }
        let state_index = |c: &Self, s: &str, pos: Pos| -> Result<usize, LangError> {
            c.states.iter().position(|x| x == s).ok_or_else(|| {
                c.fail(
                    pos,
                    format!("{s} is not a state of the model (states: {})", c.states.join(", ")),
                )
            })
        };
        let mut attribute_set = vec![[false; 4]; nst];
        for (a, s, e, pos) in self.d.attributes.clone() {
            let si = state_index(&self, &s, pos)?;
            let k = ATTRIBUTES.iter().position(|x| *x == a).unwrap_or(0);
            if attribute_set[si][k] {
                return Err(self.fail(pos, format!("{a}({s}) is set twice")));
            }
            attribute_set[si][k] = true;
            pk_pure(&self, &e, &format!("{a}({s})"), pos)?;
            self.gen_assign_expr(&e, (l.attribute + 4 * si + k) as u32, pos, &mut pk);
        }
        let mut initial_set = vec![false; nst];
        for (s, e, pos) in self.d.initials.clone() {
            let si = state_index(&self, &s, pos)?;
            if initial_set[si] {
                return Err(self.fail(pos, format!("{s}(0) is set twice")));
            }
            initial_set[si] = true;
            pk_pure(&self, &e, &format!("{s}(0)"), pos)?;
            self.gen_assign_expr(&e, (l.initial + si) as u32, pos, &mut pk);
        }
        let pk_reads_time = self.reads_time(&code);

        // ODE right-hand side.
        let mut des = Program::default();
        if self.dynamics == Dynamics::Ode {
            self.gen_block(&code, true, &mut des)?;
            for (s, e, pos) in self.d.derivatives.clone() {
                self.check_names(&e, &format!("d/dt({s})"))?;
                let si = state_index(&self, &s, pos)?;
                self.gen_assign_expr(&e, (l.derivative + si) as u32, pos, &mut des);
            }
        }

        // Outputs.
        let mut out = Program::default();
        self.gen_block(&code, true, &mut out)?;
        if self.d.outputs.is_empty() {
            return Err(self.fail(
                Pos { line: 1, col: 1 },
                "the model has no output: add e.g. `output CP = central / V1 ~ prop(sigma_prop)`".into(),
            ));
        }
        let mut outputs = Vec::new();
        let mut extra = self.temp0;
        let outs = std::mem::take(&mut self.d.outputs);
        for (i, o) in outs.into_iter().enumerate() {
            let Stmt::Output {
                name,
                expr,
                terms,
                combine,
                dvid,
                cmt,
                unscaled,
                pos,
            } = o
            else {
                continue;
            };
            if outputs.iter().any(|x: &OutputDecl| x.name == name) {
                return Err(self.fail(pos, format!("output {name} is declared twice")));
            }
            self.check_names(&expr, &format!("output {name}"))?;
            let value_slot = extra as u32;
            extra += 1;
            let mut term_slots = Vec::new();
            let mut term_names = Vec::new();
            let expr_copy = expr.clone();
            let mut pending = vec![(expr, value_slot)];
            for t in terms {
                let (kind, a, b) = match t {
                    ErrorTerm::Add(a) => (TermKind::Add, a, None),
                    ErrorTerm::Prop(a) => (TermKind::Prop, a, None),
                    ErrorTerm::Exp(a) => (TermKind::Exp, a, None),
                    ErrorTerm::Power(a, b) => (TermKind::Power, a, Some(b)),
                    ErrorTerm::Sd(a) => (TermKind::Sd, a, None),
                    ErrorTerm::Var(a) => (TermKind::Var, a, None),
                };
                self.check_names(&a, &format!("the error model of {name}"))?;
                term_names.push(match &a {
                    Expr::Name(n, _) => Some(n.clone()),
                    _ => None,
                });
                let sa = extra as u32;
                extra += 1;
                pending.push((a, sa));
                let sb = match b {
                    Some(b) => {
                        self.check_names(&b, &format!("the error model of {name}"))?;
                        let sb = extra as u32;
                        extra += 1;
                        pending.push((b, sb));
                        Some(sb)
                    }
                    None => None,
                };
                term_slots.push((kind, sa, sb));
            }
            if term_slots.iter().any(|t| t.0 == TermKind::Exp) && term_slots.len() > 1 {
                return Err(self.fail(
                    pos,
                    format!("output {name}: exp() (log-transform both sides) cannot be combined with other terms"),
                ));
            }
            // An output `state / E` or `state · E` with E and the error terms
            // free of states is folded: E (or 1/E) and the terms are computed
            // with the individual parameters, once per parameter set, and the
            // output is a coefficient times one compartment amount.
            let folded = self.foldable(&expr_copy, &pending[1..]);
            match &folded {
                Some((_, coefficient)) => {
                    self.gen_assign_expr(coefficient, value_slot, pos, &mut pk);
                    for (e, slot) in &pending[1..] {
                        self.gen_assign_expr(e, *slot, pos, &mut pk);
                    }
                }
                None => {
                    for (e, slot) in &pending {
                        self.gen_assign_expr(e, *slot, pos, &mut out);
                    }
                }
            }
            let folded = folded.map(|f| f.0);
            // Without `cmt=`, an output reading one state takes that state's CMT.
            let read = self.states_read(&expr_copy);
            let cmt = cmt.or_else(|| (read.len() == 1).then(|| read[0] as i64 + 1));
            outputs.push(OutputDecl {
                name,
                dvid: dvid.unwrap_or(i as i64 + 1),
                cmt,
                unscaled,
                value_slot,
                terms: term_slots,
                term_names,
                combine,
                folded,
                pos,
            });
        }
        for o in &outputs {
            if outputs.iter().filter(|x| x.dvid == o.dvid).count() > 1 {
                return Err(self.fail(o.pos, format!("two outputs have DVID {}", o.dvid)));
            }
        }
        let default_dose = match &self.d.default_dose {
            Some((s, p)) => state_index(&self, s, *p)?,
            None => 0,
        };
        let blq = match &self.d.blq {
            None => Blq::M3,
            Some((m, p)) => match m.as_str() {
                "m3" => Blq::M3,
                "m1" => Blq::M1,
                other => return Err(self.fail(*p, format!("unknown BLQ method {other}: expected m3 or m1"))),
            },
        };
        // Temporaries go above every named and output slot.
        let base = self.temp0.max(extra);
        for p in [&mut pk, &mut des, &mut out] {
            relocate(p, base);
        }
        let mut layout = self.layout.clone();
        layout.n_slots = base + self.max_temp;
        Ok(CompiledModel {
            name: self.d.name.clone(),
            description: self.d.description.clone(),
            units: self.d.units.clone(),
            thetas: self.d.thetas.iter().map(|t| t.0.clone()).collect(),
            omega: self.d.omega.clone(),
            iov: self.d.iov.clone(),
            sigmas: self.d.sigmas.iter().map(|s| s.0.clone()).collect(),
            covariates: self.d.covariates.iter().map(|c| c.0.clone()).collect(),
            dynamics: self.dynamics,
            states: self.states.clone(),
            default_dose,
            outputs,
            blq,
            layout,
            attribute_set,
            initial_set,
            pk,
            des,
            out,
            pk_reads_time,
            linear: self.linear_structure(),
            variables: self
                .locals
                .iter()
                .filter(|n| !self.state_dependent.contains(*n))
                .filter_map(|n| match self.syms.get(n) {
                    Some(Sym::Local(slot)) => Some((n.clone(), *slot)),
                    _ => None,
                })
                .collect(),
            source: self.lines.clone(),
        })
    }

    /// `(state, coefficient)` when `e` is `state`, `state / E`, `state · E` or
    /// `E · state` with E free of states, and no error-term expression reads a state.
    fn foldable(&self, e: &Expr, terms: &[(Expr, u32)]) -> Option<(usize, Expr)> {
        if terms.iter().any(|(t, _)| self.depends_on_states(t)) {
            return None;
        }
        let state_of = |x: &Expr| match x {
            Expr::Name(n, _) => match self.syms.get(n) {
                Some(Sym::State(i)) => Some(*i),
                _ => None,
            },
            _ => None,
        };
        let pure = |x: &Expr| !self.depends_on_states(x);
        match e {
            Expr::Name(..) => state_of(e).map(|s| (s, Expr::Num(1.0))),
            Expr::Bin(BinOp::Div, a, b) if pure(b) => {
                state_of(a).map(|s| (s, Expr::Bin(BinOp::Div, Box::new(Expr::Num(1.0)), b.clone())))
            }
            Expr::Bin(BinOp::Mul, a, b) if pure(b) => state_of(a).map(|s| (s, (**b).clone())),
            Expr::Bin(BinOp::Mul, a, b) if pure(a) => state_of(b).map(|s| (s, (**a).clone())),
            _ => None,
        }
    }

    /// The states an expression reads, directly or through variables.
    fn states_read(&self, e: &Expr) -> Vec<usize> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.collect_states(e, &mut out, &mut seen);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect_states(&self, e: &Expr, out: &mut Vec<usize>, seen: &mut HashSet<String>) {
        let mut names = Vec::new();
        names_in(e, &mut names);
        for (n, _) in names {
            match self.syms.get(&n) {
                Some(Sym::State(i)) => out.push(*i),
                Some(Sym::Local(_)) if self.state_dependent.contains(&n) && seen.insert(n.clone()) => {
                    let mut exprs = Vec::new();
                    assignments_of(&self.d.code, &n, &mut exprs);
                    for x in exprs {
                        self.collect_states(&x, out, seen);
                    }
                }
                _ => {}
            }
        }
    }

    fn reads_time(&self, stmts: &[Stmt]) -> bool {
        let mut names = Vec::new();
        fn walk(stmts: &[Stmt], names: &mut Vec<(String, Pos)>) {
            for s in stmts {
                match s {
                    Stmt::Assign(_, e, _) => names_in(e, names),
                    Stmt::If(arms, other) => {
                        for (c, b) in arms {
                            names_in(c, names);
                            walk(b, names);
                        }
                        walk(other, names);
                    }
                    _ => {}
                }
            }
        }
        walk(stmts, &mut names);
        for (_, _, e, _) in &self.d.attributes {
            names_in(e, &mut names);
        }
        if let Some((_, args, _)) = &self.d.kernel {
            for (_, e) in args {
                names_in(e, &mut names);
            }
        }
        names.iter().any(|(n, _)| n == "TIME" || n == "TAD")
    }

    /// Checks names and that no variable is read before any assignment.
    fn check_code(&self, stmts: &[Stmt], defined: &mut HashSet<String>) -> Result<(), LangError> {
        for s in stmts {
            match s {
                Stmt::Assign(n, e, _) => {
                    self.check_names(e, &format!("the expression of {n}"))?;
                    self.check_defined(e, defined)?;
                    defined.insert(n.clone());
                }
                Stmt::If(arms, other) => {
                    for (c, b) in arms {
                        self.check_names(c, "an if condition")?;
                        self.check_defined(c, defined)?;
                        self.check_code(b, defined)?;
                    }
                    self.check_code(other, defined)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_defined(&self, e: &Expr, defined: &HashSet<String>) -> Result<(), LangError> {
        let mut names = Vec::new();
        names_in(e, &mut names);
        for (n, p) in names {
            if matches!(self.syms.get(&n), Some(Sym::Local(_))) && !defined.contains(&n) {
                return Err(self.fail(p, format!("{n} is used before it is assigned")));
            }
        }
        Ok(())
    }

    fn slot_of(&self, name: &str) -> u32 {
        let l = &self.layout;
        (match self.syms.get(name) {
            Some(Sym::Theta(i)) => l.theta + i,
            Some(Sym::Eta(i)) => l.eta + i,
            Some(Sym::Kappa(i)) => l.kappa + i,
            Some(Sym::Sigma(i)) => l.sigma + i,
            Some(Sym::Covariate(i)) => l.covariate + i,
            Some(Sym::Time) => l.time,
            Some(Sym::Tad) => l.tad,
            Some(Sym::T) => l.t,
            Some(Sym::State(i)) => l.state + i,
            Some(Sym::Local(s)) => *s,
            None => l.n_slots,
        }) as u32
    }

    /// Code for the statements whose targets are (`state_level`) or are not
    /// state-dependent; `if` structure is kept where an arm assigns such a target.
    fn gen_block(&mut self, stmts: &[Stmt], state_level: bool, p: &mut Program) -> Result<(), LangError> {
        for s in stmts {
            match s {
                Stmt::Assign(n, e, pos) if self.state_dependent.contains(n) == state_level => {
                    let dst = self.slot_of(n);
                    self.gen_assign_expr(e, dst, *pos, p);
                }
                Stmt::If(arms, other) => {
                    let mut targets = Vec::new();
                    assigned(std::slice::from_ref(s), &mut targets);
                    if !targets
                        .iter()
                        .any(|(n, _)| self.state_dependent.contains(n) == state_level)
                    {
                        continue;
                    }
                    let mut jumps_to_end = Vec::new();
                    for (c, body) in arms {
                        let pos = first_pos(c);
                        let cs = self.gen_expr(c, pos, p);
                        let jf = p.ops.len();
                        p.ops.push(Op::JumpIfFalse { c: cs, to: 0 });
                        p.pos.push(pos);
                        self.gen_block(body, state_level, p)?;
                        jumps_to_end.push(p.ops.len());
                        p.ops.push(Op::Jump { to: 0 });
                        p.pos.push(pos);
                        let here = p.ops.len() as u32;
                        if let Op::JumpIfFalse { to, .. } = &mut p.ops[jf] {
                            *to = here;
                        }
                    }
                    self.gen_block(other, state_level, p)?;
                    let end = p.ops.len() as u32;
                    for j in jumps_to_end {
                        if let Op::Jump { to } = &mut p.ops[j] {
                            *to = end;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn gen_assign_expr(&mut self, e: &Expr, dst: u32, pos: Pos, p: &mut Program) {
        let mut next = 0;
        self.emit_into(e, dst, pos, p, &mut next);
    }

    fn gen_expr(&mut self, e: &Expr, pos: Pos, p: &mut Program) -> u32 {
        let mut next = 0;
        self.emit(e, pos, p, &mut next)
    }

    fn temp(&mut self, next: &mut usize) -> u32 {
        let s = *next;
        *next += 1;
        self.max_temp = self.max_temp.max(*next);
        // Temporaries are placed after all named and output slots; the final
        // offset is known only at the end, so they are numbered from a high base
        // and relocated in `relocate`.
        (TEMP_BASE + s) as u32
    }

    /// Emits code computing `e`, returning the slot holding its value.
    fn emit(&mut self, e: &Expr, pos: Pos, p: &mut Program, next: &mut usize) -> u32 {
        match e {
            Expr::Name(n, _) => self.slot_of(n),
            _ => {
                let t = self.temp(next);
                self.emit_into(e, t, pos, p, next);
                t
            }
        }
    }

    fn emit_into(&mut self, e: &Expr, dst: u32, pos: Pos, p: &mut Program, next: &mut usize) {
        let op = match e {
            Expr::Num(v) => Op::Const { dst, value: *v },
            Expr::Name(n, _) => Op::Copy {
                dst,
                src: self.slot_of(n),
            },
            Expr::Neg(a) => {
                if let Expr::Num(v) = **a {
                    Op::Const { dst, value: -v }
                } else {
                    let a = self.emit(a, pos, p, next);
                    Op::Neg { dst, a }
                }
            }
            Expr::Not(a) => {
                let a = self.emit(a, pos, p, next);
                Op::Not { dst, a }
            }
            Expr::Bin(op, a, b) => {
                let a = self.emit(a, pos, p, next);
                let b = self.emit(b, pos, p, next);
                Op::Bin { op: *op, dst, a, b }
            }
            Expr::Call(f, args) => {
                let a = self.emit(&args[0], pos, p, next);
                let b = match args.get(1) {
                    Some(x) => self.emit(x, pos, p, next),
                    None => a,
                };
                Op::Call { f: *f, dst, a, b }
            }
            Expr::If(c, a, b) => {
                let c = self.emit(c, pos, p, next);
                let a = self.emit(a, pos, p, next);
                let b = self.emit(b, pos, p, next);
                Op::Select { dst, c, a, b }
            }
        };
        p.ops.push(op);
        p.pos.push(pos);
    }
}

/// Temporaries are numbered from here while compiling and moved above the
/// last named slot at the end.
const TEMP_BASE: usize = 1 << 30;

fn first_pos(e: &Expr) -> Pos {
    let mut names = Vec::new();
    names_in(e, &mut names);
    names.first().map_or(Pos::default(), |n| n.1)
}

fn describe_sym(s: Sym) -> &'static str {
    match s {
        Sym::Theta(_) => "a θ",
        Sym::Eta(_) => "an η",
        Sym::Kappa(_) => "a κ",
        Sym::Sigma(_) => "a σ",
        Sym::Covariate(_) => "a covariate (data column)",
        Sym::Time | Sym::Tad | Sym::T => "a reserved name",
        Sym::State(_) => "a state (use d/dt or an initial condition)",
        Sym::Local(_) => "a variable",
    }
}

/// Moves temporaries from [`TEMP_BASE`] to `base`.
pub(crate) fn relocate(p: &mut Program, base: usize) {
    let fix = |s: &mut u32| {
        if *s as usize >= TEMP_BASE {
            *s = (*s as usize - TEMP_BASE + base) as u32;
        }
    };
    for op in &mut p.ops {
        match op {
            Op::Const { dst, .. } => fix(dst),
            Op::Copy { dst, src } => {
                fix(dst);
                fix(src);
            }
            Op::Bin { dst, a, b, .. } | Op::Call { dst, a, b, .. } => {
                fix(dst);
                fix(a);
                fix(b);
            }
            Op::Neg { dst, a } | Op::Not { dst, a } => {
                fix(dst);
                fix(a);
            }
            Op::Select { dst, c, a, b } => {
                fix(dst);
                fix(c);
                fix(a);
                fix(b);
            }
            Op::JumpIfFalse { c, .. } => fix(c),
            Op::Jump { .. } => {}
        }
    }
}

/// Binary operators whose result is 0 or 1.
pub fn is_logical(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::And | BinOp::Or
    )
}
