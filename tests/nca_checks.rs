//! Issue 14 ("nothing silently wrong") for NCA, through the library: doses with a
//! modelled rate or duration are refused, negative concentrations are warned about
//! and treated as asked, CMAX is observed with C0 apart, CLTAU/CLFTAU over τ, and the
//! descriptive statistics. Every reference number is a hand calculation shown here.

use pk::data::{parse_dataset, ReadOptions};
use pk::nca::data::{subject_nca, BlqRules, DoseScale, IntervalNca};
use pk::nca::{NcaOptions, Route};

fn intervals(text: &str, route: Route, blq: &BlqRules, options: &NcaOptions) -> pk::Result<Vec<IntervalNca>> {
    let data = parse_dataset(text, "profile.csv", &ReadOptions::default()).unwrap();
    subject_nca(&data, &data.subjects[0], route, blq, options, DoseScale(1.0))
}

#[test]
fn modelled_rate_or_duration_is_refused_naming_file_line_subject() {
    for (rate, what) in [("-1", "RATE = -1"), ("-2", "RATE = -2")] {
        // Line 1 is the header; the dose record is line 3 (subject 7's second record).
        let text = format!("ID,TIME,DV,AMT,RATE,EVID\n7,0,2,.,0,0\n7,0,.,100,{rate},1\n7,1,8,.,0,0\n7,2,6,.,0,0\n");
        let e = intervals(
            &text,
            Route::Extravascular,
            &BlqRules::default(),
            &NcaOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("subject 7, profile.csv, line 3, column RATE: "), "{e}");
        assert!(e.contains(what) && e.contains("NCA has no model"), "{e}");
        assert!(e.contains("RATE > 0") && e.contains("DUR"), "says what to do: {e}");
    }
    // An explicit rate is an infusion of AMT/RATE = 100/50 = 2 h.
    let text = "ID,TIME,DV,AMT,RATE,EVID\n7,0,.,100,50,1\n7,1,8,.,0,0\n7,2,9,.,0,0\n7,4,6,.,0,0\n";
    let iv = intervals(text, Route::Extravascular, &BlqRules::default(), &NcaOptions::default()).unwrap();
    assert_eq!(iv[0].route, Route::IvInfusion(2.0));
}

#[test]
fn negative_concentrations_are_warned_and_treated_as_asked() {
    use pk::nca::data::NegativeAs;
    use pk::nca::AucRule;
    // Lines: 1 header, 2 dose, 3–5 samples; the negative sample is line 5.
    let text = "ID,TIME,DV,AMT,EVID\n3,0,.,100,1\n3,1,8,.,0\n3,2,4,.,0\n3,4,-0.5,.,0\n";
    let options = NcaOptions {
        rule: AucRule::Linear,
        ..NcaOptions::default()
    };
    let run = |negative| {
        let blq = BlqRules {
            negative,
            ..BlqRules::default()
        };
        let iv = intervals(text, Route::Extravascular, &blq, &options).unwrap();
        let n = iv[0].result.clone().unwrap();
        (iv[0].warnings.clone(), iv[0].conc.clone(), n)
    };
    // Hand calculation, linear trapezoids from (0, 0): AUClast to Tlast = 2 h is
    // 1·(0 + 8)/2 + 1·(8 + 4)/2 = 4 + 6 = 10 in every case.
    // keep: AUCall = 10 + 2·(4 + (−0.5))/2 = 13.5.
    let (w, conc, n) = run(NegativeAs::Keep);
    assert_eq!(
        w,
        vec!["profile.csv, line 5: subject 3: negative concentration DV = -0.5 at time 4: used as measured (--negative keep)"]
    );
    assert_eq!(conc, vec![8.0, 4.0, -0.5]);
    assert_eq!((n.auclast, n.aucall, n.tlast, n.clast), (10.0, 13.5, 2.0, 4.0));
    // zero: AUCall = 10 + 2·(4 + 0)/2 = 14.
    let (w, conc, n) = run(NegativeAs::Zero);
    assert!(
        w[0].ends_with("DV = -0.5 at time 4: set to 0 (--negative zero)"),
        "{w:?}"
    );
    assert_eq!(conc, vec![8.0, 4.0, 0.0]);
    assert_eq!((n.auclast, n.aucall), (10.0, 14.0));
    // exclude: the profile ends at 2 h, AUCall = AUClast = 10.
    let (w, conc, n) = run(NegativeAs::Exclude);
    assert!(w[0].ends_with("left out of the profile (--negative exclude)"), "{w:?}");
    assert_eq!(conc, vec![8.0, 4.0]);
    assert_eq!((n.auclast, n.aucall), (10.0, 10.0));
    // No negative value: no warning.
    let iv = intervals(
        "ID,TIME,DV,AMT,EVID\n3,0,.,100,1\n3,1,8,.,0\n3,2,4,.,0\n",
        Route::Extravascular,
        &BlqRules::default(),
        &options,
    )
    .unwrap();
    assert!(iv[0].warnings.is_empty());
}

