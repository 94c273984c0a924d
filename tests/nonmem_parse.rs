//! The NONMEM control-stream reader on the project's public NONMEM runs.
//!
//! Control streams, data, `.ext` and `.lst` files are copies under `fixtures/`
//! (see each `SOURCE.md`): the seven runs of `fixtures/nonmem_runs/`
//! (nlmixr2test@2c1809ad, NONMEM 7.4.3; pharmpy@435dd66e, NONMEM 7.4.4),
//! bauer2019 run 402, pheno_real (pharmpy) and mrgsolve's nmtests run 1001.
//! The expected values are those written in the control streams, and for the
//! `.ext` rows the numbers listed in each SOURCE.md (NONMEM's own output).

use pk::nonmem::code::{ExprKind, StatementKind};
use pk::nonmem::dataset::{parse_dataset, read_dataset};
use pk::nonmem::{
    read_ext, BlockForm, CommentRule, ControlStream, EstimationMethod, ExtEstimates, FilterOp, NonmemError,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(case: &str, file: &str) -> ControlStream {
    let path = format!("{ROOT}/fixtures/nonmem_runs/{case}/{file}");
    ControlStream::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn ext_final(case: &str, file: &str) -> (ExtEstimates, Option<ExtEstimates>) {
    let t = read_ext(format!("{ROOT}/fixtures/nonmem_runs/{case}/{file}")).unwrap();
    assert_eq!(t.len(), 1, "one estimation table");
    assert_eq!(t[0].method, "First Order Conditional Estimation with Interaction");
    (t[0].final_estimates().unwrap(), t[0].standard_errors())
}

fn names(cs: &ControlStream) -> Vec<&str> {
    cs.input.iter().map(|c| c.name.as_str()).collect()
}

fn code(cs: &ControlStream, record: &str) -> Vec<String> {
    let b = match record {
        "$PK" => cs.pk.as_ref(),
        "$ERROR" => cs.error.as_ref(),
        "$DES" => cs.des.as_ref(),
        _ => cs.pred.as_ref(),
    };
    b.unwrap().statements.iter().map(|s| s.to_string()).collect()
}

/// A number as NONMEM printed it (17 digits, more than an f64 literal carries).
fn num(text: &str) -> f64 {
    text.parse().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

/// The nlmixr2test runs share their $ERROR, $SIGMA, $EST, $COV.
fn nlmixr2_common(cs: &ControlStream, nsig: f64) {
    assert_eq!(
        code(cs, "$ERROR"),
        [
            "IPRED = F",
            &format!("RESCV = THETA({})", cs.thetas.len()),
            "W = IPRED * RESCV",
            "IRES = DV - IPRED",
            "IWRES = IRES / W",
            "Y = IPRED + W * EPS(1)",
        ]
    );
    let last = cs.thetas.last().unwrap();
    assert_eq!((last.lower, last.init, last.upper), (0.0, Some(0.3), 1.0));
    assert_eq!(last.label.as_deref(), Some("RSV"));
    assert!(cs
        .omega
        .iter()
        .all(|b| b.size == 1 && b.values == [0.15] && !b.fixed && b.form == BlockForm::Diagonal));
    assert_eq!(cs.sigma.len(), 1);
    assert_eq!(cs.sigma[0].values, [1.0]);
    assert!(cs.sigma[0].fixed);
    assert_eq!(cs.estimations.len(), 1);
    let e = &cs.estimations[0];
    assert_eq!(e.method, Some(EstimationMethod::Conditional));
    assert_eq!(e.interaction, Some(true));
    assert_eq!(e.maxeval, Some(9999));
    assert_eq!(e.sigdigits, Some(nsig));
    assert_eq!(e.print, Some(5));
    assert!(e.noabort);
    assert_eq!(e.posthoc, Some(true));
    assert!(e.other.iter().any(|o| o.name == "NOOBT"));
    assert!(cs.covariance.is_some());
    let t = &cs.tables[0];
    assert!(t.noprint && t.oneheader);
    assert_eq!(t.columns[0].item, "ID");
    assert_eq!(t.columns.last().unwrap().item, "CWRESI");
    cs.ensure_supported().unwrap();
}

#[test]
fn run_n012_advan1_infusion() {
    let case = "nlmixr2test_runN012_advan1_infusion";
    let cs = run(case, "runN012.ctl");
    assert!(cs
        .problem
        .as_ref()
        .unwrap()
        .title
        .starts_with("INFUSION_1CPT_VCL SINGLE DOSE FOCE INTER"));
    assert_eq!(
        names(&cs),
        ["ID", "TIME", "DV", "LNDV", "MDV", "AMT", "RATE", "EVID", "DOSE", "VI", "CLI", "SSX", "IIX", "SD", "CMT"]
    );
    assert!(cs.input.iter().all(|c| !c.dropped && c.synonym.is_none()));
    let d = cs.data.as_ref().unwrap();
    assert_eq!(d.path, "INFUSION_1CPT.csv");
    assert_eq!(d.comments, CommentRule::AlphabeticOrAt);
    assert_eq!(d.ignore.len(), 1);
    assert_eq!(
        (d.ignore[0].label.as_str(), d.ignore[0].op, d.ignore[0].value.as_str()),
        ("SD", FilterOp::TextEq, "0")
    );
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans, s.tol), (Some(1), Some(2), None));
    assert_eq!(
        code(&cs, "$PK"),
        ["CL = EXP(THETA(1) + ETA(1))", "V = EXP(THETA(2) + ETA(2))", "S1 = V"]
    );
    assert_eq!(cs.thetas.len(), 3);
    assert_eq!(cs.thetas[0].init, Some(1.6));
    assert_eq!(cs.thetas[0].lower, f64::NEG_INFINITY);
    assert_eq!(cs.thetas[0].label.as_deref(), Some("log Cl"));
    assert_eq!(cs.thetas[1].label.as_deref(), Some("log Vc"));
    assert_eq!(cs.omega.len(), 2);
    nlmixr2_common(&cs, 3.0);
    assert_eq!(cs.tables[0].columns.len(), 17);
    assert_eq!(cs.tables[0].file.as_deref(), Some("runN012.csv"));

    let (f, se) = ext_final(case, "runN012.ext");
    assert_eq!(f.objective, 19553.2762000550);
    assert_eq!(f.theta, [1.39335, 4.2694, 0.200449]);
    assert_eq!(f.sigma(1, 1), Some(1.0));
    assert_eq!(f.omega(1, 1), Some(0.0774791));
    assert_eq!(f.omega(2, 2), Some(0.0959909));
    let se = se.unwrap();
    assert_eq!(se.theta(3), Some(0.00333755));
    assert_eq!(se.omega(2, 2), Some(0.0116011));

    // IGNORE=@ skips the header, IGNORE(SD.EQ.0) the multiple-dose part:
    // 2400 records, 2276 observations (SOURCE.md: 120 Ind/2276 Obs).
    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 2400);
    let mdv = data.column_index("MDV").unwrap();
    assert_eq!(data.rows.iter().filter(|r| r.get(mdv) == Some(0.0)).count(), 2276);
    assert_eq!(data.rows[0].line, 2);
    assert_eq!(data.rows[0].get(data.column_index("RATE").unwrap()), Some(120000.0));
}

