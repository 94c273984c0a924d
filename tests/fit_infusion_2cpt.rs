//! Individual fits of the nlmixr2 `Infusion_2CPT` data, single-dose part
//! (SD = 1; 120 subjects, 1 h infusions of 10–120 mg, 20% residual error),
//! with SS and II dropped as in the reference runs (`fixtures/nlmixr2/SOURCE.md`).
//! The true individual CL, V, Q and V2 are columns of the file.
//!
//! Every subject must be fitted and converge, and no fit may be silently
//! wrong: a fit whose estimates collapsed (a parameter at a bound or more than
//! 10-fold from the truth) must be flagged as not identifiable.

use pk::data::{read_dataset, ReadOptions};
use pk::fit::{fit_dataset, ErrorChoice, FitOptions};
use pk::model::Model;
use pk::units::{AmountUnit, ConcentrationUnit};

#[test]
fn every_single_dose_subject_is_fitted_and_collapses_are_flagged() {
    let file = Model::load("two_cmt_iv").unwrap();
    let mut model = ErrorChoice::parse(Some("proportional"), None)
        .unwrap()
        .apply(&file)
        .unwrap();
    model.units.amount = AmountUnit::parse("ug").unwrap();
    model.units.concentration = ConcentrationUnit::parse("ug/L").unwrap();
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset("fixtures/nlmixr2/Infusion_2CPT.csv", &options)
        .unwrap()
        .accept("SD", 1.0)
        .unwrap();
    assert_eq!(data.subjects.len(), 120);
    let truth_column = |name: &str| data.covariate_index(name).unwrap();
    let outcomes = fit_dataset(&model, &data, &FitOptions::new());
    let (mut flagged, mut collapsed) = (0, 0);
    for ((id, outcome), subject) in outcomes.iter().zip(&data.subjects) {
        let fit = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("subject {id} not fitted: {e}"));
        assert!(fit.converged, "subject {id}: {}", fit.message);
        let record = &subject.records[0];
        let mut worst: f64 = 0.0;
        for (param, column) in [("CL", "CL"), ("V1", "V"), ("Q", "Q"), ("V2", "V2")] {
            let truth = record.covariates[truth_column(column)];
            let est = fit.parameter(param).unwrap().estimate;
            let log_error = (est / truth).ln().abs();
            worst = worst.max(log_error);
            if fit.identifiable {
                // Unflagged fits are usable: CL within 1.5-fold, the others within 5-fold.
                let limit = if param == "CL" { 1.5f64.ln() } else { 5f64.ln() };
                assert!(
                    log_error < limit,
                    "subject {id}: {param} {est} vs true {truth}, not flagged"
                );
            }
        }
        let is_collapsed = worst > 10f64.ln() || fit.parameters.iter().any(|p| p.at_bound);
        if is_collapsed {
            collapsed += 1;
            assert!(!fit.identifiable, "subject {id} collapsed but was not flagged");
        }
        flagged += usize::from(!fit.identifiable);
    }
    eprintln!("120 subjects fitted; {flagged} flagged as not identifiable, {collapsed} of them collapsed");
    assert!(collapsed <= flagged);
}
