//! NONMEM's `.ext` file: one table per estimation step, with a row per
//! printed iteration and special rows: −1000000000 the final estimates and the
//! objective function, −1000000001 their standard errors.

use super::error::{NonmemError, SourcePos};
use super::source::parse_number;
use std::collections::BTreeMap;
use std::path::Path;

/// ITERATION of the final-estimate row.
pub const FINAL_ROW: i64 = -1_000_000_000;
/// ITERATION of the standard-error row.
pub const SE_ROW: i64 = -1_000_000_001;

/// One row of an `.ext` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtRow {
    /// The ITERATION column (negative for the special rows).
    pub iteration: i64,
    /// The other columns, in the order of [`ExtTable::columns`].
    pub values: Vec<f64>,
    /// Line in the file.
    pub line: usize,
}

/// One table (`TABLE NO. n: …`) of an `.ext` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtTable {
    /// The table number.
    pub number: usize,
    /// The method as NONMEM labels it, as `First Order Conditional Estimation
    /// with Interaction`.
    pub method: String,
    /// The column names after ITERATION (`THETA1`, `SIGMA(1,1)`, `OMEGA(2,1)`, `OBJ`).
    pub columns: Vec<String>,
    /// The rows in file order.
    pub rows: Vec<ExtRow>,
    /// Line of the `TABLE NO.` header.
    pub line: usize,
}

/// θ, Ω, Σ and the objective function from one row of an `.ext` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtEstimates {
    /// θ1, θ2, … in order.
    pub theta: Vec<f64>,
    /// Ω(i, j) for i ≥ j, 1-based, as NONMEM writes them (variances and covariances).
    pub omega: BTreeMap<(usize, usize), f64>,
    /// Σ(i, j) for i ≥ j, 1-based.
    pub sigma: BTreeMap<(usize, usize), f64>,
    /// OBJ: the objective function without the N·log(2π) constant (0 on the SE row).
    pub objective: f64,
}

impl ExtEstimates {
    /// θ_i (1-based).
    pub fn theta(&self, i: usize) -> Option<f64> {
        i.checked_sub(1).and_then(|k| self.theta.get(k)).copied()
    }
    /// Ω(i, j) (1-based, symmetric).
    pub fn omega(&self, i: usize, j: usize) -> Option<f64> {
        self.omega.get(&(i.max(j), i.min(j))).copied()
    }
    /// Σ(i, j) (1-based, symmetric).
    pub fn sigma(&self, i: usize, j: usize) -> Option<f64> {
        self.sigma.get(&(i.max(j), i.min(j))).copied()
    }
}

