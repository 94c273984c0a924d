//! NCA equals Phoenix WinNonlin on R's theophylline data (12 subjects, oral,
//! 320 mg), for the linear trapezoidal rule and for linear-up/log-down, to 1e-6
//! relative, with WinNonlin's best-fit λz selection.
//! Reference: `fixtures/nca_winnonlin/Final_Parameters_Pivoted_Theoph_*.csv`
//! (NonCompart-tests; see `fixtures/nca_winnonlin/SOURCE.md`).

use pk::data::{read_dataset, ReadOptions};
use pk::nca::data::{subject_nca, BlqRules, DoseScale};
use pk::nca::{AucRule, Nca, NcaOptions, Route};
use std::collections::HashMap;

fn reference(file: &str) -> Vec<HashMap<String, f64>> {
    let mut r = csv::Reader::from_path(file).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.parse::<f64>().unwrap()))
                .collect()
        })
        .collect()
}

/// (WinNonlin column, the engine's value).
fn engine_values(n: &Nca, dose: f64) -> Vec<(&'static str, f64)> {
    let l = n.lambda_z.expect("lambda_z");
    vec![
        ("Rsq", l.r2),
        ("Rsq_adjusted", l.r2_adjusted),
        ("Corr_XY", -l.r2.sqrt()),
        ("No_points_lambda_z", l.n as f64),
        ("Lambda_z", l.lambda_z),
        ("Lambda_z_lower", l.range.0),
        ("Lambda_z_upper", l.range.1),
        ("HL_Lambda_z", std::f64::consts::LN_2 / l.lambda_z),
        ("Tlag", n.tlag.unwrap()),
        ("Tmax", n.tmax),
        ("Cmax", n.cmax),
        ("Cmax_D", n.cmax / dose),
        ("Tlast", n.tlast),
        ("Clast", n.clast),
        ("AUClast", n.auclast),
        ("AUCall", n.aucall),
        ("AUCINF_obs", n.aucinf_obs.unwrap()),
        ("AUCINF_D_obs", n.aucinf_obs.unwrap() / dose),
        ("AUC_%Extrap_obs", n.auc_extrap_obs.unwrap()),
        ("Vz_F_obs", n.vz_obs.unwrap()),
        ("Cl_F_obs", n.cl_obs.unwrap()),
        ("AUCINF_pred", n.aucinf_pred.unwrap()),
        ("AUCINF_D_pred", n.aucinf_pred.unwrap() / dose),
        ("AUC_%Extrap_pred", n.auc_extrap_pred.unwrap()),
        ("Vz_F_pred", n.vz_pred.unwrap()),
        ("Cl_F_pred", n.cl_pred.unwrap()),
        ("AUMClast", n.aumclast),
        ("AUMCINF_obs", n.aumcinf_obs.unwrap()),
        ("AUMC_%Extrap_obs", n.aumc_extrap_obs.unwrap()),
        ("AUMCINF_pred", n.aumcinf_pred.unwrap()),
        ("AUMC_%Extrap_pred", n.aumc_extrap_pred.unwrap()),
        ("MRTlast", n.mrtlast),
        ("MRTINF_obs", n.mrtinf_obs.unwrap()),
        ("MRTINF_pred", n.mrtinf_pred.unwrap()),
    ]
}

fn check(rule: AucRule, file: &str) {
    let data = read_dataset("fixtures/nca_winnonlin/theoph_nonmem.csv", &ReadOptions::default()).unwrap();
    let reference = reference(file);
    assert_eq!(reference.len(), 12);
    let options = NcaOptions {
        rule,
        ..NcaOptions::default()
    };
    let mut compared = 0;
    let mut worst: f64 = 0.0;
    for want in &reference {
        let id = format!("{}", want["Subject"]);
        let subject = data.subjects.iter().find(|s| s.id == id).unwrap();
        let intervals = subject_nca(
            &data,
            subject,
            Route::Extravascular,
            &BlqRules::default(),
            &options,
            DoseScale(1.0),
        )
        .unwrap();
        assert_eq!(intervals.len(), 1);
        let n = intervals[0].result.as_ref().unwrap();
        for (column, got) in engine_values(n, 320.0) {
            let expected = want[column];
            let diff = if expected == 0.0 {
                got.abs()
            } else {
                ((got - expected) / expected).abs()
            };
            worst = worst.max(diff);
            assert!(
                diff < 1e-6,
                "{rule}, subject {id}, {column}: engine {got}, WinNonlin {expected} (relative {diff:.1e})"
            );
            compared += 1;
        }
    }
    eprintln!("{rule}: {compared} values compared, worst relative difference {worst:.2e}");
}

#[test]
fn theophylline_linear_trapezoidal_equals_winnonlin() {
    check(
        AucRule::Linear,
        "fixtures/nca_winnonlin/Final_Parameters_Pivoted_Theoph_Linear.csv",
    );
}

#[test]
fn theophylline_linear_up_log_down_equals_winnonlin() {
    check(
        AucRule::LinearUpLogDown,
        "fixtures/nca_winnonlin/Final_Parameters_Pivoted_Theoph_Log.csv",
    );
}
