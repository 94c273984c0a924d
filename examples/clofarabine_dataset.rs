//! Generates the bundled clofarabine example dataset
//! (`fixtures/clofarabine/clofarabine_phase2.csv`):
//!
//! ```text
//! cargo run --release --example clofarabine_dataset -- fixtures/clofarabine/clofarabine_phase2.csv
//! ```
//!
//! Shaped like the Chinese phase II study (Lu et al., Blood Cancer J 2016;6:e400):
//! 4 children, 52 mg/m² IV over 2 h once daily for 5 days, samples over 24 h on
//! day 1 and day 5. Individual parameters come from the population model of
//! Bonate et al. 2004 (J Clin Pharmacol 44:1309): typical CL 32.8 L/h, V1 115 L,
//! Q 20.5 L/h, V2 94.5 L for 40 kg, allometric exponents 0.75 (CL, Q) and 1
//! (V1, V2), (WBC/10)^0.128 on V1, log-normal between-subject variability with
//! the published CVs (27, 56, 27, 39%). Observations carry 10% proportional
//! error (an assumption: the abstract gives no residual error). The random
//! numbers are ChaCha8 with seed 20160400, so the file is reproducible.

use pk::dosing::bsa::BsaFormula;
use pk::dosing::Dose;
use pk::model::PkParams;
use pk::simulate::simulate;
use pk::units::Units;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::fmt::Write;

/// (id, weight kg, height cm, WBC ×10³/µL)
const PATIENTS: [(u32, f64, f64, f64); 4] = [
    (1, 16.5, 104.0, 4.2),
    (2, 24.0, 126.0, 12.5),
    (3, 33.0, 141.0, 2.8),
    (4, 47.0, 156.0, 21.0),
];

/// Day 1 and day 5 sampling times (h after the first dose; doses every 24 h).
const DAY1: [f64; 10] = [0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0];
const DAY5_AFTER_DOSE: [f64; 10] = [0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0];

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/clofarabine/clofarabine_phase2.csv".into());
    // mg, L, h; concentrations in ng/mL.
    let units = Units::default();
    let mut rng = ChaCha8Rng::seed_from_u64(20_160_400);
    let std_normal = Normal::new(0.0, 1.0).expect("valid normal");
    let omega = |cv: f64| (1.0 + cv * cv).ln().sqrt();
    let mut csv = String::from("ID,TIME,DV,AMT,RATE,EVID,MDV,CMT,ADDL,II,WT,HT,BSA,WBC\n");
    for (id, wt, ht, wbc) in PATIENTS {
        let bsa = BsaFormula::Mosteller.bsa(wt, ht).expect("valid size");
        let bsa = (bsa * 100.0).round() / 100.0;
        let mut eta = || std_normal.sample(&mut rng);
        let size = wt / 40.0;
        let cl = 32.8 * size.powf(0.75) * (omega(0.27) * eta()).exp();
        let v1 = 115.0 * size * (wbc / 10.0f64).powf(0.128) * (omega(0.56) * eta()).exp();
        let q = 20.5 * size.powf(0.75) * (omega(0.27) * eta()).exp();
        let v2 = 94.5 * size * (omega(0.39) * eta()).exp();
        let params = PkParams::two_cmt_iv(cl, v1, q, v2).expect("positive parameters");
        let amount = (52.0 * bsa * 10.0).round() / 10.0;
        let doses = [Dose::infusion(0.0, 1, amount, 2.0).repeated(24.0, 4)];
        let times: Vec<f64> = DAY1
            .iter()
            .copied()
            .chain(DAY5_AFTER_DOSE.iter().map(|t| 96.0 + t))
            .collect();
        let profile = simulate(&params, &units, &doses, &times, false).expect("simulation");
        let covariates = format!("{wt},{ht},{bsa},{wbc}");
        writeln!(csv, "{id},0,.,{amount},{},1,1,1,4,24,{covariates}", amount / 2.0).expect("write");
        for (t, c) in times.iter().zip(&profile.conc) {
            let dv = c * (1.0 + 0.10 * std_normal.sample(&mut rng));
            writeln!(csv, "{id},{t},{:.2},0,0,0,0,1,0,0,{covariates}", dv).expect("write");
        }
        eprintln!(
            "ID {id}: BSA {bsa} m², dose {amount} mg; true CL {cl:.3} L/h ({:.2} L/h/m²), V1 {v1:.2} L, Q {q:.3} L/h, V2 {v2:.2} L",
            cl / bsa
        );
    }
    std::fs::write(&out, csv).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    eprintln!("wrote {out}");
}