#[test]
fn run_n049_advan3_infusion() {
    let case = "nlmixr2test_runN049_advan3_infusion";
    let cs = run(case, "runN049.ctl");
    assert_eq!(cs.input.len(), 17);
    assert_eq!(cs.input_column("V2I").unwrap().position, 12);
    let d = cs.data.as_ref().unwrap();
    assert!(d.ignore.is_empty() && d.accept.is_empty());
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans), (Some(3), Some(4)));
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 6);
    assert_eq!(pk[3], "V2 = EXP(THETA(4) + ETA(4))");
    assert_eq!(pk[4], "V1 = V");
    let inits: Vec<Option<f64>> = cs.thetas.iter().map(|t| t.init).collect();
    assert_eq!(inits, [Some(1.6), Some(4.5), Some(1.6), Some(4.0), Some(0.3)]);
    assert_eq!(cs.thetas[3].label.as_deref(), Some("log Vp"));
    assert_eq!(cs.omega.len(), 4);
    assert_eq!(cs.omega[3].first, 4);
    nlmixr2_common(&cs, 3.0);

    let (f, se) = ext_final(case, "runN049.ext");
    assert_eq!(f.objective, 64970.5723653141);
    assert_eq!(f.theta, [1.36201, 4.22309, 1.34424, 3.9249, 0.202925]);
    assert_eq!(f.omega(3, 3), Some(0.111778));
    assert_eq!(f.omega(4, 4), Some(0.109663));
    assert_eq!(f.omega(4, 1), Some(0.0));
    let se = se.unwrap();
    assert_eq!(se.theta(5), Some(0.00180571));
    assert_eq!(se.omega(1, 1), Some(0.0103885));

    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 7920, "all doses, header skipped");
}

