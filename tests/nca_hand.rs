//! NCA of IV bolus and IV infusion profiles against hand calculations, and the
//! bad inputs of NCA: duplicated times, no dose, all BLQ, too few points for λz.

use pk::data::{parse_dataset, ReadOptions};
use pk::nca::data::{subject_nca, BlqAs, BlqRules, DoseScale};
use pk::nca::{analyse, AucRule, NcaOptions, Route};

fn close(a: f64, b: f64, what: &str) {
    assert!(((a - b) / b).abs() < 1e-12, "{what}: {a} vs {b}");
}

/// C(t) = 10·e^(−kt), k = ln 2/2 (t½ 2 h), after 100 mg IV bolus, sampled at 1, 2, 4, 8 h.
#[test]
fn iv_bolus_c0_vss_against_hand_calculation() {
    let k = std::f64::consts::LN_2 / 2.0;
    let t = [1.0, 2.0, 4.0, 8.0];
    let c: Vec<f64> = t.iter().map(|t| 10.0 * (-k * t).exp()).collect();
    let n = analyse(&t, &c, 100.0, Route::IvBolus, &NcaOptions::default()).unwrap();
    // C0: log-linear through (1, 7.0711) and (2, 5): slope −k, so C0 = 7.0711·e^k = 10.
    close(n.c0.unwrap(), 10.0, "C0");
    // λz: all four samples lie on the line: R² = 1 for 3 and 4 points; the most points win.
    let l = n.lambda_z.unwrap();
    assert_eq!(l.n, 4);
    close(l.lambda_z, k, "lambda_z");
    // Log-down trapezoids are exact for an exponential: AUC0–8 = (C0/k)(1 − e^(−8k)) = 28.8539·0.9375.
    close(n.auclast, 10.0 / k * (1.0 - (-8.0 * k).exp()), "AUClast");
    // AUCinf = AUClast + Clast/k = C0/k = 28.853901; CL = 100/AUCinf = 10k = 3.4657 L/h.
    close(n.aucinf_obs.unwrap(), 10.0 / k, "AUCinf");
    close(n.cl_obs.unwrap(), 10.0 * k, "CL");
    // Vz = CL/k = 10 L; AUMCinf = C0/k², MRT = 1/k = 2.8854 h; Vss = MRT·CL = 10 L.
    close(n.vz_obs.unwrap(), 10.0, "Vz");
    close(n.aumcinf_obs.unwrap(), 10.0 / (k * k), "AUMCinf");
    close(n.mrtinf_obs.unwrap(), 1.0 / k, "MRT");
    close(n.vss_obs.unwrap(), 10.0, "Vss");
}

/// 100 mg over 1 h into V = 20 L with k = 0.5 /h, sampled at 0.5, 1, 2, 4, 6, 8 h.
#[test]
fn iv_infusion_against_hand_calculation() {
    let (k, v, rate) = (0.5f64, 20.0, 100.0);
    let during = |t: f64| rate / (k * v) * (1.0 - (-k * t).exp());
    let c1 = during(1.0); // 3.9346934 mg/L at the end of the infusion
    let t = [0.5, 1.0, 2.0, 4.0, 6.0, 8.0];
    let c: Vec<f64> = t
        .iter()
        .map(|&t| {
            if t <= 1.0 {
                during(t)
            } else {
                c1 * (-k * (t - 1.0)).exp()
            }
        })
        .collect();
    let n = analyse(&t, &c, 100.0, Route::IvInfusion(1.0), &NcaOptions::default()).unwrap();
    // λz from the samples after the infusion (2, 4, 6, 8 h), all exact: k.
    let l = n.lambda_z.unwrap();
    assert_eq!((l.n, l.range), (4, (2.0, 8.0)));
    close(l.lambda_z, k, "lambda_z");
    // AUC: linear trapezoids while rising (0→0.5→1 h, from C = 0 at the start), then exact
    // log trapezoids: C(1)/k·(1 − e^(−7k)).
    let rise = 0.5 * (0.0 + c[0]) / 2.0 + 0.5 * (c[0] + c1) / 2.0;
    let fall = c1 / k * (1.0 - (-7.0 * k).exp());
    close(n.auclast, rise + fall, "AUClast");
    let clast = c[5];
    let aucinf = rise + fall + clast / k;
    close(n.aucinf_obs.unwrap(), aucinf, "AUCinf");
    // AUMC: linear parts Δt(t1C1 + t2C2)/2; the exponential part ∫₁⁸ t·C1·e^(−k(t−1)) dt
    // = C1[(1 − 8e^(−7k))/k + (1 − e^(−7k))/k²]; then + Clast·8/k + Clast/k².
    let rise_m = 0.5 * (0.0 + 0.5 * c[0]) / 2.0 + 0.5 * (0.5 * c[0] + 1.0 * c1) / 2.0;
    let e7 = (-7.0 * k).exp();
    let fall_m = c1 * ((1.0 - 8.0 * e7) / k + (1.0 - e7) / (k * k));
    let aumcinf = rise_m + fall_m + clast * 8.0 / k + clast / (k * k);
    close(n.aumcinf_obs.unwrap(), aumcinf, "AUMCinf");
    // MRT corrected for the infusion: AUMC/AUC − Tinf/2; CL = dose/AUCinf; Vss = MRT·CL.
    let mrt = aumcinf / aucinf - 0.5;
    close(n.mrtinf_obs.unwrap(), mrt, "MRT");
    close(n.cl_obs.unwrap(), 100.0 / aucinf, "CL");
    close(n.vss_obs.unwrap(), mrt * 100.0 / aucinf, "Vss");
    assert!(n.c0.is_none(), "no C0 for an infusion");
}

