//! Abbreviated code (`$PK`, `$PRED`, `$ERROR`, `$DES`) as statements and
//! expressions, each carrying its line and column in the control stream.
//!
//! Names are upper-cased. Reserved variables (`F`, `Y`, `IPRED`, `S1`, `ALAG1`,
//! `NEWIND`, `ICALL`, `TIME`, `T`, …) are plain names: the lowering gives
//! them meaning. `IF … THEN / ELSE IF / ELSE / ENDIF` and one-line `IF (c) X=…`
//! are parsed; `EXIT`, `CALL`, `RETURN`, `DO WHILE … ENDDO` and verbatim
//! lines (`"`) are kept as [`StatementKind::Unsupported`] so that the caller
//! refuses them with their line. A line ending in `&` continues on the next.

use super::error::{NonmemError, SourcePos};
use super::source::BodyLine;
use std::fmt;

/// Deepest nesting of parentheses and unary operators accepted.
const MAX_DEPTH: usize = 40;

/// The statements of one abbreviated-code record.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeBlock {
    /// The record, as `$PK`.
    pub record: String,
    /// Line of the record name.
    pub line: usize,
    /// The statements in order.
    pub statements: Vec<Statement>,
}

/// A statement with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Line of the first token.
    pub line: usize,
    /// Column of the first token.
    pub column: usize,
    /// What the statement is.
    pub kind: StatementKind,
}

/// The statements of abbreviated code.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `target = value`.
    Assign {
        /// The variable assigned, as `CL` or `DADT(1)`.
        target: Variable,
        /// The value.
        value: Expr,
    },
    /// `IF (c) THEN … ELSE IF (c) THEN … ELSE … ENDIF`, or `IF (c) X = …`.
    If {
        /// The `IF` and `ELSE IF` branches in order.
        branches: Vec<Branch>,
        /// The `ELSE` statements, if any.
        otherwise: Option<Vec<Statement>>,
        /// Written on one line (`IF (c) X = …`).
        single_line: bool,
    },
    /// A statement the engine cannot honour, kept so the caller can refuse it.
    Unsupported {
        /// What it is: `EXIT`, `CALL`, `RETURN`, `DO WHILE` or `verbatim code`.
        statement: String,
        /// The text as written (first line for a `DO WHILE` loop).
        text: String,
        /// Why it is not supported.
        reason: String,
    },
}

/// One branch of an `IF`.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// The condition.
    pub condition: Expr,
    /// The statements run when it holds.
    pub body: Vec<Statement>,
    /// Line of the `IF`/`ELSE IF`.
    pub line: usize,
}

/// A subscript of an indexed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscript {
    /// A number, as in `THETA(1)`.
    Index(u32),
    /// A symbolic label (NONMEM 7.5), as in `THETA(CL)`.
    Label(String),
}

/// A variable: a plain name or an indexed one (`THETA(1)`, `ETA(2)`,
/// `EPS(1)`/`ERR(1)`, `A(2)`, `DADT(1)`, `A_0(1)`, `OMEGA(1,1)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Upper-case name.
    pub name: String,
    /// Subscripts; empty for a plain name.
    pub subscripts: Vec<Subscript>,
}

impl Variable {
    /// A plain name.
    pub fn plain(name: &str) -> Variable {
        Variable {
            name: name.to_ascii_uppercase(),
            subscripts: Vec::new(),
        }
    }

    /// The single numeric subscript, as 2 for `A(2)`.
    pub fn index(&self) -> Option<u32> {
        match self.subscripts.as_slice() {
            [Subscript::Index(i)] => Some(*i),
            _ => None,
        }
    }

