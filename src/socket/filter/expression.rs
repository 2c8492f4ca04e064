//! The shape of a filter expression: words joined by `and` (or just
//! spaces), `or` and `not` (`&&`, `||`, `!` too), grouped with
//! parentheses, as people write them for `ss`. `not` binds tightest, then
//! `and`, then `or`. What a word means is the caller's (`parse_word`).

use std::fmt;

/// A parsed expression over words of type `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr<T> {
    /// Every one must hold (none: always true).
    All(Vec<Expr<T>>),
    /// At least one must hold.
    Any(Vec<Expr<T>>),
    Not(Box<Expr<T>>),
    Word(T),
}

/// The empty expression: always true.
impl<T> Default for Expr<T> {
    fn default() -> Self {
        Expr::All(Vec::new())
    }
}

impl<T> Expr<T> {
    pub fn eval(&self, word: &mut dyn FnMut(&T) -> bool) -> bool {
        match self {
            Expr::All(all) => all.iter().all(|e| e.eval(word)),
            Expr::Any(any) => any.iter().any(|e| e.eval(word)),
            Expr::Not(e) => !e.eval(word),
            Expr::Word(t) => word(t),
        }
    }

    /// Whether some word, wherever it stands, satisfies `f`.
    pub fn any_word(&self, f: &dyn Fn(&T) -> bool) -> bool {
        match self {
            Expr::All(v) | Expr::Any(v) => v.iter().any(|e| e.any_word(f)),
            Expr::Not(e) => e.any_word(f),
            Expr::Word(t) => f(t),
        }
    }
}

/// Where an expression's shape is wrong, counted in characters from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    Unclosed(usize),
    Unopened(usize),
    Dangling(String, usize),
    Empty(usize),
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::Unclosed(at) => {
                write!(f, "the '(' at character {at} is never closed: add a ')'")
            }
            ShapeError::Unopened(at) => write!(
                f,
                "the ')' at character {at} closes nothing: remove it or add a '('"
            ),
            ShapeError::Dangling(op, at) if is_not(op) => write!(
                f,
                "'{op}' at character {at} has nothing after it: write e.g. '{op} state TIME_WAIT'"
            ),
            ShapeError::Dangling(op, at) => write!(
                f,
                "'{op}' at character {at} has nothing to join: write e.g. '8080 {op} 8443'"
            ),
            ShapeError::Empty(at) => {
                write!(f, "the '()' at character {at} is empty: put a word inside")
            }
        }
    }
}

/// One piece of the text, and the character it starts at (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub at: usize,
}

/// Words, with `(`, `)` and `!` standing alone even when written against
/// a word (`(8080`, `!8080`).
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    // Where the word being read began: its byte and its character.
    let mut start: Option<(usize, usize)> = None;
    for (n, (i, c)) in text.char_indices().enumerate() {
        let alone = matches!(c, '(' | ')') || (c == '!' && start.is_none());
        if c.is_whitespace() || alone {
            if let Some((s, at)) = start.take() {
                out.push(Token {
                    text: &text[s..i],
                    at: at + 1,
                });
            }
            if alone {
                out.push(Token {
                    text: &text[i..i + c.len_utf8()],
                    at: n + 1,
                });
            }
        } else if start.is_none() {
            start = Some((i, n));
        }
    }
    if let Some((s, at)) = start {
        out.push(Token {
            text: &text[s..],
            at: at + 1,
        });
    }
    out
}

fn is_or(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "or" | "||" | "|")
}

fn is_and(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "and" | "&&" | "&")
}

fn is_not(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "not" | "!")
}

/// An error of a word (the caller's) or of the shape.
pub enum Failure<E> {
    Word(E),
    Shape(ShapeError),
}

/// Reads one word, pulling its value (if it takes one) from the tokens
/// that follow.
pub type WordParser<'a, T, E> =
    dyn FnMut(Token<'a>, &mut dyn FnMut() -> Option<Token<'a>>) -> Result<T, E>;

/// Parses the tokens; `parse_word` takes a word and the tokens after it
/// (for its value) and returns the word it read.
pub struct Parser<'a, 'p, T, E> {
    tokens: &'p [Token<'a>],
    next: usize,
    parse_word: &'p mut WordParser<'a, T, E>,
}

