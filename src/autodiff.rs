//! Forward-mode automatic differentiation: the [`Real`] scalar the model code,
//! the closed-form kernels and the dosing engine are written over, and the
//! dual number [`Dual`] that carries up to `N` tangents through them.
//!
//! With `T = f64` every generic function compiles to the plain floating-point
//! code; with `T = Dual<N>` the same code returns the value and its
//! derivatives with respect to `N` seeded inputs (the η of a subject), exact
//! to rounding. This is the engine's one mechanism for η-derivatives (MAP,
//! FOCE, FOCE-I, Laplacian).
//!
//! Non-elementary functions of the kernels (φ1 and the divided differences of
//! the exponential) get their derivatives from higher divided differences
//! ([`dd_exp`]), so they stay accurate where two rate constants coincide.

#![allow(clippy::needless_range_loop)] // fixed-size tangent arrays read clearer by index

use crate::model::expfn::{dd1, dd2_at_zero, phi1};
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// The scalar of generic model code: `f64`, or a [`Dual`] carrying tangents.
/// Comparisons and branches use [`Real::val`]; tangents follow the branch taken.
pub trait Real:
    Copy
    + Debug
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
    + Send
    + Sync
    + 'static
{
    /// Number of tangents carried.
    const TANGENTS: usize;
    /// A constant (no tangent).
    fn cst(x: f64) -> Self;
    /// The value.
    fn val(self) -> f64;
    /// Value `v` with tangent `i` set to 1 (a constant for `f64`).
    fn seeded(v: f64, i: usize) -> Self;
    /// Value `v` with tangents `d` (at least [`Real::TANGENTS`] of them; none read for `f64`).
    fn from_parts(v: f64, d: &[f64]) -> Self;
    /// Tangent `i` (0 for `f64`).
    fn tangent(self, i: usize) -> f64;
    /// eˣ.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Base-10 logarithm.
    fn log10(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value (tangent of the sign taken).
    fn abs(self) -> Self;
    /// xʸ for any real y.
    fn powf(self, y: Self) -> Self;
    /// xⁿ for an integer n.
    fn powi(self, n: i32) -> Self;
    /// Standard normal cumulative distribution.
    fn normal_cdf(self) -> Self;
    /// φ1(x) = (eˣ − 1)/x ([`phi1`]).
    fn phi1(self) -> Self;
    /// e[x, y], the first divided difference of exp ([`dd1`]).
    fn dd1(self, y: Self) -> Self;
    /// e[0, x, y] ([`dd2_at_zero`]).
    fn dd2_at_zero(self, y: Self) -> Self;
    /// Eigenvalues and orthonormal eigenvectors (`u[row][mode]`) of a
    /// symmetric 3×3 matrix.
    fn symmetric_eigen3(s: [[Self; 3]; 3]) -> ([Self; 3], [[Self; 3]; 3]);
    /// Whether the value and every tangent are finite.
    fn is_finite(self) -> bool;
    /// Whether every tangent is zero.
    fn is_constant(self) -> bool;
    /// Zero.
    #[inline(always)]
    fn zero() -> Self {
        Self::cst(0.0)
    }
    /// The smaller by value.
    #[inline(always)]
    fn min(self, y: Self) -> Self {
        if y.val() < self.val() || self.val().is_nan() {
            y
        } else {
            self
        }
    }
    /// The larger by value.
    #[inline(always)]
    fn max(self, y: Self) -> Self {
        if y.val() > self.val() || self.val().is_nan() {
            y
        } else {
            self
        }
    }
}

/// Eigen-decomposition of a symmetric 3×3 matrix of values (nalgebra).
fn eigen3_f64(s: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let m = nalgebra::Matrix3::from_fn(|i, j| s[i][j]);
    let eig = nalgebra::SymmetricEigen::new(m);
    let mut lambda = [0.0; 3];
    let mut u = [[0.0; 3]; 3];
    for i in 0..3 {
        lambda[i] = eig.eigenvalues[i];
        for (j, row) in u.iter_mut().enumerate() {
            row[i] = eig.eigenvectors[(j, i)];
        }
    }
    (lambda, u)
}

impl Real for f64 {
    const TANGENTS: usize = 0;
    #[inline(always)]
    fn cst(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn val(self) -> f64 {
        self
    }
    #[inline(always)]
    fn tangent(self, _i: usize) -> f64 {
        0.0
    }
    #[inline(always)]
    fn seeded(v: f64, _i: usize) -> Self {
        v
    }
    #[inline(always)]
    fn from_parts(v: f64, _d: &[f64]) -> Self {
        v
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn log10(self) -> Self {
        f64::log10(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn powf(self, y: Self) -> Self {
        f64::powf(self, y)
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
    #[inline(always)]
    fn normal_cdf(self) -> Self {
        crate::lang::program::normal_cdf(self)
    }
    #[inline(always)]
    fn phi1(self) -> Self {
        phi1(self)
    }
    #[inline(always)]
    fn dd1(self, y: Self) -> Self {
        dd1(self, y)
    }
    #[inline(always)]
    fn dd2_at_zero(self, y: Self) -> Self {
        dd2_at_zero(self, y)
    }
    fn symmetric_eigen3(s: [[Self; 3]; 3]) -> ([Self; 3], [[Self; 3]; 3]) {
        eigen3_f64(s)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline(always)]
    fn is_constant(self) -> bool {
        true
    }
    #[inline(always)]
    fn min(self, y: Self) -> Self {
        f64::min(self, y)
    }
    #[inline(always)]
    fn max(self, y: Self) -> Self {
        f64::max(self, y)
    }
}

/// A value with `N` tangents: x + Σ dᵢ εᵢ with εᵢεⱼ = 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dual<const N: usize> {
    /// The value.
    pub v: f64,
    /// The tangents (derivatives with respect to the seeded inputs).
    pub d: [f64; N],
}

impl<const N: usize> Dual<N> {
    /// The seeded input `i`: value `v`, tangent 1 in direction `i`.
    pub fn seed(v: f64, i: usize) -> Self {
        let mut d = [0.0; N];
        d[i] = 1.0;
        Dual { v, d }
    }
    /// f(x) with f(x.v) = `value` and f′(x.v) = `slope` (the chain rule).
    #[inline(always)]
    fn chain(self, value: f64, slope: f64) -> Self {
        let mut d = self.d;
        for t in &mut d {
            *t *= slope;
        }
        Dual { v: value, d }
    }
    /// f(x, y) with partial derivatives `dx`, `dy`.
    #[inline(always)]
    fn chain2(self, y: Self, value: f64, dx: f64, dy: f64) -> Self {
        let mut d = [0.0; N];
        for i in 0..N {
            d[i] = dx * self.d[i] + dy * y.d[i];
        }
        Dual { v: value, d }
    }
}

impl<const N: usize> Add for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn add(self, y: Self) -> Self {
        let mut d = self.d;
        for i in 0..N {
            d[i] += y.d[i];
        }
        Dual { v: self.v + y.v, d }
    }
}

impl<const N: usize> Sub for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, y: Self) -> Self {
        let mut d = self.d;
        for i in 0..N {
            d[i] -= y.d[i];
        }
        Dual { v: self.v - y.v, d }
    }
}

impl<const N: usize> Mul for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, y: Self) -> Self {
        self.chain2(y, self.v * y.v, y.v, self.v)
    }
}

