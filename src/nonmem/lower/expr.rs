//! Expressions of the lowering: NONMEM abbreviated code with its names
//! resolved to the model language's, ε kept as [`E::Eps`] until the residual
//! error is linearised. Printing gives model-language text; a small
//! simplifier, product factoring and an evaluator (for data conditions)
//! serve the residual-error analysis and the data plan.

use crate::lang::ast::{BinOp, Func};
use std::fmt;

/// An expression with resolved names.
#[derive(Debug, Clone, PartialEq)]
pub enum E {
    /// A number.
    Num(f64),
    /// A name of the model language (θ, η, κ, σ, covariate, state, variable, `TIME`, `t`).
    Name(String),
    /// ε of `$SIGMA` index k (1-based), before linearisation.
    Eps(usize),
    /// −a.
    Neg(Box<E>),
    /// not a.
    Not(Box<E>),
    /// a op b.
    Bin(BinOp, Box<E>, Box<E>),
    /// f(args).
    Call(Func, Vec<E>),
    /// if c then a else b.
    If(Box<E>, Box<E>, Box<E>),
}

/// Shorthands.
pub fn num(v: f64) -> E {
    E::Num(v)
}
/// A name.
pub fn name(n: &str) -> E {
    E::Name(n.to_string())
}
/// a op b.
pub fn bin(op: BinOp, a: E, b: E) -> E {
    E::Bin(op, Box::new(a), Box::new(b))
}

fn precedence(e: &E) -> u8 {
    match e {
        E::Bin(op, ..) => match op {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
            BinOp::Pow => 8,
        },
        E::Not(_) => 3,
        E::Neg(_) => 7,
        E::Num(v) if *v < 0.0 => 7,
        E::If(..) => 0,
        _ => 9,
    }
}

/// A number as the model language reads it back exactly.
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:?}");
        s
    }
}

fn symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Pow => "^",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::And => "and",
        BinOp::Or => "or",
    }
}

fn func_name(f: Func) -> &'static str {
    match f {
        Func::Exp => "exp",
        Func::Log => "log",
        Func::Log10 => "log10",
        Func::Sqrt => "sqrt",
        Func::Abs => "abs",
        Func::Phi => "phi",
        Func::Min => "min",
        Func::Max => "max",
    }
}

impl fmt::Display for E {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            E::Num(v) => write!(f, "{}", number_text(*v)),
            E::Name(n) => write!(f, "{n}"),
            E::Eps(k) => write!(f, "EPS({k})"),
            E::Neg(a) => {
                if precedence(a) <= 7 {
                    write!(f, "-({a})")
                } else {
                    write!(f, "-{a}")
                }
            }
            E::Not(a) => {
                if precedence(a) < 3 {
                    write!(f, "not ({a})")
                } else {
                    write!(f, "not {a}")
                }
            }
            E::Bin(op, a, b) => {
                let p = precedence(self);
                let (pa, pb) = (precedence(a), precedence(b));
                // `^` is right-associative and binds tighter than unary minus;
                // comparisons do not chain.
                let (lp, rp) = match op {
                    BinOp::Pow => (pa <= p, pb < 7),
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => (pa <= p, pb <= p),
                    _ => (pa < p, pb <= p),
                };
                let left = if lp { format!("({a})") } else { a.to_string() };
                let right = if rp { format!("({b})") } else { b.to_string() };
                if *op == BinOp::Pow {
                    write!(f, "{left}^{right}")
                } else {
                    write!(f, "{left} {} {right}", symbol(*op))
                }
            }
            E::Call(func, args) => {
                write!(f, "{}(", func_name(*func))?;
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            E::If(c, a, b) => write!(f, "(if {c} then {a} else {b})"),
        }
    }
}