#[test]
fn partial_auc_interpolates_and_steady_state_interval() {
    // Linear rule: samples (0,0), (1,10), (3,6); AUC(0.5, 2) = area under the interpolated line:
    // C(0.5) = 5, C(2) = 8: 0.5·(5+10)/2 + 1·(10+8)/2 = 3.75 + 9 = 12.75.
    let options = NcaOptions {
        rule: AucRule::Linear,
        partial: vec![(0.5, 2.0)],
        tau: Some(3.0),
        ..NcaOptions::default()
    };
    let n = analyse(
        &[0.0, 1.0, 3.0],
        &[0.0, 10.0, 6.0],
        50.0,
        Route::Extravascular,
        &options,
    )
    .unwrap();
    assert_eq!(n.partial, vec![(0.5, 2.0, 12.75)]);
    // AUCτ (τ = 3) = 5 + 16 = 21; Cmin 0; Cavg 7; fluctuation (10 − 0)/7 = 142.857%.
    let i = n.interval.unwrap();
    assert_eq!((i.auctau, i.cmin, i.cavg), (21.0, 0.0, 7.0));
    close(i.fluctuation, 1000.0 / 7.0, "fluctuation");
    // Linear/log interpolation: after Tmax the bound at 2 h is interpolated on the log scale,
    // C(2) = √(10·6) = 7.7460, then a linear trapezoid: 3.75 + 1·(10 + 7.7460)/2 = 12.6230.
    let options = NcaOptions {
        rule: AucRule::LinearLogInterpolation,
        partial: vec![(0.5, 2.0)],
        ..NcaOptions::default()
    };
    let n = analyse(
        &[0.0, 1.0, 3.0],
        &[0.0, 10.0, 6.0],
        50.0,
        Route::Extravascular,
        &options,
    )
    .unwrap();
    close(
        n.partial[0].2,
        3.75 + (10.0 + 60f64.sqrt()) / 2.0,
        "partial AUC, linear/log interpolation",
    );
    assert_eq!(n.auclast, 21.0, "AUC itself stays linear");
}

fn subject_result(text: &str, blq: &BlqRules) -> Result<pk::nca::Nca, String> {
    let data = parse_dataset(text, "nca.csv", &ReadOptions::default()).map_err(|e| e.to_string())?;
    let intervals = subject_nca(
        &data,
        &data.subjects[0],
        Route::Extravascular,
        blq,
        &NcaOptions::default(),
        DoseScale(1.0),
    )
    .map_err(|e| e.to_string())?;
    intervals[0].result.clone().map_err(|e| e.to_string())
}