#[test]
fn run_n060_advan4_oral() {
    let case = "nlmixr2test_runN060_advan4_oral";
    let cs = run(case, "runN060.ctl");
    assert_eq!(names(&cs)[5..8], ["AMT", "EVID", "DOSE"]);
    let d = cs.data.as_ref().unwrap();
    assert_eq!(d.ignore[0].label, "SD");
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans), (Some(4), Some(4)));
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 7);
    assert_eq!(pk[4], "KA = EXP(THETA(5) + ETA(5))");
    assert_eq!(pk[6], "S2 = V");
    assert_eq!(cs.thetas[4].init, Some(0.2));
    assert_eq!(cs.thetas[4].label.as_deref(), Some("log KA"));
    assert_eq!(cs.omega.len(), 5);
    nlmixr2_common(&cs, 3.0);

    let (f, se) = ext_final(case, "runN060.ext");
    assert_eq!(f.objective, 19498.8973569840);
    assert_eq!(f.theta(5), Some(-0.0729791));
    assert_eq!(f.theta(6), Some(0.197358));
    assert_eq!(f.omega(5, 5), Some(0.11511));
    assert_eq!(se.unwrap().theta(3), Some(0.112119));

    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 2400);
}

#[test]
fn run_ode054_des_michaelis_menten() {
    let case = "nlmixr2test_runODE054_des_mm_infusion2cpt";
    let cs = run(case, "runODE054.ctl");
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans, s.tol), (Some(13), None, Some(7)));
    let m = cs.model.as_ref().unwrap();
    assert_eq!(m.compartments.len(), 2);
    assert_eq!(m.compartments[0].name, "CENTRAL");
    assert!(m.compartments[0].default_dose && m.compartments[0].default_observation);
    assert_eq!(m.compartments[1].name, "PERI");
    assert!(!m.compartments[1].default_dose);
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 9);
    assert_eq!(pk[0], "VM = EXP(THETA(1) + ETA(1))");
    assert_eq!(pk[5], "K12 = Q / V");
    assert_eq!(
        code(&cs, "$DES"),
        [
            "C1 = A(1) / V1",
            "DADT(1) = K21 * A(2) - K12 * A(1) - VM * C1 / (KM + C1)",
            "DADT(2) = -K21 * A(2) + K12 * A(1)",
        ]
    );
    let des = cs.des.as_ref().unwrap();
    let dadt1 = &des.statements[1];
    assert_eq!(dadt1.line, 20);
    let StatementKind::Assign { target, value } = &dadt1.kind else {
        panic!("assignment expected")
    };
    assert!(target.is("DADT", 1));
    let reads: Vec<String> = value.variables().iter().map(|v| v.to_string()).collect();
    assert_eq!(reads, ["K21", "A(2)", "K12", "A(1)", "VM", "C1", "KM", "C1"]);
    assert_eq!(cs.thetas[0].init, Some(7.0));
    assert_eq!(cs.thetas[1].label.as_deref(), Some("log KM"));
    nlmixr2_common(&cs, 2.0);
    let sigl = cs.estimations[0].other.iter().find(|o| o.name == "SIGL").unwrap();
    assert_eq!(sigl.value.as_deref(), Some("6"));

    let (f, se) = ext_final(case, "runODE054.ext");
    assert_eq!(f.objective, 21038.1976739600);
    assert_eq!(f.theta(1), Some(7.15177));
    assert_eq!(f.theta(2), Some(5.82302));
    assert_eq!(f.omega(2, 2), Some(0.112523));
    assert_eq!(se.unwrap().theta(1), Some(0.157093));

    // .lst: 2400 data records, 2280 observation records.
    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 2400);
    let mdv = data.column_index("MDV").unwrap();
    assert_eq!(data.rows.iter().filter(|r| r.nonmem(mdv) == 0.0).count(), 2280);
}

#[test]
fn run_ode060_des_twin_of_n060() {
    let case = "nlmixr2test_runODE060_des_oral2cpt";
    let cs = run(case, "runODE060.ctl");
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.tol), (Some(13), Some(6)));
    let m = cs.model.as_ref().unwrap();
    let comps: Vec<(&str, bool, bool)> = m
        .compartments
        .iter()
        .map(|c| (c.name.as_str(), c.default_dose, c.default_observation))
        .collect();
    assert_eq!(
        comps,
        [("ABS", true, false), ("CENTRAL", false, true), ("PERI", false, false)]
    );
    // Lines indented with tabs parse like the others.
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 9);
    assert_eq!(pk[4], "KA = EXP(THETA(5) + ETA(5))");
    assert_eq!(pk[8], "K23 = Q / V");
    let des = code(&cs, "$DES");
    assert_eq!(des[0], "DADT(1) = -KA * A(1)");
    assert_eq!(des[1], "DADT(2) = KA * A(1) + K32 * A(3) - K23 * A(2) - CL * A(2) / V2");
    nlmixr2_common(&cs, 2.0);

    let (f, _) = ext_final(case, "runODE060.ext");
    assert_eq!(f.objective, 19498.9048644456);
    assert_eq!(f.theta(6), Some(0.197337));
    assert_eq!(f.omega(3, 3), Some(0.163456));
    let (closed, _) = ext_final("nlmixr2test_runN060_advan4_oral", "runN060.ext");
    let gap = f.objective - closed.objective;
    assert!((gap - 0.0075).abs() < 1e-4, "OFV gap {gap} (README: 0.0075)");
}

