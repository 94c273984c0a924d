//! Issue 14: property tests of the two readers of user text. The NONMEM-style
//! CSV dataset reader (`pk::data::parse_dataset`, used by every subcommand)
//! and the model-language parser and compiler (`pk::lang::parse_model`) never
//! panic, on random text, on soups of fragments of their languages, and on
//! the bundled files with random edits: they return a value that holds its
//! invariants, or an error that names its position.

use pk::data::{parse_dataset, Evid, ReadOptions};
use pk::lang::parse_model;
use pk::model::Model;
use pk::Error;
use proptest::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

/// The first `n` lines of a file.
fn head(path: &str, n: usize) -> String {
    read(path).lines().take(n).map(|l| format!("{l}\n")).collect()
}

// ---------------------------------------------------------------------------
// The CSV dataset reader
// ---------------------------------------------------------------------------

const CSV_FILES: &[&str] = &[
    "fixtures/clofarabine/clofarabine_phase2.csv",
    "fixtures/nca_winnonlin/theoph_nonmem.csv",
    "fixtures/nca_winnonlin/Theoph.csv",
    "fixtures/nlmixr2/Infusion_2CPT.csv",
    "fixtures/pheno/pheno.csv",
    "fixtures/nonmem_dosing/dosing_data_1001.csv",
];

const CSV_FRAGMENTS: &[&str] = &[
    "ID", "TIME", "DV", "AMT", "RATE", "DUR", "EVID", "MDV", "CMT", "ADDL", "II", "SS", "C", "WT", "BLQ", "LLOQ",
    "CENS", "DVID", "id", "time", ",", ",", ",", "\n", "\n", "\r\n", "\r", ";", "\t", " ", "\"", "\"\"", "#", ".", "",
    "0", "1", "2", "3", "4", "5", "-1", "-2", "99", "0.5", "-0", "1e309", "-1e309", "1e-320", "5e-324", "NaN", "inf",
    "-inf", "1e300", "1000001", "1.5", "abc", "BLQ", "\u{feff}", "\u{0}", "µ", "é", "\u{2212}",
];

/// Checks what the reader returns: a data set that holds its invariants, or
/// an error naming the file and (for all but "no data records") the line.
fn check_csv(text: &str, options: &ReadOptions) -> Result<(), TestCaseError> {
    let lines = text.split(['\n', '\r']).count() + 1;
    match parse_dataset(text, "fuzz.csv", options) {
        Ok(d) => {
            prop_assert!(!d.subjects.is_empty());
            let mut ids = std::collections::HashSet::new();
            for s in &d.subjects {
                prop_assert!(ids.insert(s.id.clone()), "subject {} twice", s.id);
                prop_assert!(!s.id.is_empty() && s.id != ".");
                let mut prev = f64::NEG_INFINITY;
                for r in &s.records {
                    prop_assert!(r.line >= 2 && r.line <= lines, "line {} of {}", r.line, lines);
                    prop_assert!(r.time.is_finite());
                    prop_assert!(r.amt.is_finite() && r.amt >= 0.0);
                    prop_assert!(r.ii.is_finite() && r.ii >= 0.0);
                    prop_assert!(r.dur.is_finite() && r.dur >= 0.0);
                    prop_assert!(r.rate >= 0.0 || r.rate == -1.0 || r.rate == -2.0);
                    prop_assert!(r.ss <= 2 && r.cmt >= 0);
                    prop_assert!(r.dv.is_none_or(f64::is_finite));
                    prop_assert!(r.covariates.len() == d.covariate_names.len());
                    if !r.is_dose() {
                        prop_assert!(r.amt == 0.0);
                    }
                    let resets = matches!(r.evid, Evid::Reset | Evid::ResetDose);
                    prop_assert!(r.time >= prev || resets, "time goes back at line {}", r.line);
                    prev = r.time;
                }
            }
        }
        Err(Error::Data { location, message }) => {
            prop_assert_eq!(location.file.as_str(), "fuzz.csv");
            prop_assert!(
                location.line.is_some() || message == "no data records",
                "no line: {}",
                message
            );
            if let Some(l) = location.line {
                prop_assert!(l <= lines, "line {} of {}: {}", l, lines, message);
            }
        }
        Err(e) => prop_assert!(false, "not a data error: {}", e),
    }
    Ok(())
}