    /// Whether this is `name(index)`.
    pub fn is(&self, name: &str, index: u32) -> bool {
        self.name.eq_ignore_ascii_case(name) && self.index() == Some(index)
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.subscripts.is_empty() {
            write!(f, "(")?;
            for (k, s) in self.subscripts.iter().enumerate() {
                if k > 0 {
                    write!(f, ",")?;
                }
                match s {
                    Subscript::Index(i) => write!(f, "{i}")?,
                    Subscript::Label(l) => write!(f, "{l}")?,
                }
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// Intrinsic functions of abbreviated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `EXP` (`DEXP`).
    Exp,
    /// `LOG` (`DLOG`, `ALOG`): natural logarithm.
    Log,
    /// `LOG10` (`DLOG10`, `ALOG10`).
    Log10,
    /// `SQRT` (`DSQRT`).
    Sqrt,
    /// `ABS` (`DABS`).
    Abs,
    /// `SIN`.
    Sin,
    /// `COS`.
    Cos,
    /// `TAN`.
    Tan,
    /// `ASIN`.
    Asin,
    /// `ACOS`.
    Acos,
    /// `ATAN`.
    Atan,
    /// `INT`: truncation toward zero.
    Int,
    /// `MOD(a, b)`.
    Mod,
    /// `MIN(a, b, …)`.
    Min,
    /// `MAX(a, b, …)`.
    Max,
    /// `PHI`: standard normal distribution function.
    Phi,
    /// `GAMLN`: log of the gamma function.
    Gamln,
    /// `PEXP`: protected exponential.
    Pexp,
    /// `PLOG`: protected logarithm.
    Plog,
    /// `PLOG10`: protected base-10 logarithm.
    Plog10,
    /// `PSQRT`: protected square root.
    Psqrt,
    /// `PTAN`, `PASIN`, `PACOS`, `PATAN` and the protected divisions
    /// `PDZ`, `PZR`, `PNP`, `PHE`, `PNG`: other protected functions, by name.
    Protected(&'static str),
}

impl Function {
    fn lookup(name: &str) -> Option<Function> {
        use Function::*;
        Some(match name {
            "EXP" | "DEXP" => Exp,
            "LOG" | "DLOG" | "ALOG" => Log,
            "LOG10" | "DLOG10" | "ALOG10" => Log10,
            "SQRT" | "DSQRT" => Sqrt,
            "ABS" | "DABS" => Abs,
            "SIN" | "DSIN" => Sin,
            "COS" | "DCOS" => Cos,
            "TAN" | "DTAN" => Tan,
            "ASIN" => Asin,
            "ACOS" => Acos,
            "ATAN" => Atan,
            "INT" | "DINT" => Int,
            "MOD" | "DMOD" => Mod,
            "MIN" => Min,
            "MAX" => Max,
            "PHI" => Phi,
            "GAMLN" => Gamln,
            "PEXP" => Pexp,
            "PLOG" => Plog,
            "PLOG10" => Plog10,
            "PSQRT" => Psqrt,
            "PTAN" => Protected("PTAN"),
            "PASIN" => Protected("PASIN"),
            "PACOS" => Protected("PACOS"),
            "PATAN" => Protected("PATAN"),
            "PDZ" => Protected("PDZ"),
            "PZR" => Protected("PZR"),
            "PNP" => Protected("PNP"),
            "PHE" => Protected("PHE"),
            "PNG" => Protected("PNG"),
            _ => return None,
        })
    }

    /// The canonical NONMEM name.
    pub fn name(&self) -> &'static str {
        use Function::*;
        match self {
            Exp => "EXP",
            Log => "LOG",
            Log10 => "LOG10",
            Sqrt => "SQRT",
            Abs => "ABS",
            Sin => "SIN",
            Cos => "COS",
            Tan => "TAN",
            Asin => "ASIN",
            Acos => "ACOS",
            Atan => "ATAN",
            Int => "INT",
            Mod => "MOD",
            Min => "MIN",
            Max => "MAX",
            Phi => "PHI",
            Gamln => "GAMLN",
            Pexp => "PEXP",
            Plog => "PLOG",
            Plog10 => "PLOG10",
            Psqrt => "PSQRT",
            Protected(n) => n,
        }
    }

    /// Whether `n` arguments suit the function.
    fn accepts(&self, n: usize) -> bool {
        match self {
            Function::Mod => n == 2,
            Function::Min | Function::Max => n >= 2,
            Function::Protected(p) if ["PDZ", "PZR", "PNP", "PHE", "PNG"].contains(p) => n >= 1,
            _ => n == 1,
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `+x`.
    Plus,
    /// `.NOT. x`.
    Not,
}

/// Binary operators (comparisons accept both `.EQ.` and `==` spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `**`.
    Pow,
    /// `.EQ.`, `==`.
    Eq,
    /// `.NE.`, `/=`.
    Ne,
    /// `.LT.`, `<`.
    Lt,
    /// `.LE.`, `<=`.
    Le,
    /// `.GT.`, `>`.
    Gt,
    /// `.GE.`, `>=`.
    Ge,
    /// `.AND.`.
    And,
    /// `.OR.`.
    Or,
}

impl BinaryOp {
    fn symbol(&self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Pow => "**",
            Eq => ".EQ.",
            Ne => ".NE.",
            Lt => ".LT.",
            Le => ".LE.",
            Gt => ".GT.",
            Ge => ".GE.",
            And => ".AND.",
            Or => ".OR.",
        }
    }

    fn precedence(&self) -> u8 {
        use BinaryOp::*;
        match self {
            Or => 1,
            And => 2,
            Eq | Ne | Lt | Le | Gt | Ge => 4,
            Add | Sub => 5,
            Mul | Div => 6,
            Pow => 8,
        }
    }
}

/// An expression with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Line of the first token.
    pub line: usize,
    /// Column of the first token.
    pub column: usize,
    /// What the expression is.
    pub kind: ExprKind,
}

/// Expressions of abbreviated code.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number (`1E-3`, `1.D0`, `.5` …).
    Number(f64),
    /// A variable.
    Variable(Variable),
    /// An intrinsic function call.
    Call {
        /// The function.
        function: Function,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A unary operation.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
}

impl Expr {
    fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Unary { op: UnaryOp::Not, .. } => 3,
            ExprKind::Unary { .. } => 7,
            _ => 9,
        }
    }

    /// Calls `f` on this expression and every sub-expression.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.visit(f)),
            ExprKind::Unary { operand, .. } => operand.visit(f),
            ExprKind::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            ExprKind::Number(_) | ExprKind::Variable(_) => {}
        }
    }

    /// The variables the expression reads, in order of appearance.
    pub fn variables(&self) -> Vec<&Variable> {
        fn go<'a>(e: &'a Expr, out: &mut Vec<&'a Variable>) {
            match &e.kind {
                ExprKind::Variable(v) => out.push(v),
                ExprKind::Call { args, .. } => args.iter().for_each(|a| go(a, out)),
                ExprKind::Unary { operand, .. } => go(operand, out),
                ExprKind::Binary { left, right, .. } => {
                    go(left, out);
                    go(right, out);
                }
                ExprKind::Number(_) => {}
            }
        }
        let mut out = Vec::new();
        go(self, &mut out);
        out
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Number(x) => write!(f, "{x}"),
            ExprKind::Variable(v) => write!(f, "{v}"),
            ExprKind::Call { function, args } => {
                write!(f, "{}(", function.name())?;
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            ExprKind::Unary { op, operand } => {
                let sym = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                    UnaryOp::Not => ".NOT. ",
                };
                if operand.precedence() <= self.precedence() {
                    write!(f, "{sym}({operand})")
                } else {
                    write!(f, "{sym}{operand}")
                }
            }
            ExprKind::Binary { op, left, right } => {
                let p = op.precedence();
                let lp = left.precedence();
                let rp = right.precedence();
                // `**` is right-associative; the others left-associative.
                let left_paren = if *op == BinaryOp::Pow { lp <= p } else { lp < p };
                let right_paren = if *op == BinaryOp::Pow { rp < p } else { rp <= p };
                if left_paren {
                    write!(f, "({left})")?;
                } else {
                    write!(f, "{left}")?;
                }
                // Blanks around + - * / .AND. .OR.; none around ** and comparisons.
                if p != 8 && p != 4 {
                    write!(f, " {} ", op.symbol())?;
                } else {
                    write!(f, "{}", op.symbol())?;
                }
                if right_paren {
                    write!(f, "({right})")
                } else {
                    write!(f, "{right}")
                }
            }
        }
    }
}