#[test]
fn pharmpy_iov_block_same() {
    let case = "pharmpy_pheno_iov_block_same";
    let cs = run(case, "iov.mod");
    // $DATA before $INPUT; $PK code on the record line.
    assert_eq!(cs.data.as_ref().unwrap().path, "pheno.dta");
    assert_eq!(names(&cs), ["ID", "TIME", "AMT", "WGT", "APGR", "DV", "FA1"]);
    let pk = cs.pk.as_ref().unwrap();
    assert_eq!(pk.statements.len(), 11);
    assert_eq!(pk.statements[0].to_string(), "IOV_1 = 0");
    assert_eq!((pk.statements[0].line, pk.statements[0].column), (5, 5));
    assert_eq!(pk.statements[2].to_string(), "IF (FA1.EQ.1) IOV_1 = ETA(5)");
    let StatementKind::If {
        branches, single_line, ..
    } = &pk.statements[2].kind
    else {
        panic!("IF expected")
    };
    assert!(*single_line);
    let ExprKind::Binary { .. } = branches[0].condition.kind else {
        panic!("comparison expected")
    };
    assert_eq!(pk.assignments().len(), 11);
    assert_eq!(pk.first_assignment("CL").unwrap().to_string(), "THETA(1) * EXP(ETAI1)");
    assert_eq!(code(&cs, "$ERROR"), ["Y = F + F * EPS(1)"]);
    assert_eq!(cs.thetas[0].label.as_deref(), Some("TVCL"));
    assert_eq!(cs.thetas[1].init, Some(1.00916));

    assert_eq!(cs.omega.len(), 3);
    let [b1, b2, b3] = &cs.omega[..] else { panic!() };
    assert_eq!((b1.first, b1.size, b1.form), (1, 2, BlockForm::Block));
    assert_eq!(b1.values, [0.0309626, 0.001, 0.031128]);
    assert_eq!(b1.labels, [Some("IVCL".into()), Some("IVV".into())]);
    assert_eq!((b2.first, b2.size), (3, 2));
    assert_eq!(b2.values, [0.00309626, 0.0001, 0.0031128]);
    assert_eq!(b2.labels[0].as_deref(), Some("IOVCL"));
    assert_eq!((b3.first, b3.size, b3.form), (5, 2, BlockForm::Same { source: 1 }));
    assert_eq!(b3.values, b2.values);
    let om = cs.omega_matrix();
    assert_eq!(om.nrows(), 6);
    assert_eq!(om[(5, 4)], 0.0001);
    assert_eq!(om[(4, 3)], 0.0);
    assert_eq!(cs.sigma[0].values, [0.013241]);
    assert_eq!(cs.estimations[0].method, Some(EstimationMethod::Conditional));
    assert!(cs.covariance.is_none());

    let (f, se) = ext_final(case, "iov.ext");
    assert_eq!(f.objective, num("688.57974053270084"));
    assert_eq!(f.theta, [0.00676815, 1.40693]);
    assert_eq!(f.omega(2, 1), Some(0.018548));
    assert_eq!(f.omega(6, 5), Some(0.222493));
    assert_eq!(f.omega(5, 6), Some(0.222493));
    assert_eq!(f.omega(5, 5), f.omega(3, 3), "BLOCK SAME");
    assert_eq!(f.sigma(1, 1), Some(0.0113914));
    assert!(se.is_none(), "no $COV: no standard-error row");

    // 744 records; FA2, beyond $INPUT, is ignored.
    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 744);
    assert_eq!(data.columns.len(), 7);
    assert_eq!(
        data.rows[0].values,
        [
            Some(1.0),
            Some(0.0),
            Some(25.0),
            Some(1.4),
            Some(7.0),
            Some(0.0),
            Some(1.0)
        ]
    );
}