#[test]
fn iv_bolus_cmax_is_observed_and_c0_apart() {
    use pk::nca::analyse;
    // C(t) = 10·e^(−kt), k = ln 2/2, sampled at 1, 2, 4, 8 h: 5√2, 5, 2.5, 0.625.
    let t = [1.0, 2.0, 4.0, 8.0];
    let c = [5.0 * 2f64.sqrt(), 5.0, 2.5, 0.625];
    let n = analyse(&t, &c, 100.0, Route::IvBolus, &NcaOptions::default()).unwrap();
    // C0, log-linear back through (1, 5√2) and (2, 5): 5√2·(5√2/5)^1 = 10.
    assert!((n.c0.unwrap() - 10.0).abs() < 1e-12, "C0 {:?}", n.c0);
    // CMAX is the largest observed concentration, 5√2 = 7.0711 at TMAX 1 h (not C0 at 0).
    assert_eq!((n.cmax, n.tmax), (5.0 * 2f64.sqrt(), 1.0));
    let values = n.values(Route::IvBolus);
    let get = |code: &str| values.iter().find(|v| v.0 == code).and_then(|v| v.1);
    assert_eq!(get("CMAX"), Some(5.0 * 2f64.sqrt()));
    assert!((get("C0").unwrap() - 10.0).abs() < 1e-12);
    // The first two samples rise (4 then 6): no back-extrapolation, C0 = the first sample 4;
    // CMAX 6 at 1 h.
    let n = analyse(
        &[0.5, 1.0, 3.0],
        &[4.0, 6.0, 3.0],
        100.0,
        Route::IvBolus,
        &NcaOptions::default(),
    )
    .unwrap();
    assert_eq!((n.c0, n.cmax, n.tmax), (Some(4.0), 6.0, 1.0));
}

#[test]
fn cmin_over_tau_is_observed_not_the_zero_put_at_the_dose() {
    use pk::nca::{analyse, AucRule};
    // Extravascular, samples at 1, 2, 4 h: 8, 6, 3; τ = 4. Linear trapezoids from (0, 0):
    // AUCτ = 1·8/2 + 1·(8 + 6)/2 + 2·(6 + 3)/2 = 4 + 7 + 9 = 20; Cavg = 20/4 = 5;
    // Cmin = 3 (observed; the 0 put at the dose time is not a sample);
    // fluctuation = (8 − 3)/5·100 = 100 %.
    let options = NcaOptions {
        rule: AucRule::Linear,
        tau: Some(4.0),
        ..NcaOptions::default()
    };
    let n = analyse(&[1.0, 2.0, 4.0], &[8.0, 6.0, 3.0], 50.0, Route::Extravascular, &options).unwrap();
    let i = n.interval.unwrap();
    assert_eq!((i.auctau, i.cavg, i.cmin, i.fluctuation), (20.0, 5.0, 3.0, 100.0));
}

#[test]
fn clearance_at_steady_state_is_dose_over_auctau() {
    use pk::nca::{analyse, AucRule};
    // Extravascular: the profile of `cmin_over_tau_is_observed_not_the_zero_put_at_the_dose`,
    // AUCτ = 20 (hand sum there), dose 50: CLss/F = 50/20 = 2.5, reported as CLFTAU.
    let options = NcaOptions {
        rule: AucRule::Linear,
        tau: Some(4.0),
        ..NcaOptions::default()
    };
    let n = analyse(&[1.0, 2.0, 4.0], &[8.0, 6.0, 3.0], 50.0, Route::Extravascular, &options).unwrap();
    assert_eq!(n.interval.unwrap().clss, 2.5);
    let values = n.values(Route::Extravascular);
    assert!(values.iter().any(|v| v.0 == "CLFTAU" && v.1 == Some(2.5)));
    assert!(!values.iter().any(|v| v.0 == "CLTAU"));
    // IV bolus, C(t) = 10·e^(−kt), k = ln 2/2, samples 1, 2, 4, 8 h, τ = 8: the log-down
    // trapezoids from C0 = 10 are exact, AUCτ = (10/k)(1 − e^(−8k)) = 28.853901·0.9375
    // = 27.050532; CLss = 100/27.050532 = 3.696784 L/h, reported as CLTAU.
    let k = std::f64::consts::LN_2 / 2.0;
    let options = NcaOptions {
        tau: Some(8.0),
        ..NcaOptions::default()
    };
    let c = [5.0 * 2f64.sqrt(), 5.0, 2.5, 0.625];
    let n = analyse(&[1.0, 2.0, 4.0, 8.0], &c, 100.0, Route::IvBolus, &options).unwrap();
    let want = 100.0 / (10.0 / k * (1.0 - 0.0625));
    assert!((want - 3.696784).abs() < 1e-6);
    let clss = n.interval.unwrap().clss;
    assert!((clss / want - 1.0).abs() < 1e-12, "{clss} vs {want}");
    let values = n.values(Route::IvBolus);
    assert!(values.iter().any(|v| v.0 == "CLTAU" && v.1 == Some(clss)));
    // Without τ (single dose, no --tau): no CLss.
    let n = analyse(&[1.0, 2.0, 4.0, 8.0], &c, 100.0, Route::IvBolus, &NcaOptions::default()).unwrap();
    assert!(n.interval.is_none());
    assert!(!n.values(Route::IvBolus).iter().any(|v| v.0 == "CLTAU"));
}
