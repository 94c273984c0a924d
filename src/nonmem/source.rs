//! Splitting a control stream into records, and a small cursor over the text
//! of option-style records (comments removed, positions kept).

use super::error::{NonmemError, SourcePos};

/// One physical line of a record's body.
#[derive(Debug, Clone)]
pub(crate) struct BodyLine {
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column of the first character of `text`.
    pub col: usize,
    /// The text (for the record's first line, what follows the record name).
    pub text: String,
}

/// A record as found in the file, before it is parsed.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    /// The name as written, upper-cased, without `$`.
    pub name: String,
    /// The name as written, with `$` (original case).
    pub written: String,
    /// Line of the `$`.
    pub line: usize,
    /// Column of the `$`.
    pub col: usize,
    /// The body, line by line, comments included.
    pub lines: Vec<BodyLine>,
}

/// Splits a control stream into records. Text before the first record must be
/// blank or comments.
pub(crate) fn split_records(text: &str, file: &str) -> Result<Vec<RawRecord>, NonmemError> {
    let mut records: Vec<RawRecord> = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let chars: Vec<char> = line.chars().collect();
        let first = chars.iter().position(|c| !c.is_whitespace());
        let is_record = match first {
            Some(p) => chars[p] == '$' && chars.get(p + 1).is_some_and(|c| c.is_ascii_alphabetic()),
            None => false,
        };
        if is_record {
            let p = first.unwrap_or(0);
            let mut end = p + 1;
            while end < chars.len() && chars[end].is_ascii_alphabetic() {
                end += 1;
            }
            let written: String = chars[p..end].iter().collect();
            records.push(RawRecord {
                name: written[1..].to_ascii_uppercase(),
                written,
                line: line_no,
                col: p + 1,
                lines: vec![BodyLine {
                    line: line_no,
                    col: end + 1,
                    text: chars[end..].iter().collect(),
                }],
            });
        } else if let Some(r) = records.last_mut() {
            r.lines.push(BodyLine {
                line: line_no,
                col: 1,
                text: line.to_string(),
            });
        } else if let Some(p) = first {
            if chars[p] != ';' {
                return Err(NonmemError::Syntax {
                    at: SourcePos::new(file, line_no, p + 1),
                    record: "control stream".into(),
                    message: format!(
                        "text before the first record: expected a record such as $PROBLEM or a ';' comment, found '{}'",
                        shorten(line.trim())
                    ),
                });
            }
        }
    }
    Ok(records)
}

/// The first 40 characters of a text, for messages.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// One character of a record body with its position.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    line: usize,
    col: usize,
}

/// The body of an option-style record: comments removed (and kept by line),
/// `&` continuations removed, lines joined by `\n`.
#[derive(Debug, Clone)]
pub(crate) struct Src {
    chars: Vec<Ch>,
    /// `(line, label)`: the comment after the leading `;`s, up to the next `;`, trimmed.
    pub comments: Vec<(usize, String)>,
    /// Position just after the last character.
    end: (usize, usize),
}

impl Src {
    /// The body made of `text`, its first line numbered 1 (for unit tests).
    #[cfg(test)]
    pub fn from_text(text: &str) -> Src {
        let lines: Vec<BodyLine> = text
            .lines()
            .enumerate()
            .map(|(i, t)| BodyLine {
                line: i + 1,
                col: 1,
                text: t.to_string(),
            })
            .collect();
        Src::new(&lines)
    }