impl E {
    /// Calls `f` on every name read (not ε).
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            E::Name(n) => out.push(n.clone()),
            E::Num(_) | E::Eps(_) => {}
            E::Neg(a) | E::Not(a) => a.names(out),
            E::Bin(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            E::Call(_, args) => args.iter().for_each(|a| a.names(out)),
            E::If(c, a, b) => {
                c.names(out);
                a.names(out);
                b.names(out);
            }
        }
    }

    /// Whether the expression reads `n`.
    pub fn reads(&self, n: &str) -> bool {
        let mut v = Vec::new();
        self.names(&mut v);
        v.iter().any(|x| x == n)
    }

    /// Whether the expression contains an ε.
    pub fn has_eps(&self) -> bool {
        match self {
            E::Eps(_) => true,
            E::Num(_) | E::Name(_) => false,
            E::Neg(a) | E::Not(a) => a.has_eps(),
            E::Bin(_, a, b) => a.has_eps() || b.has_eps(),
            E::Call(_, args) => args.iter().any(E::has_eps),
            E::If(c, a, b) => c.has_eps() || a.has_eps() || b.has_eps(),
        }
    }

    /// Replaces names by expressions (`sub` returns `None` to keep a name).
    pub fn substitute(&self, sub: &dyn Fn(&str) -> Option<E>) -> E {
        match self {
            E::Name(n) => sub(n).unwrap_or_else(|| self.clone()),
            E::Num(_) | E::Eps(_) => self.clone(),
            E::Neg(a) => E::Neg(Box::new(a.substitute(sub))),
            E::Not(a) => E::Not(Box::new(a.substitute(sub))),
            E::Bin(op, a, b) => bin(*op, a.substitute(sub), b.substitute(sub)),
            E::Call(f, args) => E::Call(*f, args.iter().map(|a| a.substitute(sub)).collect()),
            E::If(c, a, b) => E::If(
                Box::new(c.substitute(sub)),
                Box::new(a.substitute(sub)),
                Box::new(b.substitute(sub)),
            ),
        }
    }

    /// Rewrites sub-expressions top-down: `f` returns a replacement or `None` to descend.
    pub fn rewrite(&self, f: &dyn Fn(&E) -> Option<E>) -> E {
        if let Some(r) = f(self) {
            return r;
        }
        match self {
            E::Num(_) | E::Name(_) | E::Eps(_) => self.clone(),
            E::Neg(a) => E::Neg(Box::new(a.rewrite(f))),
            E::Not(a) => E::Not(Box::new(a.rewrite(f))),
            E::Bin(op, a, b) => bin(*op, a.rewrite(f), b.rewrite(f)),
            E::Call(g, args) => E::Call(*g, args.iter().map(|a| a.rewrite(f)).collect()),
            E::If(c, a, b) => E::If(Box::new(c.rewrite(f)), Box::new(a.rewrite(f)), Box::new(b.rewrite(f))),
        }
    }

    /// Renames names.
    pub fn rename(&self, map: &dyn Fn(&str) -> Option<String>) -> E {
        self.substitute(&|n| map(n).map(E::Name))
    }

    /// Constant folding and the identities x·1, x+0, 0·x, exp(0), −(−x).
    pub fn simplify(&self) -> E {
        match self {
            E::Num(_) | E::Name(_) | E::Eps(_) => self.clone(),
            E::Neg(a) => match a.simplify() {
                E::Num(v) => E::Num(-v),
                E::Neg(b) => *b,
                s => E::Neg(Box::new(s)),
            },
            E::Not(a) => match a.simplify() {
                E::Num(v) => E::Num(if v == 0.0 { 1.0 } else { 0.0 }),
                s => E::Not(Box::new(s)),
            },
            E::Call(f, args) => {
                let args: Vec<E> = args.iter().map(E::simplify).collect();
                if let [E::Num(v)] = args.as_slice() {
                    let v = *v;
                    let r = match f {
                        Func::Exp => Some(v.exp()),
                        Func::Log if v > 0.0 => Some(v.ln()),
                        Func::Sqrt if v >= 0.0 => Some(v.sqrt()),
                        Func::Abs => Some(v.abs()),
                        _ => None,
                    };
                    if let Some(r) = r {
                        if r.is_finite() && (r.fract() == 0.0 || matches!(f, Func::Abs)) {
                            return E::Num(r);
                        }
                    }
                }
                E::Call(*f, args)
            }
            E::If(c, a, b) => {
                let c = c.simplify();
                match c {
                    E::Num(v) if v != 0.0 => a.simplify(),
                    E::Num(_) => b.simplify(),
                    c => E::If(Box::new(c), Box::new(a.simplify()), Box::new(b.simplify())),
                }
            }
            E::Bin(op, a, b) => {
                let a = a.simplify();
                let b = b.simplify();
                if let (E::Num(x), E::Num(y)) = (&a, &b) {
                    let (x, y) = (*x, *y);
                    let t = |c: bool| if c { 1.0 } else { 0.0 };
                    let r = match op {
                        BinOp::Add => Some(x + y),
                        BinOp::Sub => Some(x - y),
                        BinOp::Mul => Some(x * y),
                        BinOp::Div if y != 0.0 && (x / y).fract() == 0.0 => Some(x / y),
                        BinOp::Pow if x > 0.0 && y.fract() == 0.0 && y.abs() < 10.0 => Some(x.powf(y)),
                        BinOp::Eq => Some(t(x == y)),
                        BinOp::Ne => Some(t(x != y)),
                        BinOp::Lt => Some(t(x < y)),
                        BinOp::Le => Some(t(x <= y)),
                        BinOp::Gt => Some(t(x > y)),
                        BinOp::Ge => Some(t(x >= y)),
                        BinOp::And => Some(t(x != 0.0 && y != 0.0)),
                        BinOp::Or => Some(t(x != 0.0 || y != 0.0)),
                        _ => None,
                    };
                    if let Some(r) = r.filter(|r| r.is_finite()) {
                        return E::Num(r);
                    }
                }
                let is = |e: &E, v: f64| matches!(e, E::Num(x) if *x == v);
                match op {
                    BinOp::Add if is(&a, 0.0) => b,
                    BinOp::Add | BinOp::Sub if is(&b, 0.0) => a,
                    BinOp::Sub if is(&a, 0.0) => E::Neg(Box::new(b)).simplify(),
                    BinOp::Mul if is(&a, 0.0) || is(&b, 0.0) => E::Num(0.0),
                    BinOp::Mul if is(&a, 1.0) => b,
                    BinOp::Mul | BinOp::Div if is(&b, 1.0) => a,
                    BinOp::Div if is(&a, 0.0) => E::Num(0.0),
                    BinOp::Pow if is(&b, 1.0) => a,
                    BinOp::Pow if is(&b, 0.0) => E::Num(1.0),
                    BinOp::And if is(&a, 0.0) || is(&b, 0.0) => E::Num(0.0),
                    BinOp::Or if matches!(&a, E::Num(x) if *x != 0.0) || matches!(&b, E::Num(x) if *x != 0.0) => {
                        E::Num(1.0)
                    }
                    BinOp::And if matches!(&a, E::Num(x) if *x != 0.0) => b,
                    BinOp::And if matches!(&b, E::Num(x) if *x != 0.0) => a,
                    BinOp::Or if is(&a, 0.0) => b,
                    BinOp::Or if is(&b, 0.0) => a,
                    _ => bin(*op, a, b),
                }
            }
        }
    }

    /// Evaluates with `value` giving each name (conditions on data items).
    /// `None` if a name has no value or the result is not a number.
    pub fn eval(&self, value: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        Some(match self {
            E::Num(v) => *v,
            E::Name(n) => value(n)?,
            E::Eps(_) => return None,
            E::Neg(a) => -a.eval(value)?,
            E::Not(a) => t(a.eval(value)? == 0.0),
            E::Bin(op, a, b) => {
                let x = a.eval(value)?;
                let y = b.eval(value)?;
                match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => x / y,
                    BinOp::Pow => x.powf(y),
                    BinOp::Eq => t(x == y),
                    BinOp::Ne => t(x != y),
                    BinOp::Lt => t(x < y),
                    BinOp::Le => t(x <= y),
                    BinOp::Gt => t(x > y),
                    BinOp::Ge => t(x >= y),
                    BinOp::And => t(x != 0.0 && y != 0.0),
                    BinOp::Or => t(x != 0.0 || y != 0.0),
                }
            }
            E::Call(f, args) => {
                let v: Vec<f64> = args.iter().map(|a| a.eval(value)).collect::<Option<_>>()?;
                match f {
                    Func::Exp => v[0].exp(),
                    Func::Log => v[0].ln(),
                    Func::Log10 => v[0].log10(),
                    Func::Sqrt => v[0].sqrt(),
                    Func::Abs => v[0].abs(),
                    Func::Phi => 0.5 * libm::erfc(-v[0] / std::f64::consts::SQRT_2),
                    Func::Min => v[0].min(v[1]),
                    Func::Max => v[0].max(v[1]),
                }
            }
            E::If(c, a, b) => {
                if c.eval(value)? != 0.0 {
                    a.eval(value)?
                } else {
                    b.eval(value)?
                }
            }
        })
        .filter(|v: &f64| v.is_finite())
    }
}