#[test]
fn bad_inputs_get_clear_results() {
    let none = BlqRules::default();
    // Duplicated sample times.
    let e = subject_result("ID,TIME,DV,AMT,EVID\n1,0,.,100,1\n1,1,5,.,0\n1,1,6,.,0\n", &none).unwrap_err();
    assert_eq!(e, "two samples at the same time 1");
    // Unsorted times are refused by the reader, with the line.
    let e = subject_result("ID,TIME,DV,AMT,EVID\n1,0,.,100,1\n1,2,5,.,0\n1,1,6,.,0\n", &none).unwrap_err();
    assert!(e.contains("line 4, column TIME"), "{e}");
    // No dose.
    let e = subject_result("ID,TIME,DV,AMT,EVID\n1,1,5,.,0\n1,2,4,.,0\n", &none).unwrap_err();
    assert_eq!(
        e,
        "subject 1: no dose record (EVID 1 or 4 with AMT > 0): NCA needs the dose"
    );
    // All BLQ (flag column), whatever the rule.
    let blq = BlqRules {
        flag_column: Some("BLQ".into()),
        before_first: BlqAs::Zero,
        after_first: BlqAs::Zero,
        ..BlqRules::default()
    };
    let e = subject_result(
        "ID,TIME,DV,AMT,EVID,BLQ\n1,0,.,100,1,0\n1,1,0.1,.,0,1\n1,2,0.1,.,0,1\n",
        &blq,
    )
    .unwrap_err();
    assert_eq!(e, "no measurable (positive) concentration: all samples are zero or BLQ");
    // Two points after Cmax: no λz, no AUCinf, and a flag that says why.
    let n = subject_result(
        "ID,TIME,DV,AMT,EVID\n1,0,.,100,1\n1,1,9,.,0\n1,2,10,.,0\n1,4,6,.,0\n1,8,3,.,0\n",
        &none,
    )
    .unwrap();
    assert!(n.lambda_z.is_none() && n.aucinf_obs.is_none() && n.cl_obs.is_none());
    assert!(n.flags[0].starts_with("lambda_z not estimated"), "{:?}", n.flags);
}

#[test]
fn blq_rules_before_and_after_the_first_measurable_sample() {
    // LLOQ 1: the samples at 0.5 h (before) and 12 h (after) are BLQ.
    let text = "ID,TIME,DV,AMT,EVID,LLOQ\n1,0,.,100,1,1\n1,0.5,0.2,.,0,1\n1,1,8,.,0,1\n1,2,6,.,0,1\n\
                1,4,4,.,0,1\n1,8,2,.,0,1\n1,12,0.5,.,0,1\n";
    let rules = |before, after| BlqRules {
        lloq_column: Some("LLOQ".into()),
        before_first: before,
        after_first: after,
        ..BlqRules::default()
    };
    let a = subject_result(text, &rules(BlqAs::Zero, BlqAs::Missing)).unwrap();
    assert_eq!((a.tlast, a.tlag), (8.0, Some(0.5)));
    let b = subject_result(text, &rules(BlqAs::Missing, BlqAs::HalfLloq)).unwrap();
    assert_eq!((b.tlast, b.clast, b.tlag), (12.0, 0.5, Some(0.0)));
}

#[test]
fn cli_writes_cdisc_keyed_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json) = (dir.path().join("nca.csv"), dir.path().join("nca.json"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "nca",
            "fixtures/nca_winnonlin/theoph_nonmem.csv",
            "--conc-unit",
            "mg/L",
            "--rule",
            "linear",
            "--partial",
            "0:12",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = std::fs::read_to_string(&csv).unwrap();
    assert!(table.starts_with("ID,DOSE_TIME,PPTESTCD,PPORRES,PPORRESU\n"));
    // WinNonlin, subject 1, linear rule: AUClast 148.92305 mg/L*h.
    assert!(table.contains("1,0,AUCLST,148.9230"), "{table}");
    assert!(table.contains(",CLFO,") && table.contains(",L/h\n"));
    assert!(table.contains("AUCINT_0_12"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let v = &doc["subjects"][0]["intervals"][0]["values"];
    assert_eq!(v["CMAX"]["value"], 10.5);
    assert_eq!(v["CMAX"]["unit"], "mg/L");
    assert_eq!(v["LAMZNPT"]["value"], 3.0);
}