impl<'a, 'p, T, E> Parser<'a, 'p, T, E> {
    pub fn new(tokens: &'p [Token<'a>], parse_word: &'p mut WordParser<'a, T, E>) -> Self {
        Parser {
            tokens,
            next: 0,
            parse_word,
        }
    }

    /// The whole expression.
    pub fn parse(mut self) -> Result<Expr<T>, Failure<E>> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(Failure::Shape(ShapeError::Unopened(t.at))),
        }
    }

    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn take(&mut self) -> Option<Token<'a>> {
        let t = self.peek();
        self.next += usize::from(t.is_some());
        t
    }

    fn or(&mut self) -> Result<Expr<T>, Failure<E>> {
        let mut any = vec![self.and()?];
        while let Some(t) = self.peek().filter(|t| is_or(t.text)) {
            self.next += 1;
            match self.peek() {
                Some(n) if n.text != ")" && !is_or(n.text) => any.push(self.and()?),
                _ => return Err(Failure::Shape(ShapeError::Dangling(t.text.into(), t.at))),
            }
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Any(any)
        })
    }

    fn and(&mut self) -> Result<Expr<T>, Failure<E>> {
        let mut all = Vec::new();
        while let Some(t) = self.peek() {
            if t.text == ")" || is_or(t.text) {
                break;
            }
            if is_and(t.text) {
                self.next += 1;
                let joined = !all.is_empty();
                match self.peek() {
                    Some(n) if joined && n.text != ")" && !is_or(n.text) && !is_and(n.text) => {}
                    _ => return Err(Failure::Shape(ShapeError::Dangling(t.text.into(), t.at))),
                }
                continue;
            }
            all.push(self.unary()?);
        }
        if let (true, Some(t)) = (all.is_empty(), self.peek().filter(|t| is_or(t.text))) {
            return Err(Failure::Shape(ShapeError::Dangling(t.text.into(), t.at)));
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::All(all)
        })
    }

    fn unary(&mut self) -> Result<Expr<T>, Failure<E>> {
        let Some(t) = self.take() else {
            return Ok(Expr::All(Vec::new()));
        };
        if is_not(t.text) {
            return match self.peek() {
                Some(n) if n.text != ")" && !is_or(n.text) && !is_and(n.text) => {
                    Ok(Expr::Not(Box::new(self.unary()?)))
                }
                _ => Err(Failure::Shape(ShapeError::Dangling(t.text.into(), t.at))),
            };
        }
        if t.text == "(" {
            if self.peek().is_some_and(|n| n.text == ")") {
                return Err(Failure::Shape(ShapeError::Empty(t.at)));
            }
            let inner = self.or()?;
            return match self.take() {
                Some(close) if close.text == ")" => Ok(inner),
                _ => Err(Failure::Shape(ShapeError::Unclosed(t.at))),
            };
        }
        let tokens = self.tokens;
        let next = &mut self.next;
        let mut value = || {
            let v = tokens
                .get(*next)
                .copied()
                .filter(|v| !matches!(v.text, "(" | ")"));
            *next += usize::from(v.is_some());
            v
        };
        (self.parse_word)(t, &mut value)
            .map(Expr::Word)
            .map_err(Failure::Word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word<'a>(
        t: Token<'a>,
        value: &mut dyn FnMut() -> Option<Token<'a>>,
    ) -> Result<String, &'static str> {
        if t.text == "sport" {
            let v = value().ok_or("sport needs a value")?;
            return Ok(format!("sport={}", v.text));
        }
        Ok(t.text.to_string())
    }

    fn parse(text: &str) -> Result<Expr<String>, String> {
        let toks = tokens(text);
        Parser::new(&toks, &mut word).parse().map_err(|e| match e {
            Failure::Word(w) => w.to_string(),
            Failure::Shape(s) => s.to_string(),
        })
    }

    fn w(s: &str) -> Expr<String> {
        Expr::Word(s.into())
    }

    #[test]
    fn not_binds_tighter_than_and_and_and_than_or() {
        assert_eq!(
            parse("a b or not c"),
            Ok(Expr::Any(vec![
                Expr::All(vec![w("a"), w("b")]),
                Expr::Not(Box::new(w("c")))
            ]))
        );
        assert_eq!(
            parse("(8080 or 8443) and sport 1"),
            Ok(Expr::All(vec![
                Expr::Any(vec![w("8080"), w("8443")]),
                w("sport=1")
            ]))
        );
        assert_eq!(parse("!a && b || c"), parse("not a and b or c"));
        assert_eq!(parse("  "), Ok(Expr::All(vec![])));
    }

    #[test]
    fn a_wrong_shape_says_where() {
        assert_eq!(
            parse("(8080 or 8443"),
            Err("the '(' at character 1 is never closed: add a ')'".into())
        );
        assert_eq!(
            parse("8080 )"),
            Err("the ')' at character 6 closes nothing: remove it or add a '('".into())
        );
        assert_eq!(
            parse("8080 or"),
            Err("'or' at character 6 has nothing to join: write e.g. '8080 or 8443'".into())
        );
        assert_eq!(
            parse("and 8080"),
            Err("'and' at character 1 has nothing to join: write e.g. '8080 and 8443'".into())
        );
        assert_eq!(
            parse("a ()"),
            Err("the '()' at character 3 is empty: put a word inside".into())
        );
        assert!(parse("not").is_err());
        assert_eq!(
            parse("8080 and not"),
            Err(
                "'not' at character 10 has nothing after it: write e.g. 'not state TIME_WAIT'"
                    .into()
            )
        );
    }

    #[test]
    fn positions_count_characters() {
        let t = tokens("é (a)");
        let at: Vec<(&str, usize)> = t.iter().map(|t| (t.text, t.at)).collect();
        assert_eq!(at, [("é", 1), ("(", 3), ("a", 4), (")", 5)]);
    }
}
