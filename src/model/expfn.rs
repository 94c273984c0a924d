//! Numerically stable scalar functions of the exponential used by the closed forms.
//!
//! All arguments here are non-positive (decay rates times time), which is what
//! keeps the formulas free of overflow and cancellation.

/// φ1(x) = (eˣ − 1)/x, with φ1(0) = 1. Accurate for all x (uses `expm1`).
#[inline]
pub fn phi1(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        x.exp_m1() / x
    }
}

/// First divided difference of exp: (eˣ − eʸ)/(x − y), with eˣ at x = y.
/// Stable for x ≈ y and free of overflow for non-positive arguments.
#[inline]
pub fn dd1(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x >= y { (x, y) } else { (y, x) };
    hi.exp() * phi1(lo - hi)
}

/// Second divided difference of exp at (0, x, y) for x, y ≤ 0:
/// e[0,x,y] = (e[0,x] − e[x,y]) / (0 − y).
///
/// When all three points lie within 1 of each other the Taylor series
/// Σₖ hₖ(x, y)/(k+2)! is used (hₖ the complete homogeneous polynomial);
/// otherwise the divided difference is formed across the widest pair, where
/// the subtraction loses at most a small constant factor.
pub fn dd2_at_zero(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x >= y { (x, y) } else { (y, x) };
    if lo >= -1.0 {
        // hₖ(x,y) = xᵏ + y·hₖ₋₁, h₀ = 1; term k is hₖ/(k+2)!.
        let mut h = 1.0;
        let mut xk = 1.0;
        let mut fact = 2.0; // (k+2)!
        let mut sum = 0.5;
        for k in 1..30 {
            xk *= hi;
            h = xk + lo * h;
            fact *= (k + 2) as f64;
            let term = h / fact;
            sum += term;
            if term.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        sum
    } else {
        (phi1(hi) - dd1(hi, lo)) / (-lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formula, accurate for well separated points.
    fn dd2_textbook(x: f64, y: f64) -> f64 {
        ((x.exp() - 1.0) / x - (x.exp() - y.exp()) / (x - y)) / (-y)
    }

    #[test]
    fn phi1_matches_definition() {
        for &x in &[-30.0, -2.0, -0.5] {
            assert!((phi1(x) - (x.exp() - 1.0) / x).abs() < 1e-15);
        }
        // Near zero the definition cancels; the Taylor series Σ xᵏ/(k+1)! to k = 4
        // leaves out x⁵/720 ≈ 1e-18 at x = −1e-3.
        let x: f64 = -1e-3;
        let series = 1.0 + x / 2.0 + x.powi(2) / 6.0 + x.powi(3) / 24.0 + x.powi(4) / 120.0;
        assert!((phi1(x) - series).abs() < 1e-15);
        assert_eq!(phi1(0.0), 1.0);
        // φ1(x) ≈ 1 + x/2 for tiny x.
        assert!((phi1(-1e-12) - (1.0 - 5e-13)).abs() < 1e-16);
    }

    #[test]
    fn dd1_equal_points_is_derivative() {
        assert!((dd1(-0.7, -0.7) - (-0.7f64).exp()).abs() < 1e-16);
        let (x, y) = (-0.7, -0.7 - 1e-9);
        assert!((dd1(x, y) - (-0.7f64 - 0.5e-9).exp()).abs() < 1e-15);
        assert!((dd1(-3.0, -1.0) - ((-3f64).exp() - (-1f64).exp()) / -2.0).abs() < 1e-15);
    }

    #[test]
    fn dd2_matches_textbook_when_well_separated_and_limits_when_not() {
        for &(x, y) in &[(-0.5, -3.0), (-2.0, -5.0), (-4.0, -1.5), (-0.9, -0.3)] {
            let r = dd2_textbook(x, y);
            assert!(((dd2_at_zero(x, y) - r) / r).abs() < 1e-12, "{x} {y}");
        }
        // All points at zero: e[0,0,0] = 1/2.
        assert!((dd2_at_zero(0.0, 0.0) - 0.5).abs() < 1e-16);
        // Continuity across the branch switch at lo = -1.
        let a = dd2_at_zero(-0.4, -1.0);
        let b = dd2_at_zero(-0.4, -1.0 - 1e-12);
        assert!(((a - b) / a).abs() < 1e-11);
    }
}
