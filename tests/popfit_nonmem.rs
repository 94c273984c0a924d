//! FOCE-I against NONMEM (issue 6): the objective at NONMEM's own final
//! estimates, and the engine's optimum. References: fixtures/pheno/SOURCE.md
//! (pharmpy's pheno_real.ext, NONMEM FOCE-I) and fixtures/nlmixr2/SOURCE.md
//! (NONMEM 7.4.3 FOCE-I runs of nlmixr2test).

use pk::data::{read_dataset, ReadOptions};
use pk::population::foce::{objective, Method, PopulationData};
use pk::population::PopulationModel;

fn pheno_at_nonmem() -> PopulationModel {
    let mut m = PopulationModel::load("models/pheno.toml").unwrap();
    m.typical[0].value = 4.69555e-03;
    m.typical[1].value = 9.84258e-01;
    m.covariates[2].coefficient = 1.58920e-01;
    m.omega[(0, 0)] = 2.93508e-02;
    m.omega[(1, 1)] = 2.79060e-02;
    m.residual.proportional = 1.32410e-02f64.sqrt();
    m
}

#[test]
fn pheno_ofv_at_nonmem_estimates() {
    let model = pheno_at_nonmem();
    let data = read_dataset("fixtures/pheno/pheno.csv", &ReadOptions::default()).unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    assert_eq!(pop.n_obs, 155);
    let e = objective(&model, &pop, Method::FoceI, &[]).unwrap();
    eprintln!("pheno OFV at NONMEM's estimates: {:.6}", e.ofv);
    assert!((e.ofv - 586.27605628).abs() < 0.01, "OFV {}", e.ofv);
}

fn infusion_at_nonmem(theta: [f64; 4], sigma: f64, omega2: [f64; 4]) -> PopulationModel {
    let mut m = PopulationModel::load("models/two_cmt_pop.toml").unwrap();
    for k in 0..4 {
        m.typical[k].value = theta[k].exp();
        m.omega[(k, k)] = omega2[k];
    }
    m.residual.proportional = sigma;
    m
}

fn infusion_data(single_dose: bool) -> pk::data::Dataset {
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options).unwrap();
    if single_dose {
        data.accept("SD", 1.0).unwrap()
    } else {
        data
    }
}

#[test]
fn infusion_2cpt_ofv_at_nonmem_estimates() {
    let all = infusion_at_nonmem(
        [1.3620, 4.2231, 1.3442, 3.9249],
        0.20292,
        [0.0895, 0.0928, 0.1118, 0.1097],
    );
    let data = infusion_data(false);
    let pop = PopulationData::new(&all, &data).unwrap();
    assert_eq!(pop.n_obs, 6960);
    let e = objective(&all, &pop, Method::FoceI, &[]).unwrap();
    eprintln!("Infusion_2CPT all data, OFV at NONMEM's estimates: {:.4}", e.ofv);
    let sd = infusion_at_nonmem(
        [1.3861, 4.2281, 1.3261, 3.9086],
        0.19620,
        [0.0903, 0.0924, 0.1024, 0.0866],
    );
    let data1 = infusion_data(true);
    let pop1 = PopulationData::new(&sd, &data1).unwrap();
    assert_eq!(pop1.n_obs, 2280);
    let e1 = objective(&sd, &pop1, Method::FoceI, &[]).unwrap();
    eprintln!("Infusion_2CPT single dose, OFV at NONMEM's estimates: {:.4}", e1.ofv);
    assert!((e.ofv - 64970.572).abs() < 0.01, "OFV {}", e.ofv);
    assert!((e1.ofv - 19699.927).abs() < 0.01, "OFV {}", e1.ofv);
}
