//! The typical Bonate 2004 clofarabine patient (40 kg reference, WBC 10×10³/µL):
//! CL 32.8 L/h, V1 115 L, Q 20.5 L/h, V2 94.5 L (Bonate et al., J Clin Pharmacol
//! 2004;44:1309–22, abstract). The abstract derives α 0.572 /h, β 0.108 /h and
//! Vss 209.5 L for this patient (`shared/reference/clofarabine.md`); the
//! published figures have three significant digits.

use pk::model::{Disposition, PkParams};

#[test]
fn bonate_typical_patient_alpha_beta_vss() {
    let p = PkParams::two_cmt_iv(32.8, 115.0, 20.5, 94.5).unwrap();
    let d = Disposition::of(&p);
    let (alpha, beta) = (d.exponents[0], d.exponents[1]);
    assert!((alpha - 0.572).abs() < 0.0005, "alpha {alpha}");
    assert!((beta - 0.108).abs() < 0.0005, "beta {beta}");
    assert!((d.vss - 209.5).abs() < 1e-12, "Vss {}", d.vss);
    // t½α 1.21 h and t½β 6.41 h, MRT 6.39 h in the same abstract.
    assert!((d.half_lives[0] - 1.21).abs() < 0.005, "t½α {}", d.half_lives[0]);
    assert!((d.half_lives[1] - 6.41).abs() < 0.005, "t½β {}", d.half_lives[1]);
    assert!((d.mrt - 6.39).abs() < 0.005, "MRT {}", d.mrt);
    // α + β = k10 + k12 + k21 and α·β = k10·k21 (independent check of the eigenvalues).
    let (k10, k12, k21) = (32.8 / 115.0, 20.5 / 115.0, 20.5 / 94.5);
    assert!((alpha + beta - (k10 + k12 + k21)).abs() < 1e-14);
    assert!((alpha * beta - k10 * k21).abs() < 1e-14);
}
