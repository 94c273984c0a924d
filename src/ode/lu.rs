//! In-place LU factorisation with partial pivoting for the small dense
//! matrices of the stiff method (a handful of states). Written out rather than
//! taken from `nalgebra` so that a factorisation per step allocates nothing:
//! `nalgebra`'s `LU` owns a fresh matrix and permutation at every call.
//! Always inlined, so that a dimension known at compile time unrolls the loops.

/// Factorises the row-major `n×n` matrix `a` in place (L below the diagonal
/// with a unit diagonal, U above it, and the reciprocals of U's diagonal on
/// the diagonal, so that solving needs no division) and records the row
/// swaps in `piv`. Returns `false` when a pivot is zero or not finite
/// (singular matrix).
#[inline(always)]
pub(crate) fn factor(a: &mut [f64], piv: &mut [usize], n: usize) -> bool {
    debug_assert!(a.len() >= n * n && piv.len() >= n);
    for k in 0..n {
        let mut p = k;
        let mut best = a[k * n + k].abs();
        for i in (k + 1)..n {
            let v = a[i * n + k].abs();
            if v > best {
                best = v;
                p = i;
            }
        }
        if !(best > 0.0) || !best.is_finite() {
            return false;
        }
        piv[k] = p;
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
        }
        let inv = 1.0 / a[k * n + k];
        a[k * n + k] = inv;
        for i in (k + 1)..n {
            let l = a[i * n + k] * inv;
            a[i * n + k] = l;
            if l != 0.0 {
                for j in (k + 1)..n {
                    a[i * n + j] -= l * a[k * n + j];
                }
            }
        }
    }
    true
}

/// Solves `A x = b` in place (`b` becomes `x`) with the factors from [`factor`].
#[inline(always)]
pub(crate) fn solve(a: &[f64], piv: &[usize], n: usize, b: &mut [f64]) {
    for (k, &p) in piv.iter().enumerate().take(n) {
        if p != k {
            b.swap(k, p);
        }
    }
    for i in 1..n {
        let mut s = b[i];
        for j in 0..i {
            s -= a[i * n + j] * b[j];
        }
        b[i] = s;
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for j in (i + 1)..n {
            s -= a[i * n + j] * b[j];
        }
        b[i] = s * a[i * n + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_system_that_needs_pivoting() {
        // Zero leading pivot: fails without row exchange.
        let m = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let x = [1.0, -2.0, 0.5];
        let mut b = [0.0; 3];
        for i in 0..3 {
            b[i] = (0..3).map(|j| m[i * 3 + j] * x[j]).sum();
        }
        let mut a = m;
        let mut piv = [0; 3];
        assert!(factor(&mut a, &mut piv, 3));
        solve(&a, &piv, 3, &mut b);
        for i in 0..3 {
            assert!((b[i] - x[i]).abs() < 1e-14, "{b:?}");
        }
    }

    #[test]
    fn reports_a_singular_matrix() {
        let mut a = [1.0, 2.0, 2.0, 4.0];
        let mut piv = [0; 2];
        assert!(!factor(&mut a, &mut piv, 2));
    }
}
