//! The model language end to end: bundled models compile; predictions of
//! language models against NONMEM, against the closed form, and against hand
//! calculations (time-varying covariates, occasions, two outputs); messages
//! for bad models.

use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::lang::Kernel;
use pk::model::{Model, Prediction, SubjectData, Values};
use std::io::Write;

fn dataset(text: &str) -> Dataset {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    read_dataset(f.path(), &ReadOptions::default()).unwrap()
}

fn values(m: &Model) -> (Vec<f64>, Vec<f64>) {
    (m.theta_init(), m.sigma_sd_init())
}

/// Predictions at the observations with θ and σ at their initial values, η = 0.
fn predict_typical(m: &Model, sd: &SubjectData) -> pk::Result<Prediction> {
    let (theta, sigma) = values(m);
    m.predict(
        sd,
        &Values {
            theta: &theta,
            eta: &[],
            kappa: &[],
            sigma_sd: &sigma,
        },
    )
}

fn predict_all(m: &Model, data: &Dataset, eta: &[f64], kappa: &[f64]) -> Vec<Vec<f64>> {
    let (theta, sigma) = values(m);
    data.subjects
        .iter()
        .map(|s| {
            let sd = m.subject(data, s).unwrap();
            let v = Values {
                theta: &theta,
                eta,
                kappa,
                sigma_sd: &sigma,
            };
            m.predict_records(&sd, &v).unwrap().f
        })
        .collect()
}

#[test]
fn every_bundled_model_compiles() {
    for name in Model::bundled_names() {
        let m = Model::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!m.code.outputs.is_empty(), "{name}");
    }
}

/// The ODE twin of the closed-form population model gives the same profile:
/// integrated numerically (Dopri5/RODAS at rtol 1e-10) to 1e-7, and, as the
/// linear system it is, recognised and solved by the closed-form kernel to
/// rounding.
#[test]
fn user_odes_equal_the_closed_form_kernel() {
    let data = read_dataset(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/nlmixr2/Infusion_2CPT.csv"),
        &ReadOptions {
            drop: vec!["SS".into(), "II".into()],
        },
    )
    .unwrap();
    let few = Dataset {
        subjects: data.subjects[..3].to_vec(),
        ..data
    };
    let eta = [0.2, -0.1, 0.3, -0.2];
    let closed = predict_all(&Model::load("two_cmt_pop").unwrap(), &few, &eta, &[]);
    let twin = Model::load("two_cmt_pop_ode").unwrap();
    assert_eq!(twin.code.linear.as_ref().map(|l| l.kernel), Some(Kernel::TwoCmtIv));
    let recognised = predict_all(&twin, &few, &eta, &[]);
    let integrated = predict_all(&twin.integrated_numerically(), &few, &eta, &[]);
    let worst = |other: &[Vec<f64>]| {
        let mut w: f64 = 0.0;
        for (a, b) in closed.iter().flatten().zip(other.iter().flatten()) {
            if *a > 1e-6 {
                w = w.max(((a - b) / a).abs());
            }
        }
        w
    };
    assert!(
        worst(&integrated) < 1e-7,
        "integrated: worst relative difference {}",
        worst(&integrated)
    );
    assert!(
        worst(&recognised) < 1e-12,
        "recognised: worst relative difference {}",
        worst(&recognised)
    );
}

/// A recognised structure whose coefficients break the kernel's relations at
/// the parameter values (here a peripheral that also eliminates) is
/// integrated numerically. Exact solution of
/// c' = −k c + k21 p, p' = k12 c − (k21 + kp) p from c(0) = 100, p(0) = 0:
/// c(t) = 100·((λ1 + k21 + kp)e^{λ1 t} − (λ2 + k21 + kp)e^{λ2 t})/(λ1 − λ2),
/// λ the eigenvalues of the rate matrix.
#[test]
fn linear_odes_outside_the_kernel_are_integrated() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ntheta K = 0.3\ntheta K12 = 0.2\ntheta K21 = 0.1\n\
         theta KP = 0.05\nsigma s ~ 0.01\nd/dt(c) = -K*c - K12*c + K21*p\nd/dt(p) = K12*c - K21*p - KP*p\n\
         output C = c ~ prop(s)",
        "leaky.pk",
    )
    .unwrap();
    assert!(m.code.linear.is_some(), "structurally a two-compartment system");
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV\n1,0,100,1,1,.\n1,1,0,0,0,1\n1,5,0,0,0,1\n1,20,0,0,0,1\n");
    let f = &predict_all(&m, &data, &[], &[])[0];
    let (k, k12, k21, kp) = (0.3f64, 0.2f64, 0.1f64, 0.05f64);
    // Rate matrix [[-(k+k12), k21], [k12, -(k21+kp)]].
    let (a, d) = (-(k + k12), -(k21 + kp));
    let (tr, det) = (a + d, a * d - k12 * k21);
    let disc = (tr * tr / 4.0 - det).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, tr / 2.0 - disc);
    let exact = |t: f64| 100.0 * ((l1 - d) * (l1 * t).exp() - (l2 - d) * (l2 * t).exp()) / (l1 - l2);
    for (got, t) in f[1..].iter().zip([1.0, 5.0, 20.0]) {
        assert!(
            ((got - exact(t)) / exact(t)).abs() < 1e-8,
            "t {t}: {got} vs {}",
            exact(t)
        );
    }
}