impl fmt::Display for Statement {
    /// One line per statement; an `IF` block over several lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StatementKind::Assign { target, value } => write!(f, "{target} = {value}"),
            StatementKind::Unsupported { text, .. } => write!(f, "{text}"),
            StatementKind::If {
                branches,
                otherwise,
                single_line,
            } => {
                if *single_line && branches.len() == 1 && branches[0].body.len() == 1 {
                    return write!(f, "IF ({}) {}", branches[0].condition, branches[0].body[0]);
                }
                for (k, b) in branches.iter().enumerate() {
                    let kw = if k == 0 { "IF" } else { "ELSE IF" };
                    writeln!(f, "{kw} ({}) THEN", b.condition)?;
                    for s in &b.body {
                        writeln!(f, "  {}", s.to_string().replace('\n', "\n  "))?;
                    }
                }
                if let Some(o) = otherwise {
                    writeln!(f, "ELSE")?;
                    for s in o {
                        writeln!(f, "  {}", s.to_string().replace('\n', "\n  "))?;
                    }
                }
                write!(f, "ENDIF")
            }
        }
    }
}

impl CodeBlock {
    /// Calls `f` on every statement, entering `IF` branches, in order.
    pub fn walk(&self, f: &mut dyn FnMut(&Statement)) {
        fn go(list: &[Statement], f: &mut dyn FnMut(&Statement)) {
            for s in list {
                f(s);
                if let StatementKind::If {
                    branches, otherwise, ..
                } = &s.kind
                {
                    for b in branches {
                        go(&b.body, f);
                    }
                    if let Some(o) = otherwise {
                        go(o, f);
                    }
                }
            }
        }
        go(&self.statements, f);
    }

    /// All assignments (inside `IF` branches too), in order.
    pub fn assignments(&self) -> Vec<(&Variable, &Expr)> {
        let mut out = Vec::new();
        fn go<'a>(list: &'a [Statement], out: &mut Vec<(&'a Variable, &'a Expr)>) {
            for s in list {
                match &s.kind {
                    StatementKind::Assign { target, value } => out.push((target, value)),
                    StatementKind::If {
                        branches, otherwise, ..
                    } => {
                        for b in branches {
                            go(&b.body, out);
                        }
                        if let Some(o) = otherwise {
                            go(o, out);
                        }
                    }
                    StatementKind::Unsupported { .. } => {}
                }
            }
        }
        go(&self.statements, &mut out);
        out
    }

    /// The value of the first assignment to `target` (as written: `CL`,
    /// `DADT(1)`), at any depth.
    pub fn first_assignment(&self, target: &str) -> Option<&Expr> {
        let t = target.to_ascii_uppercase().replace(' ', "");
        self.assignments()
            .into_iter()
            .find(|(v, _)| v.to_string() == t)
            .map(|(_, e)| e)
    }

    /// The unsupported statements, at any depth, in order.
    pub fn unsupported(&self) -> Vec<&Statement> {
        fn go<'a>(list: &'a [Statement], result: &mut Vec<&'a Statement>) {
            for s in list {
                match &s.kind {
                    StatementKind::Unsupported { .. } => result.push(s),
                    StatementKind::If {
                        branches, otherwise, ..
                    } => {
                        for b in branches {
                            go(&b.body, result);
                        }
                        if let Some(o) = otherwise {
                            go(o, result);
                        }
                    }
                    StatementKind::Assign { .. } => {}
                }
            }
        }
        let mut result = Vec::new();
        go(&self.statements, &mut result);
        result
    }

    /// Number of statements, counting those inside `IF` branches (an `IF`
    /// counts as one).
    pub fn count(&self) -> usize {
        let mut n = 0;
        self.walk(&mut |_| n += 1);
        n
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tk {
    Num(f64),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Pow,
    Assign,
    Cmp(BinaryOp),
    And,
    Or,
    Not,
}

#[derive(Debug, Clone)]
struct Tok {
    tk: Tk,
    line: usize,
    col: usize,
}

/// Dotted operators, recognised after a `.`.
const DOTTED: &[(&str, Tk)] = &[
    ("EQ.", Tk::Cmp(BinaryOp::Eq)),
    ("NE.", Tk::Cmp(BinaryOp::Ne)),
    ("LT.", Tk::Cmp(BinaryOp::Lt)),
    ("LE.", Tk::Cmp(BinaryOp::Le)),
    ("GT.", Tk::Cmp(BinaryOp::Gt)),
    ("GE.", Tk::Cmp(BinaryOp::Ge)),
    ("AND.", Tk::And),
    ("OR.", Tk::Or),
    ("NOT.", Tk::Not),
];

fn dotted_at(cs: &[char], i: usize) -> Option<(usize, Tk)> {
    if cs.get(i) != Some(&'.') {
        return None;
    }
    for (word, tk) in DOTTED {
        let n = word.len();
        if i + 1 + n <= cs.len() {
            let s: String = cs[i + 1..i + 1 + n].iter().collect();
            if s.eq_ignore_ascii_case(word) {
                return Some((n + 1, tk.clone()));
            }
        }
    }
    None
}

struct Ctx<'a> {
    file: &'a str,
    record: &'a str,
}

impl Ctx<'_> {
    fn err(&self, line: usize, col: usize, message: impl Into<String>) -> NonmemError {
        NonmemError::Syntax {
            at: SourcePos::new(self.file, line, col),
            record: self.record.to_string(),
            message: message.into(),
        }
    }
}