    /// Builds the text of a record body. `;` outside quotes starts a comment.
    pub fn new(lines: &[BodyLine]) -> Src {
        let mut chars = Vec::new();
        let mut comments = Vec::new();
        let mut end = (0, 0);
        for (k, bl) in lines.iter().enumerate() {
            let cs: Vec<char> = bl.text.chars().collect();
            let mut quote: Option<char> = None;
            let mut cut = cs.len();
            for (j, &c) in cs.iter().enumerate() {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == '\'' || c == '"' => quote = Some(c),
                    None if c == ';' => {
                        cut = j;
                        break;
                    }
                    None => {}
                }
            }
            if cut < cs.len() {
                let text: String = cs[cut..].iter().collect();
                // PsN's label: after the leading `;`s, up to the next `;`.
                let text = text
                    .trim_start_matches(';')
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                if !text.is_empty() {
                    comments.push((bl.line, text));
                }
            }
            let mut keep = cut;
            // `&` at the end of a line continues it: drop it.
            let mut t = keep;
            while t > 0 && cs[t - 1].is_whitespace() {
                t -= 1;
            }
            if t > 0 && cs[t - 1] == '&' {
                keep = t - 1;
            }
            for (j, &c) in cs[..keep].iter().enumerate() {
                let c = if c == '\t' { ' ' } else { c };
                chars.push(Ch {
                    c,
                    line: bl.line,
                    col: bl.col + j,
                });
            }
            end = (bl.line, bl.col + cs.len());
            if k + 1 < lines.len() {
                chars.push(Ch {
                    c: '\n',
                    line: bl.line,
                    col: bl.col + cs.len(),
                });
            }
        }
        Src { chars, comments, end }
    }

    /// The comment on a line, if any.
    pub fn comment_on(&self, line: usize) -> Option<&str> {
        self.comments.iter().find(|(l, _)| *l == line).map(|(_, s)| s.as_str())
    }
}

/// A token of an option-style record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    /// The text as written (original case; quotes removed for quoted text).
    pub text: String,
    /// Line of the first character.
    pub line: usize,
    /// Column of the first character.
    pub col: usize,
    /// Whether the text was quoted.
    pub quoted: bool,
}

impl Word {
    /// Upper-cased text.
    pub fn upper(&self) -> String {
        self.text.to_ascii_uppercase()
    }
}

/// A cursor over a record body.
pub(crate) struct Cursor<'a> {
    src: &'a Src,
    pos: usize,
    file: &'a str,
    record: String,
}

