//! The redactor against every form a secret travels in.

use base64::{
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
    Engine,
};

use super::*;

/// An exchangerate.host-style key with reserved characters, a space and a non-ASCII letter.
const KEY: &str = "k/y+z=?&9 é";

fn redacted(redactor: &Redactor, text: &str) -> String {
    redactor.redact(text).into_owned()
}

#[test]
fn raw_and_json_escaped_secrets_are_replaced() {
    let redactor = Redactor::new().with_secret(KEY).with_secret(r#"pa"ss\word"#);
    assert_eq!(redacted(&redactor, &format!("bad key {KEY}!")), "bad key REDACTED!");
    assert_eq!(redacted(&redactor, r#"{"msg":"pw pa\"ss\\word"}"#), r#"{"msg":"pw REDACTED"}"#);
}

#[test]
fn percent_encodings_in_either_case_and_form_encoding_are_replaced() {
    let redactor = Redactor::new().with_secret(KEY);
    for encoded in [
        // Everything but letters and digits escaped, upper- and lower-case hex.
        "k%2Fy%2Bz%3D%3F%269%20%C3%A9",
        "k%2fy%2bz%3d%3f%269%20%c3%a9",
        // Form encoding: a space is `+`; what reqwest's parse_with_params writes.
        "k%2Fy%2Bz%3D%3F%269+%C3%A9",
        // A path encoder leaves `/`, `+` and `=` alone.
        "k/y+z=%3F%269%20%C3%A9",
    ] {
        let text = format!("GET /live?access_key={encoded}&source=USD");
        assert_eq!(redacted(&redactor, &text), "GET /live?access_key=REDACTED&source=USD", "{encoded}");
    }
}

#[test]
fn base64_in_both_alphabets_with_and_without_padding_is_replaced() {
    let redactor = Redactor::new().with_secret(KEY);
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(KEY);
        assert_eq!(redacted(&redactor, &format!("token {encoded} end")), "token REDACTED end", "{encoded}");
    }
    // The standard alphabet's `+` and `/` percent-encoded in a query still match.
    let in_query = STANDARD.encode(KEY).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    assert!(!redacted(&redactor, &in_query).contains(&in_query), "{in_query}");
}

#[test]
fn base64_of_a_secret_inside_a_longer_string_is_replaced() {
    let password = "s3cr3t-p4ssw0rd";
    let redactor = Redactor::new().with_secret(password);
    // HTTP Basic: the password sits at whatever alignment the user name leaves it.
    for user in ["a", "ab", "abc"] {
        let header = STANDARD.encode(format!("{user}:{password}"));
        let text = redacted(&redactor, &format!("Authorization: Basic {header}"));
        // What is left: the characters that also encode the user name, at most one that
        // mixes the password's last bits with padding, and the padding.
        let left = text.trim_start_matches("Authorization: Basic ").replace(REDACTED, "");
        assert!(text.contains(REDACTED) && left.len() <= 9, "{user}: {text}");
    }
}

#[test]
fn endpoints_keep_only_their_origin_and_their_tokens_are_secrets() {
    let url = "https://hooks.example.com/services/T0001/B0002/XyZ123secretTOKEN?x=y";
    let redactor = Redactor::new().with_endpoint(url);
    assert_eq!(
        redacted(&redactor, &format!("error sending request for url ({url}): refused")),
        "error sending request for url (https://hooks.example.com/…): refused"
    );
    assert_eq!(
        redacted(&redactor, "POST https://HOOKS.example.com/other/path failed"),
        "POST https://HOOKS.example.com/… failed"
    );
    // Another host that merely starts like it is left alone.
    assert_eq!(redacted(&redactor, "https://hooks.example.community/a"), "https://hooks.example.community/a");
    // A receiver echoing the path, whole or in part, raw or encoded.
    let echoed = redacted(&redactor, "no route for /services/T0001/B0002/XyZ123secretTOKEN?x=y");
    assert_eq!(echoed, "no route for REDACTED");
    let token = redacted(&redactor, "token %58yZ123secretTOKEN revoked");
    assert_eq!(token, "token REDACTED revoked");
    // Plain words of the path are not secrets.
    assert_eq!(redacted(&redactor, "services are up"), "services are up");
    let plain = Redactor::new().with_endpoint("https://alerts.example.com/api?team=ops");
    assert_eq!(redacted(&plain, "exchangerate-api: team=ops"), "exchangerate-api: team=ops");
    assert_eq!(redacted(&plain, "POST https://alerts.example.com/api?team=ops"), "POST https://alerts.example.com/…");
    let signed = Redactor::new().with_endpoint("https://alerts.example.com/in?sig=abc1");
    assert_eq!(redacted(&signed, "bad signature abc1"), "bad signature REDACTED");
}

#[test]
fn url_passwords_are_secrets_in_decoded_form() {
    let mut redactor = Redactor::new();
    redactor.add_url_password("postgres://app:p%40ss%2Fw0rd@db.example:5432/signalcraft");
    assert_eq!(redacted(&redactor, "auth failed for p@ss/w0rd"), "auth failed for REDACTED");
    assert_eq!(redacted(&redactor, "db.example:5432/signalcraft"), "db.example:5432/signalcraft");
}

#[test]
fn blank_secrets_change_nothing_and_merging_adds_all() {
    let empty = Redactor::new().with_secret("").with_secret("  ");
    assert!(empty.is_empty());
    assert!(matches!(empty.redact("anything"), Cow::Borrowed("anything")));
    let mut merged = Redactor::new().with_secret("alpha-123");
    merged.merge(&Redactor::new().with_secret("beta-456").with_endpoint("http://127.0.0.1:9/hook/Tok3n-abcdef"));
    assert_eq!(
        redacted(&merged, "alpha-123 beta-456 http://127.0.0.1:9/hook/x"),
        "REDACTED REDACTED http://127.0.0.1:9/…"
    );
    assert!(!format!("{merged:?}").contains("alpha"), "Debug shows no secret");
}

#[test]
fn overlapping_secrets_take_the_longest_match_and_text_stays_utf8() {
    let redactor = Redactor::new().with_secret("abc").with_secret("abcdef");
    assert_eq!(redacted(&redactor, "ééabcdefé abcé"), "ééREDACTEDé REDACTEDé");
}