/// Weight doubles at the second sample. By NONMEM's rule the values at a
/// record govern the interval ending there, so from t = 1 to t = 2 the
/// elimination rate is CL(140 kg)/V = 2·k. Hand calculation:
/// C(1) = 100/V·e^{−k}, C(2) = C(1)·e^{−2k}, C(3) = C(2)·e^{−2k}.
#[test]
fn time_varying_covariate_changes_predictions_as_by_hand() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ncovariates WT\ntheta TVCL = 5\ntheta V = 50\nsigma s ~ 0.01\n\
         CL = TVCL * (WT / 70)\nkernel one_cmt_iv(CL, V)\noutput C = central / V ~ prop(s)",
        "tv.pk",
    )
    .unwrap();
    let data =
        dataset("ID,TIME,AMT,EVID,MDV,DV,WT\n1,0,100,1,1,.,70\n1,1,0,0,0,1,70\n1,2,0,0,0,1,140\n1,3,0,0,0,1,140\n");
    let f = &predict_all(&m, &data, &[], &[])[0];
    let k: f64 = 5.0 / 50.0;
    let c1: f64 = 100.0 / 50.0 * (-k).exp();
    let c2 = c1 * (-2.0 * k).exp();
    let c3 = c2 * (-2.0 * k).exp();
    for (got, want) in f[1..].iter().zip([c1, c2, c3]) {
        assert!(((got - want) / want).abs() < 1e-13, "{got} vs {want}");
    }
}

/// The individual parameters of each parameter set: CL = 5·WT/70 is 5 in the
/// first set (WT 70 from t = 0) and 10 in the second (WT 140 from t = 2);
/// the kernel's V comes under its canonical name with the code's value.
#[test]
fn individual_parameters_follow_the_covariates() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ncovariates WT\ntheta TVCL = 5\ntheta VC = 50\nsigma s ~ 0.01\n\
         CL = TVCL * (WT / 70)\nkernel one_cmt_iv(CL, VC)\noutput C = central / VC ~ prop(s)",
        "ip.pk",
    )
    .unwrap();
    let data =
        dataset("ID,TIME,AMT,EVID,MDV,DV,WT\n1,0,100,1,1,.,70\n1,1,0,0,0,1,70\n1,2,0,0,0,1,140\n1,3,0,0,0,1,140\n");
    let sd = m.subject(&data, &data.subjects[0]).unwrap();
    let (theta, sigma) = values(&m);
    let v = Values {
        theta: &theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &sigma,
    };
    let sets = m.individual_parameters(&sd, &v).unwrap();
    let got: Vec<(f64, Option<f64>, Option<f64>)> = sets.iter().map(|p| (p.time, p.get("CL"), p.get("V"))).collect();
    assert_eq!(got, [(0.0, Some(5.0), Some(50.0)), (2.0, Some(10.0), Some(50.0))]);
}

