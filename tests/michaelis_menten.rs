//! Michaelis–Menten elimination, written as user ODEs in the bundled
//! `one_cmt_mm_iv` model, against its exact solution.
//!
//! For a one-compartment IV bolus with dC/dt = −Vm·C/(Km + C), Vm = VMAX/V,
//! separation of variables gives the implicit solution
//! t = [(C0 − C) + Km·ln(C0/C)] / Vm (Wagner 1973). The test solves it for C by
//! Newton's method, independently of the engine.

use pk::data::{parse_dataset, Dataset, ReadOptions};
use pk::model::{Model, Values};

fn exact_mm(c0: f64, km: f64, vm: f64, t: f64) -> f64 {
    // Solve g(C) = (C0 − C) + Km ln(C0/C) − Vm t = 0 for C in (0, C0].
    let mut c = c0 * 0.5;
    for _ in 0..200 {
        let g = (c0 - c) + km * (c0 / c).ln() - vm * t;
        let dg = -1.0 - km / c;
        let next = (c - g / dg).max(c * 1e-3);
        if (next - c).abs() <= 1e-15 * c {
            return next;
        }
        c = next;
    }
    c
}

/// A dose record then observation records at `times`.
fn data(dose: &str, times: &[f64]) -> Dataset {
    let mut text = format!("ID,TIME,AMT,RATE,DV,MDV\n{dose}\n");
    for t in times {
        text.push_str(&format!("1,{t},0,0,1,0\n"));
    }
    parse_dataset(&text, "mm.csv", &ReadOptions::default()).unwrap()
}

/// Predictions at the observations with θ = `theta`, η = 0.
fn predict(model: &Model, data: &Dataset, theta: &[f64]) -> Vec<f64> {
    let sigma = model.sigma_sd_init();
    let v = Values {
        theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &sigma,
    };
    let s = model.subject(data, &data.subjects[0]).unwrap();
    model.predict(&s, &v).unwrap().f
}

#[test]
fn one_cmt_mm_bolus_matches_implicit_solution() {
    let model = Model::load("one_cmt_mm_iv").unwrap();
    // VMAX 10 mg/h, KM 2000 ng/mL (= 2 mg/L), V 50 L; 500 mg bolus gives C0 = 10 mg/L.
    let times: Vec<f64> = (1..=48).map(|i| i as f64 * 2.0).collect();
    let conc = predict(&model, &data("1,0,500,0,.,1", &times), &[10.0, 2000.0, 50.0]);
    for (i, &t) in times.iter().enumerate() {
        // The output is reported in ng/mL: 1000 × mg/L.
        let exact = 1000.0 * exact_mm(10.0, 2.0, 10.0 / 50.0, t);
        let got = conc[i];
        assert!(((got - exact) / exact).abs() < 1e-7, "t {t}: ODE {got}, exact {exact}");
    }
}

#[test]
fn mm_reduces_to_linear_when_km_is_large() {
    // With KM ≫ C, VMAX·C/(KM + C) ≈ (VMAX/KM)·C: a linear model with CL = VMAX/KM (in L/h).
    let mm = Model::load("one_cmt_mm_iv").unwrap();
    let lin = Model::load("one_cmt_iv").unwrap();
    // 100 mg over 1 h.
    let d = data("1,0,100,100,.,1", &[0.5, 1.0, 4.0, 12.0]);
    // KM 1e8 ng/mL = 1e5 mg/L, so CL = 1e6/1e5 = 10 L/h.
    let a = predict(&mm, &d, &[1e6, 1e8, 20.0]);
    let b = predict(&lin, &d, &[10.0, 20.0]);
    for i in 0..a.len() {
        // C ≤ 5 mg/L against KM 1e5 mg/L: relative effect of the saturation ≤ 5e-5.
        assert!(((a[i] - b[i]) / b[i]).abs() < 6e-5, "{} vs {}", a[i], b[i]);
    }
}