/// A product c · Π num / Π den, with integer powers expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Numeric coefficient.
    pub coefficient: f64,
    /// Factors of the numerator.
    pub num: Vec<E>,
    /// Factors of the denominator.
    pub den: Vec<E>,
}

impl Product {
    /// Factors an expression into a product (an expression that is not a
    /// product is one factor).
    pub fn of(e: &E) -> Product {
        let mut p = Product {
            coefficient: 1.0,
            num: Vec::new(),
            den: Vec::new(),
        };
        p.push(e, false);
        p
    }

    fn push(&mut self, e: &E, inverse: bool) {
        match e {
            E::Num(v) => {
                if inverse {
                    self.coefficient /= v;
                } else {
                    self.coefficient *= v;
                }
            }
            E::Neg(a) => {
                self.coefficient = -self.coefficient;
                self.push(a, inverse);
            }
            E::Bin(BinOp::Mul, a, b) => {
                self.push(a, inverse);
                self.push(b, inverse);
            }
            E::Bin(BinOp::Div, a, b) => {
                self.push(a, inverse);
                self.push(b, !inverse);
            }
            E::Bin(BinOp::Pow, a, b) if matches!(**b, E::Num(n) if n.fract() == 0.0 && n.abs() <= 8.0 && n != 0.0) => {
                let E::Num(n) = **b else { return };
                for _ in 0..(n.abs() as usize) {
                    self.push(a, inverse ^ (n < 0.0));
                }
            }
            other => {
                if inverse {
                    self.den.push(other.clone());
                } else {
                    self.num.push(other.clone());
                }
            }
        }
    }

