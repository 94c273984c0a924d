//! Record names: NONMEM accepts any abbreviation of three letters or more
//! (`$PRO`, `$SUBR`, `$THE`), lower case too, and a few synonyms.

/// What a record is, once its name is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Problem,
    Input,
    Data,
    Subroutines,
    Model,
    Pk,
    Pred,
    Error,
    Des,
    Theta,
    Omega,
    Sigma,
    Estimation,
    Covariance,
    Table,
    /// Read and kept without interpretation (`$ABBR`, `$SIZES`, `$SCATTER`).
    Tolerated,
    /// A NONMEM record the engine does not implement (with the reason).
    Unsupported(&'static str),
}

use RecordKind::*;

/// Canonical names in the order in which abbreviations are resolved.
const TABLE: &[(&str, RecordKind)] = &[
    ("PROBLEM", Problem),
    ("INPUT", Input),
    ("DATA", Data),
    ("INFILE", Data),
    ("SUBROUTINES", Subroutines),
    ("MODEL", Model),
    ("PK", Pk),
    ("PRED", Pred),
    ("ERROR", Error),
    ("DES", Des),
    ("THETA", Theta),
    ("OMEGA", Omega),
    ("SIGMA", Sigma),
    ("ESTIMATION", Estimation),
    ("COVARIANCE", Covariance),
    ("TABLE", Table),
    ("ABBREVIATED", Tolerated),
    ("SIZES", Tolerated),
    ("SCATTERPLOT", Tolerated),
    (
        "AES",
        Unsupported("algebraic equations ($AES, ADVAN9/15) are not supported"),
    ),
    (
        "AESINITIAL",
        Unsupported("algebraic equations ($AESINITIAL, ADVAN9/15) are not supported"),
    ),
    (
        "ANNEAL",
        Unsupported("simulated annealing of Ω ($ANNEAL) is not supported"),
    ),
    (
        "BIND",
        Unsupported("$BIND (data items bound to event records) is not supported"),
    ),
    (
        "CHAIN",
        Unsupported("initial values from a chain file ($CHAIN) are not supported"),
    ),
    ("CONTR", Unsupported("a user-written CONTR routine is not supported")),
    ("DESIGN", Unsupported("optimal design ($DESIGN) is not supported")),
    ("ETAS", Unsupported("initial η values ($ETAS) are not supported")),
    ("PHIS", Unsupported("initial φ values ($PHIS) are not supported")),
    ("INFN", Unsupported("user-written Fortran ($INFN) is not supported")),
    (
        "LEVEL",
        Unsupported("nested random-effect levels ($LEVEL) are not supported"),
    ),
    ("MIX", Unsupported("mixture models ($MIX) are not supported")),
    (
        "MSFI",
        Unsupported("restarting from a model specification file ($MSFI) is not supported"),
    ),
    ("NONPARAMETRIC", Unsupported("the nonparametric step is not supported")),
    ("OLKJDF", Unsupported("priors are not supported")),
    ("OMIT", Unsupported("$OMIT is not supported")),
    ("OVARF", Unsupported("priors are not supported")),
    ("PRIOR", Unsupported("priors ($PRIOR, NWPRI/TNPRI) are not supported")),
    ("RCOV", Unsupported("$RCOV is not supported")),
    ("RCOVI", Unsupported("$RCOVI is not supported")),
    (
        "SIMULATION",
        Unsupported("simulation ($SIMULATION) is not supported by the importer"),
    ),
    ("SLKJDF", Unsupported("priors are not supported")),
    ("SUPER", Unsupported("superproblems ($SUPER) are not supported")),
    ("SVARF", Unsupported("priors are not supported")),
    ("THETAI", Unsupported("θ transformations ($THETAI) are not supported")),
    ("THETAR", Unsupported("θ transformations ($THETAR) are not supported")),
    ("THETAP", Unsupported("priors ($THETAP) are not supported")),
    ("THETAPV", Unsupported("priors ($THETAPV) are not supported")),
    ("OMEGAP", Unsupported("priors ($OMEGAP) are not supported")),
    ("OMEGAPD", Unsupported("priors ($OMEGAPD) are not supported")),
    ("SIGMAP", Unsupported("priors ($SIGMAP) are not supported")),
    ("SIGMAPD", Unsupported("priors ($SIGMAPD) are not supported")),
    ("TTDF", Unsupported("priors ($TTDF) are not supported")),
    ("WARNINGS", Tolerated),
];