#[test]
fn pharmpy_wgt_covariate_block2() {
    let case = "pharmpy_pheno_wgt_cov_block2";
    let cs = run(case, "run2.mod");
    assert_eq!(names(&cs), ["ID", "TIME", "AMT", "WGT", "APGR", "DV"]);
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 6);
    assert_eq!(pk[1], "WGT_MEDIAN = 1.3");
    assert_eq!(pk[2], "CLWGT = EXP(THETA(3) * (WGT - WGT_MEDIAN))");
    assert_eq!(pk[3], "CL = CL * CLWGT");
    let t3 = &cs.thetas[2];
    assert_eq!((t3.lower, t3.init, t3.upper), (-0.8696, Some(0.001), 0.8696));
    assert_eq!(t3.label.as_deref(), Some("POP_CLWGT"));
    assert_eq!(cs.omega.len(), 1);
    assert_eq!(cs.omega[0].values, [0.0309626, 0.01, 0.031128]);
    assert_eq!(cs.omega[0].labels, [Some("IVCL".into()), Some("IVV".into())]);
    assert!(!cs.omega[0].fixed);
    assert!(cs.covariance.is_some());

    let (f, se) = ext_final(case, "run2.ext");
    assert_eq!(f.objective, num("675.80068820930251"));
    assert_eq!(f.theta, [0.00593094, 1.40123, 0.616894]);
    assert_eq!(f.omega(2, 1), Some(0.030269));
    assert_eq!(f.omega(2, 2), Some(0.162088));
    assert_eq!(f.sigma(1, 1), Some(0.0129624));
    let se = se.unwrap();
    assert_eq!(se.theta(3), Some(0.0954146));
    assert_eq!(se.omega(2, 1), Some(0.0386114));

    // The data file has 2 columns more than $INPUT: they are ignored.
    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 744);
    assert_eq!(data.columns.len(), 6);
    assert_eq!(data.rows.iter().filter(|r| r.nonmem(2) > 0.0).count(), 589);
}

#[test]
fn bauer2019_run402() {
    let cs = ControlStream::read(format!("{ROOT}/fixtures/bauer2019/402.ctl")).unwrap();
    assert_eq!(cs.problem.as_ref().unwrap().title, "RUN# 402 POPULATION DATA");
    assert_eq!(names(&cs), ["C", "ID", "TIME", "DV", "AMT"]);
    let d = cs.data.as_ref().unwrap();
    assert_eq!(d.comments, CommentRule::FirstCharacter('C'));
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans), (Some(3), Some(4)));
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 9);
    assert_eq!(pk[1], "V1 = TVV1 * EXP(ETA(1))");
    assert_eq!(pk[8], "S1 = V1");
    assert_eq!(code(&cs, "$ERROR"), ["Y = F * (1 + EPS(1))"]);
    let th: Vec<(f64, Option<f64>, Option<&str>)> = cs
        .thetas
        .iter()
        .map(|t| (t.lower, t.init, t.label.as_deref()))
        .collect();
    assert_eq!(
        th,
        [
            (0.0, Some(9.8), Some("[V1]")),
            (0.0, Some(3.7), Some("[CL]")),
            (0.0, Some(8.6), Some("[V2]")),
            (0.0, Some(31.0), Some("[Q]")),
        ]
    );
    assert_eq!(cs.omega.len(), 4);
    assert!(cs
        .omega
        .iter()
        .all(|b| b.values == [0.02] && b.labels[0].as_deref() == Some("[P]")));
    assert_eq!(cs.sigma[0].values, [0.02]);
    let e = &cs.estimations[0];
    assert_eq!(e.method, Some(EstimationMethod::Conditional));
    assert_eq!(e.interaction, Some(true));
    assert_eq!(e.maxeval, Some(9999));
    assert_eq!(e.format.as_deref(), Some(",1PE13.6"));
    let t = &cs.tables[0];
    assert_eq!(t.columns[3].item, "IPRE");
    assert_eq!(t.columns[3].synonym.as_deref(), Some("CIPRED"));
    assert_eq!(t.file.as_deref(), Some("402.tab"));
    assert_eq!(t.format.as_deref(), Some("s1PE12.5"));
    assert!(t
        .other
        .iter()
        .any(|o| o.name == "ESAMPLE" && o.value.as_deref() == Some("1000")));
    cs.ensure_supported().unwrap();

    // Two comment records (C in column 1); "." is null.
    let data = read_dataset(&cs).unwrap();
    assert_eq!(data.rows.len(), 390);
    assert_eq!(data.rows[0].line, 3);
    assert_eq!(data.rows[0].get(data.column_index("AMT").unwrap()), Some(250.0));
    assert_eq!(data.rows[0].get(data.column_index("DV").unwrap()), None);
    assert_eq!(data.rows[1].get(data.column_index("DV").unwrap()), Some(27.947));
}