    /// self / other when every factor of `other` is a factor of `self`.
    pub fn divide(&self, other: &Product) -> Option<Product> {
        if other.coefficient == 0.0 {
            return None;
        }
        let mut num = self.num.clone();
        let mut den = self.den.clone();
        for f in &other.num {
            let k = num.iter().position(|x| x == f)?;
            num.remove(k);
        }
        for f in &other.den {
            let k = den.iter().position(|x| x == f)?;
            den.remove(k);
        }
        Some(Product {
            coefficient: self.coefficient / other.coefficient,
            num,
            den,
        })
    }

    /// The product as an expression.
    pub fn expr(&self) -> E {
        let mut e: Option<E> = None;
        for f in &self.num {
            e = Some(match e {
                None => f.clone(),
                Some(x) => bin(BinOp::Mul, x, f.clone()),
            });
        }
        let mut e = match e {
            None => E::Num(self.coefficient),
            Some(x) if self.coefficient == 1.0 => x,
            Some(x) if self.coefficient == -1.0 => E::Neg(Box::new(x)),
            Some(x) => bin(BinOp::Mul, E::Num(self.coefficient), x),
        };
        if !self.den.is_empty() {
            let mut d = self.den[0].clone();
            for f in &self.den[1..] {
                d = bin(BinOp::Mul, d, f.clone());
            }
            e = bin(BinOp::Div, e, d);
        }
        e
    }

