//! Descriptive statistics of an NCA parameter across subjects, as PKNCA's
//! summary and WinNonlin's Descriptive Statistics give them.

/// Statistics of one parameter's values (non-finite values left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptive {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` for fewer than 2 values.
    pub sd: Option<f64>,
    /// 100·SD/mean; `None` without SD or with a zero mean.
    pub cv_pct: Option<f64>,
    /// Number of positive values: the geometric statistics use only these.
    pub n_geo: usize,
    /// exp(mean of ln x) over the positive values; `None` if there are none.
    pub geomean: Option<f64>,
    /// Geometric CV %, 100·√(exp(s²) − 1), s the SD (n − 1) of ln x over the
    /// positive values; `None` for fewer than 2.
    pub geocv_pct: Option<f64>,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

fn mean_sd(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() >= 2).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

/// The statistics of `values`; `None` when no value is finite.
pub fn describe(values: &[f64]) -> Option<Descriptive> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (mean, sd) = mean_sd(&v);
    let logs: Vec<f64> = v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
    let (geomean, geocv_pct) = if logs.is_empty() {
        (None, None)
    } else {
        let (m, s) = mean_sd(&logs);
        (Some(m.exp()), s.map(|s| 100.0 * (s * s).exp_m1().sqrt()))
    };
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Descriptive {
        n,
        mean,
        sd,
        cv_pct: sd.filter(|_| mean != 0.0).map(|s| 100.0 * s / mean.abs()),
        n_geo: logs.len(),
        geomean,
        geocv_pct,
        median,
        min: v[0],
        max: v[n - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_statistics() {
        // 1, 2, 4: mean 7/3; SD² = ((4/3)² + (1/3)² + (5/3)²)/2 = 42/18 = 7/3;
        // geometric mean ∛8 = 2; ln values 0, ln 2, 2 ln 2: SD of logs = ln 2.
        let d = describe(&[4.0, 1.0, 2.0]).unwrap();
        assert_eq!((d.n, d.n_geo, d.median, d.min, d.max), (3, 3, 2.0, 1.0, 4.0));
        assert!((d.mean - 7.0 / 3.0).abs() < 1e-15);
        assert!((d.sd.unwrap() - (7.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((d.cv_pct.unwrap() - 100.0 * (7.0f64 / 3.0).sqrt() / (7.0 / 3.0)).abs() < 1e-12);
        assert!((d.geomean.unwrap() - 2.0).abs() < 1e-15);
        let ln2 = std::f64::consts::LN_2;
        assert!((d.geocv_pct.unwrap() - 100.0 * ((ln2 * ln2).exp() - 1.0).sqrt()).abs() < 1e-12);
        // Zeros and negatives have no logarithm: geometric statistics over the positive ones.
        let d = describe(&[0.0, -1.0, 3.0, 5.0]).unwrap();
        assert_eq!((d.n, d.n_geo, d.median), (4, 2, 1.5));
        assert!((d.geomean.unwrap() - 15f64.sqrt()).abs() < 1e-14);
        let d = describe(&[0.0, 0.0]).unwrap();
        assert_eq!((d.n_geo, d.geomean, d.geocv_pct, d.cv_pct), (0, None, None, None));
        let d = describe(&[3.0, f64::NAN]).unwrap();
        assert_eq!((d.n, d.sd, d.geocv_pct), (1, None, None));
        assert!(describe(&[f64::NAN]).is_none());
    }
}
