//! The NONMEM reader never panics: on random text, on soups of NONMEM
//! fragments, and on the project's control streams with random edits. Every
//! input either parses or returns an error naming a position.

use pk::nonmem::dataset::parse_dataset;
use pk::nonmem::{parse_ext, ControlStream, NonmemError};
use proptest::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

const STREAMS: &[&str] = &[
    "fixtures/nonmem_runs/nlmixr2test_runN012_advan1_infusion/runN012.ctl",
    "fixtures/nonmem_runs/nlmixr2test_runODE054_des_mm_infusion2cpt/runODE054.ctl",
    "fixtures/nonmem_runs/nlmixr2test_runODE060_des_oral2cpt/runODE060.ctl",
    "fixtures/nonmem_runs/pharmpy_pheno_iov_block_same/iov.mod",
    "fixtures/nonmem_runs/pharmpy_pheno_wgt_cov_block2/run2.mod",
    "fixtures/bauer2019/402.ctl",
    "fixtures/pheno/pheno_real.mod",
    "fixtures/nonmem_dosing/dosing_1001.ctl",
];

/// Pieces of control streams, for token soups and insertions.
const FRAGMENTS: &[&str] = &[
    "$PROB ",
    "$INPUT ",
    "$DATA ",
    "$SUB ",
    "$MODEL ",
    "$PK",
    "$PRED",
    "$ERROR",
    "$DES",
    "$THETA ",
    "$OMEGA ",
    "$SIGMA ",
    "$EST ",
    "$COV ",
    "$TABLE ",
    "$ABBR ",
    "$PRIOR ",
    "$AES",
    "\n",
    "\n",
    " ",
    " ",
    ",",
    "(",
    ")",
    "=",
    ";",
    "&",
    "&\n",
    "'",
    "\"",
    ".",
    "FIX",
    "FIXED",
    "BLOCK(2)",
    "BLOCK",
    "SAME",
    "SAME(3)",
    "VALUES(0.1,0.01)",
    "DIAGONAL(2)",
    "SD",
    "CORRELATION",
    "CHOLESKY",
    "-INF",
    "INF",
    "x3",
    "NAMES(A,B)",
    "IF",
    "(A.GT.1)",
    "THEN",
    "ELSE",
    "ELSE IF",
    "ENDIF",
    "END IF",
    "DO WHILE",
    "ENDDO",
    "EXIT 1 2",
    "CALL RANDOM(2,R)",
    "RETURN",
    "THETA(1)",
    "ETA(2)",
    "EPS(1)",
    "A(1)",
    "DADT(2)",
    "EXP(",
    "LOG(",
    "MOD(",
    "MIN(",
    "**",
    "*",
    "/",
    "+",
    "-",
    ".EQ.",
    ".AND.",
    ".NOT.",
    "==",
    "/=",
    ">=",
    "<",
    "1",
    "0",
    "0.1",
    "1E-3",
    "1.D0",
    ".5",
    "1E",
    "CL",
    "V",
    "ID",
    "TIME",
    "DV",
    "AMT",
    "DV=CONC",
    "X=DROP",
    "IGNORE=@",
    "IGNORE=C",
    "IGNORE=(SD.EQ.0)",
    "ACCEPT=(ID.GT.2)",
    "IGNORE=",
    "RECORDS=",
    "ADVAN13",
    "TRANS4",
    "TOL=",
    "METHOD=",
    "COND",
    "INTER",
    "MAXEVAL=",
    "MATRIX=",
    "COMP=(",
    "NCOMP=",
    "FILE=",
    "\t",
    "µ",
];