    /// Whether every factor satisfies `ok`.
    pub fn all(&self, ok: &dyn Fn(&E) -> bool) -> bool {
        self.num.iter().chain(&self.den).all(ok)
    }
}

/// The additive terms of an expression (a − b gives b negated).
pub fn terms(e: &E) -> Vec<E> {
    fn go(e: &E, negate: bool, out: &mut Vec<E>) {
        match e {
            E::Bin(BinOp::Add, a, b) => {
                go(a, negate, out);
                go(b, negate, out);
            }
            E::Bin(BinOp::Sub, a, b) => {
                go(a, negate, out);
                go(b, !negate, out);
            }
            E::Neg(a) => go(a, !negate, out),
            other => out.push(if negate {
                E::Neg(Box::new(other.clone()))
            } else {
                other.clone()
            }),
        }
    }
    let mut out = Vec::new();
    go(e, false, &mut out);
    out
}

/// The sum of terms (0 for none).
pub fn sum(ts: &[E]) -> E {
    let mut it = ts.iter();
    let Some(first) = it.next() else { return E::Num(0.0) };
    let mut e = first.clone();
    for t in it {
        e = match t {
            E::Neg(x) => bin(BinOp::Sub, e, (**x).clone()),
            _ => bin(BinOp::Add, e, t.clone()),
        };
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_keeps_precedence() {
        let e = bin(
            BinOp::Mul,
            bin(BinOp::Add, name("a"), name("b")),
            bin(BinOp::Pow, name("c"), E::Neg(Box::new(num(2.0)))),
        );
        assert_eq!(e.to_string(), "(a + b) * c^-2");
        let e = bin(BinOp::Sub, name("a"), bin(BinOp::Sub, name("b"), name("c")));
        assert_eq!(e.to_string(), "a - (b - c)");
        let e = bin(BinOp::Pow, E::Neg(Box::new(name("a"))), num(2.0));
        assert_eq!(e.to_string(), "(-a)^2");
        let e = E::Neg(Box::new(bin(BinOp::Pow, name("a"), num(2.0))));
        assert_eq!(e.to_string(), "-a^2");
        assert_eq!(number_text(1e-300), "1e-300");
        assert_eq!(number_text(0.00469307), "0.00469307");
        assert_eq!(number_text(-3.0), "-3");
    }

    #[test]
    fn products_divide() {
        // F·θ / F = θ
        let f = bin(BinOp::Div, name("central"), name("V"));
        let b = bin(BinOp::Mul, f.clone(), name("RSV"));
        let q = Product::of(&b).divide(&Product::of(&f)).unwrap();
        assert_eq!(q.expr(), name("RSV"));
        let sq = bin(BinOp::Pow, bin(BinOp::Mul, name("k"), f.clone()), num(2.0));
        let q = Product::of(&sq)
            .divide(&Product::of(&bin(BinOp::Mul, f.clone(), f.clone())))
            .unwrap();
        assert_eq!(q.expr().to_string(), "k * k");
        assert!(Product::of(&name("x")).divide(&Product::of(&f)).is_none());
    }

    #[test]
    fn simplify_and_evaluate() {
        let e = bin(BinOp::Mul, name("F"), E::Call(Func::Exp, vec![num(0.0)])).simplify();
        assert_eq!(e, name("F"));
        let c = bin(BinOp::Eq, name("DVID"), num(2.0));
        assert_eq!(c.eval(&|n| (n == "DVID").then_some(2.0)), Some(1.0));
        assert_eq!(c.eval(&|_| None), None);
    }
}
