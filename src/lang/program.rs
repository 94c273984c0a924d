//! A flat register program: the compiled form of the model code.
//!
//! Every value (θ, η, covariates, states, variables, temporaries) lives in one
//! slot of a `f64` array; an instruction reads slots and writes one. Measured
//! on this machine class, such a program runs as fast as native code for
//! right-hand sides of PK models (`shared/reference/model_language.md`).
//! Statement-level `if` compiles to jumps; `if … then … else` in an expression
//! to a select.

use super::ast::{BinOp, Func, Pos};
use crate::autodiff::Real;

/// One instruction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `v[dst] = value`
    Const {
        /// Destination slot.
        dst: u32,
        /// Value.
        value: f64,
    },
    /// `v[dst] = v[src]`
    Copy {
        /// Destination slot.
        dst: u32,
        /// Source slot.
        src: u32,
    },
    /// `v[dst] = v[a] op v[b]`
    Bin {
        /// Operator.
        op: BinOp,
        /// Destination slot.
        dst: u32,
        /// Left operand.
        a: u32,
        /// Right operand.
        b: u32,
    },
    /// `v[dst] = −v[a]`
    Neg {
        /// Destination slot.
        dst: u32,
        /// Operand.
        a: u32,
    },
    /// `v[dst] = 1 if v[a] == 0 else 0`
    Not {
        /// Destination slot.
        dst: u32,
        /// Operand.
        a: u32,
    },
    /// `v[dst] = f(v[a], v[b])` (b unused for one-argument functions).
    Call {
        /// Function.
        f: Func,
        /// Destination slot.
        dst: u32,
        /// First argument.
        a: u32,
        /// Second argument.
        b: u32,
    },
    /// `v[dst] = if v[c] != 0 { v[a] } else { v[b] }`
    Select {
        /// Destination slot.
        dst: u32,
        /// Condition.
        c: u32,
        /// Value when true.
        a: u32,
        /// Value when false.
        b: u32,
    },
    /// Jump to instruction `to` when `v[c] == 0`.
    JumpIfFalse {
        /// Condition.
        c: u32,
        /// Target instruction.
        to: u32,
    },
    /// Jump to instruction `to`.
    Jump {
        /// Target instruction.
        to: u32,
    },
}

/// A compiled program with the source position of every instruction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Program {
    /// Instructions.
    pub ops: Vec<Op>,
    /// Source position (line, column) of the statement each instruction belongs to.
    pub pos: Vec<Pos>,
}

/// Standard normal cumulative distribution Φ(x) = erfc(−x/√2)/2, with
/// `libm`'s erfc (a port of musl's, accurate to a few ulp, also far in the tails
/// that M3 likelihoods reach).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[inline(always)]
fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Applies a binary operator.
#[inline(always)]
pub fn binary(op: BinOp, x: f64, y: f64) -> f64 {
    binary_real(op, x, y)
}

/// A comparison or logical operator on values (1 true, 0 false).
#[inline(always)]
fn compare(op: BinOp, x: f64, y: f64) -> f64 {
    match op {
        BinOp::Eq => truth(x == y),
        BinOp::Ne => truth(x != y),
        BinOp::Lt => truth(x < y),
        BinOp::Le => truth(x <= y),
        BinOp::Gt => truth(x > y),
        BinOp::Ge => truth(x >= y),
        BinOp::And => truth(x != 0.0 && y != 0.0),
        BinOp::Or => truth(x != 0.0 || y != 0.0),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow => f64::NAN,
    }
}

/// Applies a function.
#[inline(always)]
pub fn call(f: Func, x: f64, y: f64) -> f64 {
    call_real(f, x, y)
}

/// Applies a binary operator to generic scalars: comparisons and logic on
/// values (their results are constants), arithmetic with tangents. A
/// constant power of 2, ½ or a small integer takes the exact short form.
#[inline(always)]
fn binary_real<T: Real>(op: BinOp, x: T, y: T) -> T {
    match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        BinOp::Pow if y.is_constant() => {
            let yv = y.val();
            if yv == 2.0 {
                x * x
            } else if yv == 0.5 {
                x.sqrt()
            } else if yv.fract() == 0.0 && yv.abs() < 64.0 {
                x.powi(yv as i32)
            } else {
                x.powf(y)
            }
        }
        BinOp::Pow => x.powf(y),
        _ => T::cst(compare(op, x.val(), y.val())),
    }
}