impl<const N: usize> Div for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn div(self, y: Self) -> Self {
        let q = self.v / y.v;
        self.chain2(y, q, 1.0 / y.v, -q / y.v)
    }
}

impl<const N: usize> Neg for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.chain(-self.v, -1.0)
    }
}

impl<const N: usize> Add<f64> for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn add(self, y: f64) -> Self {
        Dual {
            v: self.v + y,
            d: self.d,
        }
    }
}

impl<const N: usize> Sub<f64> for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, y: f64) -> Self {
        Dual {
            v: self.v - y,
            d: self.d,
        }
    }
}

impl<const N: usize> Mul<f64> for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, y: f64) -> Self {
        self.chain(self.v * y, y)
    }
}

impl<const N: usize> Div<f64> for Dual<N> {
    type Output = Self;
    #[inline(always)]
    fn div(self, y: f64) -> Self {
        self.chain(self.v / y, 1.0 / y)
    }
}

impl<const N: usize> AddAssign for Dual<N> {
    #[inline(always)]
    fn add_assign(&mut self, y: Self) {
        *self = *self + y;
    }
}

impl<const N: usize> SubAssign for Dual<N> {
    #[inline(always)]
    fn sub_assign(&mut self, y: Self) {
        *self = *self - y;
    }
}

impl<const N: usize> MulAssign for Dual<N> {
    #[inline(always)]
    fn mul_assign(&mut self, y: Self) {
        *self = *self * y;
    }
}

