//! `$THETA`, `$OMEGA` and `$SIGMA`: initial estimates, bounds, `FIX`, blocks,
//! `SAME`, and labels (a `;` comment after a value, as PsN and pharmpy read it).

use super::error::NonmemError;
use super::source::{abbreviates, parse_number, Cursor, RecordOption, Src};

/// Largest `BLOCK(n)` accepted (NONMEM's own limits are far smaller).
const MAX_BLOCK: usize = 1000;
/// Largest repetition count `(value)xn` or `SAME(m)`.
const MAX_REPEAT: usize = 10_000;
/// Most values in one record.
const MAX_VALUES: usize = 100_000;
/// Largest dimension of Ω or Σ (NONMEM's own limits are far smaller).
pub(crate) const MAX_DIMENSION: usize = 2000;
/// Most θ in a control stream.
pub(crate) const MAX_THETAS: usize = 100_000;

/// One θ.
#[derive(Debug, Clone, PartialEq)]
pub struct Theta {
    /// Lower bound (−∞ when none, or `-INF`; NONMEM writes it −1000000).
    pub lower: f64,
    /// Initial estimate; `None` for `(low,,up)`, where NONMEM searches for one.
    pub init: Option<f64>,
    /// Upper bound (+∞ when none, or `INF`).
    pub upper: f64,
    /// `FIX`/`FIXED`, or implied by `low = init = up`.
    pub fixed: bool,
    /// Symbolic label (`CL=(0,7)` or `NAMES(CL)`, NONMEM 7.5), upper case.
    pub name: Option<String>,
    /// The label PsN and pharmpy read: the `;` comment after the value on its
    /// line, from after the leading `;`s up to the next `;`, trimmed (as `log Cl`).
    pub label: Option<String>,
    /// Line of the value.
    pub line: usize,
    /// Column of the value.
    pub column: usize,
}

/// How the initial estimates of an Ω/Σ block were written. The values in
/// [`CovarianceBlock::values`] are always converted to variances and
/// covariances, as NONMEM does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parameterisation {
    /// `STANDARD`/`SD`: diagonal values are standard deviations.
    pub standard_deviation: bool,
    /// `CORRELATION`: off-diagonal values are correlations.
    pub correlation: bool,
    /// `CHOLESKY`: the block is given as its lower Cholesky factor.
    pub cholesky: bool,
}

/// What kind of `$OMEGA`/`$SIGMA` specification a block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockForm {
    /// One element of a diagonal specification (a 1×1 block).
    Diagonal,
    /// `BLOCK(n)` with values.
    Block,
    /// `BLOCK(n) SAME`: equal to block `source` (index in the same list).
    Same {
        /// Index of the block whose values this one repeats.
        source: usize,
    },
}

/// One block of Ω or Σ (a diagonal element is a 1×1 block).
#[derive(Debug, Clone, PartialEq)]
pub struct CovarianceBlock {
    /// 1-based index of the first η (or ε) of the block.
    pub first: usize,
    /// Dimension of the block.
    pub size: usize,
    /// Initial variances and covariances, lower triangle row by row
    /// (`v11 v21 v22 v31 …`).
    pub values: Vec<f64>,
    /// The values as written (before converting SD/correlation/Cholesky).
    pub written: Vec<f64>,
    /// Whether the block is fixed.
    pub fixed: bool,
    /// Diagonal, block, or SAME.
    pub form: BlockForm,
    /// How the values were written.
    pub written_as: Parameterisation,
    /// Per η: the `;` comment on the line of its diagonal value.
    pub labels: Vec<Option<String>>,
    /// Per η: the symbolic label (`ECL=0.3`, `NAMES(…)`), upper case.
    pub names: Vec<Option<String>>,
    /// Line where the block is specified.
    pub line: usize,
}

impl CovarianceBlock {
    /// Element (i, j) of the block, 0-based, symmetric.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        let (r, c) = if i >= j { (i, j) } else { (j, i) };
        if r >= self.size {
            return None;
        }
        self.values.get(r * (r + 1) / 2 + c).copied()
    }

    /// The initial variance of the k-th η of the block (0-based).
    pub fn variance(&self, k: usize) -> Option<f64> {
        self.get(k, k)
    }
}

/// The full matrix (Ω or Σ) from its blocks.
pub fn full_matrix(blocks: &[CovarianceBlock]) -> nalgebra::DMatrix<f64> {
    let n: usize = blocks.iter().map(|b| b.size).sum();
    let mut m = nalgebra::DMatrix::zeros(n, n);
    for b in blocks {
        let o = b.first.saturating_sub(1);
        for i in 0..b.size {
            for j in 0..=i {
                if let (Some(v), true) = (b.get(i, j), o + i < n) {
                    m[(o + i, o + j)] = v;
                    m[(o + j, o + i)] = v;
                }
            }
        }
    }
    m
}

