//! Text that operators type into the CLI and later read back on a terminal: limits checked once
//! when it is written (length, no control characters), and escaping when it is printed, for
//! rows that reached the database some other way.

use std::borrow::Cow;

use signalcraft_model::validate::{is_unprintable, text_problem};

/// `text` with every character a terminal would act on written as a Rust escape (`\u{1b}`).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Refuses `text` given for command-line option `--{option}` when it is longer than
/// `max_chars` characters or holds a character a terminal would act on.
pub fn check_text(option: &str, text: &str, max_chars: usize) -> anyhow::Result<()> {
    match text_problem(text, max_chars) {
        Some(problem) => anyhow::bail!("--{option}: {problem}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(printable("usd-high"), "usd-high");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\u{7f}");
        assert_eq!(printable("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
        assert_eq!(printable("münchen €"), "münchen €");
    }

    #[test]
    fn long_or_controlling_text_is_refused_naming_the_option() {
        assert!(check_text("name", "fine", 10).is_ok());
        assert_eq!(
            check_text("name", &"é".repeat(11), 10).expect_err("too long").to_string(),
            "--name: 11 characters is more than the 10 allowed"
        );
        assert_eq!(
            check_text("name", "a\u{1b}[31mred", 100).expect_err("escape").to_string(),
            "--name: contains the control character \\u{1b}"
        );
    }
}
