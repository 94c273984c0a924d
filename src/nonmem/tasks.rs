//! `$ESTIMATION`, `$COVARIANCE` and `$TABLE`. Options the reader does not
//! interpret are kept as written; the lowering decides whether they matter.

use super::error::NonmemError;
use super::source::{abbreviates, Cursor, RecordOption, Src};

/// `METHOD=` of `$ESTIMATION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EstimationMethod {
    /// `METHOD=0` / `ZERO`: first order (FO).
    FirstOrder,
    /// `METHOD=1` / `COND` / `CONDITIONAL`: first-order conditional (FOCE;
    /// with `INTER`, FOCE-I; with `LAPLACIAN`, Laplace).
    Conditional,
    /// `HYBRID`.
    Hybrid,
    /// `ITS`: iterative two stage.
    Its,
    /// `IMP`: importance sampling EM.
    Importance,
    /// `IMPMAP`: importance sampling assisted by MAP.
    ImportanceMap,
    /// `SAEM`.
    Saem,
    /// `BAYES`: MCMC Bayesian.
    Bayes,
    /// `NUTS`: no-U-turn Bayesian.
    Nuts,
    /// `DIRECT`: direct sampling.
    Direct,
    /// Anything else, as written (upper case).
    Other(String),
}

impl EstimationMethod {
    fn parse(v: &str) -> EstimationMethod {
        let u = v.to_ascii_uppercase();
        match u.as_str() {
            "0" | "ZERO" => EstimationMethod::FirstOrder,
            "1" => EstimationMethod::Conditional,
            "HYBRID" => EstimationMethod::Hybrid,
            "ITS" => EstimationMethod::Its,
            "IMP" => EstimationMethod::Importance,
            "IMPMAP" => EstimationMethod::ImportanceMap,
            "SAEM" => EstimationMethod::Saem,
            "BAYES" => EstimationMethod::Bayes,
            "NUTS" => EstimationMethod::Nuts,
            "DIRECT" => EstimationMethod::Direct,
            _ if abbreviates(&u, "CONDITIONAL", 4) => EstimationMethod::Conditional,
            _ => EstimationMethod::Other(u),
        }
    }
}

/// One `$ESTIMATION` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimation {
    /// `METHOD=`; `None` when not given (NONMEM then uses FO for the first
    /// `$ESTIMATION` and the previous method for later ones).
    pub method: Option<EstimationMethod>,
    /// `INTERACTION`/`INTER` (true) or `NOINTERACTION` (false), when given.
    pub interaction: Option<bool>,
    /// `LAPLACIAN`/`LAPLACE`.
    pub laplacian: bool,
    /// `LIKELIHOOD` or `-2LL`: Y is a likelihood (or −2 log-likelihood).
    pub likelihood: bool,
    /// `CENTERING`.
    pub centering: bool,
    /// `MAXEVAL=` (also `MAX=`, `MAXEVALS=`).
    pub maxeval: Option<u64>,
    /// `SIGDIGITS=`/`NSIGDIGITS=`/`NSIG=`/`SIGDIG=`.
    pub sigdigits: Option<f64>,
    /// `PRINT=`.
    pub print: Option<u64>,
    /// `NOABORT`.
    pub noabort: bool,
    /// `POSTHOC` (true) or `NOPOSTHOC` (false), when given.
    pub posthoc: Option<bool>,
    /// `FORMAT=` as written.
    pub format: Option<String>,
    /// `FILE=` as written.
    pub file: Option<String>,
    /// Other options as written (`NOOBT`, `SIGL=`, `NOTHETABOUNDTEST`, …).
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

fn number<T: std::str::FromStr>(cur: &Cursor, o: &RecordOption) -> Result<T, NonmemError> {
    o.value.as_deref().and_then(|v| v.parse::<T>().ok()).ok_or_else(|| {
        cur.error_at(
            o.line,
            o.column,
            format!(
                "{}{}: expected {}=number",
                o.name,
                o.value.as_deref().map(|v| format!("={v}")).unwrap_or_default(),
                o.name
            ),
        )
    })
}

