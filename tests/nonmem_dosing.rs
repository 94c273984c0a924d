//! The engine's concentrations against NONMEM's for 29 dosing scenarios
//! (mrgsolve nmtests run 1001, NONMEM's own `$TABLE` output; see
//! `fixtures/nonmem_dosing/SOURCE.md`), with the control stream written in the
//! model language (`fixtures/nonmem_dosing/model_1001.pk`: ADVAN2 TRANS2,
//! ALAG2, F2, R2 and D2 from data columns).
//!
//! NONMEM printed CP with 5 significant digits (format 1PE11.4), so the
//! reference carries a rounding error of up to half a unit in the 5th digit.
//! The test asserts that the engine's value, rounded the way NONMEM rounds,
//! is NONMEM's printed value: |engine − NONMEM| ≤ ½ unit of NONMEM's last digit
//! (+1e-9 absolute near zero), for every record.

use pk::data::{read_dataset, Dataset, Evid, ReadOptions};
use pk::model::scenario::grid_scenario;
use pk::model::{Model, Values};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/nonmem_dosing");

/// The same model as user ODEs (depot → central, first-order absorption and
/// elimination), with the same dose attributes.
const ODE_TWIN: &str = r#"
units amount=mg, volume=L, time=h, concentration=ng/mL
covariates LAGT, BIOAV, RAT2, DUR2
theta CL = 1.1 (0.01, 100)
theta V = 20 (0.1, 1000)
theta KA = 1.5 (0.01, 100)
sigma prop ~ 0.01
d/dt(depot) = -KA * depot
d/dt(central) = KA * depot - CL / V * central
ALAG(central) = LAGT
F(central) = BIOAV
RATE(central) = RAT2
DUR(central) = DUR2
output CP = central / V ~ prop(prop)
"#;

fn nonmem_results() -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(format!("{DIR}/dosing_results_1001-nm.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

fn dosing_data() -> Dataset {
    read_dataset(format!("{DIR}/dosing_data_1001.csv"), &ReadOptions::default()).unwrap()
}

/// Predictions at every record of `subject` of `data`, θ at the model's values.
fn predict_records(model: &Model, data: &Dataset, subject: &pk::data::Subject) -> Vec<f64> {
    let theta = model.theta_init();
    let sigma = model.sigma_sd_init();
    let v = Values {
        theta: &theta,
        eta: &[],
        kappa: &[],
        sigma_sd: &sigma,
    };
    let s = model.subject(data, subject).unwrap();
    model.predict_records(&s, &v).unwrap().f
}

/// Half a unit in the 5th significant digit of a printed value.
fn print_tolerance(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let exponent = v.abs().log10().floor();
    0.5 * 10f64.powf(exponent - 4.0)
}

#[test]
fn every_record_of_29_scenarios_equals_nonmem() {
    let model = Model::load(&format!("{DIR}/model_1001.pk")).unwrap();
    let data = dosing_data();
    let reference = nonmem_results();
    let mut row = 0;
    let mut failures = Vec::new();
    let mut worst_rel: f64 = 0.0;
    for subject in &data.subjects {
        let conc = predict_records(&model, &data, subject);
        for (i, &c) in conc.iter().enumerate() {
            let (id, time, nm) = &reference[row];
            row += 1;
            assert_eq!(id, &subject.id);
            assert_eq!(*time, subject.records[i].time);
            let diff = (c - nm).abs();
            if *nm != 0.0 {
                worst_rel = worst_rel.max(diff / nm.abs());
            }
            if diff > print_tolerance(*nm) * (1.0 + 1e-9) + 1e-9 {
                failures.push(format!(
                    "ID {id} TIME {time} (line {}): engine {c}, NONMEM {nm}",
                    subject.records[i].line
                ));
            }
        }
    }
    assert_eq!(row, reference.len(), "every NONMEM row compared");
    assert!(
        failures.is_empty(),
        "{} of {row} records differ:\n{}",
        failures.len(),
        failures.iter().take(400).cloned().collect::<Vec<_>>().join("\n")
    );
    eprintln!("{row} records compared; worst relative difference {worst_rel:.3e}");
    // The largest relative difference is what rounding to 5 digits allows (≤ 5e-5).
    assert!(worst_rel <= 5e-5, "worst relative difference {worst_rel}");
}

/// The user-ODE twin, integrated numerically, through the same 29 scenarios
/// (steady state, lag, F, modelled rate and duration, resets) equals the
/// closed form to 1e-6 relative.
#[test]
fn integrated_odes_equal_the_closed_form_on_all_scenarios() {
    let model = Model::load(&format!("{DIR}/model_1001.pk")).unwrap();
    let ode = Model::from_text(ODE_TWIN, "model_1001_ode.pk")
        .unwrap()
        .integrated_numerically();
    let data = dosing_data();
    for subject in &data.subjects {
        let closed = predict_records(&model, &data, subject);
        let integrated = predict_records(&ode, &data, subject);
        let peak = closed.iter().cloned().fold(0.0, f64::max);
        for (i, (a, b)) in closed.iter().zip(&integrated).enumerate() {
            let d = (a - b).abs();
            assert!(
                d <= 1e-6 * a.abs() || d <= 1e-9 * peak,
                "ID {} record {i}: closed {a}, ODE {b}",
                subject.id
            );
        }
    }
}

/// Predicting a subject's dosing history at chosen times (prediction
/// records added on a grid, behind `pk simulate --data … --grid`) gives the
/// same concentrations as the record-by-record prediction at the records' own
/// times, in every scenario.
#[test]
fn predictions_at_chosen_times_equal_record_predictions() {
    let model = Model::load(&format!("{DIR}/model_1001.pk")).unwrap();
    let data = dosing_data();
    for subject in &data.subjects {
        // Scenarios with resets reuse times after the reset; chosen times are a single time line.
        if subject
            .records
            .iter()
            .any(|r| matches!(r.evid, Evid::Reset | Evid::ResetDose))
        {
            continue;
        }
        let at_records = predict_records(&model, &data, subject);
        let observed: Vec<usize> = (0..subject.records.len())
            .filter(|&i| !subject.records[i].is_dose())
            .collect();
        let times: Vec<f64> = observed.iter().map(|&i| subject.records[i].time).collect();
        let scenario = grid_scenario(&data, subject, &times, false);
        let on_grid = predict_records(&model, &scenario.data, scenario.subject());
        for (k, &i) in observed.iter().enumerate() {
            assert_eq!(
                on_grid[scenario.slots[k]], at_records[i],
                "ID {} time {}",
                subject.id, times[k]
            );
        }
    }
}