/// Characters that end a bare word.
fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '=' | '(' | ')' | ',' | '\'' | '"'))
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `src`; `record` names the record in errors.
    pub fn new(src: &'a Src, file: &'a str, record: &str) -> Self {
        Cursor {
            src,
            pos: 0,
            file,
            record: record.to_string(),
        }
    }

    /// A syntax error at a position.
    pub fn error_at(&self, line: usize, col: usize, message: impl Into<String>) -> NonmemError {
        NonmemError::Syntax {
            at: SourcePos::new(self.file, line, col),
            record: self.record.clone(),
            message: message.into(),
        }
    }

    /// A syntax error at the cursor.
    pub fn error(&self, message: impl Into<String>) -> NonmemError {
        let (l, c) = self.here();
        self.error_at(l, c, message)
    }

    /// Position of the next character (or the end of the record).
    pub fn here(&self) -> (usize, usize) {
        match self.src.chars.get(self.pos) {
            Some(ch) => (ch.line, ch.col),
            None => self.src.end,
        }
    }

    /// The current position, to come back to with [`Cursor::reset`].
    pub fn mark(&self) -> usize {
        self.pos
    }

    /// Comes back to a position given by [`Cursor::mark`].
    pub fn reset(&mut self, mark: usize) {
        self.pos = mark.min(self.src.chars.len());
    }

    /// The next character, if any.
    pub fn peek(&self) -> Option<char> {
        self.src.chars.get(self.pos).map(|c| c.c)
    }

    fn bump(&mut self) -> Option<Ch> {
        let ch = self.src.chars.get(self.pos).copied();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Skips blanks and line ends.
    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// Skips blanks, line ends and commas (separators between options).
    pub fn skip_separators(&mut self) {
        while self.peek().is_some_and(|c| c.is_whitespace() || c == ',') {
            self.pos += 1;
        }
    }

    /// Skips blanks and consumes `c` if it comes next.
    pub fn eat(&mut self, c: char) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Whether `c` comes next after blanks (nothing consumed).
    pub fn next_is(&mut self, c: char) -> bool {
        let save = self.pos;
        self.skip_ws();
        let r = self.peek() == Some(c);
        self.pos = save;
        r
    }

    /// Reads a bare word (after blanks), or a quoted text.
    pub fn word(&mut self) -> Option<Word> {
        self.skip_ws();
        let c = self.peek()?;
        if c == '\'' || c == '"' {
            return self.quoted().ok();
        }
        if !is_word_char(c) {
            return None;
        }
        let (line, col) = self.here();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if !is_word_char(c) {
                break;
            }
            text.push(c);
            self.pos += 1;
        }
        Some(Word {
            text,
            line,
            col,
            quoted: false,
        })
    }

    /// Reads a quoted text (the cursor must be on the quote).
    pub fn quoted(&mut self) -> Result<Word, NonmemError> {
        self.skip_ws();
        let (line, col) = self.here();
        let q = match self.bump() {
            Some(ch) if ch.c == '\'' || ch.c == '"' => ch.c,
            _ => return Err(self.error_at(line, col, "expected a quoted text")),
        };
        let mut text = String::new();
        loop {
            match self.bump() {
                Some(ch) if ch.c == q => break,
                Some(ch) if ch.c == '\n' => return Err(self.error_at(line, col, format!("unterminated quote {q}"))),
                Some(ch) => text.push(ch.c),
                None => return Err(self.error_at(line, col, format!("unterminated quote {q}"))),
            }
        }
        Ok(Word {
            text,
            line,
            col,
            quoted: true,
        })
    }

    /// Reads `( ... )` and returns the text inside (line ends become blanks);
    /// nested parentheses and quotes are kept whole.
    pub fn paren_group(&mut self) -> Result<Word, NonmemError> {
        self.skip_ws();
        let (line, col) = self.here();
        if self.peek() != Some('(') {
            return Err(self.error("expected '('"));
        }
        self.pos += 1;
        let mut depth = 1usize;
        let mut text = String::new();
        let mut quote: Option<char> = None;
        loop {
            let ch = match self.bump() {
                Some(ch) => ch,
                None => {
                    return Err(self.error_at(line, col, "'(' is not closed: expected ')'"));
                }
            };
            let c = if ch.c == '\n' { ' ' } else { ch.c };
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' => quote = Some(c),
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                },
            }
            text.push(c);
        }
        Ok(Word {
            text,
            line,
            col: col + 1,
            quoted: false,
        })
    }

    /// Reads the value after `=`: a quoted text, a parenthesised group
    /// (returned with its parentheses), or everything up to the next blank.
    pub fn raw_value(&mut self) -> Result<Word, NonmemError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected a value after '='")),
            Some('\'') | Some('"') => self.quoted(),
            Some('(') => {
                let (line, col) = self.here();
                let g = self.paren_group()?;
                Ok(Word {
                    text: format!("({})", g.text),
                    line,
                    col,
                    quoted: false,
                })
            }
            Some(_) => {
                let (line, col) = self.here();
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    text.push(c);
                    self.pos += 1;
                }
                Ok(Word {
                    text,
                    line,
                    col,
                    quoted: false,
                })
            }
        }
    }

    /// Reads up to the next blank (used for file names).
    pub fn raw_token(&mut self) -> Option<Word> {
        self.skip_ws();
        if matches!(self.peek(), Some('\'') | Some('"')) {
            return self.quoted().ok();
        }
        let (line, col) = self.here();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                break;
            }
            text.push(c);
            self.pos += 1;
        }
        if text.is_empty() {
            None
        } else {
            Some(Word {
                text,
                line,
                col,
                quoted: false,
            })
        }
    }

    /// Reads one `NAME` or `NAME=value` option (after separators).
    pub fn option(&mut self) -> Result<Option<RecordOption>, NonmemError> {
        self.skip_separators();
        if self.peek().is_none() {
            return Ok(None);
        }
        let w = match self.word() {
            Some(w) if !w.quoted => w,
            _ => {
                let (l, c) = self.here();
                let found = self.peek().map(|c| c.to_string()).unwrap_or_default();
                return Err(self.error_at(l, c, format!("expected an option, found '{found}'")));
            }
        };
        let value = if self.eat('=') {
            Some(self.raw_value()?.text)
        } else {
            None
        };
        Ok(Some(RecordOption {
            name: w.upper(),
            value,
            line: w.line,
            column: w.col,
        }))
    }
}

