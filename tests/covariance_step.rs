//! The covariance step against NONMEM's own: at NONMEM's final estimates (from
//! each run's `.ext`), the sandwich R⁻¹SR⁻¹ (NONMEM's default `$COVARIANCE`)
//! gives standard errors within 0.5% of the SE row (ITERATION −1000000001) of
//! the same `.ext` file (issue 15 asks for 3%), for every estimated θ, Ω and σ
//! element. Runs: nlmixr2test N012 (ADVAN1 infusion), N049 (ADVAN3,
//! Infusion_2CPT, the issue's reference: SEs of log θ 0.0278, 0.0285, 0.0514,
//! 0.0343, σ 0.0018), N060 (ADVAN4 oral) and pharmpy's pheno with a BLOCK(2)
//! Ω, a bounded θ and covariates (run2). The R- and S-matrix forms are checked
//! against the sandwich's algebra, the failure words on a model that cannot
//! identify its parameters, and the `.cov` file's layout.

use pk::nonmem::import::Import;
use pk::nonmem::read_ext;
use pk::population::covariance::{covariance_step, CovarianceFailure, CovarianceMatrix};
use pk::population::estimation::{objective, Parameters, PopulationData, PopulationFit};

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
        history: Vec::new(),
    };
    Run { imp, pop, fit, start }
}

/// Standard errors in NONMEM's numbering: θ (where estimated), and Ω(i, j) (i ≥ j, 1-based).
type NonmemSes = (Vec<Option<f64>>, Vec<(usize, usize, f64)>);

