//! The one JSON repair two upstreams need: bare `nan`/`inf` words, which Open-Meteo and Python
//! services write for missing values and which are not JSON, read as `null`.

/// `body` with every bare `nan`, `inf` or `infinity` (any case, optionally signed) outside
/// JSON strings replaced by `null`. Open-Meteo writes `nan` for locations outside a model's
/// area; Python services (the DQ API) can write `NaN`. Both are invalid JSON.
///
/// Safe by construction: outside strings JSON's only bare words are `true`, `false` and `null`,
/// so no valid document changes meaning, and strings (escapes included) are copied untouched.
pub(crate) fn non_finite_to_null(body: &[u8]) -> Vec<u8> {
    const BARE: [&[u8]; 3] = [b"nan", b"inf", b"infinity"];
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < body.len() {
        let byte = body[i];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte.is_ascii_alphabetic() || matches!(byte, b'-' | b'+') {
            let start = if byte.is_ascii_alphabetic() { i } else { i + 1 };
            let len = body[start..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let word = &body[start..start + len];
            if BARE.iter().any(|bare| word.eq_ignore_ascii_case(bare)) {
                out.extend_from_slice(b"null");
                i = start + len;
                continue;
            }
            // Another word (true, false, null, an exponent): copy it whole.
            out.extend_from_slice(&body[i..start + len]);
            i = start + len;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::non_finite_to_null;

    #[test]
    fn bare_non_finite_words_become_null_and_strings_stay() {
        let body = br#"{"a":nan,"b":-Infinity,"c":[1,NaN,+inf],"d":"nan \" inf","e":true,"f":1e5,"g":null}"#;
        let repaired = String::from_utf8(non_finite_to_null(body)).expect("utf-8");
        assert_eq!(repaired, r#"{"a":null,"b":null,"c":[1,null,null],"d":"nan \" inf","e":true,"f":1e5,"g":null}"#);
        let valid = br#"{"x":[true,false,null,-1.5E-3],"y":"\\"}"#;
        assert_eq!(non_finite_to_null(valid), valid.to_vec());
    }
}