fn lex(ctx: &Ctx, text: &str, line: usize, col0: usize, out: &mut Vec<Tok>) -> Result<(), NonmemError> {
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let col = col0 + i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let push = |tk: Tk, out: &mut Vec<Tok>| out.push(Tok { tk, line, col });
        if c.is_ascii_digit() || (c == '.' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_digit() {
                i += 1;
            }
            if i < cs.len() && cs[i] == '.' && dotted_at(&cs, i).is_none() {
                i += 1;
                while i < cs.len() && cs[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < cs.len() && matches!(cs[i], 'e' | 'E' | 'd' | 'D') {
                let mut j = i + 1;
                if j < cs.len() && (cs[j] == '+' || cs[j] == '-') {
                    j += 1;
                }
                if j < cs.len() && cs[j].is_ascii_digit() {
                    while j < cs.len() && cs[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let s: String = cs[start..i].iter().collect();
            let v =
                super::source::parse_number(&s).ok_or_else(|| ctx.err(line, col, format!("'{s}' is not a number")))?;
            push(Tk::Num(v), out);
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            let s: String = cs[start..i].iter().collect();
            push(Tk::Ident(s.to_ascii_uppercase()), out);
            continue;
        }
        if let Some((n, tk)) = dotted_at(&cs, i) {
            push(tk, out);
            i += n;
            continue;
        }
        let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
        let (tk, n) = match two.as_str() {
            "**" => (Tk::Pow, 2),
            "==" => (Tk::Cmp(BinaryOp::Eq), 2),
            "/=" => (Tk::Cmp(BinaryOp::Ne), 2),
            "<=" => (Tk::Cmp(BinaryOp::Le), 2),
            ">=" => (Tk::Cmp(BinaryOp::Ge), 2),
            _ => match c {
                '(' => (Tk::LParen, 1),
                ')' => (Tk::RParen, 1),
                ',' => (Tk::Comma, 1),
                '+' => (Tk::Plus, 1),
                '-' => (Tk::Minus, 1),
                '*' => (Tk::Star, 1),
                '/' => (Tk::Slash, 1),
                '=' => (Tk::Assign, 1),
                '<' => (Tk::Cmp(BinaryOp::Lt), 1),
                '>' => (Tk::Cmp(BinaryOp::Gt), 1),
                _ => {
                    return Err(ctx.err(
                        line,
                        col,
                        format!("unexpected character '{c}': expected a name, a number, an operator or a parenthesis"),
                    ))
                }
            },
        };
        push(tk, out);
        i += n;
    }
    Ok(())
}

/// A logical line of code (physical lines joined by `&`).
struct Logical {
    toks: Vec<Tok>,
    text: String,
    line: usize,
    col: usize,
    verbatim: bool,
}

fn logical_lines(ctx: &Ctx, lines: &[BodyLine]) -> Result<Vec<Logical>, NonmemError> {
    let mut out: Vec<Logical> = Vec::new();
    let mut open: Option<Logical> = None;
    for bl in lines {
        let cut = bl.text.find(';').unwrap_or(bl.text.len());
        let code = &bl.text[..cut];
        let lead = code.chars().take_while(|c| c.is_whitespace()).count();
        let trimmed = code.trim();
        if open.is_none() && trimmed.starts_with('"') {
            out.push(Logical {
                toks: Vec::new(),
                text: trimmed.to_string(),
                line: bl.line,
                col: bl.col + lead,
                verbatim: true,
            });
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix('&') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        if body.is_empty() && open.is_none() && !continues {
            continue;
        }
        let mut l = open.take().unwrap_or(Logical {
            toks: Vec::new(),
            text: String::new(),
            line: bl.line,
            col: bl.col + lead,
            verbatim: false,
        });
        lex(ctx, body, bl.line, bl.col + lead, &mut l.toks)?;
        if !l.text.is_empty() && !body.is_empty() {
            l.text.push(' ');
        }
        l.text.push_str(body.trim());
        if continues {
            open = Some(l);
        } else if !l.toks.is_empty() {
            out.push(l);
        }
    }
    if let Some(l) = open {
        if !l.toks.is_empty() {
            out.push(l);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    ctx: &'a Ctx<'a>,
    toks: &'a [Tok],
    pos: usize,
    depth: usize,
    end: (usize, usize),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tk> {
        self.toks.get(self.pos).map(|t| &t.tk)
    }

    fn here(&self) -> (usize, usize) {
        self.toks.get(self.pos).map(|t| (t.line, t.col)).unwrap_or(self.end)
    }

    fn err_here(&self, message: impl Into<String>) -> NonmemError {
        let (l, c) = self.here();
        self.ctx.err(l, c, message)
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the line".to_string(),
            Some(tk) => format!("'{}'", describe(tk)),
        }
    }

    fn expect(&mut self, tk: Tk, what: &str) -> Result<(), NonmemError> {
        if self.peek() == Some(&tk) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err_here(format!("expected {what}, found {}", self.found())))
        }
    }

    fn enter(&mut self) -> Result<(), NonmemError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!("expression nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, NonmemError> {
        self.enter()?;
        let r = self.or();
        self.depth -= 1;
        r
    }

    fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr {
            line: left.line,
            column: left.column,
            kind: ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
        }
    }

    fn or(&mut self) -> Result<Expr, NonmemError> {
        let mut e = self.and()?;
        while self.peek() == Some(&Tk::Or) {
            self.pos += 1;
            let r = self.and()?;
            e = Self::binary(BinaryOp::Or, e, r);
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, NonmemError> {
        let mut e = self.not()?;
        while self.peek() == Some(&Tk::And) {
            self.pos += 1;
            let r = self.not()?;
            e = Self::binary(BinaryOp::And, e, r);
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, NonmemError> {
        if self.peek() == Some(&Tk::Not) {
            let (line, column) = self.here();
            self.pos += 1;
            self.enter()?;
            let operand = self.not();
            self.depth -= 1;
            return Ok(Expr {
                line,
                column,
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand?),
                },
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, NonmemError> {
        let e = self.add()?;
        if let Some(Tk::Cmp(op)) = self.peek().cloned() {
            self.pos += 1;
            let r = self.add()?;
            if let Some(Tk::Cmp(_)) = self.peek() {
                return Err(self.err_here("comparisons cannot be chained: use .AND."));
            }
            return Ok(Self::binary(op, e, r));
        }
        Ok(e)
    }

    fn add(&mut self) -> Result<Expr, NonmemError> {
        let mut e = self.mul()?;
        loop {
            let op = match self.peek() {
                Some(Tk::Plus) => BinaryOp::Add,
                Some(Tk::Minus) => BinaryOp::Sub,
                _ => break,
            };
            self.pos += 1;
            let r = self.mul()?;
            e = Self::binary(op, e, r);
        }
        Ok(e)
    }

    fn mul(&mut self) -> Result<Expr, NonmemError> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tk::Star) => BinaryOp::Mul,
                Some(Tk::Slash) => BinaryOp::Div,
                _ => break,
            };
            self.pos += 1;
            let r = self.unary()?;
            e = Self::binary(op, e, r);
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, NonmemError> {
        let op = match self.peek() {
            Some(Tk::Minus) => UnaryOp::Neg,
            Some(Tk::Plus) => UnaryOp::Plus,
            _ => return self.power(),
        };
        let (line, column) = self.here();
        self.pos += 1;
        self.enter()?;
        let operand = self.unary();
        self.depth -= 1;
        Ok(Expr {
            line,
            column,
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand?),
            },
        })
    }

    fn power(&mut self) -> Result<Expr, NonmemError> {
        let base = self.atom()?;
        if self.peek() == Some(&Tk::Pow) {
            self.pos += 1;
            self.enter()?;
            let exponent = self.unary();
            self.depth -= 1;
            return Ok(Self::binary(BinaryOp::Pow, base, exponent?));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, NonmemError> {
        let (line, column) = self.here();
        let mk = |kind| Expr { line, column, kind };
        match self.peek().cloned() {
            Some(Tk::Num(v)) => {
                self.pos += 1;
                Ok(mk(ExprKind::Number(v)))
            }
            Some(Tk::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(Tk::RParen, "')'")?;
                Ok(e)
            }
            Some(Tk::Ident(name)) => {
                self.pos += 1;
                if self.peek() != Some(&Tk::LParen) {
                    return Ok(mk(ExprKind::Variable(Variable {
                        name,
                        subscripts: Vec::new(),
                    })));
                }
                if let Some(function) = Function::lookup(&name) {
                    self.pos += 1;
                    let mut args = vec![self.expr()?];
                    while self.peek() == Some(&Tk::Comma) {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                    self.expect(Tk::RParen, "',' or ')'")?;
                    if !function.accepts(args.len()) {
                        return Err(self.ctx.err(
                            line,
                            column,
                            format!("{name} does not take {} argument(s)", args.len()),
                        ));
                    }
                    return Ok(mk(ExprKind::Call { function, args }));
                }
                let subscripts = self.subscripts(&name)?;
                Ok(mk(ExprKind::Variable(Variable { name, subscripts })))
            }
            _ => Err(self.err_here(format!("expected a number, a name or '(', found {}", self.found()))),
        }
    }

    /// `( i [, j] )` after a name; labels only for THETA, ETA, EPS and ERR.
    fn subscripts(&mut self, name: &str) -> Result<Vec<Subscript>, NonmemError> {
        self.expect(Tk::LParen, "'('")?;
        let mut out = Vec::new();
        loop {
            let (l, c) = self.here();
            match self.peek().cloned() {
                Some(Tk::Num(v)) if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => {
                    out.push(Subscript::Index(v as u32))
                }
                Some(Tk::Ident(label)) if ["THETA", "ETA", "EPS", "ERR"].contains(&name) => {
                    out.push(Subscript::Label(label))
                }
                _ => {
                    return Err(self.ctx.err(
                        l,
                        c,
                        format!(
                            "{name}(…): expected a positive whole number as subscript, found {}",
                            self.found()
                        ),
                    ))
                }
            }
            self.pos += 1;
            match self.peek() {
                Some(Tk::Comma) if out.len() < 2 => self.pos += 1,
                Some(Tk::RParen) => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => {
                    return Err(self.err_here(format!(
                        "{name}(…): expected ')' after the subscript, found {}",
                        self.found()
                    )))
                }
            }
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }
}

fn describe(tk: &Tk) -> String {
    match tk {
        Tk::Num(v) => v.to_string(),
        Tk::Ident(s) => s.clone(),
        Tk::LParen => "(".into(),
        Tk::RParen => ")".into(),
        Tk::Comma => ",".into(),
        Tk::Plus => "+".into(),
        Tk::Minus => "-".into(),
        Tk::Star => "*".into(),
        Tk::Slash => "/".into(),
        Tk::Pow => "**".into(),
        Tk::Assign => "=".into(),
        Tk::Cmp(op) => op.symbol().into(),
        Tk::And => ".AND.".into(),
        Tk::Or => ".OR.".into(),
        Tk::Not => ".NOT.".into(),
    }
}

/// What one logical line is.
enum Item {
    Simple(Statement),
    IfThen(Expr, usize, usize),
    IfInline(Expr, Statement, usize, usize),
    ElseIf(Expr, usize, usize),
    Else(usize, usize),
    EndIf(usize, usize),
    DoWhile,
    EndDo(usize, usize),
}

fn ident_at(toks: &[Tok], i: usize) -> Option<&str> {
    match toks.get(i).map(|t| &t.tk) {
        Some(Tk::Ident(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn is_do_while(toks: &[Tok]) -> bool {
    matches!(
        (ident_at(toks, 0), ident_at(toks, 1)),
        (Some("DOWHILE"), _) | (Some("DO"), Some("WHILE"))
    )
}

fn is_end_do(toks: &[Tok]) -> bool {
    matches!(
        (ident_at(toks, 0), ident_at(toks, 1), toks.len()),
        (Some("ENDDO"), _, 1) | (Some("END"), Some("DO"), 2)
    )
}

fn unsupported(line: usize, col: usize, statement: &str, text: &str, reason: &str) -> Statement {
    Statement {
        line,
        column: col,
        kind: StatementKind::Unsupported {
            statement: statement.to_string(),
            text: text.to_string(),
            reason: reason.to_string(),
        },
    }
}

/// Parses an assignment or an `EXIT`/`CALL`/`RETURN` from `p.pos` to the end.
fn simple(p: &mut Parser, text: &str) -> Result<Statement, NonmemError> {
    let (line, col) = p.here();
    let first = p.toks.get(p.pos).map(|t| t.tk.clone());
    let second = p.toks.get(p.pos + 1).map(|t| t.tk.clone());
    if let Some(Tk::Ident(kw)) = &first {
        if (second != Some(Tk::Assign) && second != Some(Tk::LParen)) || kw == "CALL" {
            let reason = match kw.as_str() {
                "EXIT" => Some(
                    "EXIT sets NONMEM's error return (abort or retry with other values); the engine has no equivalent",
                ),
                "CALL" => Some("CALL of a NONMEM routine (CALL RANDOM, CALL SIMETA, CALL PASS, …) is not available"),
                "RETURN" => Some("RETURN (leaving the code early) is not supported"),
                _ => None,
            };
            if let Some(reason) = reason {
                p.pos = p.toks.len();
                return Ok(unsupported(line, col, kw, text, reason));
            }
        }
    }
    let target = match first {
        Some(Tk::Ident(name)) => {
            p.pos += 1;
            let subscripts = if p.peek() == Some(&Tk::LParen) {
                if Function::lookup(&name).is_some() {
                    return Err(p.ctx.err(line, col, format!("cannot assign to the function {name}")));
                }
                p.subscripts(&name)?
            } else {
                Vec::new()
            };
            Variable { name, subscripts }
        }
        _ => {
            return Err(p.err_here(format!(
                "expected a statement (NAME = expression, IF, ELSE, ENDIF), found {}",
                p.found()
            )))
        }
    };
    p.expect(Tk::Assign, &format!("'=' after {target}"))?;
    let value = p.expr()?;
    if !p.at_end() {
        return Err(p.err_here(format!(
            "unexpected {} after the expression: expected the end of the statement",
            p.found()
        )));
    }
    Ok(Statement {
        line,
        column: col,
        kind: StatementKind::Assign { target, value },
    })
}

/// `( condition )`.
fn condition(p: &mut Parser) -> Result<Expr, NonmemError> {
    p.expect(Tk::LParen, "'(' after IF")?;
    let e = p.expr()?;
    p.expect(Tk::RParen, "')' closing the condition")?;
    Ok(e)
}

fn classify(ctx: &Ctx, l: &Logical) -> Result<Item, NonmemError> {
    let end = l.toks.last().map(|t| (t.line, t.col + 1)).unwrap_or((l.line, l.col));
    let mut p = Parser {
        ctx,
        toks: &l.toks,
        pos: 0,
        depth: 0,
        end,
    };
    let (line, col) = (l.line, l.col);
    let t0 = ident_at(&l.toks, 0);
    let t1 = ident_at(&l.toks, 1);
    let next_is_paren = |i: usize| matches!(l.toks.get(i).map(|t| &t.tk), Some(Tk::LParen));
    let then_end = |p: &mut Parser| -> Result<bool, NonmemError> {
        if ident_at(p.toks, p.pos) == Some("THEN") {
            p.pos += 1;
            if !p.at_end() {
                return Err(p.err_here("nothing may follow THEN on its line"));
            }
            return Ok(true);
        }
        Ok(false)
    };
    match (t0, t1) {
        (Some("IF"), _) if next_is_paren(1) => {
            p.pos = 1;
            let c = condition(&mut p)?;
            if then_end(&mut p)? {
                return Ok(Item::IfThen(c, line, col));
            }
            if p.at_end() {
                return Err(p.err_here("IF (…) must be followed by THEN or by a statement"));
            }
            let s = simple(&mut p, &l.text)?;
            Ok(Item::IfInline(c, s, line, col))
        }
        (Some("ELSEIF"), _) | (Some("ELSE"), Some("IF")) => {
            p.pos = if t0 == Some("ELSEIF") { 1 } else { 2 };
            let c = condition(&mut p)?;
            if !then_end(&mut p)? {
                return Err(p.err_here(format!("expected THEN after ELSE IF (…), found {}", p.found())));
            }
            Ok(Item::ElseIf(c, line, col))
        }
        (Some("ELSE"), None) if l.toks.len() == 1 => Ok(Item::Else(line, col)),
        (Some("ENDIF"), None) if l.toks.len() == 1 => Ok(Item::EndIf(line, col)),
        (Some("END"), Some("IF")) if l.toks.len() == 2 => Ok(Item::EndIf(line, col)),
        _ if is_do_while(&l.toks) => Ok(Item::DoWhile),
        _ if is_end_do(&l.toks) => Ok(Item::EndDo(line, col)),
        (Some("THEN"), _) | (Some("ELSE"), _) | (Some("ENDIF"), _) => Err(ctx.err(
            line,
            col,
            format!(
                "misplaced {}: expected IF (…) THEN, ELSE IF (…) THEN, ELSE or ENDIF alone on its line",
                t0.unwrap_or("")
            ),
        )),
        _ => Ok(Item::Simple(simple(&mut p, &l.text)?)),
    }
}

enum Frame {
    If {
        line: usize,
        col: usize,
        branches: Vec<Branch>,
        current: Option<(Expr, usize, Vec<Statement>)>,
        otherwise: Option<Vec<Statement>>,
    },
    Do {
        line: usize,
        col: usize,
        text: String,
        nested: usize,
    },
}

fn push(stack: &mut [Frame], top: &mut Vec<Statement>, s: Statement) {
    match stack.last_mut() {
        Some(Frame::If { current, otherwise, .. }) => {
            if let Some(o) = otherwise {
                o.push(s);
            } else if let Some((_, _, body)) = current {
                body.push(s);
            }
        }
        Some(Frame::Do { .. }) => {}
        None => top.push(s),
    }
}

/// Parses the body of an abbreviated-code record. `record` is the record as
/// `$PK`, `line` the line of its name.
pub(crate) fn parse_code(lines: &[BodyLine], file: &str, record: &str, line: usize) -> Result<CodeBlock, NonmemError> {
    let ctx = Ctx { file, record };
    let logical = logical_lines(&ctx, lines)?;
    let mut top: Vec<Statement> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    for l in &logical {
        if let Some(Frame::Do { nested, .. }) = stack.last_mut() {
            if l.verbatim {
                continue;
            }
            if is_do_while(&l.toks) {
                *nested += 1;
            } else if is_end_do(&l.toks) {
                if *nested == 0 {
                    if let Some(Frame::Do { line, col, text, .. }) = stack.pop() {
                        let s = unsupported(
                            line,
                            col,
                            "DO WHILE",
                            &text,
                            "loops (DO WHILE … ENDDO) are not supported",
                        );
                        push(&mut stack, &mut top, s);
                    }
                } else {
                    *nested -= 1;
                }
            }
            continue;
        }
        if l.verbatim {
            let s = unsupported(
                l.line,
                l.col,
                "verbatim code",
                &l.text,
                "verbatim Fortran (a line starting with \") cannot be translated",
            );
            push(&mut stack, &mut top, s);
            continue;
        }
        match classify(&ctx, l)? {
            Item::Simple(s) => push(&mut stack, &mut top, s),
            Item::IfInline(c, s, line, col) => {
                let st = Statement {
                    line,
                    column: col,
                    kind: StatementKind::If {
                        branches: vec![Branch {
                            condition: c,
                            body: vec![s],
                            line,
                        }],
                        otherwise: None,
                        single_line: true,
                    },
                };
                push(&mut stack, &mut top, st);
            }
            Item::IfThen(c, line, col) => stack.push(Frame::If {
                line,
                col,
                branches: Vec::new(),
                current: Some((c, line, Vec::new())),
                otherwise: None,
            }),
            Item::ElseIf(c, eline, ecol) => match stack.last_mut() {
                Some(Frame::If {
                    branches,
                    current,
                    otherwise: None,
                    ..
                }) => {
                    if let Some((cond, bl, body)) = current.take() {
                        branches.push(Branch {
                            condition: cond,
                            body,
                            line: bl,
                        });
                    }
                    *current = Some((c, eline, Vec::new()));
                }
                Some(Frame::If { .. }) => return Err(ctx.err(eline, ecol, "ELSE IF after ELSE: expected ENDIF")),
                _ => {
                    return Err(ctx.err(eline, ecol, "ELSE IF without IF (…) THEN"));
                }
            },
            Item::Else(eline, ecol) => match stack.last_mut() {
                Some(Frame::If {
                    branches,
                    current,
                    otherwise,
                    ..
                }) if otherwise.is_none() => {
                    if let Some((cond, bl, body)) = current.take() {
                        branches.push(Branch {
                            condition: cond,
                            body,
                            line: bl,
                        });
                    }
                    *otherwise = Some(Vec::new());
                }
                Some(Frame::If { .. }) => return Err(ctx.err(eline, ecol, "a second ELSE: expected ENDIF")),
                _ => return Err(ctx.err(eline, ecol, "ELSE without IF (…) THEN")),
            },
            Item::EndIf(eline, ecol) => match stack.pop() {
                Some(Frame::If {
                    line,
                    col,
                    mut branches,
                    current,
                    otherwise,
                }) => {
                    if let Some((cond, bl, body)) = current {
                        branches.push(Branch {
                            condition: cond,
                            body,
                            line: bl,
                        });
                    }
                    let s = Statement {
                        line,
                        column: col,
                        kind: StatementKind::If {
                            branches,
                            otherwise,
                            single_line: false,
                        },
                    };
                    push(&mut stack, &mut top, s);
                }
                _ => return Err(ctx.err(eline, ecol, "ENDIF without IF (…) THEN")),
            },
            Item::DoWhile => stack.push(Frame::Do {
                line: l.line,
                col: l.col,
                text: l.text.clone(),
                nested: 0,
            }),
            Item::EndDo(eline, ecol) => return Err(ctx.err(eline, ecol, "ENDDO without DO WHILE")),
        }
    }
    if let Some(f) = stack.last() {
        let (l, c, what) = match f {
            Frame::If { line, col, .. } => (*line, *col, "IF (…) THEN is not closed: expected ENDIF"),
            Frame::Do { line, col, .. } => (*line, *col, "DO WHILE is not closed: expected ENDDO"),
        };
        return Err(ctx.err(l, c, what));
    }
    Ok(CodeBlock {
        record: record.to_string(),
        line,
        statements: top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Result<CodeBlock, NonmemError> {
        let lines: Vec<BodyLine> = text
            .lines()
            .enumerate()
            .map(|(i, t)| BodyLine {
                line: i + 2,
                col: 1,
                text: t.to_string(),
            })
            .collect();
        parse_code(&lines, "m.ctl", "$PK", 1)
    }

    fn one(text: &str) -> String {
        let c = code(text).unwrap();
        assert_eq!(c.statements.len(), 1, "{text}");
        c.statements[0].to_string()
    }

    #[test]
    fn assignments_and_precedence() {
        assert_eq!(one("CL=EXP(THETA(1)+ETA(1))"), "CL = EXP(THETA(1) + ETA(1))");
        assert_eq!(one("x = a - b - c"), "X = A - B - C");
        assert_eq!(one("x = a - (b - c)"), "X = A - (B - C)");
        assert_eq!(one("x = -a**2"), "X = -A**2");
        assert_eq!(one("x = (-a)**2"), "X = (-A)**2");
        assert_eq!(one("x = a**b**c"), "X = A**B**C");
        assert_eq!(one("x = (a**b)**c"), "X = (A**B)**C");
        assert_eq!(one("x = a*-b"), "X = A * -B");
        assert_eq!(one("x = 2*a/b*c"), "X = 2 * A / B * C");
        assert_eq!(one("x = 1E-3 + 1.D0 + .5 + 2.5d1"), "X = 0.001 + 1 + 0.5 + 25");
        assert_eq!(
            one("DADT(1)= K21*A(2)-K12*A(1)-VM*C1/(KM+C1)"),
            "DADT(1) = K21 * A(2) - K12 * A(1) - VM * C1 / (KM + C1)"
        );
        assert_eq!(one("Y = IPRED*EXP(ERR(1))"), "Y = IPRED * EXP(ERR(1))");
        assert_eq!(
            one("Z = MIN(A, B, 3) + MOD(I,2) + PHI(X) + GAMLN(Y) + LOG10(Z)"),
            "Z = MIN(A, B, 3) + MOD(I, 2) + PHI(X) + GAMLN(Y) + LOG10(Z)"
        );
        assert_eq!(one("MU_1 = THETA(CL)"), "MU_1 = THETA(CL)");
        assert_eq!(one("A_0(1) = DOSE"), "A_0(1) = DOSE");
    }

    #[test]
    fn positions_of_statements_and_expressions() {
        let c = code("\n   TVCL = THETA(1)*WGT ; comment\n").unwrap();
        let s = &c.statements[0];
        assert_eq!((s.line, s.column), (3, 4));
        let StatementKind::Assign { value, .. } = &s.kind else {
            panic!()
        };
        assert_eq!((value.line, value.column), (3, 11));
        let ExprKind::Binary { right, .. } = &value.kind else {
            panic!()
        };
        assert_eq!((right.line, right.column), (3, 20));
    }

    #[test]
    fn if_forms() {
        let c = code("IF(AMT.GT.0) BTIME=TIME\nIF (APGR.LT.5) TVV=TVV*(1+THETA(3))\nIF (A == 1 .AND. .NOT. B /= 2) THEN\n X=1\nELSE IF (C>=3 .OR. D<4) THEN\n X=2\n IF (E.EQ.1) THEN\n  Y=3\n END IF\nelse\n X=3\nENDIF").unwrap();
        assert_eq!(c.statements.len(), 3);
        assert_eq!(c.statements[0].to_string(), "IF (AMT.GT.0) BTIME = TIME");
        let StatementKind::If {
            branches,
            otherwise,
            single_line,
        } = &c.statements[2].kind
        else {
            panic!()
        };
        assert!(!single_line);
        assert_eq!(branches.len(), 2);
        assert_eq!(branches[0].condition.to_string(), "A.EQ.1 .AND. .NOT. B.NE.2");
        assert_eq!(branches[1].line, 6);
        assert_eq!(branches[1].body.len(), 2);
        assert_eq!(otherwise.as_ref().unwrap().len(), 1);
        assert_eq!(c.count(), 10);
        assert_eq!(c.assignments().len(), 6);
        assert_eq!(c.first_assignment("y").unwrap().to_string(), "3");
    }

    #[test]
    fn continuation_lines() {
        let c = code("CL = THETA(1) * &\n     EXP(ETA(1)) ; c\nV=1").unwrap();
        assert_eq!(c.statements.len(), 2);
        assert_eq!(c.statements[0].to_string(), "CL = THETA(1) * EXP(ETA(1))");
        assert_eq!(c.statements[1].line, 4);
    }

    #[test]
    fn unsupported_statements_are_kept_with_their_line() {
        let c = code(
            "IF (X.LT.0) EXIT 1 100\n\"  CALL MYSUB\nCALL RANDOM(2,R)\nDO WHILE (I.LT.3)\n I=I+1\nENDDO\nRETURN\nZ=1",
        )
        .unwrap();
        let u = c.unsupported();
        let names: Vec<String> = u
            .iter()
            .map(|s| match &s.kind {
                StatementKind::Unsupported { statement, .. } => statement.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["EXIT", "verbatim code", "CALL", "DO WHILE", "RETURN"]);
        assert_eq!(u[3].line, 5);
        assert_eq!(c.statements.len(), 6);
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("CL = ", "line 2, column 5", "expected a number"),
            ("CL = (1 + 2", "line 2", "expected ')'"),
            ("IF (X.GT.1) THEN\nY=1", "line 2", "not closed"),
            ("ELSE", "line 2", "ELSE without IF"),
            ("ENDIF", "line 2", "ENDIF without IF"),
            ("X = 1 2", "line 2, column 7", "unexpected '2'"),
            ("X = EXP(1, 2)", "line 2", "EXP does not take 2"),
            ("X = A(0)", "line 2", "positive whole number"),
            ("X = 1 # 2", "line 2, column 7", "unexpected character '#'"),
            ("EXP(1) = 2", "line 2", "cannot assign"),
            ("DO WHILE (1.EQ.1)\nX=1", "line 2", "DO WHILE is not closed"),
            ("IF (A.GT.1.GT.2) X=1", "line 2", "chained"),
            ("IF (X) THEN Y=1", "line 2", "nothing may follow THEN"),
        ];
        for (text, at, msg) in cases {
            let e = code(text).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(msg) && e.contains("$PK"), "{text}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("X = {}1{}", "(".repeat(5000), ")".repeat(5000));
        let e = code(&deep).unwrap_err().to_string();
        assert!(e.contains("nested deeper"), "{e}");
        let minus = format!("X = {}1", "-".repeat(5000));
        assert!(code(&minus).is_err());
    }
}