/// Random edits of a text: delete, insert a fragment, replace a character,
/// duplicate a character further on.
fn edit(text: &str, edits: &[(u8, usize, usize)], fragments: &[&str]) -> String {
    let mut cs: Vec<char> = text.chars().collect();
    for &(kind, pos, arg) in edits {
        let p = if cs.is_empty() { 0 } else { pos % (cs.len() + 1) };
        match kind % 4 {
            0 => {
                let end = (p + arg % 12).min(cs.len());
                cs.drain(p..end);
            }
            1 => {
                for (i, c) in fragments[arg % fragments.len()].chars().enumerate() {
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

fn drop_options(picks: &[usize]) -> ReadOptions {
    ReadOptions {
        drop: picks.iter().map(|k| CSV_FRAGMENTS[k % 20].to_string()).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn csv_random_text(text in "(\\PC|\n|,|\\.){0,300}", drop in proptest::collection::vec(0usize..20, 0..3)) {
        check_csv(&text, &ReadOptions::default())?;
        check_csv(&format!("ID,TIME,DV,AMT\n{text}"), &drop_options(&drop))?;
        check_csv(&format!("ID,TIME,DV,AMT,EVID,MDV,CMT,ADDL,II,SS,RATE\n1,0,.,100,1,1,1,0,0,0,0\n{text}"), &ReadOptions::default())?;
    }

    #[test]
    fn csv_fragment_soup(picks in proptest::collection::vec(0usize..1000, 0..120), drop in proptest::collection::vec(0usize..20, 0..3)) {
        let text: String = picks.iter().map(|k| CSV_FRAGMENTS[k % CSV_FRAGMENTS.len()]).collect();
        check_csv(&text, &ReadOptions::default())?;
        check_csv(&format!("ID,TIME,DV,AMT,EVID,MDV,CMT,ADDL,II,SS,RATE,DUR,C,BLQ\n{text}"), &drop_options(&drop))?;
    }

    #[test]
    fn csv_rows_of_edge_values(
        cells in proptest::collection::vec(proptest::collection::vec(0usize..1000, 12), 1..12),
    ) {
        // Well-formed rows whose every cell is an edge value of the language.
        let values = &CSV_FRAGMENTS[33..];
        let mut text = String::from("ID,TIME,DV,AMT,RATE,DUR,EVID,MDV,CMT,ADDL,II,SS\n");
        for row in &cells {
            let r: Vec<&str> = row.iter().map(|k| values[k % values.len()]).collect();
            text.push_str(&r.join(","));
            text.push('\n');
        }
        check_csv(&text, &ReadOptions::default())?;
    }

    #[test]
    fn csv_mutated_fixtures(
        k in 0usize..CSV_FILES.len(),
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..10),
        drop in proptest::collection::vec(0usize..20, 0..2),
    ) {
        let text = head(CSV_FILES[k], 40);
        check_csv(&edit(&text, &edits, CSV_FRAGMENTS), &ReadOptions::default())?;
        check_csv(&edit(&text, &edits, CSV_FRAGMENTS), &drop_options(&drop))?;
    }
}

#[test]
fn every_csv_fixture_reads_or_names_its_line() {
    for path in CSV_FILES {
        check_csv(&read(path), &ReadOptions::default()).unwrap();
    }
}

// ---------------------------------------------------------------------------
// The model language
// ---------------------------------------------------------------------------

const MODELS: &[&str] = &[
    "models/one_cmt_iv.pk",
    "models/two_cmt_iv.pk",
    "models/three_cmt_iv.pk",
    "models/one_cmt_oral.pk",
    "models/two_cmt_oral.pk",
    "models/one_cmt_mm_iv.pk",
    "models/pheno.pk",
    "models/two_cmt_pop.pk",
    "models/two_cmt_pop_ode.pk",
    "models/clofarabine_bonate2004.pk",
    "fixtures/nonmem_dosing/model_1001.pk",
];

const LANG_FRAGMENTS: &[&str] = &[
    "theta ",
    "omega ",
    "sigma ",
    "iov ",
    "covariates ",
    "units ",
    "name ",
    "description ",
    "kernel ",
    "output ",
    "states ",
    "dose ",
    "blq ",
    "m1",
    "block(2) ",
    "block(3) ",
    "by ",
    "fix",
    "d/dt(",
    "F(",
    "ALAG(",
    "RATE(",
    "DUR(",
    "if ",
    "then ",
    "else ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "~",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "&&",
    "||",
    "!",
    "and ",
    "or ",
    "not ",
    "+",
    "-",
    "*",
    "/",
    "^",
    "**",
    ":",
    "%",
    "\n",
    "\n",
    " ",
    " ",
    "#",
    "\"",
    "\"x\"",
    "CL",
    "V",
    "V1",
    "KA",
    "TVCL",
    "eta_cl",
    "prop",
    "add",
    "central",
    "depot",
    "periph",
    "TIME",
    "TAD",
    "t",
    "WT",
    "exp(",
    "log(",
    "sqrt(",
    "min(",
    "max(",
    "phi(",
    "abs(",
    "0",
    "1",
    "0.1",
    "1e-3",
    "1.5D2",
    "1e999",
    ".5",
    "1e",
    "one_cmt_iv",
    "two_cmt_iv",
    "one_cmt_oral",
    "prop(prop)",
    "add(add)",
    "combined(a, b)",
    "power(b, c)",
    "exp(s)",
    "sd(",
    "var(",
    "dvid=2",
    "cmt=1",
    "unscaled",
    "amount=mg",
    "volume=L",
    "time=h",
    "concentration=ng/mL",
    "θ",
    "\t",
    "\r\n",
    "$",
];

/// Checks what the language returns: a model, or an error naming the file,
/// a line of the text and a column.
fn check_model(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1);
    match parse_model(text, "fuzz.pk") {
        Ok(_) => {
            // Units and the rest of the loading must not panic either.
            let _ = Model::from_text(text, "fuzz.pk");
        }
        Err(Error::Language { file, error }) => {
            prop_assert_eq!(file.as_str(), "fuzz.pk");
            prop_assert!(
                error.line >= 1 && error.line <= lines + 1,
                "line {} of {}: {}",
                error.line,
                lines,
                error
            );
            prop_assert!(error.column >= 1, "{}", error);
            let _ = error.to_string();
        }
        Err(e) => prop_assert!(false, "not a language error: {}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn model_random_text(text in "(\\PC|\n){0,300}") {
        check_model(&text)?;
        check_model(&format!("theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\n{text}\nkernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop(prop)\n"))?;
    }

    #[test]
    fn model_token_soup(picks in proptest::collection::vec(0usize..1000, 0..100)) {
        let text: String = picks.iter().map(|k| LANG_FRAGMENTS[k % LANG_FRAGMENTS.len()]).collect();
        check_model(&text)?;
        check_model(&format!("theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\n{text}\n"))?;
        check_model(&format!("{}{text}", read("models/pheno.pk")))?;
    }

    #[test]
    fn model_mutated_bundled(
        k in 0usize..MODELS.len(),
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..8),
    ) {
        check_model(&edit(&read(MODELS[k]), &edits, LANG_FRAGMENTS))?;
    }

    #[test]
    fn model_truncated_bundled(k in 0usize..MODELS.len(), cut in any::<usize>()) {
        let text = read(MODELS[k]);
        let chars: Vec<char> = text.chars().collect();
        let prefix: String = chars[..cut % (chars.len() + 1)].iter().collect();
        check_model(&prefix)?;
    }
}

#[test]
fn every_bundled_model_compiles() {
    for path in MODELS {
        parse_model(&read(path), path).unwrap();
    }
}

/// Models nested `depth` deep: parentheses, unary minus, if blocks, calls.
fn nested(depth: usize) -> Vec<String> {
    let head = "theta CL = 5\ntheta V = 50\nsigma prop ~ 0.01\n";
    let tail = "kernel one_cmt_iv(CL, V)\noutput CP = central / V ~ prop(prop)\n";
    vec![
        format!("{head}A = {}1{}\n{tail}", "(".repeat(depth), ")".repeat(depth)),
        format!("{head}A = {}1\n{tail}", "-".repeat(depth)),
        format!(
            "{head}{}A = 1\n{}{tail}",
            "if CL > 1 {\n".repeat(depth),
            "}\n".repeat(depth)
        ),
        format!("{head}A = {}1{}\n{tail}", "exp(".repeat(depth), ")".repeat(depth)),
    ]
}

/// Checks a model on a thread with the stack of a program's main thread
/// (8 MiB; test threads have 2 MiB).
fn check_on_main_sized_stack(text: String) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || check_model(&text).map_err(|e| e.to_string()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
}

#[test]
fn moderate_nesting_compiles() {
    for text in nested(200) {
        check_on_main_sized_stack(text);
    }
}

/// 100 000 nested parentheses, calls, signs or blocks (about 800 overflowed
/// the stack of a debug build before the parser limited nesting) are refused
/// with an error naming the line.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in nested(100_000) {
        check_on_main_sized_stack(text);
    }
}