fn exercise(text: &str) {
    match ControlStream::parse(text, "fuzz.ctl") {
        Ok(cs) => {
            let _ = cs.ensure_supported();
            for e in cs.unsupported_items() {
                assert!(e.position().is_some());
                let _ = e.to_string();
            }
            let _ = cs.omega_matrix();
            let _ = cs.sigma_matrix();
            let _ = cs.data_path();
            for b in cs.code_blocks() {
                for s in &b.statements {
                    let _ = s.to_string();
                }
                let _ = (b.count(), b.assignments().len(), b.unsupported().len());
            }
            if cs.data.is_some() {
                let _ = parse_dataset(&cs, "ID TIME DV\n1 0 .\n1,2,3\n@x\nC 1\n1 a 2\n", "d.csv");
            }
        }
        Err(e) => {
            assert!(e.position().is_some(), "{e}");
            let _: pk::Error = e.into();
        }
    }
}

fn stream(k: usize) -> String {
    std::fs::read_to_string(format!("{ROOT}/{}", STREAMS[k % STREAMS.len()])).unwrap()
}

/// An edit of a text: (kind, position, fragment or length).
fn apply(text: &str, edits: &[(u8, usize, usize)]) -> String {
    let mut cs: Vec<char> = text.chars().collect();
    for &(kind, pos, arg) in edits {
        let p = if cs.is_empty() { 0 } else { pos % (cs.len() + 1) };
        match kind % 4 {
            0 => {
                let end = (p + arg % 12).min(cs.len());
                cs.drain(p..end);
            }
            1 => {
                let f = FRAGMENTS[arg % FRAGMENTS.len()];
                for (i, c) in f.chars().enumerate() {
                    cs.insert(p + i, c);
                }
            }
            2 => {
                if p < cs.len() {
                    cs[p] = char::from(b' ' + (arg % 95) as u8);
                }
            }
            _ => {
                if p < cs.len() {
                    let c = cs[p];
                    let q = (p + 1 + arg % 40).min(cs.len());
                    cs.insert(q, c);
                }
            }
        }
    }
    cs.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "(\\PC|\n){0,300}") {
        exercise(&text);
        exercise(&format!("$PK\n{text}"));
        exercise(&format!("$THETA {text}"));
        exercise(&format!("$OMEGA {text}"));
        exercise(&format!("$DATA {text}"));
        let _ = parse_ext(&text, "fuzz.ext");
    }

    #[test]
    fn fragment_soup_never_panics(picks in proptest::collection::vec(0usize..1000, 0..80)) {
        let text: String = picks.iter().map(|k| FRAGMENTS[k % FRAGMENTS.len()]).collect();
        exercise(&text);
        exercise(&format!("$PROB x\n$PK\n{text}"));
    }

    #[test]
    fn mutated_control_streams_never_panic(
        k in 0usize..100,
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..10),
    ) {
        exercise(&apply(&stream(k), &edits));
    }

    #[test]
    fn mutated_ext_files_never_panic(
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..10),
    ) {
        let text = std::fs::read_to_string(format!(
            "{ROOT}/fixtures/nonmem_runs/pharmpy_pheno_wgt_cov_block2/run2.ext"
        )).unwrap();
        let mutated = apply(&text, &edits);
        match parse_ext(&mutated, "run2.ext") {
            Ok(tables) => {
                for t in tables {
                    let _ = (t.final_estimates(), t.standard_errors());
                }
            }
            Err(e) => {
                let is_ext = matches!(e, NonmemError::Ext { .. });
                prop_assert!(is_ext, "{}", e);
            }
        }
    }
}

#[test]
fn every_fixture_parses_unchanged() {
    for (k, name) in STREAMS.iter().enumerate() {
        ControlStream::parse(&stream(k), name).unwrap();
    }
}

#[test]
fn huge_repetitions_are_refused_not_allocated() {
    let cases = [
        "$PROB t\n$THETA (1)x10001",
        "$PROB t\n$OMEGA BLOCK(1001) VALUES(1,0)",
        "$PROB t\n$OMEGA BLOCK(1000) VALUES(1,0)\n$OMEGA BLOCK(1000) SAME(3)",
        "$PROB t\n$OMEGA (1)x10000 (1)x10000 (1)x10000",
    ];
    for text in cases {
        let e = ControlStream::parse(text, "big.ctl").unwrap_err();
        assert!(e.to_string().starts_with("big.ctl, line"), "{e}");
    }
}
