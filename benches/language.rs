//! Speed of models written in the model language: one subject's 100-sample
//! profile after 5 two-hour infusions every 24 h (2-cmt, CL 20 L/h, V1 50 L,
//! Q 30 L/h, V2 130 L), through `Model::predict` (parameter code, events,
//! kernel or ODE, outputs and residual variances). Variants: the closed-form
//! kernel; the same with covariate code CL = θ·(WT/70)^0.75·exp(η); the same
//! model as user ODEs (recognised as the linear system it is and solved by the
//! kernel); the user ODEs integrated numerically (Dopri5/RODAS, rtol 1e-10).

use criterion::{criterion_group, criterion_main, Criterion};
use pk::data::{read_dataset, Dataset, ReadOptions};
use pk::model::{Model, Values};
use std::hint::black_box;
use std::io::Write;

const HEAD: &str = "units amount=mg, volume=L, time=h, concentration=ng/mL\ncovariates WT\n\
theta TVCL = 20\ntheta V1 = 50\ntheta Q = 30\ntheta V2 = 130\nomega eta_cl ~ 0.1\nsigma prop ~ 0.01\n";

/// One subject: 100 mg over 2 h every 24 h × 5, 100 samples over 0–120 h.
fn five_infusions() -> Dataset {
    let mut csv = String::from("ID,TIME,AMT,RATE,ADDL,II,EVID,MDV,DV,WT\n1,0,100,50,4,24,1,1,.,70\n");
    for i in 0..100 {
        csv.push_str(&format!("1,{},0,0,0,0,0,0,1,70\n", 120.0 * (i + 1) as f64 / 100.0));
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(csv.as_bytes()).unwrap();
    read_dataset(file.path(), &ReadOptions::default()).unwrap()
}

fn profile(c: &mut Criterion) {
    let data = five_infusions();
    let variants = [
        (
            "kernel",
            "CL = TVCL * exp(eta_cl)\nkernel two_cmt_iv(CL, V1, Q, V2)\noutput CP = central / V1 ~ prop(prop)\n",
        ),
        (
            "kernel_with_covariate_code",
            "CL = TVCL * (WT / 70)^0.75 * exp(eta_cl)\nkernel two_cmt_iv(CL, V1, Q, V2)\noutput CP = central / V1 ~ prop(prop)\n",
        ),
        (
            "user_odes",
            "CL = TVCL * (WT / 70)^0.75 * exp(eta_cl)\nd/dt(central) = -(CL + Q) / V1 * central + Q / V2 * periph\n\
             d/dt(periph) = Q / V1 * central - Q / V2 * periph\noutput CP = central / V1 ~ prop(prop)\n",
        ),
    ];
    let integrated = ("user_odes_integrated", variants[2].1);
    for (name, body) in variants.into_iter().chain([integrated]) {
        let model = Model::from_text(&format!("{HEAD}{body}"), name).unwrap();
        let model = if name == "user_odes_integrated" {
            model.integrated_numerically()
        } else {
            model
        };
        let subject = model.subject(&data, &data.subjects[0]).unwrap();
        let (theta, sigma) = (model.theta_init(), model.sigma_sd_init());
        let eta = [0.1];
        c.bench_function(&format!("language_2cmt_5_infusions_100_points_{name}"), |b| {
            b.iter(|| {
                let v = Values {
                    theta: &theta,
                    eta: black_box(&eta),
                    kappa: &[],
                    sigma_sd: &sigma,
                };
                black_box(model.predict(&subject, &v).unwrap().f[50])
            })
        });
    }
}

/// η-derivatives of the same profile with 4 η (on CL, V1, Q, V2): forward-mode
/// AD (`Model::predict_derivatives`, one Dual<4> pass) against the 8
/// evaluations of central differences, for the kernel and for the ODEs
/// integrated with their sensitivities.
fn derivatives(c: &mut Criterion) {
    let data = five_infusions();
    let head = "units amount=mg, volume=L, time=h, concentration=ng/mL\n\
        theta TVCL = 20\ntheta TV1 = 50\ntheta TQ = 30\ntheta TV2 = 130\n\
        omega a ~ 0.1, b ~ 0.1, c ~ 0.1, d ~ 0.1\nsigma prop ~ 0.01\n\
        CL = TVCL * exp(a)\nV1 = TV1 * exp(b)\nQ = TQ * exp(c)\nV2 = TV2 * exp(d)\n";
    let kernel = "kernel two_cmt_iv(CL, V1, Q, V2)\noutput CP = central / V1 ~ prop(prop)\n";
    let odes = "d/dt(central) = -(CL + Q) / V1 * central + Q / V2 * periph\n\
        d/dt(periph) = Q / V1 * central - Q / V2 * periph\noutput CP = central / V1 ~ prop(prop)\n";
    for (name, body, integrate) in [("kernel", kernel, false), ("user_odes_integrated", odes, true)] {
        let model = Model::from_text(&format!("{head}{body}"), name).unwrap();
        let model = if integrate {
            model.integrated_numerically()
        } else {
            model
        };
        let subject = model.subject(&data, &data.subjects[0]).unwrap();
        let (theta, sigma) = (model.theta_init(), model.sigma_sd_init());
        let eta = [0.1, -0.1, 0.2, 0.05];
        let at = |eta: &[f64]| -> f64 {
            let v = Values {
                theta: &theta,
                eta,
                kappa: &[],
                sigma_sd: &sigma,
            };
            model.predict(&subject, &v).unwrap().f[50]
        };
        c.bench_function(&format!("eta_derivatives_4_eta_{name}_dual"), |b| {
            b.iter(|| {
                let v = Values {
                    theta: &theta,
                    eta: black_box(&eta),
                    kappa: &[],
                    sigma_sd: &sigma,
                };
                black_box(model.predict_derivatives(&subject, &v).unwrap().unwrap().df[200])
            })
        });
        c.bench_function(&format!("eta_derivatives_4_eta_{name}_central_differences"), |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for j in 0..4 {
                    let mut e = eta;
                    e[j] += 1e-4;
                    let up = at(black_box(&e));
                    e[j] -= 2e-4;
                    sum += (up - at(black_box(&e))) / 2e-4;
                }
                black_box(sum)
            })
        });
    }
}

criterion_group!(benches, profile, derivatives);
criterion_main!(benches);
