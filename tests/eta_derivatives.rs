//! η-derivatives by forward-mode automatic differentiation
//! (`Model::predict_derivatives`: dual numbers through the individual-parameter
//! code, the closed-form kernels, the dosing engine, the outputs and the
//! residual model) against central differences of `Model::predict`, the
//! independent reference: for every kernel, covariate code with powers and
//! if/else, occasions (κ), two outputs, each residual model, steady state, and
//! linear user ODEs recognised as a kernel.

use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::model::{Model, Values};
use std::io::Write;

fn dataset(text: &str) -> Dataset {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    read_dataset(f.path(), &ReadOptions::default()).unwrap()
}

/// Largest difference between AD and central differences (step 1e-5, relative to
/// the size of the derivative), over every subject, observation and random effect.
fn check(model: &Model, data: &Dataset, b: &[f64], n_eta: usize, tolerance: f64) {
    let theta = model.theta_init();
    let sigma = model.sigma_sd_init();
    let at = |b: &[f64]| -> (Vec<f64>, Vec<f64>) { (b[..n_eta].to_vec(), b[n_eta..].to_vec()) };
    for s in &data.subjects {
        let sd = model.subject(data, s).unwrap();
        let (eta, kappa) = at(b);
        let v = Values {
            theta: &theta,
            eta: &eta,
            kappa: &kappa,
            sigma_sd: &sigma,
        };
        let d = model
            .predict_derivatives(&sd, &v)
            .unwrap()
            .expect("derivatives by AD for this model");
        let plain = model.predict(&sd, &v).unwrap();
        // The dual values are the plain predictions: identical for closed
        // forms; for integrated ODEs the sensitivities share the step-size
        // control, so the values move within the tolerance (rtol 1e-10).
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs());
        assert!(same(&d.f, &plain.f), "{:?} vs {:?}", d.f, plain.f);
        assert!(same(&d.variance, &plain.variance));
        if model.code.linear.is_some() || matches!(model.code.dynamics, pk::lang::Dynamics::Kernel(_)) {
            assert_eq!(d.f, plain.f);
        }
        assert_eq!(d.n_b, b.len());
        let h = 1e-5;
        for j in 0..b.len() {
            let mut up = b.to_vec();
            up[j] += h;
            let mut down = b.to_vec();
            down[j] -= h;
            let eval = |b: &[f64]| {
                let (eta, kappa) = at(b);
                model
                    .predict(
                        &sd,
                        &Values {
                            theta: &theta,
                            eta: &eta,
                            kappa: &kappa,
                            sigma_sd: &sigma,
                        },
                    )
                    .unwrap()
            };
            let (pu, pd) = (eval(&up), eval(&down));
            for i in 0..d.f.len() {
                let fd = (pu.f[i] - pd.f[i]) / (2.0 * h);
                let ad = d.df[i * d.n_b + j];
                let scale = fd.abs().max(1e-3 * d.f[i].abs()).max(1e-12);
                assert!(
                    (ad - fd).abs() <= tolerance * scale,
                    "{} subject {} obs {i} b{j}: AD {ad} vs differences {fd}",
                    model.origin,
                    s.id
                );
                let fdr = (pu.variance[i] - pd.variance[i]) / (2.0 * h);
                let adr = d.dvariance[i * d.n_b + j];
                let scale = fdr.abs().max(1e-3 * d.variance[i].abs()).max(1e-15);
                assert!(
                    (adr - fdr).abs() <= tolerance * scale,
                    "{} subject {} obs {i} b{j}: ∂R AD {adr} vs differences {fdr}",
                    model.origin,
                    s.id
                );
            }
        }
    }
}

fn infusion_2cpt(n: usize) -> Dataset {
    let data = read_dataset(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/nlmixr2/Infusion_2CPT.csv"),
        &ReadOptions {
            drop: vec!["SS".into(), "II".into()],
        },
    )
    .unwrap();
    Dataset {
        subjects: data.subjects[..n].to_vec(),
        ..data
    }
}