/// Parses one `$ESTIMATION` record.
pub(crate) fn parse_estimation(src: &Src, file: &str, line: usize) -> Result<Estimation, NonmemError> {
    let mut cur = Cursor::new(src, file, "$ESTIMATION");
    let mut e = Estimation {
        method: None,
        interaction: None,
        laplacian: false,
        likelihood: false,
        centering: false,
        maxeval: None,
        sigdigits: None,
        print: None,
        noabort: false,
        posthoc: None,
        format: None,
        file: None,
        other: Vec::new(),
        line,
    };
    while let Some(o) = cur.option()? {
        let n = o.name.as_str();
        let flag = o.value.is_none();
        if abbreviates(n, "METHOD", 4) {
            let v = o
                .value
                .as_deref()
                .ok_or_else(|| cur.error_at(o.line, o.column, "expected METHOD=0|1|COND|SAEM|IMP|…"))?;
            e.method = Some(EstimationMethod::parse(v));
        } else if flag && abbreviates(n, "INTERACTION", 5) {
            e.interaction = Some(true);
        } else if flag && abbreviates(n, "NOINTERACTION", 7) {
            e.interaction = Some(false);
        } else if flag && (abbreviates(n, "LAPLACIAN", 5) || n == "LAPLACE") {
            e.laplacian = true;
        } else if flag && (abbreviates(n, "LIKELIHOOD", 4) || n == "-2LL" || n == "-2LOGLIKELIHOOD") {
            e.likelihood = true;
        } else if flag && abbreviates(n, "CENTERING", 6) {
            e.centering = true;
        } else if abbreviates(n, "MAXEVALS", 3) {
            e.maxeval = Some(number(&cur, &o)?);
        } else if abbreviates(n, "SIGDIGITS", 4) || abbreviates(n, "NSIGDIGITS", 4) {
            e.sigdigits = Some(number(&cur, &o)?);
        } else if abbreviates(n, "PRINT", 3) && !flag {
            e.print = Some(number(&cur, &o)?);
        } else if flag && n == "NOABORT" {
            e.noabort = true;
        } else if flag && abbreviates(n, "POSTHOC", 4) {
            e.posthoc = Some(true);
        } else if flag && abbreviates(n, "NOPOSTHOC", 6) {
            e.posthoc = Some(false);
        } else if n == "FORMAT" && !flag {
            e.format = o.value.clone();
        } else if n == "FILE" && !flag {
            e.file = o.value.clone();
        } else {
            e.other.push(o);
        }
    }
    Ok(e)
}

/// The `$COVARIANCE` record.
#[derive(Debug, Clone, PartialEq)]
pub struct CovarianceStep {
    /// `MATRIX=R` or `MATRIX=S` (upper case) when given; NONMEM's default is the
    /// sandwich R⁻¹SR⁻¹.
    pub matrix: Option<String>,
    /// `UNCONDITIONAL`.
    pub unconditional: bool,
    /// `PRINT=` letters as written (`E`, `R`, `S`, …).
    pub print: Option<String>,
    /// Other options as written.
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

/// Parses a `$COVARIANCE` record.
pub(crate) fn parse_covariance_step(src: &Src, file: &str, line: usize) -> Result<CovarianceStep, NonmemError> {
    let mut cur = Cursor::new(src, file, "$COVARIANCE");
    let mut c = CovarianceStep {
        matrix: None,
        unconditional: false,
        print: None,
        other: Vec::new(),
        line,
    };
    while let Some(o) = cur.option()? {
        if o.name == "MATRIX" {
            let v = o.value.as_deref().unwrap_or("").to_ascii_uppercase();
            if v != "R" && v != "S" {
                return Err(cur.error_at(o.line, o.column, format!("MATRIX={v}: expected MATRIX=R or MATRIX=S")));
            }
            c.matrix = Some(v);
        } else if o.value.is_none() && abbreviates(&o.name, "UNCONDITIONAL", 5) {
            c.unconditional = true;
        } else if o.name == "PRINT" && o.value.is_some() {
            c.print = o.value.clone().map(|v| v.to_ascii_uppercase());
        } else {
            c.other.push(o);
        }
    }
    Ok(c)
}

/// One column of a `$TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    /// The item, upper case, as `IPRED` or `ETA(1)`.
    pub item: String,
    /// The synonym of `item=synonym`, upper case.
    pub synonym: Option<String>,
}