#[test]
fn pheno_real() {
    let cs = ControlStream::read(format!("{ROOT}/fixtures/pheno/pheno_real.mod")).unwrap();
    let d = cs.data.as_ref().unwrap();
    assert_eq!(d.path, "pheno.dta", "quoted file name");
    assert_eq!(names(&cs).len(), 8);
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 8);
    assert_eq!(pk[0], "IF (AMT.GT.0) BTIME = TIME");
    assert_eq!(pk[4], "IF (APGR.LT.5) TVV = TVV * (1 + THETA(3))");
    assert_eq!(code(&cs, "$ERROR").len(), 5);
    let t: Vec<(f64, Option<f64>)> = cs.thetas.iter().map(|t| (t.lower, t.init)).collect();
    assert_eq!(t, [(0.0, Some(0.00469307)), (0.0, Some(1.00916)), (-0.99, Some(0.1))]);
    assert_eq!(cs.thetas[0].label.as_deref(), Some("PTVCL"));
    assert_eq!(cs.thetas[2].label, None);
    assert_eq!(cs.omega.len(), 2);
    assert_eq!(cs.omega[0].values, [0.0309626]);
    assert_eq!(cs.omega[1].labels[0].as_deref(), Some("IVV"));
    assert!(cs.covariance.as_ref().unwrap().unconditional);
    let t = &cs.tables[0];
    assert!(t.noappend && t.noprint && t.oneheader);
    assert_eq!(t.file.as_deref(), Some("sdtab1"));
    assert_eq!(t.columns.len(), 12);

    let tables = read_ext(format!("{ROOT}/fixtures/pheno/pheno_real.ext")).unwrap();
    let f = tables[0].final_estimates().unwrap();
    assert_eq!(f.objective, num("586.27605628188053"));
    assert_eq!(f.theta, [4.69555e-3, 9.84258e-1, 1.58920e-1]);
    assert_eq!(f.sigma(1, 1), Some(1.32410e-2));
    assert_eq!((f.omega(1, 1), f.omega(2, 2)), (Some(2.93508e-2), Some(2.79060e-2)));

    // Its data file is pharmpy's pheno.dta (the copy beside iov.mod).
    let text = std::fs::read_to_string(format!(
        "{ROOT}/fixtures/nonmem_runs/pharmpy_pheno_iov_block_same/pheno.dta"
    ))
    .unwrap();
    let data = parse_dataset(&cs, &text, "pheno.dta").unwrap();
    assert_eq!(data.rows.len(), 744);
    let dv = data.column_index("DV").unwrap();
    assert_eq!(data.rows[1].get(dv), Some(17.3));
}

#[test]
fn mrgsolve_dosing_1001_with_simulation_record() {
    let cs = ControlStream::read(format!("{ROOT}/fixtures/nonmem_dosing/dosing_1001.ctl")).unwrap();
    assert_eq!(cs.input.len(), 16);
    assert_eq!(names(&cs)[8], "ADDL");
    let d = cs.data.as_ref().unwrap();
    assert_eq!(d.path, "data/1001.csv");
    assert_eq!(d.comments, CommentRule::FirstCharacter('C'));
    let s = cs.subroutines.as_ref().unwrap();
    assert_eq!((s.advan, s.trans), (Some(2), Some(2)));
    let pk = code(&cs, "$PK");
    assert_eq!(pk.len(), 10);
    assert_eq!(pk[6], "ALAG2 = LAGT");
    assert_eq!(pk[8], "IF (MODE.EQ.1) R2 = RAT2");
    assert_eq!(code(&cs, "$ERROR")[1], "Y = IPRED * EXP(ERR(1))");
    // (1.1, FIX): fixed θ with their ";; CL" labels.
    let th: Vec<(Option<f64>, bool, Option<&str>)> = cs
        .thetas
        .iter()
        .map(|t| (t.init, t.fixed, t.label.as_deref()))
        .collect();
    assert_eq!(
        th,
        [
            (Some(1.1), true, Some("CL")),
            (Some(20.0), true, Some("V")),
            (Some(1.5), true, Some("KA"))
        ]
    );
    assert!(cs.omega.iter().all(|b| b.values == [0.0] && b.fixed));
    assert!(cs.sigma[0].fixed);
    assert_eq!(cs.tables[0].file.as_deref(), Some("TAB"));
    let e = cs.ensure_supported().unwrap_err();
    assert!(matches!(e, NonmemError::UnsupportedRecord { .. }));
    assert!(
        e.to_string().ends_with("dosing_1001.ctl, line 47, column 1: record $SIMULATION is not supported: simulation ($SIMULATION) is not supported by the importer"),
        "{e}"
    );

    let text = std::fs::read_to_string(format!("{ROOT}/fixtures/nonmem_dosing/dosing_data_1001.csv")).unwrap();
    let data = parse_dataset(&cs, &text, "dosing_data_1001.csv").unwrap();
    assert_eq!(data.rows.len(), 3837);
    let addl = data.column_index("ADDL").unwrap();
    assert_eq!(data.rows[0].get(addl), Some(3.0));
    assert_eq!(data.rows[0].get(data.column_index("DV").unwrap()), None);
}

