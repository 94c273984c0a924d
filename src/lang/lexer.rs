//! Tokens of the model language, each with its line and column.
//!
//! `#` starts a comment that runs to the end of the line. Newlines end
//! statements, except inside parentheses and square brackets, where a long
//! expression may be broken over several lines.

use super::LangError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: letters, digits, `_` and `.` (not first), e.g. `TVCL`, `eta.cl`.
    Ident(String),
    /// A number literal.
    Num(f64),
    /// A double-quoted string.
    Str(String),
    /// A punctuation or operator symbol, e.g. `+`, `<=`, `&&`, `{`.
    Sym(&'static str),
    /// End of a statement line.
    Newline,
    /// End of input.
    Eof,
}

/// A token and where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Line.
    pub line: usize,
    /// Column (in characters).
    pub col: usize,
}

const SYMBOLS: &[&str] = &[
    "**", "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "^", "(", ")", "{", "}", "[", "]", ",", "=", "<",
    ">", "!", "~", ":", "%",
];

/// Splits `text` into tokens; the error names line and column of the offending character.
pub fn tokenize(text: &str) -> Result<Vec<Token>, LangError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    for (li, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let lno = li + 1;
        while i < chars.len() {
            let c = chars[i];
            let col = i + 1;
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(Token {
                    tok: Tok::Ident(word),
                    line: lno,
                    col,
                });
                continue;
            }
            if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
                let (value, next) =
                    number(&chars, i).ok_or_else(|| LangError::at(lno, col, line, "a malformed number".to_string()))?;
                out.push(Token {
                    tok: Tok::Num(value),
                    line: lno,
                    col,
                });
                i = next;
                continue;
            }
            if c == '"' {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&d| d == '"')
                    .ok_or_else(|| LangError::at(lno, col, line, "a string without its closing quote".to_string()))?;
                out.push(Token {
                    tok: Tok::Str(chars[start..start + end].iter().collect()),
                    line: lno,
                    col,
                });
                i = start + end + 1;
                continue;
            }
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                return Err(LangError::at(lno, col, line, format!("an unexpected character '{c}'")));
            };
            match *sym {
                "(" | "[" => depth += 1,
                ")" | "]" => depth = depth.saturating_sub(1),
                _ => {}
            }
            out.push(Token {
                tok: Tok::Sym(sym),
                line: lno,
                col,
            });
            i += sym.chars().count();
        }
        if depth == 0 && out.last().is_some_and(|t| t.tok != Tok::Newline) {
            out.push(Token {
                tok: Tok::Newline,
                line: lno,
                col: chars.len() + 1,
            });
        }
    }
    let line = text.lines().count().max(1);
    out.push(Token {
        tok: Tok::Newline,
        line,
        col: 1,
    });
    out.push(Token {
        tok: Tok::Eof,
        line,
        col: 1,
    });
    Ok(out)
}

/// Reads a number starting at `i`: digits, optional fraction, optional exponent
/// (`e`, `E`, or Fortran's `d`/`D`). Returns the value and the next index.
fn number(chars: &[char], mut i: usize) -> Option<(f64, usize)> {
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    let mut text: String = chars[start..i].iter().collect();
    if i < chars.len() && matches!(chars[i], 'e' | 'E' | 'd' | 'D') {
        let mut j = i + 1;
        if j < chars.len() && matches!(chars[j], '+' | '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let exp: String = chars[i + 1..j].iter().collect();
            text.push('e');
            text.push_str(&exp);
            i = j;
        }
    }
    if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
        return None;
    }
    text.parse().ok().map(|v| (v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_symbols_and_lines() {
        let t = tokenize("CL = 1.5e-2 * (WT/70)**0.75 # comment\nif (A >= 2) {\n}").unwrap();
        let kinds: Vec<&Tok> = t.iter().map(|t| &t.tok).collect();
        assert_eq!(kinds[0], &Tok::Ident("CL".into()));
        assert_eq!(kinds[2], &Tok::Num(0.015));
        assert!(kinds.contains(&&Tok::Sym("**")));
        assert!(kinds.contains(&&Tok::Sym(">=")));
        let brace = t.iter().find(|t| t.tok == Tok::Sym("{")).unwrap();
        assert_eq!((brace.line, brace.col), (2, 13));
    }

    #[test]
    fn newline_inside_parentheses_continues_the_statement() {
        let t = tokenize("X = (1 +\n 2)\nY = 3").unwrap();
        let newlines = t.iter().filter(|t| t.tok == Tok::Newline).count();
        assert_eq!(newlines, 3);
    }

    #[test]
    fn bad_character_names_line_and_column() {
        let e = tokenize("X = 1\nY = 2 $ 3").unwrap_err();
        assert_eq!((e.line, e.column), (2, 7));
        assert!(e.message.contains("'$'"), "{}", e.message);
    }

    #[test]
    fn fortran_exponent() {
        let t = tokenize("1.5D-3").unwrap();
        assert_eq!(t[0].tok, Tok::Num(1.5e-3));
    }
}