/// One `$TABLE` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The columns in order.
    pub columns: Vec<TableColumn>,
    /// `NOPRINT`.
    pub noprint: bool,
    /// `ONEHEADER` (or `ONEHEADERALL`).
    pub oneheader: bool,
    /// `NOHEADER`.
    pub noheader: bool,
    /// `NOAPPEND`.
    pub noappend: bool,
    /// `FIRSTONLY` (or `FIRSTRECORDONLY`/`FIRSTRECONLY`).
    pub firstonly: bool,
    /// `FILE=` as written.
    pub file: Option<String>,
    /// `FORMAT=` as written.
    pub format: Option<String>,
    /// Other options as written (`ESAMPLE=`, `SEED=`, `BY`, …).
    pub other: Vec<RecordOption>,
    /// Line of the record.
    pub line: usize,
}

/// Options of `$TABLE` that are not column names.
const TABLE_FLAGS: &[&str] = &[
    "PRINT",
    "NOPRINT",
    "NOHEADER",
    "ONEHEADER",
    "ONEHEADERALL",
    "ONEHEADERPERFILE",
    "NOTITLE",
    "NOLABEL",
    "FIRSTONLY",
    "FIRSTRECORDONLY",
    "FIRSTRECONLY",
    "LASTONLY",
    "FIRSTLASTONLY",
    "NOFORWARD",
    "FORWARD",
    "APPEND",
    "NOAPPEND",
    "WRESCHOL",
    "UNCONDITIONAL",
    "CONDITIONAL",
    "OMITTED",
];

/// Options of `$TABLE` that take `=value`.
const TABLE_VALUED: &[&str] = &[
    "FILE",
    "FORMAT",
    "LFORMAT",
    "RFORMAT",
    "IDFORMAT",
    "NOSUB",
    "PARAFILE",
    "ESAMPLE",
    "SEED",
    "CLOCKSEED",
    "RANMETHOD",
    "VARCALC",
    "FIXEDETAS",
    "NPDTYPE",
];