/// Applies a function to generic scalars.
#[inline(always)]
fn call_real<T: Real>(f: Func, x: T, y: T) -> T {
    match f {
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Log10 => x.log10(),
        Func::Sqrt => x.sqrt(),
        Func::Abs => x.abs(),
        Func::Phi => x.normal_cdf(),
        Func::Min => Real::min(x, y),
        Func::Max => Real::max(x, y),
    }
}

impl Program {
    /// Runs the program on the slot array `v` (values, or duals carrying
    /// derivatives: [`crate::autodiff`]).
    #[inline]
    pub fn run<T: Real>(&self, v: &mut [T]) {
        let ops = &self.ops;
        let mut pc = 0;
        while pc < ops.len() {
            match ops[pc] {
                Op::Const { dst, value } => v[dst as usize] = T::cst(value),
                Op::Copy { dst, src } => v[dst as usize] = v[src as usize],
                Op::Bin { op, dst, a, b } => v[dst as usize] = binary_real(op, v[a as usize], v[b as usize]),
                Op::Neg { dst, a } => v[dst as usize] = -v[a as usize],
                Op::Not { dst, a } => v[dst as usize] = T::cst(truth(v[a as usize].val() == 0.0)),
                Op::Call { f, dst, a, b } => v[dst as usize] = call_real(f, v[a as usize], v[b as usize]),
                Op::Select { dst, c, a, b } => {
                    v[dst as usize] = if v[c as usize].val() != 0.0 {
                        v[a as usize]
                    } else {
                        v[b as usize]
                    }
                }
                Op::JumpIfFalse { c, to } => {
                    if v[c as usize].val() == 0.0 {
                        pc = to as usize;
                        continue;
                    }
                }
                Op::Jump { to } => {
                    pc = to as usize;
                    continue;
                }
            }
            pc += 1;
        }
    }

    /// Runs the program and returns the position of the first instruction that
    /// turned finite operands into a non-finite value (a domain error such as
    /// the log of a negative number), if any.
    pub fn first_domain_error(&self, v: &mut [f64]) -> Option<Pos> {
        let ops = &self.ops;
        let mut pc = 0;
        while pc < ops.len() {
            let (dst, inputs): (u32, [Option<u32>; 3]) = match ops[pc] {
                Op::Bin { dst, a, b, .. } => (dst, [Some(a), Some(b), None]),
                Op::Call { f, dst, a, b } => {
                    let two = matches!(f, Func::Min | Func::Max);
                    (dst, [Some(a), two.then_some(b), None])
                }
                Op::Neg { dst, a } | Op::Not { dst, a } => (dst, [Some(a), None, None]),
                _ => (u32::MAX, [None; 3]),
            };
            match ops[pc] {
                Op::JumpIfFalse { c, to } if v[c as usize] == 0.0 => {
                    pc = to as usize;
                    continue;
                }
                Op::Jump { to } => {
                    pc = to as usize;
                    continue;
                }
                _ => {}
            }
            let single = Program {
                ops: vec![ops[pc]],
                pos: vec![],
            };
            single.run(v);
            if dst != u32::MAX {
                let finite_in = inputs.iter().flatten().all(|&i| v[i as usize].is_finite());
                if finite_in && !v[dst as usize].is_finite() {
                    return self.pos.get(pc).copied();
                }
            }
            pc += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        // Φ values from the standard normal table (Abramowitz & Stegun 26.2).
        let cases = [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-1.96, 0.024_997_895_148_220_435),
            (3.0, 0.998_650_101_968_369_9),
            (-5.0, 2.866_515_718_791_939e-7),
            (-10.0, 7.619_853_024_160_527e-24),
        ];
        for (x, p) in cases {
            let got = normal_cdf(x);
            assert!(((got - p) / p).abs() < 1e-13, "Φ({x}) = {got}, expected {p}");
        }
    }
}