/// Each occasion takes its own κ: with κ = (0, ln 2), CL doubles in occasion 2.
#[test]
fn each_occasion_gets_its_own_kappa() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ncovariates OCC\ntheta TVCL = 5\ntheta V = 50\n\
         iov kappa_cl ~ 0.05 by OCC\nsigma s ~ 0.01\nCL = TVCL * exp(kappa_cl)\nkernel one_cmt_iv(CL, V)\n\
         output C = central / V ~ prop(s)",
        "iov.pk",
    )
    .unwrap();
    let data =
        dataset("ID,TIME,AMT,EVID,MDV,DV,OCC\n1,0,100,1,1,.,1\n1,2,0,0,0,1,1\n1,24,100,4,1,.,2\n1,26,0,0,0,1,2\n");
    let kappa = [0.0, 2f64.ln()];
    let f = &predict_all(&m, &data, &[], &kappa)[0];
    let c_occ1 = 2.0 * (-0.2f64).exp();
    let c_occ2 = 2.0 * (-0.4f64).exp();
    assert!((f[1] - c_occ1).abs() < 1e-12, "{}", f[1]);
    assert!((f[3] - c_occ2).abs() < 1e-12, "{}", f[3]);
}

/// Parent and metabolite (DVID 1 and 2): bolus D into the parent, kf·parent
/// forms the metabolite, which is eliminated with km. Exact solution:
/// P(t) = D e^{−kp t}; M(t) = D kf/(km − kp)·(e^{−kp t} − e^{−km t}).
#[test]
fn two_outputs_are_routed_by_dvid() {
    let m = Model::from_text(
        "units amount=mg, volume=L, concentration=mg/L\ntheta KP = 0.3\ntheta KF = 0.1\ntheta KM = 0.05\ntheta V = 10\n\
         sigma a ~ 0.01, b ~ 0.01\n\
         d/dt(parent) = -KP * parent\nd/dt(metab) = KF * parent - KM * metab\n\
         output CP = parent / V ~ prop(a) dvid=1\noutput CM = metab / V ~ add(b) dvid=2",
        "pm.pk",
    )
    .unwrap();
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,DVID\n1,0,100,1,1,.,.\n1,4,0,0,0,5,1\n1,4,0,0,0,2,2\n1,10,0,0,0,1,2\n");
    let s = &data.subjects[0];
    let sd = m.subject(&data, s).unwrap();
    assert_eq!(sd.obs.iter().map(|o| o.output).collect::<Vec<_>>(), [0, 1, 1]);
    let p = predict_typical(&m, &sd).unwrap();
    let (kp, kf, km) = (0.3f64, 0.1f64, 0.05f64);
    let parent = |t: f64| 100.0 * (-kp * t).exp() / 10.0;
    let metab = |t: f64| 100.0 * kf / (km - kp) * ((-kp * t).exp() - (-km * t).exp()) / 10.0;
    for (got, want) in p.f.iter().zip([parent(4.0), metab(4.0), metab(10.0)]) {
        assert!(((got - want) / want).abs() < 1e-8, "{got} vs {want}");
    }
    // Proportional error on the parent, additive on the metabolite (SD 0.1).
    assert!((p.variance[0] - (0.1 * p.f[0]).powi(2)).abs() < 1e-15);
    assert!((p.variance[1] - 0.01).abs() < 1e-15);
}

fn model_error(text: &str) -> String {
    Model::from_text(text, "bad.pk").unwrap_err().to_string()
}

#[test]
fn bad_models_get_clear_messages() {
    let e = model_error("theta CL = 1\nCL2 = CL * (2 +\nkernel one_cmt_iv(CL2, 3)");
    assert!(e.contains("bad.pk: line 3"), "{e}");
    let e = model_error(
        "theta CL = 1\ntheta V = 2\nsigma s ~ 0.1\nkernel one_cmt_iv(CLX, V)\noutput C = central/V ~ prop(s)",
    );
    assert!(e.contains("unknown name CLX"), "{e}");
    let e = model_error("theta V = 2\nsigma s ~ 0.1\nkernel one_cmt_iv(V = V)\noutput C = central/V ~ prop(s)");
    assert!(e.contains("needs CL, but the code never sets it"), "{e}");
    let e = model_error("omega block(2) a, b ~ {0.1, 0.5, 0.1}\ntheta V = 2\ntheta CL = 1\nsigma s ~ 0.1\nkernel one_cmt_iv(CL, V)\noutput C = central/V ~ prop(s)");
    assert!(e.contains("not positive definite"), "{e}");
    let e = model_error("theta CL = 1\ntheta V = 2\nsigma s ~ 0.1\nkernel one_cmt_iv(CL, V)\noutput C = central/V ~ prop(s)\noutput D = central ~ add(s) dvid=1");
    assert!(e.contains("two outputs have DVID 1"), "{e}");
    let e = model_error("theta CL = 1\ntheta V = 2\nsigma s ~ 0.1\nX = Y + 1\nY = 2\nkernel one_cmt_iv(CL, V)\noutput C = central/V ~ prop(s)");
    assert!(e.contains("Y is used before it is assigned"), "{e}");
}