impl<const N: usize> Real for Dual<N> {
    const TANGENTS: usize = N;
    #[inline(always)]
    fn cst(x: f64) -> Self {
        Dual { v: x, d: [0.0; N] }
    }
    #[inline(always)]
    fn val(self) -> f64 {
        self.v
    }
    #[inline(always)]
    fn tangent(self, i: usize) -> f64 {
        self.d[i]
    }
    fn seeded(v: f64, i: usize) -> Self {
        Dual::seed(v, i)
    }
    #[inline(always)]
    fn from_parts(v: f64, d: &[f64]) -> Self {
        let mut t = [0.0; N];
        t.copy_from_slice(&d[..N]);
        Dual { v, d: t }
    }
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }
    fn log10(self) -> Self {
        self.chain(self.v.log10(), 1.0 / (self.v * std::f64::consts::LN_10))
    }
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.chain(s, 0.5 / s)
    }
    fn abs(self) -> Self {
        self.chain(self.v.abs(), if self.v < 0.0 { -1.0 } else { 1.0 })
    }
    fn powf(self, y: Self) -> Self {
        let p = self.v.powf(y.v);
        // d(xʸ) = y·xʸ⁻¹·dx + xʸ·ln x·dy; the second term only where y varies
        // (x may be ≤ 0 for a constant integer power).
        let dx = y.v * self.v.powf(y.v - 1.0);
        let dy = if y.is_constant() { 0.0 } else { p * self.v.ln() };
        self.chain2(y, p, dx, dy)
    }
    fn powi(self, n: i32) -> Self {
        let p = self.v.powi(n);
        let slope = if n == 0 { 0.0 } else { f64::from(n) * self.v.powi(n - 1) };
        self.chain(p, slope)
    }
    fn normal_cdf(self) -> Self {
        let density = (-0.5 * self.v * self.v).exp() / (2.0 * std::f64::consts::PI).sqrt();
        self.chain(crate::lang::program::normal_cdf(self.v), density)
    }
    fn phi1(self) -> Self {
        // φ1(x) = e[0, x], so φ1′(x) = e[0, x, x] = (eˣ − φ1(x))/x, by its
        // Taylor series Σₖ (k+1)xᵏ/(k+2)! where that difference cancels.
        let x = self.v;
        let value = phi1(x);
        let slope = if x.abs() > 0.5 {
            (x.exp() - value) / x
        } else {
            let (mut sum, mut power, mut fact) = (0.5, 1.0, 2.0);
            for k in 1..25 {
                power *= x;
                fact *= (k + 2) as f64;
                let term = (k + 1) as f64 * power / fact;
                sum += term;
                if term.abs() <= 1e-17 * sum {
                    break;
                }
            }
            sum
        };
        self.chain(value, slope)
    }
    fn dd1(self, y: Self) -> Self {
        let (a, b) = (self.v, y.v);
        self.chain2(y, dd1(a, b), dd_exp(&[a, a, b]), dd_exp(&[a, b, b]))
    }
    fn dd2_at_zero(self, y: Self) -> Self {
        let (a, b) = (self.v, y.v);
        self.chain2(y, dd2_at_zero(a, b), dd_exp(&[0.0, a, a, b]), dd_exp(&[0.0, a, b, b]))
    }
    fn symmetric_eigen3(s: [[Self; 3]; 3]) -> ([Self; 3], [[Self; 3]; 3]) {
        // Values by nalgebra; tangents by first-order perturbation theory:
        // dλᵢ = uᵢᵀ dS uᵢ, duᵢ = Σ_{j≠i} (uⱼᵀ dS uᵢ)/(λᵢ − λⱼ) uⱼ.
        let (lambda, u) = eigen3_f64(s.map(|row| row.map(|x| x.v)));
        let mut dl = [[0.0; N]; 3];
        let mut du = [[[0.0; N]; 3]; 3];
        for t in 0..N {
            // c[a][b] = u_aᵀ dS u_b
            let mut c = [[0.0; 3]; 3];
            for (a, ca) in c.iter_mut().enumerate() {
                for (b, cab) in ca.iter_mut().enumerate() {
                    let mut sum = 0.0;
                    for (r, row) in s.iter().enumerate() {
                        for (k, x) in row.iter().enumerate() {
                            sum += u[r][a] * x.d[t] * u[k][b];
                        }
                    }
                    *cab = sum;
                }
            }
            for i in 0..3 {
                dl[i][t] = c[i][i];
                for j in 0..3 {
                    if j != i {
                        let w = c[j][i] / (lambda[i] - lambda[j]);
                        for r in 0..3 {
                            du[r][i][t] += w * u[r][j];
                        }
                    }
                }
            }
        }
        let lambda = std::array::from_fn(|i| Dual { v: lambda[i], d: dl[i] });
        let u = std::array::from_fn(|r| {
            std::array::from_fn(|i| Dual {
                v: u[r][i],
                d: du[r][i],
            })
        });
        (lambda, u)
    }
    fn is_finite(self) -> bool {
        self.v.is_finite() && self.d.iter().all(|t| t.is_finite())
    }
    fn is_constant(self) -> bool {
        self.d.iter().all(|t| *t == 0.0)
    }
}

