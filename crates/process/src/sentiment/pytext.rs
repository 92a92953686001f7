//! The few Python `str` and `float` behaviours VADER's results depend on, reproduced exactly:
//! which characters are whitespace, `strip(string.punctuation)`, `isupper()`, `lower()` and
//! `round(x, n)`. Rust's look-alikes differ at the edges (`char::is_whitespace` misses U+001C..1F,
//! `{:.3}` formatting is not Python's rounding), and each difference changes some scores.

use std::borrow::Cow;

/// Python's `str.isspace()` for one character, used by `str.split()` and `str.strip()`: Unicode
/// White_Space plus the four ASCII information separators U+001C..U+001F (bidi classes B and S).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()` with no argument.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.split()` with no argument: runs of whitespace separate, no empty pieces.
pub(crate) fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|piece| !piece.is_empty())
}

/// `SentiText._strip_punc_if_word`: strips `string.punctuation` (exactly the 32 ASCII punctuation
/// characters) from both ends, unless that leaves two characters or fewer — then the token was
/// probably an emoticon such as ":)" and stays whole. Python's `len` counts code points.
pub(crate) fn strip_punctuation_if_word(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// `s.lower()`: full Unicode lowercase mapping (İ → i̇, final sigma), borrowed when nothing changes.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        let lowered = s.to_lowercase();
        if lowered == s {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(lowered)
        }
    }
}

/// `s.isupper()`: at least one cased character and no lowercase or titlecase one. So "I'M" and
/// ":D" are upper, "123" and ":)" are not. Python's Lowercase/Uppercase flags are the Unicode
/// derived properties, the same ones `char::is_lowercase`/`is_uppercase` use.
pub(crate) fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// General category Lt (Rust has no predicate for it): the 31 digraph and Greek titlecase letters.
fn is_titlecase(c: char) -> bool {
    matches!(
        c,
        '\u{01c5}'
            | '\u{01c8}'
            | '\u{01cb}'
            | '\u{01f2}'
            | '\u{1f88}'..='\u{1f8f}'
            | '\u{1f98}'..='\u{1f9f}'
            | '\u{1fa8}'..='\u{1faf}'
            | '\u{1fbc}'
            | '\u{1fcc}'
            | '\u{1ffc}'
    )
}

/// `round(x, ndigits)` on a float: CPython rounds the EXACT binary value of `x` to `ndigits`
/// decimals, ties to even (`round(0.0625, 3) == 0.062`, and `round(2.675, 2) == 2.67` because the
/// double is just below 2.675), then reads the decimal back as the nearest double. Ties are real
/// here: a share such as 1/16 of the words is exactly 0.0625.
///
/// Exact for |x| < 2^53 / 10^ndigits, far beyond the scores' range [-1, 1].
pub(crate) fn round(x: f64, ndigits: u32) -> f64 {
    debug_assert!(ndigits <= 15, "10^ndigits times a 53-bit mantissa must fit in u128");
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    // x = ±mantissa · 2^exponent, exactly.
    let bits = x.to_bits();
    let biased_exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) =
        if biased_exponent == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), biased_exponent - 1075) };
    if exponent >= 0 {
        return x; // an integer: nothing after the decimal point
    }
    let scale = 10u128.pow(ndigits);
    let scaled = u128::from(mantissa) * scale; // |x| · 10^ndigits = scaled / 2^shift
    let shift = exponent.unsigned_abs();
    let units = if shift >= 128 {
        0 // |x| · 10^ndigits < 2^127 / 2^128: rounds to zero
    } else {
        let whole = scaled >> shift;
        let remainder = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if remainder > half || (remainder == half && whole % 2 == 1) {
            whole + 1
        } else {
            whole
        }
    };
    // Both operands are exact doubles here, so the quotient is the nearest double to the decimal.
    let magnitude = units as f64 / scale as f64;
    if x < 0.0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_pythons() {
        // U+001F is whitespace to Python's split() but not to char::is_whitespace.
        assert_eq!(split(" a\u{1f}b\u{a0}c\u{3000}d\t\r\n").collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(strip("\u{1c} x \u{85}"), "x");
        // U+200B (zero width space) is not whitespace to either.
        assert_eq!(split("a\u{200b}b").count(), 1);
    }

    #[test]
    fn punctuation_is_stripped_unless_an_emoticon_remains() {
        assert_eq!(strip_punctuation_if_word("\"great!!\""), "great");
        assert_eq!(strip_punctuation_if_word(":)"), ":)");
        assert_eq!(strip_punctuation_if_word("(ok)"), "(ok)"); // "ok" is two characters
        assert_eq!(strip_punctuation_if_word("'né'"), "'né'"); // two code points, four bytes
        assert_eq!(strip_punctuation_if_word("'née'"), "née");
        assert_eq!(strip_punctuation_if_word("don't."), "don't");
        // Non-ASCII punctuation is not in string.punctuation.
        assert_eq!(strip_punctuation_if_word("“good”"), "“good”");
    }

    #[test]
    fn isupper_needs_a_cased_character_and_no_lowercase() {
        assert!(is_upper("I'M"));
        assert!(is_upper(":D"));
        assert!(is_upper("ÉTÉ"));
        assert!(!is_upper("123"));
        assert!(!is_upper(":)"));
        assert!(!is_upper("Good"));
        assert!(!is_upper("ǅ")); // titlecase
    }

    #[test]
    fn lower_is_full_unicode_lowercase() {
        assert_eq!(lower("GOOD"), "good");
        assert!(matches!(lower("good"), Cow::Borrowed(_)));
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(lower("ΟΔΟΣ"), "οδος");
    }

    #[test]
    fn round_is_pythons_round() {
        // Values checked against CPython 3.11: round(x, n).
        assert_eq!(round(0.0625, 3), 0.062);
        assert_eq!(round(0.1875, 3), 0.188);
        assert_eq!(round(0.3125, 3), 0.312);
        assert_eq!(round(0.9375, 3), 0.938);
        assert_eq!(round(2.675, 2), 2.67);
        assert_eq!(round(0.12345, 4), 0.1235); // the double is just above the tie
        assert_eq!(round(0.5, 0), 0.0);
        assert_eq!(round(1.5, 0), 2.0);
        assert_eq!(round(-0.4404499999, 4), -0.4404);
        assert_eq!(round(1.0 / 3.0, 3), 0.333);
        assert_eq!(round(2.0 / 3.0, 3), 0.667);
        assert_eq!(round(1e-300, 3), 0.0);
        let negative_zero = round(-0.00001, 4);
        assert!(negative_zero == 0.0 && negative_zero.is_sign_negative());
        assert_eq!(round(3.0, 3), 3.0);
    }
}