#[test]
fn ext_values_match_the_source_tables() {
    // A value of each SOURCE.md table, per case, to tie the files together.
    let cases = [
        ("nlmixr2test_runN012_advan1_infusion", "runN012.ext", 2, 4.2694),
        ("nlmixr2test_runN049_advan3_infusion", "runN049.ext", 3, 1.34424),
        ("nlmixr2test_runN060_advan4_oral", "runN060.ext", 4, 3.82206),
        ("nlmixr2test_runODE054_des_mm_infusion2cpt", "runODE054.ext", 5, 3.83427),
        ("nlmixr2test_runODE060_des_oral2cpt", "runODE060.ext", 1, 1.376),
        ("pharmpy_pheno_iov_block_same", "iov.ext", 1, 0.00676815),
        ("pharmpy_pheno_wgt_cov_block2", "run2.ext", 2, 1.40123),
    ];
    for (case, file, k, want) in cases {
        let (f, _) = ext_final(case, file);
        assert!(close(f.theta(k).unwrap(), want), "{case} THETA{k}");
    }
}

// ------------------------------------------------ refused records and statements

fn parse(text: &str) -> ControlStream {
    ControlStream::parse(text, "model.ctl").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn each_unsupported_record_is_refused_with_its_name_and_line() {
    let cases = [
        ("$PRIOR NWPRI NTHETA=2", "$PRIOR", "priors"),
        ("$MIX\nP(1)=THETA(3)", "$MIX", "mixture models"),
        ("$MSFI run1.msf", "$MSFI", "model specification file"),
        ("$NONPARAMETRIC MARGINALS", "$NONPARAMETRIC", "nonparametric"),
        ("$SIMULATION (1234) ONLYSIM", "$SIMULATION", "simulation"),
        ("$SIML (1234)", "$SIML", "simulation"),
        ("$LEVEL SITE=(3)", "$LEVEL", "nested random-effect levels"),
        ("$ANNEAL 2:0.5", "$ANNEAL", "annealing"),
        ("$AES\nE(1)=A(1)", "$AES", "algebraic"),
        ("$INFN\nIF (ICALL.EQ.1) THEN", "$INFN", "Fortran"),
        ("$THETAP (1 FIX)", "$THETAP", "priors"),
        ("$OMIT 1", "$OMIT", "$OMIT"),
        ("$ABBR REPLACE ETA(OCC_CL)=ETA(3,4)", "$ABBR", "REPLACE"),
        ("$FOO bar", "$FOO", "unknown record"),
        ("$PROB second\n$INPUT X", "$PROB", "more than one problem"),
    ];
    for (rec, name, reason) in cases {
        let text = format!("$PROB test\n$INPUT ID TIME DV\n; comment\n{rec}\n$EST METHOD=1");
        let cs = parse(&text);
        let e = cs.ensure_supported().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "model.ctl, line 4, column 1: record {name} is not supported: "
            )),
            "{rec}: {msg}"
        );
        assert!(msg.contains(reason), "{rec}: {msg}");
        match e {
            NonmemError::UnsupportedRecord { at, record, .. } => {
                assert_eq!((at.line, record.as_str()), (4, name))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn tolerated_records_are_not_refused() {
    let cs = parse("$PROB t\n$SIZES LTH=100\n$ABBR DERIV2=NO COMRES=2\n$SCATTER DV VS PRED\n$WARNINGS NONE\n$INPUT ID");
    assert_eq!(cs.tolerated.len(), 4);
    assert_eq!(cs.tolerated[1].canonical.as_deref(), Some("ABBREVIATED"));
    cs.ensure_supported().unwrap();
}

#[test]
fn each_unsupported_statement_is_refused_with_its_record_and_line() {
    let cases = [
        ("IF (CL.LT.0) EXIT 1 100", 14, "EXIT", "error return"),
        ("EXIT 2", 1, "EXIT", "error return"),
        ("CALL RANDOM(2, R)", 1, "CALL", "CALL RANDOM"),
        (
            "\"  IF (ICALL.EQ.4) CALL SIMETA(ETA)",
            1,
            "verbatim code",
            "verbatim Fortran",
        ),
        ("DO WHILE (I.LT.3)\n  I = I + 1\nENDDO", 1, "DO WHILE", "loops"),
        ("   RETURN", 4, "RETURN", "RETURN"),
    ];
    for (stmt, col, name, reason) in cases {
        let text = format!("$PROB t\n$INPUT ID TIME DV\n$PK\nCL = THETA(1)\n{stmt}\nV = 1\n$THETA 1");
        let cs = parse(&text);
        assert_eq!(cs.pk.as_ref().unwrap().unsupported().len(), 1, "{stmt}");
        let e = cs.ensure_supported().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "model.ctl, line 5, column {col}: $PK: statement {name} is not supported: "
            )),
            "{stmt}: {msg}"
        );
        assert!(msg.contains(reason), "{stmt}: {msg}");
        assert_eq!(cs.pk.as_ref().unwrap().assignments().len(), 2, "{stmt}");
    }
}

