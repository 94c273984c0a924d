//! Recursive-descent parser: tokens → [`Stmt`] list. Every error names the
//! line and column of the offending token and what was expected there.

use super::ast::{BinOp, Combine, ErrorTerm, Expr, Func, Pos, Stmt};
use super::lexer::{tokenize, Tok, Token};
use super::LangError;

/// Parses a whole model file.
pub fn parse(text: &str) -> Result<Vec<Stmt>, LangError> {
    let tokens = tokenize(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut p = Parser {
        tokens,
        i: 0,
        lines: &lines,
        depth: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_newlines();
        if p.peek() == &Tok::Eof {
            break;
        }
        out.extend(p.statement()?);
    }
    Ok(out)
}

/// Parses a single expression (for tests and command-line use).
pub fn parse_expr(text: &str) -> Result<Expr, LangError> {
    let tokens = tokenize(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut p = Parser {
        tokens,
        i: 0,
        lines: &lines,
        depth: 0,
    };
    let e = p.expr()?;
    p.end_of_statement()?;
    Ok(e)
}

/// How deeply expressions and blocks may nest (parentheses, calls, `if`,
/// signs): deeper text is refused rather than exhausting the stack.
const MAX_NESTING: usize = 100;

struct Parser<'a> {
    tokens: Vec<Token>,
    i: usize,
    lines: &'a [&'a str],
    /// Current nesting of expressions and blocks.
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Num(v) => format!("the number {v}"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Newline => "the end of the line".into(),
        Tok::Eof => "the end of the file".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }
    fn peek_at(&self, k: usize) -> &Tok {
        &self.tokens[(self.i + k).min(self.tokens.len() - 1)].tok
    }
    fn pos(&self) -> Pos {
        let t = &self.tokens[self.i];
        Pos {
            line: t.line,
            col: t.col,
        }
    }
    fn bump(&mut self) -> Tok {
        let t = self.tokens[self.i].tok.clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }
    /// Runs `inner` one nesting level deeper, refusing beyond [`MAX_NESTING`].
    fn nested<T>(&mut self, inner: fn(&mut Self) -> Result<T, LangError>) -> Result<T, LangError> {
        if self.depth >= MAX_NESTING {
            let t = &self.tokens[self.i];
            let line = self.lines.get(t.line.wrapping_sub(1)).copied().unwrap_or("");
            return Err(LangError::at(
                t.line,
                t.col,
                line,
                format!("nested more than {MAX_NESTING} levels deep (parentheses, calls, if blocks or signs)"),
            ));
        }
        self.depth += 1;
        let r = inner(self);
        self.depth -= 1;
        r
    }

    fn error(&self, expected: &str) -> LangError {
        let t = &self.tokens[self.i];
        let line = self.lines.get(t.line.wrapping_sub(1)).copied().unwrap_or("");
        LangError::at(
            t.line,
            t.col,
            line,
            format!("expected {expected}, found {}", describe(&t.tok)),
        )
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), LangError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error(&format!("'{s}'")))
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x.eq_ignore_ascii_case(w))
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn ident(&mut self, what: &str) -> Result<(String, Pos), LangError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok((s, pos))
            }
            _ => Err(self.error(what)),
        }
    }
    fn skip_newlines(&mut self) {
        while self.peek() == &Tok::Newline {
            self.bump();
        }
    }
    fn end_of_statement(&mut self) -> Result<(), LangError> {
        match self.peek() {
            Tok::Newline => {
                self.bump();
                Ok(())
            }
            Tok::Eof => Ok(()),
            Tok::Sym("}") => Ok(()),
            _ => Err(self.error("the end of the statement")),
        }
    }

    /// A signed number literal (also `inf`, `-inf`).
    fn number(&mut self, what: &str) -> Result<f64, LangError> {
        let negative = self.eat_sym("-");
        if !negative {
            self.eat_sym("+");
        }
        let v = match self.peek().clone() {
            Tok::Num(v) => {
                self.bump();
                v
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("inf") => {
                self.bump();
                f64::INFINITY
            }
            _ => return Err(self.error(what)),
        };
        Ok(if negative { -v } else { v })
    }

    fn statement(&mut self) -> Result<Vec<Stmt>, LangError> {
        match self.omega_or_sigma()? {
            Some(list) => Ok(list),
            None => self.single_statement().map(|s| vec![s]),
        }
    }

    /// `omega`, `iov` and `sigma` statements, which may declare several elements.
    fn omega_or_sigma(&mut self) -> Result<Option<Vec<Stmt>>, LangError> {
        let Tok::Ident(word) = self.peek().clone() else {
            return Ok(None);
        };
        if self.peek_at(1) == &Tok::Sym("=") {
            return Ok(None);
        }
        match word.to_ascii_lowercase().as_str() {
            "omega" => self.omega(false).map(Some),
            "iov" => self.omega(true).map(Some),
            "sigma" => self.sigma().map(Some),
            _ => Ok(None),
        }
    }

    fn single_statement(&mut self) -> Result<Stmt, LangError> {
        let pos = self.pos();
        let Tok::Ident(word) = self.peek().clone() else {
            return Err(
                self.error("a statement (a declaration, an assignment NAME = expression, if, kernel, d/dt or output)")
            );
        };
        let next = self.peek_at(1).clone();
        let keyword_use = !matches!(next, Tok::Sym("=")) || word.eq_ignore_ascii_case("units");
        let lower = word.to_ascii_lowercase();
        if keyword_use {
            match lower.as_str() {
                "units" => return self.units(pos),
                "name" | "description" => {
                    self.bump();
                    self.eat_sym(":");
                    let Tok::Str(s) = self.peek().clone() else {
                        return Err(self.error("a quoted text"));
                    };
                    self.bump();
                    self.end_of_statement()?;
                    return Ok(Stmt::Meta(lower, s));
                }
                "covariates" | "covariate" => {
                    self.bump();
                    let names = self.name_list("a covariate (data column) name")?;
                    self.end_of_statement()?;
                    return Ok(Stmt::Covariates(names));
                }
                "states" => {
                    self.bump();
                    let names = self.name_list("a state name")?;
                    self.end_of_statement()?;
                    return Ok(Stmt::States(names));
                }
                "theta" => return self.theta(),
                "if" => return self.if_statement(),
                "kernel" => return self.kernel(pos),
                "output" => return self.output(pos),
                "blq" => {
                    self.bump();
                    let (m, _) = self.ident("a BLQ method: m3 or m1")?;
                    self.end_of_statement()?;
                    return Ok(Stmt::Blq(m.to_ascii_lowercase(), pos));
                }
                "dose" if matches!(next, Tok::Ident(_)) => {
                    self.bump();
                    let (s, p) = self.ident("a state name")?;
                    self.end_of_statement()?;
                    return Ok(Stmt::DefaultDose(s, p));
                }
                "d" if next == Tok::Sym("/") => return self.derivative(pos),
                _ => {}
            }
        }
        if next == Tok::Sym("(") {
            return self.indexed_assignment(&word, pos);
        }
        self.bump();
        if !self.eat_sym("=") {
            return Err(self.error(&format!("'=' after {word} (an assignment NAME = expression)")));
        }
        let e = self.expr()?;
        self.end_of_statement()?;
        Ok(Stmt::Assign(word, e, pos))
    }

    fn name_list(&mut self, what: &str) -> Result<Vec<(String, Pos)>, LangError> {
        let mut names = vec![self.ident(what)?];
        while self.eat_sym(",") {
            names.push(self.ident(what)?);
        }
        Ok(names)
    }

    /// `units amount=mg, time=h` or `units: amount mg, time h`.
    fn units(&mut self, pos: Pos) -> Result<Stmt, LangError> {
        self.bump();
        self.eat_sym(":");
        let mut items = Vec::new();
        loop {
            let (key, _) = self.ident("a unit kind: amount, volume, time or concentration")?;
            self.eat_sym("=");
            let mut value = String::new();
            while !matches!(self.peek(), Tok::Newline | Tok::Eof | Tok::Sym(",")) {
                match self.bump() {
                    Tok::Ident(s) => value.push_str(&s),
                    Tok::Sym(s) => value.push_str(s),
                    Tok::Num(v) => value.push_str(&v.to_string()),
                    Tok::Str(s) => value.push_str(&s),
                    _ => {}
                }
            }
            if value.is_empty() {
                return Err(self.error(&format!("a unit for {key}")));
            }
            items.push((key.to_ascii_lowercase(), value));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.end_of_statement()?;
        Ok(Stmt::Units(items, pos))
    }

    /// `theta NAME = init [(lower, upper)] [fix]`, several separated by commas.
    fn theta(&mut self) -> Result<Stmt, LangError> {
        self.bump();
        let (name, pos) = self.ident("a θ name")?;
        self.expect_sym("=")?;
        let init = self.number("the initial value of θ (a number)")?;
        let (mut lower, mut upper) = (f64::NEG_INFINITY, f64::INFINITY);
        if self.eat_sym("(") {
            if !self.is_sym(",") {
                lower = self.number("a lower bound")?;
            }
            self.expect_sym(",")?;
            if !self.is_sym(")") {
                upper = self.number("an upper bound")?;
            }
            self.expect_sym(")")?;
        }
        let fixed = self.eat_word("fix") || self.eat_word("fixed");
        self.end_of_statement()?;
        Ok(Stmt::Theta {
            name,
            init,
            lower,
            upper,
            fixed,
            pos,
        })
    }

    /// `omega a ~ 0.1 [fix]`, `omega block(2) a, b ~ {v11, v21, v22} [fix]`,
    /// and the same with `iov … by COL`. A diagonal list `omega a ~ 0.1, b ~ 0.2`
    /// becomes one statement per element.
    fn omega(&mut self, iov: bool) -> Result<Vec<Stmt>, LangError> {
        let pos = self.pos();
        self.bump();
        if self.eat_word("block") {
            self.expect_sym("(")?;
            let n = self.number("the block size")?;
            self.expect_sym(")")?;
            let names = self.name_list("an η name")?;
            if names.len() as f64 != n {
                return Err(LangError::at(
                    pos.line,
                    pos.col,
                    self.lines.get(pos.line - 1).copied().unwrap_or(""),
                    format!("block({n}) names {} η", names.len()),
                ));
            }
            self.expect_sym("~")?;
            self.expect_sym("{")?;
            let mut values = Vec::new();
            loop {
                self.skip_newlines();
                values.push(self.number("a variance or covariance")?);
                self.skip_newlines();
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym("}")?;
            let fixed = self.eat_word("fix") || self.eat_word("fixed");
            let occasion = self.occasion(iov)?;
            self.end_of_statement()?;
            return Ok(vec![Stmt::Omega {
                names,
                values,
                fixed,
                occasion,
                pos,
            }]);
        }
        let mut parts = Vec::new();
        loop {
            let (name, p) = self.ident("an η name")?;
            self.expect_sym("~")?;
            let v = self.number("a variance")?;
            let fixed = self.eat_word("fix") || self.eat_word("fixed");
            parts.push((name, p, v, fixed));
            if !self.eat_sym(",") {
                break;
            }
        }
        let occasion = self.occasion(iov)?;
        self.end_of_statement()?;
        Ok(parts
            .into_iter()
            .map(|(name, p, v, fixed)| Stmt::Omega {
                names: vec![(name, p)],
                values: vec![v],
                fixed,
                occasion: occasion.clone(),
                pos: p,
            })
            .collect())
    }

    fn occasion(&mut self, iov: bool) -> Result<Option<String>, LangError> {
        if !iov {
            return Ok(None);
        }
        if !self.eat_word("by") {
            return Err(self.error("'by OCCASION_COLUMN' (iov needs the column that numbers occasions)"));
        }
        Ok(Some(self.ident("the occasion column name")?.0))
    }

    fn sigma(&mut self) -> Result<Vec<Stmt>, LangError> {
        self.bump();
        let mut parts = Vec::new();
        loop {
            let (name, pos) = self.ident("a σ name")?;
            self.expect_sym("~")?;
            let value = self.number("the variance of ε")?;
            let fixed = self.eat_word("fix") || self.eat_word("fixed");
            parts.push(Stmt::Sigma {
                name,
                value,
                fixed,
                pos,
            });
            if !self.eat_sym(",") {
                break;
            }
        }
        self.end_of_statement()?;
        Ok(parts)
    }

    fn block(&mut self) -> Result<Vec<Stmt>, LangError> {
        self.nested(Self::block_body)
    }

    fn block_body(&mut self) -> Result<Vec<Stmt>, LangError> {
        self.expect_sym("{")?;
        let mut body = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat_sym("}") {
                break;
            }
            if self.peek() == &Tok::Eof {
                return Err(self.error("'}' closing the block"));
            }
            body.extend(self.statement()?);
        }
        Ok(body)
    }

    fn if_statement(&mut self) -> Result<Stmt, LangError> {
        self.bump();
        let mut arms = Vec::new();
        let cond = self.expr()?;
        let body = self.block()?;
        arms.push((cond, body));
        let mut otherwise = Vec::new();
        loop {
            // `else` may follow on the next line.
            let save = self.i;
            self.skip_newlines();
            if !self.eat_word("else") {
                self.i = save;
                break;
            }
            if self.eat_word("if") {
                let c = self.expr()?;
                let b = self.block()?;
                arms.push((c, b));
            } else {
                otherwise = self.block()?;
                break;
            }
        }
        self.end_of_statement()?;
        Ok(Stmt::If(arms, otherwise))
    }

    fn kernel(&mut self, pos: Pos) -> Result<Stmt, LangError> {
        self.bump();
        let (name, _) = self.ident("a kernel name such as two_cmt_iv")?;
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.is_sym(")") {
            loop {
                let named = matches!(self.peek(), Tok::Ident(_)) && self.peek_at(1) == &Tok::Sym("=");
                let key = if named { Some(self.ident("")?.0) } else { None };
                if named {
                    self.bump();
                }
                args.push((key, self.expr()?));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym(")")?;
        self.end_of_statement()?;
        Ok(Stmt::Kernel { name, args, pos })
    }

    fn derivative(&mut self, pos: Pos) -> Result<Stmt, LangError> {
        self.bump();
        self.expect_sym("/")?;
        if !self.eat_word("dt") {
            return Err(self.error("'dt' in d/dt(state)"));
        }
        self.expect_sym("(")?;
        let (state, _) = self.ident("a state name")?;
        self.expect_sym(")")?;
        self.expect_sym("=")?;
        let e = self.expr()?;
        self.end_of_statement()?;
        Ok(Stmt::Derivative(state, e, pos))
    }

    /// `state(0) = e` or `F(state) = e` (also ALAG, RATE, DUR).
    fn indexed_assignment(&mut self, word: &str, pos: Pos) -> Result<Stmt, LangError> {
        self.bump();
        self.expect_sym("(")?;
        let upper = word.to_ascii_uppercase();
        let attribute = ["F", "ALAG", "RATE", "DUR", "LAG"].contains(&upper.as_str());
        let stmt_kind = if attribute {
            let (state, _) = self.ident("a state name")?;
            Some(state)
        } else {
            let zero = self.number("0 (an initial condition: state(0) = expression)")?;
            if zero != 0.0 {
                return Err(self.error("0 in state(0)"));
            }
            None
        };
        self.expect_sym(")")?;
        self.expect_sym("=")?;
        let e = self.expr()?;
        self.end_of_statement()?;
        Ok(match stmt_kind {
            Some(state) => {
                let attr = if upper == "LAG" { "ALAG".to_string() } else { upper };
                Stmt::DoseAttribute(attr, state, e, pos)
            }
            None => Stmt::Initial(word.to_string(), e, pos),
        })
    }

    fn output(&mut self, pos: Pos) -> Result<Stmt, LangError> {
        self.bump();
        let (name, _) = self.ident("an output name")?;
        self.expect_sym("=")?;
        let expr = self.expr()?;
        self.expect_sym("~")?;
        let (terms, combine) = self.error_model()?;
        let (mut dvid, mut cmt, mut unscaled) = (None, None, false);
        loop {
            if self.eat_word("dvid") {
                self.expect_sym("=")?;
                dvid = Some(self.integer("a DVID number")?);
            } else if self.eat_word("cmt") {
                self.expect_sym("=")?;
                cmt = Some(self.integer("a CMT number")?);
            } else if self.eat_word("unscaled") {
                unscaled = true;
            } else {
                break;
            }
        }
        self.end_of_statement()?;
        Ok(Stmt::Output {
            name,
            expr,
            terms,
            combine,
            dvid,
            cmt,
            unscaled,
            pos,
        })
    }

    fn integer(&mut self, what: &str) -> Result<i64, LangError> {
        let v = self.number(what)?;
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(self.error(what));
        }
        Ok(v as i64)
    }

    fn error_model(&mut self) -> Result<(Vec<ErrorTerm>, Combine), LangError> {
        const EXPECTED: &str =
            "an error model: add(sd), prop(sd), add(a) + prop(b), combined1(a, b), exp(sd), power(sd, exponent), sd(expression) or var(expression)";
        let mut terms = Vec::new();
        let mut combine = Combine::Variances;
        loop {
            let (word, _) = self.ident(EXPECTED)?;
            self.expect_sym("(")?;
            let a = self.expr()?;
            let b = if self.eat_sym(",") { Some(self.expr()?) } else { None };
            self.expect_sym(")")?;
            let w = word.to_ascii_lowercase();
            match (w.as_str(), b) {
                ("add" | "additive", None) => terms.push(ErrorTerm::Add(a)),
                ("prop" | "proportional", None) => terms.push(ErrorTerm::Prop(a)),
                ("exp" | "lnorm" | "exponential" | "log", None) => terms.push(ErrorTerm::Exp(a)),
                ("power" | "pow", Some(c)) => terms.push(ErrorTerm::Power(a, c)),
                ("sd", None) => terms.push(ErrorTerm::Sd(a)),
                ("var" | "variance", None) => terms.push(ErrorTerm::Var(a)),
                ("combined" | "combined2", Some(b)) => {
                    terms.push(ErrorTerm::Add(a));
                    terms.push(ErrorTerm::Prop(b));
                }
                ("combined1", Some(b)) => {
                    terms.push(ErrorTerm::Add(a));
                    terms.push(ErrorTerm::Prop(b));
                    combine = Combine::Sds;
                }
                _ => return Err(self.error(EXPECTED)),
            }
            if !self.eat_sym("+") {
                break;
            }
        }
        Ok((terms, combine))
    }

    // ---- expressions ---------------------------------------------------

    /// Lowest precedence: `if c then a else b`, then `||`.
    fn expr(&mut self) -> Result<Expr, LangError> {
        self.nested(Self::expr_body)
    }

    fn expr_body(&mut self) -> Result<Expr, LangError> {
        if self.is_word("if") {
            self.bump();
            let c = self.expr()?;
            if !self.eat_word("then") {
                return Err(self.error("'then' in if … then … else …"));
            }
            let a = self.expr()?;
            if !self.eat_word("else") {
                return Err(self.error("'else' in if … then … else …"));
            }
            let b = self.expr()?;
            return Ok(Expr::If(Box::new(c), Box::new(a), Box::new(b)));
        }
        self.or_expr()
    }

    fn or_expr(&mut self) -> Result<Expr, LangError> {
        let mut a = self.and_expr()?;
        while self.eat_sym("||") || self.eat_word("or") {
            let b = self.and_expr()?;
            a = Expr::Bin(BinOp::Or, Box::new(a), Box::new(b));
        }
        Ok(a)
    }

    fn and_expr(&mut self) -> Result<Expr, LangError> {
        let mut a = self.not_expr()?;
        while self.eat_sym("&&") || self.eat_word("and") {
            let b = self.not_expr()?;
            a = Expr::Bin(BinOp::And, Box::new(a), Box::new(b));
        }
        Ok(a)
    }

    fn not_expr(&mut self) -> Result<Expr, LangError> {
        if self.eat_sym("!") || self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.nested(Self::not_expr)?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, LangError> {
        let a = self.additive()?;
        let op = match self.peek() {
            Tok::Sym("==") => BinOp::Eq,
            Tok::Sym("!=") => BinOp::Ne,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym("<=") => BinOp::Le,
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym(">=") => BinOp::Ge,
            _ => return Ok(a),
        };
        self.bump();
        let b = self.additive()?;
        Ok(Expr::Bin(op, Box::new(a), Box::new(b)))
    }

    fn additive(&mut self) -> Result<Expr, LangError> {
        self.left_associative(Self::multiplicative, |t| match t {
            Tok::Sym("+") => Some(BinOp::Add),
            Tok::Sym("-") => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Result<Expr, LangError> {
        self.left_associative(Self::unary, |t| match t {
            Tok::Sym("*") => Some(BinOp::Mul),
            Tok::Sym("/") => Some(BinOp::Div),
            _ => None,
        })
    }

    /// `operand (op operand)*`, grouped from the left, for the operators `op_of` names.
    fn left_associative(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr, LangError>,
        op_of: fn(&Tok) -> Option<BinOp>,
    ) -> Result<Expr, LangError> {
        let mut a = operand(self)?;
        while let Some(op) = op_of(self.peek()) {
            self.bump();
            let b = operand(self)?;
            a = Expr::Bin(op, Box::new(a), Box::new(b));
        }
        Ok(a)
    }

    fn unary(&mut self) -> Result<Expr, LangError> {
        if self.eat_sym("-") {
            return Ok(Expr::Neg(Box::new(self.nested(Self::unary)?)));
        }
        if self.eat_sym("+") {
            return self.nested(Self::unary);
        }
        self.power()
    }

    /// `a ^ b` (or `**`), right-associative, binding tighter than unary minus
    /// on its left (`-x^2` = −(x²)) and accepting a signed exponent (`x^-1`).
    fn power(&mut self) -> Result<Expr, LangError> {
        let base = self.primary()?;
        if self.eat_sym("^") || self.eat_sym("**") {
            let exponent = self.unary()?;
            return Ok(Expr::Bin(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, LangError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Num(v) => {
                self.bump();
                Ok(Expr::Num(v))
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Ident(name) if name.eq_ignore_ascii_case("if") => self.expr(),
            Tok::Ident(name) => {
                self.bump();
                if self.is_sym("(") {
                    let Some((f, arity)) = Func::parse(&name) else {
                        self.i -= 1;
                        return Err(self.error("a function: exp, log, log10, sqrt, abs, min, max or phi"));
                    };
                    self.bump();
                    let mut args = vec![self.expr()?];
                    while self.eat_sym(",") {
                        args.push(self.expr()?);
                    }
                    if args.len() != arity {
                        return Err(self.error(&format!("{arity} argument(s) to {name}, then ')'")));
                    }
                    self.expect_sym(")")?;
                    return Ok(Expr::Call(f, args));
                }
                Ok(Expr::Name(name, pos))
            }
            _ => Err(self.error("a number, a name, a function call or '('")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_naming_its_place() {
        for text in [
            format!("A = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000)),
            format!("A = {}1\n", "-".repeat(10_000)),
            format!("A = {}1{}\n", "exp(".repeat(10_000), ")".repeat(10_000)),
            format!("{}A = 1\n{}", "if B > 1 {\n".repeat(10_000), "}\n".repeat(10_000)),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains("nested more than 100 levels"), "{}", e.message);
        }
        // 100 levels are fine.
        assert!(parse(&format!("A = {}1{}\n", "(".repeat(90), ")".repeat(90))).is_ok());
    }

    #[test]
    fn precedence() {
        let e = parse_expr("-2^2 + 3*4").unwrap();
        // (−(2²)) + (3·4)
        match e {
            Expr::Bin(BinOp::Add, a, b) => {
                assert!(matches!(*a, Expr::Neg(_)));
                assert!(matches!(*b, Expr::Bin(BinOp::Mul, _, _)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_whole_model() {
        let text = r#"
units: amount mg, time h, concentration mg/L
covariates WT, SEX, OCC
theta TVCL = 3 (0.01, 100)   # L/h
theta TVV1 = 60 (1, 1000) fix
omega eta_cl ~ 0.1, eta_v1 ~ 0.1
omega block(2) eta_q, eta_v2 ~ {0.1,
   0.02, 0.1}
iov kappa_cl ~ 0.05 by OCC
sigma prop ~ 0.04
CL = TVCL * (WT/70)^0.75 * exp(eta_cl + kappa_cl)
V1 = TVV1 * (if SEX == 1 then 0.9 else 1) * exp(eta_v1)
if WT > 100 {
  Q = 2
} else if WT > 50 {
  Q = 3
} else {
  Q = 4
}
V2 = 50
kernel two_cmt_iv(CL, V1, Q, V2)
output CP = central / V1 ~ prop(prop) dvid=1
"#;
        let stmts = parse(text).unwrap();
        assert!(matches!(&stmts[0], Stmt::Units(items, _) if items[2] == ("concentration".into(), "mg/L".into())));
        assert!(stmts
            .iter()
            .any(|s| matches!(s, Stmt::Omega { values, .. } if values.len() == 3)));
        assert!(stmts
            .iter()
            .any(|s| matches!(s, Stmt::Omega { occasion: Some(o), .. } if o == "OCC")));
        assert!(stmts
            .iter()
            .any(|s| matches!(s, Stmt::If(arms, other) if arms.len() == 2 && other.len() == 1)));
        assert!(stmts.iter().any(|s| matches!(s, Stmt::Output { dvid: Some(1), .. })));
    }

    #[test]
    fn ode_statements() {
        let stmts = parse("d/dt(central) = -k*central\ncentral(0) = 5\nF(depot) = 0.8\nALAG(depot) = 0.5").unwrap();
        assert!(matches!(&stmts[0], Stmt::Derivative(s, _, _) if s == "central"));
        assert!(matches!(&stmts[1], Stmt::Initial(s, _, _) if s == "central"));
        assert!(matches!(&stmts[2], Stmt::DoseAttribute(a, s, _, _) if a == "F" && s == "depot"));
    }

    #[test]
    fn syntax_error_names_line_column_and_text() {
        let e = parse("theta CL = 3\nCL = TVCL * * 2").unwrap_err();
        assert_eq!((e.line, e.column), (2, 13));
        assert!(e.message.contains("expected a number"), "{}", e.message);
        assert_eq!(e.text, "CL = TVCL * * 2");
    }

    #[test]
    fn unknown_function_is_named() {
        let e = parse("X = foo(2)").unwrap_err();
        assert!(e.message.contains("'foo'"), "{}", e.message);
    }

    #[test]
    fn combined_error_models() {
        let stmts = parse("output C = A ~ add(a) + prop(b)\noutput D = B ~ combined1(a, b)").unwrap();
        assert!(matches!(&stmts[0], Stmt::Output { terms, combine: Combine::Variances, .. } if terms.len() == 2));
        assert!(matches!(
            &stmts[1],
            Stmt::Output {
                combine: Combine::Sds,
                ..
            }
        ));
    }
}