/// `OMEGA(2,1)` → (2, 1).
fn pair(name: &str, prefix: &str) -> Option<(usize, usize)> {
    let inner = name.strip_prefix(prefix)?.strip_prefix('(')?.strip_suffix(')')?;
    let (a, b) = inner.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl ExtTable {
    /// The value of a column in a row.
    pub fn value(&self, row: &ExtRow, column: &str) -> Option<f64> {
        let k = self.columns.iter().position(|c| c.eq_ignore_ascii_case(column))?;
        row.values.get(k).copied()
    }

    /// The row with this ITERATION (the last one, if repeated).
    pub fn row(&self, iteration: i64) -> Option<&ExtRow> {
        self.rows.iter().rev().find(|r| r.iteration == iteration)
    }

    fn estimates(&self, row: &ExtRow) -> ExtEstimates {
        let mut e = ExtEstimates {
            theta: Vec::new(),
            omega: BTreeMap::new(),
            sigma: BTreeMap::new(),
            objective: f64::NAN,
        };
        let mut thetas: BTreeMap<usize, f64> = BTreeMap::new();
        for (c, v) in self.columns.iter().zip(&row.values) {
            let u = c.to_ascii_uppercase();
            if let Some(k) = u.strip_prefix("THETA").and_then(|d| d.parse::<usize>().ok()) {
                thetas.insert(k, *v);
            } else if let Some(p) = pair(&u, "OMEGA") {
                e.omega.insert(p, *v);
            } else if let Some(p) = pair(&u, "SIGMA") {
                e.sigma.insert(p, *v);
            } else if u == "OBJ" {
                e.objective = *v;
            }
        }
        e.theta = thetas.into_values().collect();
        e
    }

    /// The final estimates and objective function (row −1000000000).
    pub fn final_estimates(&self) -> Option<ExtEstimates> {
        self.row(FINAL_ROW).map(|r| self.estimates(r))
    }

    /// The standard errors (row −1000000001), when the covariance step ran.
    /// NONMEM writes 1.0E+10 for fixed or non-estimated elements.
    pub fn standard_errors(&self) -> Option<ExtEstimates> {
        self.row(SE_ROW).map(|r| self.estimates(r))
    }
}

/// Parses the text of an `.ext` file (`file` names it in errors).
pub fn parse_ext(text: &str, file: &str) -> Result<Vec<ExtTable>, NonmemError> {
    let err = |line: usize, message: String| NonmemError::Ext {
        at: SourcePos::line(file, line),
        message,
    };
    let mut tables: Vec<ExtTable> = Vec::new();
    let mut expect_header = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix("TABLE NO.") {
            let (num, title) = rest.split_once(':').unwrap_or((rest, ""));
            let number = num
                .trim()
                .parse::<usize>()
                .map_err(|_| err(line, format!("'TABLE NO.{num}': expected a table number")))?;
            let method = title.split(':').next().unwrap_or("").trim().to_string();
            tables.push(ExtTable {
                number,
                method,
                columns: Vec::new(),
                rows: Vec::new(),
                line,
            });
            expect_header = true;
            continue;
        }
        let Some(table) = tables.last_mut() else {
            return Err(err(line, "expected 'TABLE NO. n: …' before the first row".into()));
        };
        if expect_header {
            let mut names = t.split_whitespace();
            if names.next().map(|s| s.to_ascii_uppercase()) != Some("ITERATION".into()) {
                return Err(err(
                    line,
                    format!(
                        "expected the column header 'ITERATION THETA1 …', found '{}'",
                        super::source::shorten(t)
                    ),
                ));
            }
            table.columns = names.map(str::to_string).collect();
            expect_header = false;
            continue;
        }
        let mut fields = t.split_whitespace();
        let it_text = fields.next().unwrap_or("");
        let iteration = it_text
            .parse::<i64>()
            .map_err(|_| err(line, format!("ITERATION '{it_text}': expected a whole number")))?;
        let values = fields
            .enumerate()
            .map(|(k, f)| {
                parse_number(f)
                    .or_else(|| f.parse::<f64>().ok())
                    .ok_or_else(|| err(line, format!("column {} ('{f}'): expected a number", k + 2)))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        if values.len() != table.columns.len() {
            return Err(err(
                line,
                format!(
                    "{} values after ITERATION, expected {} (one per column of the header)",
                    values.len(),
                    table.columns.len()
                ),
            ));
        }
        table.rows.push(ExtRow {
            iteration,
            values,
            line,
        });
    }
    if expect_header {
        let line = tables.last().map(|t| t.line).unwrap_or(0);
        return Err(err(line, "table without its column header".into()));
    }
    Ok(tables)
}

/// Reads an `.ext` file.
pub fn read_ext(path: impl AsRef<Path>) -> Result<Vec<ExtTable>, NonmemError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NonmemError::Io {
        path: name.clone(),
        source,
    })?;
    parse_ext(&String::from_utf8_lossy(&bytes), &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXT: &str = "TABLE NO.     1: First Order Conditional Estimation with Interaction: Goal Function=MINIMUM VALUE OF OBJECTIVE FUNCTION: Problem=1 Subproblem=0\n ITERATION    THETA1       SIGMA(1,1)   OMEGA(1,1)   OMEGA(2,1)   OMEGA(2,2)   OBJ\n            0  1.0E+00  1.0E+00  0.15  0.0  0.15    20102.5\n  -1000000000  1.39335E+00  1.00000E+00  7.74791E-02  0.00000E+00  9.59909E-02    19553.2762000550\n  -1000000001  2.56942E-02  1.00000E+10  9.65249E-03  1.00000E+10  1.16011E-02   0.000000000000000E+000\n";

    #[test]
    fn final_and_se_rows() {
        let t = parse_ext(EXT, "r.ext").unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].method, "First Order Conditional Estimation with Interaction");
        let f = t[0].final_estimates().unwrap();
        assert_eq!(f.objective, 19553.2762000550);
        assert_eq!(f.theta(1), Some(1.39335));
        assert_eq!(f.omega(1, 2), Some(0.0));
        assert_eq!(f.omega(2, 2), Some(0.0959909));
        assert_eq!(f.sigma(1, 1), Some(1.0));
        let se = t[0].standard_errors().unwrap();
        assert_eq!(se.theta(1), Some(0.0256942));
        assert_eq!(se.objective, 0.0);
    }

    #[test]
    fn malformed_ext_names_the_line() {
        let e = parse_ext(" 1 2 3\n", "r.ext").unwrap_err().to_string();
        assert!(e.contains("r.ext, line 1") && e.contains("TABLE NO."), "{e}");
        let bad = EXT.replace("0.15  0.0  0.15", "0.15  0.0");
        let e = parse_ext(&bad, "r.ext").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("5 values"), "{e}");
        let bad = EXT.replace("7.74791E-02", "x");
        let e = parse_ext(&bad, "r.ext").unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("'x'"), "{e}");
    }
}