/// An option of a record kept as written (name upper-cased), for options the
/// reader does not interpret; the lowering decides what to do with them.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOption {
    /// The option name, upper-cased, as `NOOBT` or `SIGL`.
    pub name: String,
    /// The value after `=`, as written (a parenthesised list keeps its parentheses).
    pub value: Option<String>,
    /// Line of the option.
    pub line: usize,
    /// Column of the option.
    pub column: usize,
}

/// Whether `word` (upper case) abbreviates `full` with at least `min` letters.
pub(crate) fn abbreviates(word: &str, full: &str, min: usize) -> bool {
    word.len() >= min && full.starts_with(word)
}

/// Parses a NONMEM number: Fortran `D` exponents, `.5`, `1.`, `INF`/`-INF`.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    match upper.as_str() {
        "INF" | "+INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let bytes = upper.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut out = String::new();
    if bytes[0] == b'+' || bytes[0] == b'-' {
        out.push(bytes[0] as char);
        i = 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_part = &upper[int_start..i];
    let mut frac_part = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let s = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_part = &upper[s..i];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    out.push('.');
    out.push_str(if frac_part.is_empty() { "0" } else { frac_part });
    if i < bytes.len() && (bytes[i] == b'E' || bytes[i] == b'D') {
        i += 1;
        out.push('e');
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            out.push(bytes[i] as char);
            i += 1;
        }
        let s = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if s == i {
            return None;
        }
        out.push_str(&upper[s..i]);
    }
    if i != bytes.len() {
        return None;
    }
    out.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_nonmem_spellings() {
        assert_eq!(parse_number("1.6"), Some(1.6));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("-.99"), Some(-0.99));
        assert_eq!(parse_number("1."), Some(1.0));
        assert_eq!(parse_number("1.D0"), Some(1.0));
        assert_eq!(parse_number("1E-3"), Some(1e-3));
        assert_eq!(parse_number("2.5d+2"), Some(250.0));
        assert_eq!(parse_number("-INF"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_number("inf"), Some(f64::INFINITY));
        assert_eq!(parse_number("1E"), None);
        assert_eq!(parse_number("."), None);
        assert_eq!(parse_number("1.2.3"), None);
        assert_eq!(parse_number("FIX"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn records_split_with_positions_and_leading_comments() {
        let text = ";Model Desc\n$PROB run\n$INPUT ID TIME\n  DV\n$pk CL=1\n";
        let recs = split_records(text, "x.ctl").unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].name, "PROB");
        assert_eq!(recs[1].lines.len(), 2);
        assert_eq!(recs[2].name, "PK");
        assert_eq!(recs[2].lines[0].col, 4);
        assert_eq!(recs[2].lines[0].text, " CL=1");
        let err = split_records("junk\n$PROB x", "x.ctl").unwrap_err();
        assert!(err.to_string().contains("x.ctl, line 1"), "{err}");
    }

    #[test]
    fn comments_are_kept_by_line_and_continuations_dropped() {
        let lines = vec![
            BodyLine {
                line: 3,
                col: 7,
                text: " 1.6 ;log Cl".into(),
            },
            BodyLine {
                line: 4,
                col: 1,
                text: " 'a;b' &".into(),
            },
        ];
        let src = Src::new(&lines);
        assert_eq!(src.comment_on(3), Some("log Cl"));
        assert_eq!(src.comment_on(4), None);
        let mut cur = Cursor::new(&src, "f", "$X");
        let w = cur.word().unwrap();
        assert_eq!((w.text.as_str(), w.line, w.col), ("1.6", 3, 8));
        let q = cur.word().unwrap();
        assert!(q.quoted);
        assert_eq!(q.text, "a;b");
        assert!(cur.word().is_none());
    }
}