/// Exact synonyms NONMEM accepts beyond abbreviations.
const SYNONYMS: &[(&str, &str)] = &[
    ("SUBS", "SUBROUTINES"),
    ("SIML", "SIMULATION"),
    ("SIMULATE", "SIMULATION"),
    ("COVR", "COVARIANCE"),
    ("ESTM", "ESTIMATION"),
    ("THETAS", "THETA"),
    ("OMEGAS", "OMEGA"),
    ("SIGMAS", "SIGMA"),
    ("TABLES", "TABLE"),
];

/// Resolves a record name (upper case, without `$`) to its canonical name and
/// kind. `None` for a name NONMEM would not recognise.
pub(crate) fn classify(name: &str) -> Option<(&'static str, RecordKind)> {
    if let Some(&(canon, kind)) = TABLE.iter().find(|(n, _)| *n == name) {
        return Some((canonical(canon), kind));
    }
    if let Some(&(_, canon)) = SYNONYMS.iter().find(|(s, _)| *s == name) {
        return TABLE.iter().find(|(n, _)| *n == canon).map(|&(n, k)| (n, k));
    }
    if name.len() < 3 {
        return None;
    }
    TABLE
        .iter()
        .find(|(n, _)| n.starts_with(name))
        .map(|&(n, k)| (canonical(n), k))
}

fn canonical(n: &'static str) -> &'static str {
    if n == "INFILE" {
        "DATA"
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_and_synonyms() {
        assert_eq!(classify("PRO").unwrap().0, "PROBLEM");
        assert_eq!(classify("PROB").unwrap().0, "PROBLEM");
        assert_eq!(classify("SUBR").unwrap().0, "SUBROUTINES");
        assert_eq!(classify("SUBROUTINE").unwrap().0, "SUBROUTINES");
        assert_eq!(classify("SUB").unwrap().0, "SUBROUTINES");
        assert_eq!(classify("THE").unwrap().0, "THETA");
        assert_eq!(classify("OME").unwrap().0, "OMEGA");
        assert_eq!(classify("SIG").unwrap().0, "SIGMA");
        assert_eq!(classify("EST").unwrap().0, "ESTIMATION");
        assert_eq!(classify("ESTM").unwrap().0, "ESTIMATION");
        assert_eq!(classify("COV").unwrap().0, "COVARIANCE");
        assert_eq!(classify("TAB").unwrap().0, "TABLE");
        assert_eq!(classify("PK").unwrap().0, "PK");
        assert_eq!(classify("PRE").unwrap().0, "PRED");
        assert_eq!(classify("DES").unwrap().0, "DES");
        assert_eq!(classify("DAT").unwrap().0, "DATA");
        assert_eq!(classify("INFILE").unwrap().0, "DATA");
        assert_eq!(classify("ABBR").unwrap().0, "ABBREVIATED");
        assert_eq!(classify("SIZ").unwrap().0, "SIZES");
        assert!(matches!(classify("THETAP").unwrap().1, Unsupported(_)));
        assert!(matches!(classify("PRI").unwrap().1, Unsupported(_)));
        assert!(matches!(classify("AES").unwrap().1, Unsupported(_)));
        assert!(matches!(classify("SIM").unwrap().1, Unsupported(_)));
        assert!(matches!(classify("INFN").unwrap().1, Unsupported(_)));
        assert_eq!(classify("ES"), None);
        assert_eq!(classify("FOO"), None);
    }
}
