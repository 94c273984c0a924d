//! Michaelis–Menten elimination (ODE path) against its exact solution.
//!
//! For a one-compartment IV bolus with dC/dt = −Vm·C/(Km + C), Vm = VMAX/V,
//! separation of variables gives the implicit solution
//! t = [(C0 − C) + Km·ln(C0/C)] / Vm (Wagner 1973). The test solves it for C by
//! Newton's method, independently of the engine.

use pk::dosing::Dose;
use pk::model::ModelDefinition;
use pk::simulate::simulate;

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

#[test]
fn one_cmt_mm_bolus_matches_implicit_solution() {
    let model = ModelDefinition::load("one_cmt_mm_iv").unwrap();
    // VMAX 10 mg/h, KM 2000 ng/mL (= 2 mg/L), V 50 L; 500 mg bolus gives C0 = 10 mg/L.
    let p = model
        .params(&[("VMAX".into(), 10.0), ("KM".into(), 2000.0), ("V".into(), 50.0)])
        .unwrap();
    let times: Vec<f64> = (0..=48).map(|i| i as f64 * 2.0).collect();
    let profile = simulate(&model, &p, &[Dose::bolus(0.0, 1, 500.0)], &times, false).unwrap();
    for (i, &t) in times.iter().enumerate() {
        let exact = 1000.0 * exact_mm(10.0, 2.0, 10.0 / 50.0, t);
        let got = profile.conc[i];
        assert!(((got - exact) / exact).abs() < 1e-7, "t {t}: ODE {got}, exact {exact}");
    }
}

#[test]
fn mm_reduces_to_linear_when_km_is_large() {
    // With KM ≫ C, VMAX·C/(KM + C) ≈ (VMAX/KM)·C: a linear model with CL = VMAX/KM (in L/h).
    let mm = ModelDefinition::load("one_cmt_mm_iv").unwrap();
    let lin = ModelDefinition::load("one_cmt_iv").unwrap();
    let p_mm = mm
        .params(&[("VMAX".into(), 1e6), ("KM".into(), 1e8), ("V".into(), 20.0)])
        .unwrap();
    // KM 1e8 ng/mL = 1e5 mg/L, so CL = 1e6/1e5 = 10 L/h.
    let p_lin = lin.params(&[("CL".into(), 10.0), ("V".into(), 20.0)]).unwrap();
    let dose = [Dose::infusion(0.0, 1, 100.0, 1.0)];
    let times = [0.5, 1.0, 4.0, 12.0];
    let a = simulate(&mm, &p_mm, &dose, &times, false).unwrap();
    let b = simulate(&lin, &p_lin, &dose, &times, false).unwrap();
    for i in 0..times.len() {
        // C ≤ 5 mg/L against KM 1e5 mg/L: relative effect of the saturation ≤ 5e-5.
        assert!(
            ((a.conc[i] - b.conc[i]) / b.conc[i]).abs() < 6e-5,
            "{} vs {}",
            a.conc[i],
            b.conc[i]
        );
    }
}