/// The divided difference e[z₀, …, zₘ] of exp at any nodes (repeated nodes
/// allowed: e[z, z] = eᶻ), for m ≤ 3 (at most 4 nodes; more are not read).
/// Accurate for all nodes: the Taylor series e^{zₘₐₓ}·Σₖ hₖ(z − zₘₐₓ)/(k+m)!
/// (hₖ the complete homogeneous polynomial) when the nodes lie within 1 of
/// each other, else the recursion across the widest pair (e[z + s] = eˢ·e[z]
/// keeps every exponential bounded).
pub fn dd_exp(nodes: &[f64]) -> f64 {
    let shift = nodes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = [0.0; 4];
    let m = nodes.len().min(4);
    for (zi, n) in z.iter_mut().zip(nodes) {
        *zi = n - shift;
    }
    z[..m].sort_by(f64::total_cmp);
    // Shifted so that no exponential overflows.
    shift.exp() * dd_exp_sorted(&z[..m])
}

/// e[z] for sorted nodes z (m + 1 ≤ 4 of them).
fn dd_exp_sorted(z: &[f64]) -> f64 {
    let m = z.len() - 1;
    if m == 0 {
        return z[0].exp();
    }
    let (lo, hi) = (z[0], z[m]);
    if hi - lo <= 1.0 {
        // e[z] = e^{hi}·e[z − hi]; with w = z − hi in [−1, 0], h[j] = hₖ(w₀..w_j)
        // by hₖ(w₀..w_j) = hₖ(w₀..w_{j−1}) + w_j·hₖ₋₁(w₀..w_j).
        let mut w = [0.0; 4];
        for (wi, zi) in w.iter_mut().zip(z) {
            *wi = zi - hi;
        }
        let mut h = [1.0; 4];
        let mut fact: f64 = (1..=m).map(|i| i as f64).product();
        let mut sum = 1.0 / fact;
        for k in 1..40 {
            h[0] *= w[0];
            for j in 1..=m {
                h[j] = h[j - 1] + w[j] * h[j];
            }
            fact *= (k + m) as f64;
            let term = h[m] / fact;
            sum += term;
            if term.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        hi.exp() * sum
    } else {
        (dd_exp_sorted(&z[1..]) - dd_exp_sorted(&z[..m])) / (hi - lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd<F: Fn(f64) -> f64>(f: F, x: f64) -> f64 {
        let h = 1e-6 * x.abs().max(1.0);
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn divided_differences_of_exp_match_their_definitions() {
        // e[a, b] = (eᵃ − eᵇ)/(a − b); e[a, a] = eᵃ; e[a, a, a] = eᵃ/2.
        assert!((dd_exp(&[-0.3, -2.0]) - ((-0.3f64).exp() - (-2f64).exp()) / 1.7).abs() < 1e-15);
        assert!((dd_exp(&[-0.3, -0.3]) - (-0.3f64).exp()).abs() < 1e-15);
        assert!((dd_exp(&[-5.0, -5.0, -5.0]) - (-5f64).exp() / 2.0).abs() < 1e-17);
        assert!((dd_exp(&[1.0, 1.0, 1.0, 1.0]) - 1f64.exp() / 6.0).abs() < 1e-15);
        // Well-separated nodes: the textbook recursion.
        let (a, b, c) = (-0.2, -3.0, -7.5);
        let e = |x: f64| x.exp();
        let ab = (e(a) - e(b)) / (a - b);
        let bc = (e(b) - e(c)) / (b - c);
        assert!((dd_exp(&[a, b, c]) - (ab - bc) / (a - c)).abs() < 1e-15);
        // Across the branch at a spread of 1.
        let x = dd_exp(&[0.0, -1.0, -0.5]);
        let y = dd_exp(&[0.0, -1.0 - 1e-12, -0.5]);
        assert!(((x - y) / x).abs() < 1e-10);
    }

    #[test]
    fn dual_kernel_functions_match_finite_differences() {
        for &x in &[-1e-9, -0.3, -0.5, -0.5000001, -0.999, -1.0, -4.0, -40.0] {
            let d = Dual::<1>::seed(x, 0).phi1();
            assert!((d.d[0] - fd(phi1, x)).abs() < 1e-8, "phi1′({x})");
            assert!((d.d[0] - dd_exp(&[0.0, x, x])).abs() < 1e-15, "phi1′({x}) = e[0, x, x]");
            for &y in &[x, x - 1e-7, -0.5, -6.0] {
                let dx = Dual::<2>::seed(x, 0).dd1(Dual::seed(y, 1));
                assert!(
                    (dx.d[0] - fd(|a| dd1(a, y), x)).abs() < 1e-7,
                    "dd1 x {x} {y}: {} {}",
                    dx.d[0],
                    fd(|a| dd1(a, y), x)
                );
                assert!((dx.d[1] - fd(|b| dd1(x, b), y)).abs() < 1e-7, "dd1 y {x} {y}");
                let d2 = Dual::<2>::seed(x, 0).dd2_at_zero(Dual::seed(y, 1));
                assert!((d2.d[0] - fd(|a| dd2_at_zero(a, y), x)).abs() < 1e-7, "dd2 x {x} {y}");
                assert!((d2.d[1] - fd(|b| dd2_at_zero(x, b), y)).abs() < 1e-7, "dd2 y {x} {y}");
            }
        }
    }

    #[test]
    fn dual_arithmetic_and_functions_match_finite_differences() {
        let f = |x: Dual<1>| (x.exp() * x.sqrt() / (x + 1.0)).ln().powf(Dual::cst(1.7)) + x.powi(3).log10();
        let g = |x: f64| ((x.exp() * x.sqrt() / (x + 1.0)).ln()).powf(1.7) + x.powi(3).log10();
        let x = 2.3;
        assert!((f(Dual::seed(x, 0)).d[0] - fd(g, x)).abs() < 1e-8);
        // xʸ in both arguments.
        let p = Dual::<2>::seed(1.9, 0).powf(Dual::seed(0.75, 1));
        assert!((p.d[0] - 0.75 * 1.9f64.powf(-0.25)).abs() < 1e-14);
        assert!((p.d[1] - 1.9f64.powf(0.75) * 1.9f64.ln()).abs() < 1e-14);
        let c = Dual::<1>::seed(0.4, 0).normal_cdf();
        assert!((c.d[0] - fd(crate::lang::program::normal_cdf, 0.4)).abs() < 1e-9);
    }

    #[test]
    fn dual_symmetric_eigen_matches_finite_differences() {
        let s = |t: f64| {
            [
                [-2.0 - t, 0.5 + t, 0.3],
                [0.5 + t, -1.0, 0.0],
                [0.3, 0.0, -0.2 * (1.0 + t)],
            ]
        };
        let t = Dual::<1>::seed(0.0, 0);
        let mut sd = s(0.0).map(|row| row.map(Dual::<1>::cst));
        sd[0][0] -= t;
        sd[0][1] += t;
        sd[1][0] += t;
        sd[2][2] *= t + 1.0;
        let (l, u) = Dual::symmetric_eigen3(sd);
        let h = 1e-6;
        let (lp, up) = eigen3_f64(s(h));
        let (lm, um) = eigen3_f64(s(-h));
        for i in 0..3 {
            assert!((l[i].d[0] - (lp[i] - lm[i]) / (2.0 * h)).abs() < 1e-7);
            // Eigenvectors up to sign: align each with the unperturbed one.
            let sign = |v: &[[f64; 3]; 3]| {
                if (0..3).map(|r| v[r][i] * u[r][i].v).sum::<f64>() < 0.0 {
                    -1.0
                } else {
                    1.0
                }
            };
            let (sp, sm) = (sign(&up), sign(&um));
            for r in 0..3 {
                let fdv = (sp * up[r][i] - sm * um[r][i]) / (2.0 * h);
                assert!((u[r][i].d[0] - fdv).abs() < 1e-6, "u[{r}][{i}]");
            }
        }
    }
}
