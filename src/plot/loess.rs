//! A LOESS smoother for diagnostic plots (Cleveland 1979, without the
//! robustness iterations): at each point x₀ a straight line is fitted by
//! weighted least squares to the ⌈span·n⌉ nearest observations, with
//! tricube weights w = (1 − (d/h)³)³, d = |x − x₀|, h the distance to the
//! farthest of them; the smooth at x₀ is that line's value there.

/// The default span: two thirds of the points in each local fit (R's `lowess`).
pub const DEFAULT_SPAN: f64 = 2.0 / 3.0;

/// The LOESS smooth of the finite `points` (x, y) with `span` (the fraction
/// of points in each local fit), at `n_grid` x values evenly spaced over the
/// range of x. Empty when there are fewer than 3 finite points or x does not vary.
pub fn loess(points: &[(f64, f64)], span: f64, n_grid: usize) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if pts.len() < 3 || n_grid < 2 {
        return Vec::new();
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
    if hi <= lo {
        return Vec::new();
    }
    let q = ((span * pts.len() as f64).ceil() as usize).clamp(3, pts.len());
    (0..n_grid)
        .filter_map(|i| {
            let x0 = lo + (hi - lo) * i as f64 / (n_grid - 1) as f64;
            local_linear(&pts, x0, q).map(|y| (x0, y))
        })
        .collect()
}

/// The LOESS value at `x0` from the `q` points of `sorted` (by x) nearest to it.
pub fn local_linear(sorted: &[(f64, f64)], x0: f64, q: usize) -> Option<f64> {
    let (start, end) = nearest_window(sorted, x0, q);
    let window = &sorted[start..end];
    let h = window.iter().map(|p| (p.0 - x0).abs()).fold(0.0f64, f64::max);
    let weight = |x: f64| {
        if h <= 0.0 {
            return 1.0;
        }
        let u = ((x - x0).abs() / h).min(1.0);
        (1.0 - u * u * u).powi(3)
    };
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for &(x, y) in window {
        let w = weight(x);
        sw += w;
        sx += w * x;
        sy += w * y;
    }
    if sw <= 0.0 {
        return None;
    }
    let (xm, ym) = (sx / sw, sy / sw);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for &(x, y) in window {
        let w = weight(x);
        sxx += w * (x - xm) * (x - xm);
        sxy += w * (x - xm) * (y - ym);
    }
    // All weight on one x: the local line is flat at the weighted mean.
    let slope = if sxx > 1e-12 * sw * (1.0 + xm * xm) {
        sxy / sxx
    } else {
        0.0
    };
    Some(ym + slope * (x0 - xm))
}

/// The index range of the `q` points of `sorted` nearest to `x0`.
fn nearest_window(sorted: &[(f64, f64)], x0: f64, q: usize) -> (usize, usize) {
    let n = sorted.len();
    let first_right = sorted.partition_point(|p| p.0 < x0);
    let (mut lo, mut hi) = (first_right, first_right);
    // Grow the window by the nearer of its two neighbours, q times.
    while hi - lo < q.min(n) {
        let take_left = lo > 0 && (hi == n || x0 - sorted[lo - 1].0 <= sorted[hi].0 - x0);
        if take_left {
            lo -= 1;
        } else {
            hi += 1;
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_calculation_at_2_2_with_four_neighbours() {
        // x = 0..5, q = 4: at x₀ = 2.2 the neighbours are 1, 2, 3, 4
        // (d = 1.2, 0.2, 0.8, 1.8), h = 1.8 so x = 4 has weight 0;
        // w = (1 − (d/1.8)³)³. A weighted line through (1,3), (2,1), (3,4):
        // by hand (Python, 17 digits): 2.4186210739751886.
        let pts = [(0.0, 2.0), (1.0, 3.0), (2.0, 1.0), (3.0, 4.0), (4.0, 0.0), (5.0, 5.0)];
        let y = local_linear(&pts, 2.2, 4).unwrap();
        assert!((y - 2.4186210739751886).abs() < 1e-12, "{y}");
    }

    #[test]
    fn a_straight_line_is_reproduced() {
        let pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64 * 0.3, 2.0 - 0.7 * i as f64 * 0.3)).collect();
        let s = loess(&pts, DEFAULT_SPAN, 20);
        assert_eq!(s.len(), 20);
        for (x, y) in s {
            assert!((y - (2.0 - 0.7 * x)).abs() < 1e-9, "{x} {y}");
        }
    }

    #[test]
    fn window_holds_the_nearest_points() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.0)).collect();
        assert_eq!(nearest_window(&pts, -5.0, 3), (0, 3));
        assert_eq!(nearest_window(&pts, 4.4, 3), (3, 6));
        assert_eq!(nearest_window(&pts, 4.6, 4), (3, 7));
        assert_eq!(nearest_window(&pts, 20.0, 3), (7, 10));
    }

    #[test]
    fn too_few_points_give_no_smooth() {
        assert!(loess(&[(0.0, 1.0), (1.0, 2.0)], DEFAULT_SPAN, 10).is_empty());
        assert!(loess(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)], DEFAULT_SPAN, 10).is_empty());
    }
}