#[test]
fn two_compartment_infusions_closed_form_and_recognised_odes() {
    let data = infusion_2cpt(4);
    let b = [0.2, -0.1, 0.3, -0.25];
    check(&Model::load("two_cmt_pop").unwrap(), &data, &b, 4, 1e-6);
    // The ODE twin: linear ODEs recognised and solved by the kernel, with duals.
    check(&Model::load("two_cmt_pop_ode").unwrap(), &data, &b, 4, 1e-6);
}

#[test]
fn pheno_covariates_and_if_else() {
    let data = read_dataset(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pheno/pheno.csv"),
        &ReadOptions::default(),
    )
    .unwrap();
    check(&Model::load("pheno").unwrap(), &data, &[0.3, -0.2], 2, 1e-6);
}

/// Oral 1-, 2- and 3-compartment kernels (the depot's divided differences, the
/// 3×3 eigen-decomposition), combined, power and log-scale residual models,
/// a covariate power, bolus and infusion doses, steady state.
#[test]
fn oral_and_three_compartment_kernels_with_every_residual_model() {
    let data = dataset(
        "ID,TIME,AMT,RATE,EVID,MDV,DV,CMT,WT,SS,II\n\
         1,0,100,0,1,1,.,1,70,0,0\n1,0.5,0,0,0,0,1,2,70,0,0\n1,2,0,0,0,0,1,2,70,0,0\n1,8,0,0,0,0,1,2,80,0,0\n\
         1,12,50,25,1,1,.,2,80,0,0\n1,13,0,0,0,0,1,2,80,0,0\n1,30,0,0,0,0,1,2,80,0,0\n\
         2,0,100,0,1,1,.,1,55,1,12\n2,1,0,0,0,0,1,2,55,0,0\n2,6,0,0,0,0,1,2,55,0,0\n2,11.9,0,0,0,0,1,2,55,0,0\n",
    );
    let header = "units amount=mg, volume=L, concentration=mg/L\ncovariates WT\n\
                  theta TCL = 4\ntheta TV1 = 30\ntheta TQ = 2\ntheta TV2 = 60\ntheta TQ3 = 0.7\ntheta TV3 = 200\ntheta TKA = 1.3\n\
                  omega a ~ 0.1, b ~ 0.1, c ~ 0.1, d ~ 0.1\nsigma s1 ~ 0.04, s2 ~ 0.01\n\
                  CL = TCL * (WT / 70)^0.75 * exp(a)\nV1 = TV1 * (WT / 70) * exp(b)\nKA = TKA * exp(c)\n\
                  Q = TQ * exp(d)\nV2 = TV2\nQ3 = TQ3\nV3 = TV3\n";
    let b = [0.15, -0.2, 0.3, 0.1];
    for (kernel, args) in [
        ("one_cmt_oral", "CL, V1, KA"),
        ("two_cmt_oral", "CL, V1, Q, V2, KA"),
        ("three_cmt_oral", "CL, V1, Q, V2, Q3, V3, KA"),
    ] {
        for error in ["add(s1) + prop(s2)", "combined1(s1, s2)", "power(s2, 0.8)", "exp(s1)"] {
            let text = format!("{header}kernel {kernel}({args})\noutput CP = central / V1 ~ {error}");
            let m = Model::from_text(&text, &format!("{kernel} {error}")).unwrap();
            check(&m, &data, &b, 4, 1e-6);
        }
    }
}