#[test]
fn data_problems_name_the_column_or_record() {
    let m = Model::from_text(
        "covariates WT\ntheta CL = 1\ntheta V = 2\nsigma s ~ 0.1\nkernel one_cmt_iv(CL * WT / 70, V)\noutput C = central/V ~ prop(s)",
        "m.pk",
    )
    .unwrap();
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,BW\n1,0,100,1,1,.,70\n");
    let e = m.subject(&data, &data.subjects[0]).unwrap_err().to_string();
    assert!(e.contains("needs covariate WT") && e.contains("BW"), "{e}");
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,DVID,WT\n1,0,100,1,1,.,.,70\n1,1,0,0,0,3,3,70\n");
    let e = m.subject(&data, &data.subjects[0]).unwrap_err().to_string();
    assert!(e.contains("DVID 3 has no output"), "{e}");
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,CMT,WT\n1,0,100,1,1,.,1,70\n1,1,0,0,0,3,9,70\n");
    let e = m.subject(&data, &data.subjects[0]).unwrap_err().to_string();
    assert!(e.contains("CMT 9 has no output"), "{e}");
}

/// A domain error at run time names the subject, the time and the code line.
#[test]
fn domain_error_names_subject_time_and_expression() {
    let m = Model::from_text(
        "covariates WT\ntheta CL = 1\ntheta V = 2\nsigma s ~ 0.1\nCLI = CL * log(WT)\nkernel one_cmt_iv(CLI, V)\noutput C = central/V ~ prop(s)",
        "m.pk",
    )
    .unwrap();
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,WT\n7,0,100,1,1,.,70\n7,1,0,0,0,1,-3\n");
    let sd = m.subject(&data, &data.subjects[0]).unwrap();
    let e = predict_typical(&m, &sd).unwrap_err().to_string();
    assert!(
        e.contains("subject 7") && e.contains("at time 1") && e.contains("CLI = CL * log(WT)"),
        "{e}"
    );
}

/// `var(expr)` and `sd(expr)` give the variance they say: with σ² = 0.04,
/// `var(prop * C^2)` and `sd(sqrt(prop) * C)` equal `prop(0.2)`, as NONMEM's
/// Y = F + W·EPS(1) with W = F and $SIGMA 0.04.
#[test]
fn general_variance_terms_match_the_named_forms() {
    let base = "units amount=mg, volume=L, concentration=mg/L\ntheta CL = 1\ntheta V = 10\nsigma prop ~ 0.04\ntheta SD = 0.2\n\
                kernel one_cmt_iv(CL, V)\nC = central / V\n";
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV\n1,0,100,1,1,.\n1,2,0,0,0,8\n1,6,0,0,0,5\n");
    let mut variances = Vec::new();
    for out in [
        "output Y = C ~ prop(SD)",
        "output Y = C ~ var(prop^2 * C^2)",
        "output Y = C ~ sd(prop * C)",
    ] {
        let m = Model::from_text(&format!("{base}{out}"), "v.pk").unwrap();
        let sd = m.subject(&data, &data.subjects[0]).unwrap();
        let p = predict_typical(&m, &sd).unwrap();
        variances.push(p.variance);
    }
    for v in &variances[1..] {
        for (a, b) in v.iter().zip(&variances[0]) {
            assert!((a / b - 1.0).abs() < 1e-14, "{a} vs {b}");
        }
    }
}

/// An output that no observation goes to cannot be estimated: refused before any computation.
#[test]
fn an_output_without_observations_is_refused_for_estimation() {
    use pk::population::estimation::PopulationData;
    let m = Model::from_text(
        "theta KP = 0.3\ntheta V = 10\nsigma a ~ 0.01, b ~ 0.01\nd/dt(parent) = -KP * parent\nd/dt(metab) = KP * parent\n\
         output CP = parent / V ~ prop(a) dvid=1\noutput CM = metab / V ~ add(b) dvid=2",
        "pm.pk",
    )
    .unwrap();
    let data = dataset("ID,TIME,AMT,EVID,MDV,DV,DVID\n1,0,100,1,1,.,.\n1,4,0,0,0,5,1\n");
    let e = PopulationData::new(&m, &data).unwrap_err().to_string();
    assert!(
        e.contains("output CM (DVID 2") && e.contains("has no observations"),
        "{e}"
    );
}