/// The standard errors of `matrix` in NONMEM's numbering.
fn nonmem_ses(run: &Run, matrix: CovarianceMatrix) -> NonmemSes {
    let m = &run.imp.model;
    let step = covariance_step(m, &run.pop, &run.start, &run.fit, matrix)
        .unwrap()
        .unwrap();
    let se = step.standard_errors();
    let (theta, omega, _sigma) = run.imp.lowered.parameters.nm_standard_errors(m, &step.names, &se);
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
            ((got - want) / want).abs() < 0.005,
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
fn oral_2cpt_n060_sandwich_equals_nonmem() {
    check_sandwich_against_nonmem("nlmixr2test_runN060_advan4_oral", "runN060.ctl", "runN060.ext");
}

#[test]
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

/// A model that cannot identify its parameters: CL = PTVCL·SCALE·WGT, where
/// only the product PTVCL·SCALE is informed. The R matrix is then singular
/// along ln PTVCL − ln SCALE, and the step fails in NONMEM's words, naming
/// both estimates; the estimates stand.
#[test]
fn over_parameterised_model_fails_in_nonmem_words() {
    use pk::data::{read_dataset, ReadOptions};
    use pk::model::Model;
    use pk::population::estimation::PopValues;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/pheno.pk"))
        .unwrap()
        .replace("theta PTVV", "theta SCALE = 1 (0, )\ntheta PTVV")
        .replace("TVCL = PTVCL * WGT", "TVCL = PTVCL * SCALE * WGT");
    let model = Model::from_text(&text, "pheno_scaled.pk").unwrap();
    let data = read_dataset(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pheno/pheno.csv"),
        &ReadOptions::default(),
    )
    .unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    let start = PopValues::initial(&model);
    let evaluation = objective(&model, &pop, &start, pk::population::estimation::Method::FoceI, &[]).unwrap();
    let fit = PopulationFit {
        phi: Parameters::of(&model).phi(&model, &start).unwrap(),
        history: Vec::new(),
        values: start.clone(),
        method: pk::population::estimation::Method::FoceI,
        evaluation,
        converged: true,
        message: String::new(),
        iterations: 0,
        objective_evaluations: 1,
    };
    for matrix in [CovarianceMatrix::Sandwich, CovarianceMatrix::R] {
        let failure = covariance_step(&model, &pop, &start, &fit, matrix)
            .unwrap()
            .unwrap_err();
        let CovarianceFailure::R {
            singular, direction, ..
        } = &failure
        else {
            panic!("expected an R-matrix failure, got {failure:?}");
        };
        assert!(*singular, "{failure}");
        assert!(
            direction.contains(&"PTVCL".to_string()) && direction.contains(&"SCALE".to_string()),
            "{failure}"
        );
        let words = failure.to_string();
        assert!(words.starts_with("R MATRIX ALGORITHMICALLY SINGULAR"), "{words}");
        assert!(words.contains("the estimates stand"), "{words}");
    }
    let failure = covariance_step(&model, &pop, &start, &fit, CovarianceMatrix::S)
        .unwrap()
        .unwrap_err();
    assert!(
        failure.to_string().starts_with("S MATRIX ALGORITHMICALLY SINGULAR"),
        "{failure}"
    );
}

/// `--cov FILE` on Infusion_2CPT at NONMEM's estimates: NONMEM's `.cov`
/// layout (THETA1…, SIGMA(1,1), OMEGA(i,j) lower triangle, zeros where not
/// estimated or fixed), its diagonal the squared SEs of the JSON and of NONMEM's SE
/// row (runN049.ext) within 3%; the JSON's correlation matrix, eigenvalues
/// (ascending) and condition number are those of that matrix.
#[test]
fn cov_file_in_nonmem_layout_with_correlation_and_eigenvalues() {
    let dir = tempfile::tempdir().unwrap();
    let cov = dir.path().join("run.cov");
    let json = dir.path().join("run.json");
    let run = format!("{ROOT}/nlmixr2test_runN049_advan3_infusion");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "popfit",
            &format!("{run}/runN049.ctl"),
            "--inits-from",
            &format!("{run}/runN049.ext"),
            "--evaluate",
            "--covariance",
            "--cov",
            cov.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Correlation matrix of the estimates"), "{stdout}");
    assert!(stdout.contains("Condition number"), "{stdout}");
    let text = std::fs::read_to_string(&cov).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("TABLE NO.     1: First Order Conditional Estimation with Interaction"));
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let names = [
        "NAME",
        "THETA1",
        "THETA2",
        "THETA3",
        "THETA4",
        "THETA5",
        "SIGMA(1,1)",
        "OMEGA(1,1)",
        "OMEGA(2,1)",
        "OMEGA(2,2)",
    ];
    assert_eq!(&header[..names.len()], &names);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap() - 1;
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), header.len() - 1);
    // OMEGA(2,1) is not estimated (diagonal Ω): a row and a column of zeros.
    let o21 = col("OMEGA(2,1)");
    assert!(rows[o21].iter().all(|v| *v == 0.0) && rows.iter().all(|r| r[o21] == 0.0));
    // Symmetric.
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            assert!((v - rows[j][i]).abs() <= 1e-8 * v.abs().max(1e-300), "({i},{j})");
        }
    }
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let se_theta: Vec<f64> = doc["se"]["theta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let nm = read_ext(format!("{run}/runN049.ext")).unwrap();
    let nm_se = nm.last().unwrap().standard_errors().unwrap();
    for k in 0..5 {
        let from_cov = rows[k][k].sqrt();
        assert!((from_cov / se_theta[k] - 1.0).abs() < 1e-7, "THETA{}", k + 1);
        assert!(
            (from_cov / nm_se.theta[k] - 1.0).abs() < 0.03,
            "THETA{} vs NONMEM",
            k + 1
        );
    }
    // SIGMA(1,1) is fixed at 1 (the residual SD is θ5): zeros.
    let s11 = col("SIGMA(1,1)");
    assert!(rows[s11].iter().all(|v| *v == 0.0));
    let c = &doc["covariance"];
    assert_eq!(c["matrix"], "sandwich");
    let corr = c["correlation"].as_array().unwrap();
    let n = corr.len();
    let cov_json = c["covariance"].as_array().unwrap();
    for i in 0..n {
        for j in 0..n {
            let r = corr[i][j].as_f64().unwrap();
            let (cij, cii, cjj) = (
                cov_json[i][j].as_f64().unwrap(),
                cov_json[i][i].as_f64().unwrap(),
                cov_json[j][j].as_f64().unwrap(),
            );
            assert!((r - cij / (cii * cjj).sqrt()).abs() < 1e-12, "({i},{j})");
        }
    }
    let eig: Vec<f64> = c["eigenvalues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(eig.windows(2).all(|w| w[0] <= w[1]), "{eig:?}");
    // The eigenvalues of a correlation matrix add up to its trace, n.
    assert!((eig.iter().sum::<f64>() - n as f64).abs() < 1e-9, "{eig:?}");
    let cond = c["condition_number"].as_f64().unwrap();
    assert!((cond - eig[n - 1] / eig[0]).abs() < 1e-9 * cond);
}

/// `--cov` for a model written in the language numbers θ, σ and Ω as
/// NONMEM would (declaration order).
#[test]
fn cov_file_of_a_language_model() {
    let dir = tempfile::tempdir().unwrap();
    let cov = dir.path().join("pheno.cov");
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "popfit",
            &format!("{root}/fixtures/pheno/pheno.csv"),
            "--model",
            &format!("{root}/models/pheno.pk"),
            "--cov",
            cov.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&cov).unwrap();
    let header: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "THETA1",
            "THETA2",
            "THETA3",
            "SIGMA(1,1)",
            "OMEGA(1,1)",
            "OMEGA(2,1)",
            "OMEGA(2,2)"
        ]
    );
    // --cov with --no-covariance is refused on the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pk"))
        .args([
            "popfit",
            &format!("{root}/fixtures/pheno/pheno.csv"),
            "--model",
            &format!("{root}/models/pheno.pk"),
            "--no-covariance",
            "--cov",
            cov.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 15's acceptance, end to end: Infusion_2CPT fitted by FOCE-I from
/// models/two_cmt_pop.pk (θ estimated on the log scale), default (sandwich)
/// covariance step: SEs of log θ and of the residual SD within 3% of
/// NONMEM's (runN049.ext SE row: 0.0278, 0.0285, 0.0514, 0.0343; RSV 0.0018).
#[test]
fn infusion_2cpt_fit_standard_errors_equal_nonmem() {
    use pk::data::{read_dataset, ReadOptions};
    use pk::model::Model;
    use pk::population::estimation::{estimate, EstimationOptions, PopValues};
    let root = env!("CARGO_MANIFEST_DIR");
    let model = Model::load(&format!("{root}/models/two_cmt_pop.pk")).unwrap();
    let options = ReadOptions {
        drop: vec!["SS".into(), "II".into()],
    };
    let data = read_dataset(format!("{root}/fixtures/nlmixr2/Infusion_2CPT.csv"), &options).unwrap();
    let pop = PopulationData::new(&model, &data).unwrap();
    let start = PopValues::initial(&model);
    let fit = estimate(&model, &pop, &start, &EstimationOptions::default()).unwrap();
    assert!(fit.converged, "{}", fit.message);
    let step = covariance_step(&model, &pop, &start, &fit, CovarianceMatrix::Sandwich)
        .unwrap()
        .unwrap();
    let nm = read_ext(format!("{ROOT}/nlmixr2test_runN049_advan3_infusion/runN049.ext")).unwrap();
    let nm_se = nm.last().unwrap().standard_errors().unwrap();
    let log_scale = step.estimated_scale_standard_errors();
    for (k, name) in ["TVCL", "TVV1", "TVQ", "TVV2"].iter().enumerate() {
        assert_eq!(step.names[k], *name);
        assert_eq!(step.scales[k], "log");
        let (got, want) = (log_scale[k], nm_se.theta[k]);
        eprintln!("SE of log {name}: {got:.5} vs NONMEM {want:.5}");
        assert!((got / want - 1.0).abs() < 0.03, "{name}: {got} vs {want}");
    }
    // The residual SD: the engine's σ is a variance, NONMEM's θ5 (RSV) an SD;
    // SE(SD) = SE(σ²) / (2·SD).
    let k = step.names.iter().position(|n| n == "SIGMA(prop)").unwrap();
    let sd = step.estimates[k].sqrt();
    let got = step.standard_errors()[k] / (2.0 * sd);
    let want = nm_se.theta[4];
    eprintln!("SE of the residual SD: {got:.5} vs NONMEM {want:.5}");
    assert!((got / want - 1.0).abs() < 0.03, "{got} vs {want}");
}