/// Occasions: each κ moves only its own occasion's predictions.
#[test]
fn inter_occasion_kappa_derivatives() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ncovariates OCC\ntheta TVCL = 5\ntheta TV = 50\n\
         omega eta_v ~ 0.1\niov kappa_cl ~ 0.05 by OCC\nsigma s ~ 0.01\n\
         CL = TVCL * exp(kappa_cl)\nV = TV * exp(eta_v)\nkernel one_cmt_iv(CL, V)\n\
         output C = central / V ~ prop(s)",
        "iov.pk",
    )
    .unwrap();
    let data = dataset(
        "ID,TIME,AMT,EVID,MDV,DV,OCC\n1,0,100,1,1,.,1\n1,2,0,0,0,1,1\n1,20,0,0,0,1,1\n1,24,100,1,1,.,2\n1,26,0,0,0,1,2\n",
    );
    // b = (η_v, κ occasion 1, κ occasion 2).
    check(&m, &data, &[0.1, -0.2, 0.3], 1, 1e-6);
    let sd = m.subject(&data, &data.subjects[0]).unwrap();
    let theta = m.theta_init();
    let d = m
        .predict_derivatives(
            &sd,
            &Values {
                theta: &theta,
                eta: &[0.1],
                kappa: &[-0.2, 0.3],
                sigma_sd: &m.sigma_sd_init(),
            },
        )
        .unwrap()
        .unwrap();
    // The sample at 2 h (occasion 1) does not depend on occasion 2's κ.
    assert_eq!(d.df[2], 0.0);
}

/// Integrated ODEs (not a mammillary kernel): the forward sensitivities ride
/// along with the states. Two outputs (parent and metabolite by DVID, a
/// log-scale error on one), and Michaelis–Menten elimination. Central
/// differences of an ODE solution at rtol 1e-10 are accurate to about 1e-5.
#[test]
fn integrated_odes_by_sensitivity_equations() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ntheta KP = 0.3\ntheta KF = 0.1\ntheta KM = 0.05\ntheta V = 10\n\
         omega e ~ 0.1, f ~ 0.1\nsigma a ~ 0.01, b ~ 0.01\n\
         d/dt(parent) = -KP * exp(e) * parent\nd/dt(metab) = KF * parent - KM * exp(f) * metab\n\
         output CP = parent / V ~ prop(a) dvid=1\noutput CM = metab / V ~ exp(b) dvid=2",
        "pm.pk",
    )
    .unwrap()
    .integrated_numerically();
    let data = dataset(
        "ID,TIME,AMT,EVID,MDV,DV,DVID\n1,0,100,1,1,.,.\n1,4,0,0,0,5,1\n1,4,0,0,0,2,2\n1,10,0,0,0,1,2\n1,12,50,1,1,.,.\n1,20,0,0,0,1,1\n",
    );
    check(&m, &data, &[0.1, -0.2], 2, 1e-4);
    let mm = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ntheta VMAX = 10\ntheta KMM = 2\ntheta V = 20\n\
         omega ev ~ 0.1, ek ~ 0.1, evol ~ 0.1\nsigma p ~ 0.01\n\
         VM = VMAX * exp(ev)\nK = KMM * exp(ek)\nVOL = V * exp(evol)\n\
         d/dt(central) = -VM * (central / VOL) / (K + central / VOL)\n\
         output C = central / VOL ~ prop(p)",
        "mm.pk",
    )
    .unwrap();
    let data = dataset(
        "ID,TIME,AMT,RATE,EVID,MDV,DV\n1,0,200,100,1,1,.\n1,1,0,0,0,0,1\n1,3,0,0,0,0,1\n1,8,0,0,0,0,1\n1,24,0,0,0,0,1\n",
    );
    check(&mm, &data, &[0.2, -0.1, 0.15], 3, 1e-4);
}

/// An imported control stream with inter-occasion η chosen by IF on a data
/// column (pharmpy's pheno IOV run, 6 η: Dual<8> in one pass).
#[test]
fn imported_iov_control_stream() {
    let imp = pk::nonmem::import::Import::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/nonmem_runs/pharmpy_pheno_iov_block_same/iov.mod"
    ))
    .unwrap();
    check(
        &imp.model,
        &imp.data,
        &[0.29, 0.085, 0.39, 0.286, -0.61, -0.45],
        6,
        1e-6,
    );
}