/// Parses one `$TABLE` record.
pub(crate) fn parse_table(src: &Src, file: &str, line: usize) -> Result<Table, NonmemError> {
    let mut cur = Cursor::new(src, file, "$TABLE");
    let mut t = Table {
        columns: Vec::new(),
        noprint: false,
        oneheader: false,
        noheader: false,
        noappend: false,
        firstonly: false,
        file: None,
        format: None,
        other: Vec::new(),
        line,
    };
    loop {
        cur.skip_separators();
        let Some(c) = cur.peek() else { break };
        let w = match cur.word() {
            Some(w) if !w.quoted => w,
            _ => return Err(cur.error(format!("expected a column or an option, found '{c}'"))),
        };
        let mut u = w.upper();
        if TABLE_VALUED.contains(&u.as_str()) {
            if !cur.eat('=') {
                return Err(cur.error_at(w.line, w.col, format!("expected {u}=value")));
            }
            let v = cur.raw_value()?.text;
            match u.as_str() {
                "FILE" => t.file = Some(v),
                "FORMAT" => t.format = Some(v),
                _ => t.other.push(RecordOption {
                    name: u,
                    value: Some(v),
                    line: w.line,
                    column: w.col,
                }),
            }
            continue;
        }
        if TABLE_FLAGS.contains(&u.as_str()) && !cur.next_is('=') {
            match u.as_str() {
                "NOPRINT" => t.noprint = true,
                "ONEHEADER" | "ONEHEADERALL" | "ONEHEADERPERFILE" => t.oneheader = true,
                "NOHEADER" => t.noheader = true,
                "NOAPPEND" => t.noappend = true,
                "FIRSTONLY" | "FIRSTRECORDONLY" | "FIRSTRECONLY" => t.firstonly = true,
                _ => t.other.push(RecordOption {
                    name: u,
                    value: None,
                    line: w.line,
                    column: w.col,
                }),
            }
            continue;
        }
        if u == "BY" || u == "EXCLUDE_BY" {
            let v = cur
                .word()
                .ok_or_else(|| cur.error_at(w.line, w.col, format!("expected a label after {u}")))?;
            t.other.push(RecordOption {
                name: u,
                value: Some(v.upper()),
                line: w.line,
                column: w.col,
            });
            continue;
        }
        // ETA(1), COM(3), ETAS(1:LAST)
        if cur.peek() == Some('(') {
            let g = cur.paren_group()?;
            u = format!("{u}({})", g.text.trim().to_ascii_uppercase());
        }
        let synonym = if cur.eat('=') {
            let s = cur
                .word()
                .ok_or_else(|| cur.error_at(w.line, w.col, format!("expected a synonym after {u}=")))?;
            let mut s_u = s.upper();
            if cur.peek() == Some('(') {
                let g = cur.paren_group()?;
                s_u = format!("{s_u}({})", g.text.trim().to_ascii_uppercase());
            }
            Some(s_u)
        } else {
            None
        };
        t.columns.push(TableColumn { item: u, synonym });
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Src {
        Src::from_text(text)
    }

    #[test]
    fn estimation_options() {
        let e = parse_estimation(
            &src("NSIG=3 PRINT=5 MAX=9999 NOABORT POSTHOC METHOD=COND INTER NOOBT"),
            "f",
            1,
        )
        .unwrap();
        assert_eq!(e.method, Some(EstimationMethod::Conditional));
        assert_eq!(e.interaction, Some(true));
        assert_eq!(e.maxeval, Some(9999));
        assert_eq!(e.sigdigits, Some(3.0));
        assert_eq!(e.print, Some(5));
        assert!(e.noabort);
        assert_eq!(e.posthoc, Some(true));
        assert_eq!(e.other.len(), 1);
        assert_eq!(e.other[0].name, "NOOBT");
        let e = parse_estimation(
            &src("METHOD=1 MAXEVAL=9999 INTER PRINT=5 FORMAT=,1PE13.6 LAPLACE FILE=r.ext"),
            "f",
            1,
        )
        .unwrap();
        assert_eq!(e.format.as_deref(), Some(",1PE13.6"));
        assert_eq!(e.file.as_deref(), Some("r.ext"));
        assert!(e.laplacian);
        for (m, want) in [
            ("0", EstimationMethod::FirstOrder),
            ("ZERO", EstimationMethod::FirstOrder),
            ("CONDITIONAL", EstimationMethod::Conditional),
            ("saem", EstimationMethod::Saem),
            ("IMP", EstimationMethod::Importance),
            ("XYZ", EstimationMethod::Other("XYZ".into())),
        ] {
            let e = parse_estimation(&src(&format!("METH={m}")), "f", 1).unwrap();
            assert_eq!(e.method, Some(want));
        }
        let e = parse_estimation(&src("MAXEVAL=lots"), "f", 1).unwrap_err();
        assert!(e.to_string().contains("MAXEVAL=lots"), "{e}");
    }

    #[test]
    fn covariance_options() {
        let c = parse_covariance_step(&src("MATRIX=R UNCONDITIONAL PRINT=E"), "f", 1).unwrap();
        assert_eq!(c.matrix.as_deref(), Some("R"));
        assert!(c.unconditional);
        assert_eq!(c.print.as_deref(), Some("E"));
        assert!(parse_covariance_step(&src("MATRIX=Q"), "f", 1).is_err());
    }

    #[test]
    fn table_columns_and_options() {
        let t = parse_table(
            &src("ID TIME DV IPRE=CIPRED AMT ETA(1) ETA2\n CWRES IRES=CIRES NPDE ESAMPLE=1000\n NOPRINT ONEHEADER FILE=402.tab FORMAT=s1PE12.5 NOAPPEND FIRSTONLY"),
            "f",
            1,
        )
        .unwrap();
        let items: Vec<&str> = t.columns.iter().map(|c| c.item.as_str()).collect();
        assert_eq!(
            items,
            ["ID", "TIME", "DV", "IPRE", "AMT", "ETA(1)", "ETA2", "CWRES", "IRES", "NPDE"]
        );
        assert_eq!(t.columns[3].synonym.as_deref(), Some("CIPRED"));
        assert!(t.noprint && t.oneheader && t.noappend && t.firstonly);
        assert_eq!(t.file.as_deref(), Some("402.tab"));
        assert_eq!(t.format.as_deref(), Some("s1PE12.5"));
        assert_eq!(t.other[0].name, "ESAMPLE");
    }
}
