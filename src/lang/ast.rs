//! The syntax tree of a model file, as written (names not yet resolved).

/// A position in the model file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line.
    pub line: usize,
    /// Column.
    pub col: usize,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^` or `**`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` or `and`
    And,
    /// `||` or `or`
    Or,
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// e^x
    Exp,
    /// Natural logarithm (`log` or `ln`).
    Log,
    /// Base-10 logarithm.
    Log10,
    /// Square root.
    Sqrt,
    /// Absolute value.
    Abs,
    /// Standard normal cumulative distribution (NONMEM's PHI).
    Phi,
    /// Smaller of two.
    Min,
    /// Larger of two.
    Max,
}

impl Func {
    /// The function of a name, with its number of arguments.
    pub fn parse(name: &str) -> Option<(Func, usize)> {
        Some(match name.to_ascii_lowercase().as_str() {
            "exp" => (Func::Exp, 1),
            "log" | "ln" => (Func::Log, 1),
            "log10" => (Func::Log10, 1),
            "sqrt" => (Func::Sqrt, 1),
            "abs" => (Func::Abs, 1),
            "phi" | "pnorm" => (Func::Phi, 1),
            "min" => (Func::Min, 2),
            "max" => (Func::Max, 2),
            _ => return None,
        })
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// A name (parameter, covariate, variable, state).
    Name(String, Pos),
    /// Negation.
    Neg(Box<Expr>),
    /// Logical not.
    Not(Box<Expr>),
    /// A binary operation.
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// A function call.
    Call(Func, Vec<Expr>),
    /// `if c then a else b`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// A residual-error term of an output.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorTerm {
    /// `add(sd)`: SD = sd.
    Add(Expr),
    /// `prop(sd)`: SD = sd·f.
    Prop(Expr),
    /// `power(sd, c)`: SD = sd·f^c.
    Power(Expr, Expr),
    /// `exp(sd)` (also `lnorm`): additive sd on the log scale (log-transform both sides).
    Exp(Expr),
    /// `sd(expr)`: SD given by an expression.
    Sd(Expr),
    /// `var(expr)`: variance given by an expression (e.g. NONMEM's W²·σ²).
    Var(Expr),
}

/// How the terms of an error model combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Variances add: Var = Σ SD² (`add(a) + prop(b)`, NONMEM's two-ε form).
    Variances,
    /// SDs add: SD = Σ SD (`combined1(a, b)`, NONMEM's W = THETA(a) + THETA(b)·IPRED).
    Sds,
}

/// One piece of the model file.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `units amount=mg, time=h, …`
    Units(Vec<(String, String)>, Pos),
    /// `name "…"` or `description "…"`.
    Meta(String, String),
    /// `covariates WT, SEX`
    Covariates(Vec<(String, Pos)>),
    /// `theta NAME = init (lower, upper) fix`
    Theta {
        /// Name.
        name: String,
        /// Initial value.
        init: f64,
        /// Lower bound (−∞ when not given).
        lower: f64,
        /// Upper bound (+∞ when not given).
        upper: f64,
        /// Held fixed.
        fixed: bool,
        /// Where.
        pos: Pos,
    },
    /// `omega …` or `iov … by COL`: one diagonal element or one block.
    Omega {
        /// η (or κ) names.
        names: Vec<(String, Pos)>,
        /// Lower triangle by rows (a block), or the single variance.
        values: Vec<f64>,
        /// Held fixed.
        fixed: bool,
        /// Occasion column for inter-occasion variability.
        occasion: Option<String>,
        /// Where.
        pos: Pos,
    },
    /// `sigma NAME ~ variance fix`
    Sigma {
        /// Name.
        name: String,
        /// Variance of ε.
        value: f64,
        /// Held fixed.
        fixed: bool,
        /// Where.
        pos: Pos,
    },
    /// `NAME = expr`
    Assign(String, Expr, Pos),
    /// `if c { … } else if … else { … }`
    If(Vec<(Expr, Vec<Stmt>)>, Vec<Stmt>),
    /// `kernel NAME(args)`
    Kernel {
        /// Kernel name.
        name: String,
        /// Arguments, named (`CL = expr`) or positional (name `None`).
        args: Vec<(Option<String>, Expr)>,
        /// Where.
        pos: Pos,
    },
    /// `states a, b, c`
    States(Vec<(String, Pos)>),
    /// `d/dt(state) = expr`
    Derivative(String, Expr, Pos),
    /// `state(0) = expr`
    Initial(String, Expr, Pos),
    /// `F(state) = expr`, `ALAG(state)`, `RATE(state)`, `DUR(state)`.
    DoseAttribute(String, String, Expr, Pos),
    /// `dose state`: the default dose compartment.
    DefaultDose(String, Pos),
    /// `output NAME = expr ~ error [dvid=N] [cmt=N] [unscaled]`
    Output {
        /// Output name.
        name: String,
        /// Predicted value.
        expr: Expr,
        /// Residual-error terms.
        terms: Vec<ErrorTerm>,
        /// How the terms combine.
        combine: Combine,
        /// Observations with this DVID go to this output.
        dvid: Option<i64>,
        /// Observations with this CMT go to this output (when the data have no DVID).
        cmt: Option<i64>,
        /// Reported as computed, without the amount/volume → concentration scale.
        unscaled: bool,
        /// Where.
        pos: Pos,
    },
    /// `blq m3` or `blq m1`: how censored observations enter the likelihood.
    Blq(String, Pos),
}
