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