fn is_fix(w: &str) -> bool {
    matches!(w, "FIX" | "FIXE" | "FIXED")
}

fn valid_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic()) && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits the inside of a parenthesised group into words and commas.
fn group_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == ',' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == ',' {
                out.push(",".to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Reads an optional `xn` repetition after a group.
fn repetition(cur: &mut Cursor) -> Result<usize, NonmemError> {
    let mark = cur.mark();
    if let Some(w) = cur.word() {
        let u = w.upper();
        if let Some(d) = u.strip_prefix('X') {
            if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) {
                return match d.parse::<usize>() {
                    Ok(n) if (1..=MAX_REPEAT).contains(&n) => Ok(n),
                    _ => Err(cur.error_at(
                        w.line,
                        w.col,
                        format!("repetition '{}': expected x1 to x{MAX_REPEAT}", w.text),
                    )),
                };
            }
        }
    }
    cur.reset(mark);
    Ok(1)
}

/// The `$THETA` options that are not values.
fn theta_option(word: &str) -> bool {
    matches!(
        word,
        "NUMBERPOINTS" | "NUMBERPTS" | "NUMPOINTS" | "NUMPTS" | "ABORT" | "NOABORT" | "NOABORTFIRST"
    )
}

/// Parses one `$THETA` record. `options` receives `NUMBERPOINTS=`, `ABORT`, ….
pub(crate) fn parse_thetas(src: &Src, file: &str, options: &mut Vec<RecordOption>) -> Result<Vec<Theta>, NonmemError> {
    let mut cur = Cursor::new(src, file, "$THETA");
    let mut out: Vec<Theta> = Vec::new();
    let mut last_group: Option<std::ops::Range<usize>> = None;
    let mut pending_names: std::collections::VecDeque<String> = Default::default();
    loop {
        cur.skip_separators();
        let Some(c) = cur.peek() else { break };
        let (line, col) = cur.here();
        let mut name: Option<String> = None;
        if c != '(' {
            let w = match cur.word() {
                Some(w) if !w.quoted => w,
                _ => {
                    return Err(cur.error(format!(
                        "expected a value, (low, init, up), FIX or an option, found '{c}'"
                    )))
                }
            };
            let u = w.upper();
            if is_fix(&u) {
                match &last_group {
                    Some(r) => out[r.clone()].iter_mut().for_each(|t| t.fixed = true),
                    None => {
                        return Err(cur.error_at(
                            w.line,
                            w.col,
                            "FIX before any value: expected it after the value it fixes",
                        ))
                    }
                }
                continue;
            }
            if u == "UNINT" {
                continue;
            }
            if u == "NAMES" {
                let g = cur.paren_group()?;
                for n in g.text.split(|c: char| c == ',' || c.is_whitespace()) {
                    if n.is_empty() {
                        continue;
                    }
                    if !valid_name(n) {
                        return Err(cur.error_at(g.line, g.col, format!("NAMES: '{n}' is not a label")));
                    }
                    pending_names.push_back(n.to_ascii_uppercase());
                }
                continue;
            }
            if theta_option(&u) {
                let value = if cur.eat('=') {
                    Some(cur.raw_value()?.text)
                } else {
                    None
                };
                options.push(RecordOption {
                    name: u,
                    value,
                    line: w.line,
                    column: w.col,
                });
                continue;
            }
            if cur.eat('=') {
                if !valid_name(&w.text) {
                    return Err(cur.error_at(w.line, w.col, format!("'{}=' : expected a label before '='", w.text)));
                }
                name = Some(u);
                cur.skip_ws();
                if cur.peek() != Some('(') {
                    let v = cur.word().ok_or_else(|| cur.error("expected a value after '='"))?;
                    let init = parse_number(&v.text).filter(|x| x.is_finite()).ok_or_else(|| {
                        cur.error_at(v.line, v.col, format!("'{}': expected an initial estimate", v.text))
                    })?;
                    push_theta(&mut out, &mut last_group, init_only(init, name, v.line, v.col), 1, &cur)?;
                    continue;
                }
            } else {
                let init = parse_number(&w.text).filter(|x| x.is_finite()).ok_or_else(|| {
                    cur.error_at(
                        w.line,
                        w.col,
                        format!("'{}': expected a value, (low, init, up), FIX or an option", w.text),
                    )
                })?;
                let name = pending_names.pop_front();
                push_theta(&mut out, &mut last_group, init_only(init, name, w.line, w.col), 1, &cur)?;
                continue;
            }
        }
        // A parenthesised θ.
        let g = cur.paren_group()?;
        let mut theta = theta_group(&cur, &g.text, line, col)?;
        theta.name = name.or_else(|| pending_names.pop_front());
        let n = repetition(&mut cur)?;
        push_theta(&mut out, &mut last_group, theta, n, &cur)?;
    }
    for t in &out {
        if let Some(init) = t.init {
            let inside = t.lower <= init && init <= t.upper;
            if !(t.fixed || inside) {
                return Err(cur.error_at(
                    t.line,
                    t.column,
                    format!(
                        "initial estimate {init} is outside its bounds ({}, {})",
                        t.lower, t.upper
                    ),
                ));
            }
        }
        if !(t.lower <= t.upper) {
            return Err(cur.error_at(
                t.line,
                t.column,
                format!("lower bound {} is above upper bound {}", t.lower, t.upper),
            ));
        }
    }
    // The comment on a line labels the last θ written on that line.
    for (line, text) in &src.comments {
        if let Some(t) = out.iter_mut().rev().find(|t| t.line == *line) {
            t.label = Some(text.clone());
        }
    }
    Ok(out)
}

fn init_only(init: f64, name: Option<String>, line: usize, column: usize) -> Theta {
    Theta {
        lower: f64::NEG_INFINITY,
        init: Some(init),
        upper: f64::INFINITY,
        fixed: false,
        name,
        label: None,
        line,
        column,
    }
}

fn push_theta(
    out: &mut Vec<Theta>,
    last_group: &mut Option<std::ops::Range<usize>>,
    t: Theta,
    n: usize,
    cur: &Cursor,
) -> Result<(), NonmemError> {
    if out.len() + n > MAX_VALUES {
        return Err(cur.error_at(t.line, t.column, format!("more than {MAX_VALUES} values in one record")));
    }
    let start = out.len();
    for _ in 0..n {
        out.push(t.clone());
    }
    *last_group = Some(start..out.len());
    Ok(())
}

/// Parses the inside of `( … )` of a θ: `init`, `low, init`, `low, init, up`,
/// `low,,up`, with `FIX` anywhere.
fn theta_group(cur: &Cursor, text: &str, line: usize, col: usize) -> Result<Theta, NonmemError> {
    let mut slots: Vec<Option<f64>> = vec![None];
    let mut fixed = false;
    for tok in group_tokens(text) {
        let u = tok.to_ascii_uppercase();
        if tok == "," {
            slots.push(None);
        } else if is_fix(&u) {
            fixed = true;
        } else if u == "UNINT" {
        } else if let Some(v) = parse_number(&tok) {
            match slots.last_mut() {
                Some(s @ None) => *s = Some(v),
                _ => slots.push(Some(v)),
            }
        } else {
            return Err(cur.error_at(
                line,
                col,
                format!("'{tok}' in ({text}): expected numbers, INF, -INF or FIX"),
            ));
        }
    }
    // A comma with nothing after it closes the list: `(1.1, FIX)` is `(1.1 FIX)`
    // (as NONMEM reads it) and `(-1, 2, )` has no upper bound.
    while slots.len() > 1 && slots.last() == Some(&None) {
        slots.pop();
    }
    let bad = |m: &str| cur.error_at(line, col, format!("({text}): {m}"));
    let (lower, init, upper) = match slots.as_slice() {
        [Some(i)] => (f64::NEG_INFINITY, Some(*i), f64::INFINITY),
        [Some(l), Some(i)] => (*l, Some(*i), f64::INFINITY),
        [Some(l), i, u] => (*l, *i, u.unwrap_or(f64::INFINITY)),
        [None] => return Err(bad("expected an initial estimate")),
        [None, ..] => return Err(bad("expected a lower bound (or -INF) before the comma")),
        _ => return Err(bad("expected at most (low, init, up)")),
    };
    if let Some(i) = init {
        if !i.is_finite() {
            return Err(bad("the initial estimate must be a finite number"));
        }
    } else if !(lower.is_finite() && upper.is_finite()) {
        return Err(bad("(low,,up) needs finite bounds"));
    }
    let implied = init.is_some_and(|i| lower == i && i == upper);
    Ok(Theta {
        lower,
        init,
        upper,
        fixed: fixed || implied,
        name: None,
        label: None,
        line,
        column: col,
    })
}

/// One value of an `$OMEGA`/`$SIGMA` record before it is placed in a block.
#[derive(Debug, Clone)]
struct Item {
    value: f64,
    fixed: bool,
    sd: Option<bool>,
    name: Option<String>,
    line: usize,
}

/// Parses one `$OMEGA` or `$SIGMA` record (`record` is `$OMEGA` or `$SIGMA`),
/// appending its blocks to `blocks` (which holds the blocks of the previous
/// records of the same kind, for `SAME`).
pub(crate) fn parse_covariance(
    src: &Src,
    file: &str,
    record: &str,
    line: usize,
    blocks: &mut Vec<CovarianceBlock>,
) -> Result<(), NonmemError> {
    let mut cur = Cursor::new(src, file, record);
    let mut block: Option<Option<usize>> = None;
    let mut diagonal: Option<usize> = None;
    let mut same: Option<usize> = None;
    let mut values: Option<(f64, f64)> = None;
    let mut names: Vec<String> = Vec::new();
    let mut fixed = false;
    let mut sd: Option<bool> = None;
    let mut corr = false;
    let mut cholesky = false;
    let mut items: Vec<Item> = Vec::new();
    let mut last_group: Option<std::ops::Range<usize>> = None;
    let mut pending_name: Option<String> = None;

    let size_in = |cur: &mut Cursor, what: &str| -> Result<usize, NonmemError> {
        let g = cur.paren_group()?;
        match g.text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_BLOCK).contains(&n) => Ok(n),
            _ => Err(cur.error_at(
                g.line,
                g.col,
                format!("{what}({}): expected a size from 1 to {MAX_BLOCK}", g.text.trim()),
            )),
        }
    };
    loop {
        cur.skip_separators();
        let Some(c) = cur.peek() else { break };
        let (l, col) = cur.here();
        if c == '(' {
            // (init options) / (options init) / (v v …)xn
            let g = cur.paren_group()?;
            let mut vals = Vec::new();
            let mut gfix = false;
            let mut gsd = None;
            for tok in group_tokens(&g.text) {
                let u = tok.to_ascii_uppercase();
                if tok == "," || u == "UNINT" {
                } else if is_fix(&u) {
                    gfix = true;
                } else if abbreviates(&u, "STANDARD", 3) || u == "SD" {
                    gsd = Some(true);
                } else if abbreviates(&u, "VARIANCE", 3) {
                    gsd = Some(false);
                } else if let Some(v) = parse_number(&tok).filter(|v| v.is_finite()) {
                    vals.push(v);
                } else {
                    return Err(cur.error_at(
                        l,
                        col,
                        format!("'{tok}' in ({}): expected numbers, FIX, SD or VARIANCE", g.text),
                    ));
                }
            }
            if vals.is_empty() {
                return Err(cur.error_at(l, col, format!("({}): expected an initial estimate", g.text)));
            }
            let n = repetition(&mut cur)?;
            if items.len() + n * vals.len() > MAX_VALUES {
                return Err(cur.error_at(l, col, format!("more than {MAX_VALUES} values in one record")));
            }
            let start = items.len();
            for _ in 0..n {
                for &v in &vals {
                    items.push(Item {
                        value: v,
                        fixed: gfix,
                        sd: gsd,
                        name: pending_name.take(),
                        line: l,
                    });
                }
            }
            last_group = Some(start..items.len());
            continue;
        }
        let w = match cur.word() {
            Some(w) if !w.quoted => w,
            _ => return Err(cur.error(format!("expected a value or an option, found '{c}'"))),
        };
        let u = w.upper();
        let in_block = block.is_some();
        // Options after a value in a diagonal record apply to that value.
        let item_level = !in_block && last_group.is_some();
        if abbreviates(&u, "BLOCK", 3) {
            if block.is_some() || diagonal.is_some() {
                return Err(cur.error_at(
                    w.line,
                    w.col,
                    "BLOCK given twice or with DIAGONAL: one record holds one block",
                ));
            }
            if !items.is_empty() {
                return Err(cur.error_at(w.line, w.col, "BLOCK after values: expected BLOCK(n) before the values"));
            }
            block = Some(if cur.next_is('(') {
                Some(size_in(&mut cur, "BLOCK")?)
            } else {
                None
            });
        } else if abbreviates(&u, "DIAGONAL", 3) {
            if block.is_some() || diagonal.is_some() {
                return Err(cur.error_at(w.line, w.col, "DIAGONAL given twice or with BLOCK"));
            }
            diagonal = Some(size_in(&mut cur, "DIAGONAL")?);
        } else if u == "SAME" {
            same = Some(if cur.next_is('(') {
                let g = cur.paren_group()?;
                match g.text.trim().parse::<usize>() {
                    Ok(m) if (1..=MAX_REPEAT).contains(&m) => m,
                    _ => {
                        return Err(cur.error_at(
                            g.line,
                            g.col,
                            format!("SAME({}): expected a count from 1 to {MAX_REPEAT}", g.text.trim()),
                        ))
                    }
                }
            } else {
                1
            });
        } else if abbreviates(&u, "VALUES", 3) {
            let g = cur.paren_group()?;
            let nums: Vec<f64> = group_tokens(&g.text)
                .iter()
                .filter(|t| *t != ",")
                .map(|t| parse_number(t).filter(|v| v.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .unwrap_or_default();
            if nums.len() != 2 {
                return Err(cur.error_at(
                    g.line,
                    g.col,
                    format!("VALUES({}): expected VALUES(diagonal, off-diagonal)", g.text),
                ));
            }
            values = Some((nums[0], nums[1]));
        } else if u == "NAMES" {
            let g = cur.paren_group()?;
            for n in g.text.split(|c: char| c == ',' || c.is_whitespace()) {
                if n.is_empty() {
                    continue;
                }
                if !valid_name(n) {
                    return Err(cur.error_at(g.line, g.col, format!("NAMES: '{n}' is not a label")));
                }
                names.push(n.to_ascii_uppercase());
            }
        } else if is_fix(&u) || u == "UNINT" {
            if u == "UNINT" {
                continue;
            }
            match (&last_group, item_level) {
                (Some(r), true) => items[r.clone()].iter_mut().for_each(|i| i.fixed = true),
                _ => fixed = true,
            }
        } else if abbreviates(&u, "STANDARD", 3) || u == "SD" || abbreviates(&u, "VARIANCE", 3) {
            let is_sd = !abbreviates(&u, "VARIANCE", 3);
            match (&last_group, item_level) {
                (Some(r), true) => items[r.clone()].iter_mut().for_each(|i| i.sd = Some(is_sd)),
                _ => sd = Some(is_sd),
            }
        } else if abbreviates(&u, "CORRELATION", 3) {
            corr = true;
        } else if abbreviates(&u, "COVARIANCE", 3) {
            corr = false;
        } else if abbreviates(&u, "CHOLESKY", 3) {
            cholesky = true;
        } else if cur.eat('=') {
            if !valid_name(&w.text) {
                return Err(cur.error_at(w.line, w.col, format!("'{}=': expected a label before '='", w.text)));
            }
            pending_name = Some(u);
        } else if let Some(v) = parse_number(&w.text).filter(|v| v.is_finite()) {
            if items.len() >= MAX_VALUES {
                return Err(cur.error_at(w.line, w.col, format!("more than {MAX_VALUES} values in one record")));
            }
            items.push(Item {
                value: v,
                fixed: false,
                sd: None,
                name: pending_name.take(),
                line: w.line,
            });
            last_group = Some(items.len() - 1..items.len());
        } else {
            return Err(cur.error_at(
                w.line,
                w.col,
                format!("'{}': expected a value, BLOCK(n), DIAGONAL(n), SAME, VALUES(d,o), FIX, SD, CORRELATION or CHOLESKY", w.text),
            ));
        }
    }
    let err = |m: String| cur.error_at(line, 1, m);
    let comment_for = |item_index: usize| -> Option<String> {
        let it = items.get(item_index)?;
        let last_on_line = items.iter().rposition(|i| i.line == it.line) == Some(item_index);
        if last_on_line {
            src.comment_on(it.line).map(str::to_string)
        } else {
            None
        }
    };
    let written_as = Parameterisation {
        standard_deviation: sd == Some(true),
        correlation: corr,
        cholesky,
    };

    if let Some(m) = same {
        if !items.is_empty() || values.is_some() {
            return Err(err("SAME takes no values: the block repeats the previous one".into()));
        }
        if diagonal.is_some() || block.is_none() {
            return Err(err("SAME needs BLOCK: expected BLOCK(n) SAME or BLOCK SAME".into()));
        }
        let Some(prev) = blocks.last() else {
            return Err(err(format!("{record} BLOCK SAME with no previous block to repeat")));
        };
        let source = match prev.form {
            BlockForm::Same { source } => source,
            _ => blocks.len() - 1,
        };
        let size = prev.size;
        if let Some(Some(n)) = block {
            if n != size {
                return Err(err(format!(
                    "BLOCK({n}) SAME: the previous block has size {size}, expected BLOCK({size}) SAME"
                )));
            }
        }
        check_dimension(blocks, size * m).map_err(err)?;
        for _ in 0..m {
            let src_block = &blocks[source];
            let b = CovarianceBlock {
                first: next_index(blocks),
                size,
                values: src_block.values.clone(),
                written: src_block.written.clone(),
                fixed: src_block.fixed,
                form: BlockForm::Same { source },
                written_as: src_block.written_as,
                labels: vec![None; size],
                names: vec![None; size],
                line,
            };
            blocks.push(b);
        }
        return Ok(());
    }

    if let Some(b) = block {
        let from_items = values.is_none();
        let Some(n) = b else {
            return Err(err(
                "BLOCK without (n) is only allowed with SAME: expected BLOCK(n)".into()
            ));
        };
        check_dimension(blocks, n).map_err(err)?;
        let count = n * (n + 1) / 2;
        let written: Vec<f64> = match values {
            Some((d, o)) => {
                if !items.is_empty() {
                    return Err(err("BLOCK(n) VALUES(d,o) takes no other values".into()));
                }
                (0..n)
                    .flat_map(|r| (0..=r).map(move |c| if r == c { d } else { o }))
                    .collect()
            }
            None => {
                if items.len() != count {
                    return Err(err(format!(
                        "BLOCK({n}) expects {count} values (lower triangle by rows), found {}",
                        items.len()
                    )));
                }
                items.iter().map(|i| i.value).collect()
            }
        };
        let fixed = fixed || items.iter().any(|i| i.fixed);
        let sd_flag = written_as.standard_deviation || items.iter().any(|i| i.sd == Some(true));
        let written_as = Parameterisation {
            standard_deviation: sd_flag,
            ..written_as
        };
        let values = convert_block(n, &written, written_as).map_err(err)?;
        let mut block_names: Vec<Option<String>> = vec![None; n];
        for (k, it) in items.iter().enumerate() {
            if let Some(nm) = &it.name {
                // A label before the first value of row r names η r.
                let r = row_of(k);
                if r < n {
                    block_names[r] = Some(nm.clone());
                }
            }
        }
        if !names.is_empty() {
            if names.len() != n {
                return Err(err(format!("NAMES gives {} labels for BLOCK({n})", names.len())));
            }
            block_names = names.into_iter().map(Some).collect();
        }
        let labels = (0..n)
            .map(|r| if from_items { comment_for(r * (r + 3) / 2) } else { None })
            .collect();
        blocks.push(CovarianceBlock {
            first: next_index(blocks),
            size: n,
            values,
            written,
            fixed,
            form: BlockForm::Block,
            written_as,
            labels,
            names: block_names,
            line,
        });
        return Ok(());
    }

    // Diagonal.
    if values.is_some() {
        return Err(err("VALUES(d,o) needs BLOCK(n)".into()));
    }
    if items.is_empty() {
        return Err(err(format!("{record}: expected initial estimates")));
    }
    if let Some(n) = diagonal {
        if n != items.len() {
            return Err(err(format!("DIAGONAL({n}) but {} values given", items.len())));
        }
    }
    check_dimension(blocks, items.len()).map_err(err)?;
    if !names.is_empty() && names.len() != items.len() {
        return Err(err(format!(
            "NAMES gives {} labels for {} values",
            names.len(),
            items.len()
        )));
    }
    for (k, it) in items.iter().enumerate() {
        let is_sd = it.sd.unwrap_or(sd == Some(true)) || cholesky;
        let variance = if is_sd { it.value * it.value } else { it.value };
        let name = names.get(k).cloned().or_else(|| it.name.clone());
        blocks.push(CovarianceBlock {
            first: next_index(blocks),
            size: 1,
            values: vec![variance],
            written: vec![it.value],
            fixed: fixed || it.fixed,
            form: BlockForm::Diagonal,
            written_as: Parameterisation {
                standard_deviation: is_sd,
                correlation: false,
                cholesky: false,
            },
            labels: vec![comment_for(k)],
            names: vec![name],
            line: it.line,
        });
    }
    Ok(())
}

/// Row of the k-th element of a lower triangle stored by rows.
fn row_of(k: usize) -> usize {
    let mut r = 0;
    while (r + 1) * (r + 2) / 2 <= k {
        r += 1;
    }
    r
}

/// Refuses blocks that would take Ω/Σ beyond [`MAX_DIMENSION`].
fn check_dimension(blocks: &[CovarianceBlock], added: usize) -> Result<(), String> {
    let total = next_index(blocks) - 1 + added;
    if total > MAX_DIMENSION {
        return Err(format!(
            "the matrix would have {total} rows: at most {MAX_DIMENSION} are accepted"
        ));
    }
    Ok(())
}

fn next_index(blocks: &[CovarianceBlock]) -> usize {
    blocks.last().map(|b| b.first + b.size).unwrap_or(1)
}

/// Converts a block written as SD/correlation/Cholesky to variances and covariances.
fn convert_block(n: usize, w: &[f64], how: Parameterisation) -> Result<Vec<f64>, String> {
    let at = |r: usize, c: usize| w[r * (r + 1) / 2 + c];
    let mut out = vec![0.0; w.len()];
    if how.cholesky {
        // Ω = L Lᵀ with L the lower triangle as written.
        for r in 0..n {
            for c in 0..=r {
                out[r * (r + 1) / 2 + c] = (0..=c).map(|k| at(r, k) * at(c, k)).sum();
            }
        }
        return Ok(out);
    }
    let var = |r: usize| {
        let d = at(r, r);
        if how.standard_deviation {
            d * d
        } else {
            d
        }
    };
    for r in 0..n {
        for c in 0..=r {
            out[r * (r + 1) / 2 + c] = if r == c {
                var(r)
            } else if how.correlation {
                let (vr, vc) = (var(r), var(c));
                if vr < 0.0 || vc < 0.0 {
                    return Err(format!(
                        "negative variance on the diagonal of a CORRELATION block (row {})",
                        r + 1
                    ));
                }
                at(r, c) * (vr * vc).sqrt()
            } else {
                at(r, c)
            };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Src {
        Src::from_text(text)
    }

    fn thetas(text: &str) -> Result<Vec<Theta>, NonmemError> {
        parse_thetas(&src(text), "f.ctl", &mut Vec::new())
    }

    fn omega(text: &str) -> Result<Vec<CovarianceBlock>, NonmemError> {
        let mut b = Vec::new();
        parse_covariance(&src(text), "f.ctl", "$OMEGA", 1, &mut b)?;
        Ok(b)
    }

    #[test]
    fn theta_forms_of_the_nonmem_help() {
        let t = thetas("(0,3) 2 FIXED (0,.6,1) 10 (-INF,-2.7,0) (37 FIXED)").unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!((t[0].lower, t[0].init, t[0].upper), (0.0, Some(3.0), f64::INFINITY));
        assert!(t[1].fixed && !t[0].fixed);
        assert_eq!((t[2].lower, t[2].init, t[2].upper), (0.0, Some(0.6), 1.0));
        assert_eq!(t[4].lower, f64::NEG_INFINITY);
        assert_eq!(t[4].upper, 0.0);
        assert!(t[5].fixed);
        assert_eq!(t[5].init, Some(37.0));
        let t = thetas("(2)x4 (0.001,0.1,1000)x3 (0.5 FIXED)x2").unwrap();
        assert_eq!(t.len(), 9);
        assert_eq!(t[3].init, Some(2.0));
        assert_eq!(t[6].upper, 1000.0);
        assert!(t[8].fixed);
        let t = thetas("(0,,10) (1,1,1) (0 0.5 1) (-1, 2, ) (0,1) FIX (1.1,   FIX)").unwrap();
        assert_eq!(t[0].init, None);
        assert_eq!(t[0].upper, 10.0);
        assert!(t[1].fixed, "low = init = up implies FIX");
        assert_eq!(t[2].init, Some(0.5));
        assert_eq!(t[3].upper, f64::INFINITY);
        assert!(t[4].fixed);
        assert_eq!(
            (t[5].init, t[5].fixed, t[5].lower),
            (Some(1.1), true, f64::NEG_INFINITY)
        );
    }

    #[test]
    fn theta_labels_from_comments_and_names() {
        let t =
            thetas(" (0,9.8) ;[V1]\n(0,3.7) ;; CL ; L/h\n 1 2 ; last on line\nCL=(0,7) V=3\nNAMES(KA, F1) 1 (0, 2)")
                .unwrap();
        assert_eq!(t[0].label.as_deref(), Some("[V1]"));
        assert_eq!(t[1].label.as_deref(), Some("CL"));
        assert_eq!(t[2].label, None);
        assert_eq!(t[3].label.as_deref(), Some("last on line"));
        assert_eq!(t[4].name.as_deref(), Some("CL"));
        assert_eq!(t[4].lower, 0.0);
        assert_eq!(t[5].name.as_deref(), Some("V"));
        assert_eq!(t[6].name.as_deref(), Some("KA"));
        assert_eq!(t[7].name.as_deref(), Some("F1"));
        assert_eq!(t[7].line, 5);
    }

    #[test]
    fn theta_errors_name_the_place() {
        let e = thetas("1\n (0, 5, 1)").unwrap_err();
        assert!(e.to_string().contains("f.ctl, line 2"), "{e}");
        assert!(e.to_string().contains("outside its bounds"), "{e}");
        let e = thetas("FIX 1").unwrap_err();
        assert!(e.to_string().contains("FIX before any value"), "{e}");
        let e = thetas("(0,1,2,3)").unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        let e = thetas("abc").unwrap_err();
        assert!(e.to_string().contains("'abc'"), "{e}");
        let e = thetas("(1)x0").unwrap_err();
        assert!(e.to_string().contains("repetition"), "{e}");
        let e = thetas("(1").unwrap_err();
        assert!(e.to_string().contains("not closed"), "{e}");
    }

    #[test]
    fn omega_diagonal_and_fix() {
        let b = omega("0.15 0.15 0.2 FIX ; three\n (0.3 SD) 0.5 SD (0.1)x2").unwrap();
        assert_eq!(b.len(), 7);
        assert_eq!(b[2].first, 3);
        assert!(b[2].fixed && !b[1].fixed);
        assert_eq!(b[2].labels[0].as_deref(), Some("three"));
        assert!((b[3].values[0] - 0.09).abs() < 1e-15);
        assert_eq!(b[3].written[0], 0.3);
        assert!((b[4].values[0] - 0.25).abs() < 1e-15);
        assert_eq!(b[6].values[0], 0.1);
        let b = omega("DIAGONAL(2)\n 0.0309626 ; IVCL\n 0.031128 ; IVV").unwrap();
        assert_eq!(b[1].labels[0].as_deref(), Some("IVV"));
        assert!(omega("DIAGONAL(3) 1 2").is_err());
        assert!(omega("").is_err());
    }

    #[test]
    fn omega_blocks_same_values() {
        let mut blocks = Vec::new();
        let s = |t: &str| src(t);
        parse_covariance(
            &s("BLOCK(2)\n 0.0309626 ; IVCL\n 0.001 0.031128 ; IVV"),
            "f",
            "$OMEGA",
            1,
            &mut blocks,
        )
        .unwrap();
        parse_covariance(&s("BLOCK(2) SAME(2)"), "f", "$OMEGA", 5, &mut blocks).unwrap();
        parse_covariance(&s("BLOCK SAME"), "f", "$OMEGA", 6, &mut blocks).unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0].values, [0.0309626, 0.001, 0.031128]);
        assert_eq!(blocks[0].labels, [Some("IVCL".to_string()), Some("IVV".to_string())]);
        assert_eq!(blocks[3].first, 7);
        assert_eq!(blocks[3].form, BlockForm::Same { source: 0 });
        assert_eq!(blocks[2].values, blocks[0].values);
        let m = full_matrix(&blocks);
        assert_eq!(m.nrows(), 8);
        assert_eq!(m[(7, 6)], 0.001);
        assert_eq!(m[(2, 0)], 0.0);
        let b = omega("BLOCK(3) VALUES(0.1,0.01) FIX").unwrap();
        assert_eq!(b[0].values, [0.1, 0.01, 0.1, 0.01, 0.01, 0.1]);
        assert!(b[0].fixed);
        let b = omega("BLOCK(2) FIX 1 0.5 1").unwrap();
        assert!(b[0].fixed);
        let e = omega("BLOCK(2) 1 2").unwrap_err();
        assert!(e.to_string().contains("expects 3 values"), "{e}");
        let e = omega("BLOCK(2) SAME").unwrap_err();
        assert!(e.to_string().contains("no previous block"), "{e}");
        let mut blocks = Vec::new();
        parse_covariance(&s("0.1"), "f", "$OMEGA", 1, &mut blocks).unwrap();
        let e = parse_covariance(&s("BLOCK(2) SAME"), "f", "$OMEGA", 2, &mut blocks).unwrap_err();
        assert!(e.to_string().contains("size 1"), "{e}");
    }

    #[test]
    fn omega_sd_correlation_cholesky_as_the_nonmem_help() {
        // The five spellings of the same block in the $OMEGA help.
        let forms = [
            "BLOCK(2)\n0.64\n-0.24 0.58",
            "STANDARD BLOCK(2)\n0.8\n-0.24 0.762",
            "STANDARD CORRELATION BLOCK(2)\n0.8\n-0.394 0.762",
            "VARIANCE CORRELATION BLOCK(2)\n0.64\n-0.394 0.58",
            "CHOLESKY BLOCK(2)\n0.8\n-0.3 0.7",
        ];
        for f in forms {
            let b = omega(f).unwrap();
            let v = &b[0].values;
            assert!((v[0] - 0.64).abs() < 2e-3, "{f}: {v:?}");
            assert!((v[1] + 0.24).abs() < 2e-3, "{f}: {v:?}");
            assert!((v[2] - 0.58).abs() < 2e-3, "{f}: {v:?}");
        }
        let b = omega(forms[4]).unwrap();
        assert!(b[0].written_as.cholesky);
        assert_eq!(b[0].written, [0.8, -0.3, 0.7]);
    }

    #[test]
    fn omega_symbolic_labels() {
        let b = omega("BLOCK(2)\nECL= 0.3\nEV1= 0.01 0.35").unwrap();
        assert_eq!(b[0].names, [Some("ECL".to_string()), Some("EV1".to_string())]);
        let b = omega("BLOCK(2) NAMES(A,B) VALUES(0.03,0.01)").unwrap();
        assert_eq!(b[0].names[1].as_deref(), Some("B"));
        let b = omega("ECL=.4 EV=.2").unwrap();
        assert_eq!(b[1].names[0].as_deref(), Some("EV"));
    }
}