#[test]
fn omega_sd_and_correlation_are_converted_to_variances() {
    let cs = parse("$PROB t\n$OMEGA STANDARD CORRELATION BLOCK(2)\n 0.8\n -0.394 0.762\n$OMEGA 0.3 SD\n$SIGMA CHOLESKY BLOCK(2) 0.8 -0.3 0.7");
    let b = &cs.omega[0];
    assert!(b.written_as.standard_deviation && b.written_as.correlation);
    assert_eq!(b.written, [0.8, -0.394, 0.762]);
    assert!((b.values[0] - 0.64).abs() < 1e-12);
    assert!((b.values[1] - -0.394 * 0.8 * 0.762).abs() < 1e-12);
    assert!((cs.omega[1].values[0] - 0.09).abs() < 1e-12);
    let s = &cs.sigma[0];
    assert!(s.written_as.cholesky);
    assert!((s.values[1] + 0.24).abs() < 1e-12 && (s.values[2] - 0.58).abs() < 1e-12);
}

#[test]
fn syntax_errors_name_file_record_line_and_column() {
    let cases = [
        (
            "$PROB t\n$THETA (0,1\n",
            "model.ctl, line 2, column 8: $THETA: '(' is not closed",
        ),
        (
            "$PROB t\n$OMEGA BLOCK(2) 0.1 0.01\n",
            "model.ctl, line 2, column 1: $OMEGA: BLOCK(2) expects 3 values",
        ),
        (
            "$PROB t\n$INPUT ID CONC=XX2\n",
            "model.ctl, line 2, column 11: $INPUT: CONC=XX2: one of the two labels must be a reserved",
        ),
        ("$PROB t\n$PK\n  CL = THETA(1) *\n", "model.ctl, line 3, column"),
        (
            "$PROB t\n$SUB ADVAN\n",
            "model.ctl, line 2, column 6: $SUBROUTINES: 'ADVAN'",
        ),
        (
            "$PROB t\n$DATA x.csv IGNORE=(SD.XX.0)\n",
            "model.ctl, line 2, column 21: $DATA: condition 'SD.XX.0': expected an operator after SD",
        ),
        (
            "$PROB t\n$EST MAXEVAL=x\n",
            "model.ctl, line 2, column 6: $ESTIMATION: MAXEVAL=x",
        ),
        ("$PROB t\n$COV MATRIX=T\n", "$COVARIANCE: MATRIX=T"),
        ("$PROB t\n$MODEL COMP=()\n", "$MODEL: COMP needs a compartment name"),
        (
            "stray\n$PROB t",
            "model.ctl, line 1, column 1: control stream: text before the first record",
        ),
    ];
    for (text, want) in cases {
        let e = ControlStream::parse(text, "model.ctl").unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}\n  got  {e}\n  want {want}");
    }
}

#[test]
fn errors_convert_to_the_crate_error() {
    let e = ControlStream::parse("$PROB t\n$THETA x", "m.ctl").unwrap_err();
    let e: pk::Error = e.into();
    let msg = e.to_string();
    assert!(msg.starts_with("m.ctl, line 2: column 8: $THETA: 'x'"), "{msg}");
    let e: pk::Error = ControlStream::read("/no/such/file.ctl").unwrap_err().into();
    assert!(matches!(e, pk::Error::Io { .. }));
}
