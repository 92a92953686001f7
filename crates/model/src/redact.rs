//! Scrubbing configured secrets out of text before it is logged or stored.
//!
//! Upstreams and webhook receivers echo what they were sent (a request path, a query string, an
//! `Authorization` header) in their error bodies, and client libraries print the URL they
//! called. A [`Redactor`] knows the configured secrets and replaces them in any text, in every
//! form they travel in:
//! - raw, and JSON-escaped (for JSON log lines);
//! - percent-encoded, whatever set of characters the encoder chose to escape, with upper- or
//!   lower-case hex, and `+` for a space (form encoding) — matched by decoding while comparing,
//!   rather than by listing every encoder's output;
//! - base64, standard and URL-safe, padded or not, alone or inside a longer base64 string
//!   (`Basic base64(user:password)`), where only the characters that depend on the secret alone
//!   can be matched.
//!
//! It also knows configured endpoint URLs that carry secrets in their path or query (chat
//! webhooks do): an occurrence of such an endpoint keeps only its origin
//! (`https://hooks.example.com/T000/B000/XXXX?x=y` → `https://hooks.example.com/…`), and the path,
//! the query and the token-like parts of both are secrets in their own right, for receivers that
//! echo only the path.
//!
//! It lives in the model crate, the bottom of the dependency graph, so the ingest and the sink
//! share one mechanism without either reaching up the data path.

use std::{borrow::Cow, fmt, sync::Arc};

use base64::{
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
    Engine,
};

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";
/// What replaces the path and query of a configured endpoint.
const ELIDED: &str = "/…";
/// Shortest base64 fragment matched inside a longer base64 string: shorter fragments would
/// match unrelated text by chance.
const MIN_BASE64_FRAGMENT: usize = 8;
/// Shortest path segment or query value of an endpoint taken for a token.
const MIN_TOKEN_LEN: usize = 8;

/// The configured secrets and secret-bearing endpoints of a process; cheap to clone.
/// `Debug` shows counts, never a secret.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Clone, Default)]
struct Inner {
    /// Every form of every secret, longest first, so the longest match wins. Each is compared
    /// with percent-decoding (see [`match_len`]).
    patterns: Vec<Vec<u8>>,
    /// `scheme://host[:port]` of endpoints whose path and query are not shown.
    origins: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.inner.patterns.len())
            .field("origins", &self.inner.origins)
            .finish()
    }
}

impl Redactor {
    /// A redactor that knows nothing yet: it changes no text.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// This redactor, also redacting `secret` (see [`Redactor::add_secret`]).
    #[must_use]
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.add_secret(secret);
        self
    }

    /// This redactor, also shortening `url` (see [`Redactor::add_endpoint`]).
    #[must_use]
    pub fn with_endpoint(mut self, url: &str) -> Self {
        self.add_endpoint(url);
        self
    }

    /// Redacts `secret` from now on, in all its encodings. Blank secrets are ignored: they
    /// would match everywhere and protect nothing.
    pub fn add_secret(&mut self, secret: &str) {
        if secret.trim().is_empty() {
            return;
        }
        let inner = Arc::make_mut(&mut self.inner);
        let mut forms = vec![secret.to_string()];
        // JSON log lines escape quotes, backslashes and control characters.
        if let Ok(json) = serde_json::to_string(secret) {
            forms.push(json[1..json.len() - 1].to_string());
        }
        forms.extend(base64_forms(secret.as_bytes()));
        for form in forms {
            let form = form.into_bytes();
            if !inner.patterns.contains(&form) {
                inner.patterns.push(form);
            }
        }
        inner.patterns.sort_by_key(|pattern| std::cmp::Reverse(pattern.len()));
    }

    /// Treats `url` as an endpoint whose path and query are secret: where it occurs, only its
    /// origin is kept. Its password is a secret, and so are its tokens — path segments and query
    /// values of at least 8 characters that are not plain lower-case words, and the values of
    /// parameters named like credentials (`key`, `token`, `sig`, …) — and, when it has any, its
    /// whole path and query, for receivers that echo them. A text that is not an absolute URL
    /// is redacted as a secret as a whole.
    pub fn add_endpoint(&mut self, url: &str) {
        let Some(parts) = UrlParts::parse(url) else {
            self.add_secret(url);
            return;
        };
        if let Some(password) = parts.password {
            self.add_secret(&percent_decode(password));
        }
        let rest = parts.rest.trim_start_matches('/');
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path_tokens = path.split('/').filter(|segment| looks_like_token(segment));
        let query_tokens = query.split('&').filter_map(|pair| match pair.split_once('=') {
            Some((name, value)) if looks_like_token(value) || is_secret_param(name) => Some(value),
            _ => None,
        });
        let tokens: Vec<&str> = path_tokens.chain(query_tokens).filter(|token| !token.is_empty()).collect();
        // A path of plain words (`/api`, `/alerts`) holds no secret, and taking it for one
        // would redact those words from every log line.
        if !tokens.is_empty() {
            self.add_secret(parts.rest);
            self.add_secret(rest);
            self.add_secret(query);
            for token in tokens {
                self.add_secret(&percent_decode(token));
            }
        }
        let inner = Arc::make_mut(&mut self.inner);
        if !inner.origins.iter().any(|origin| origin == parts.origin) {
            inner.origins.push(parts.origin.to_string());
        }
    }

    /// Adds the password of a URL's user information (`scheme://user:password@host/…`), as in
    /// a database or registry URL; its path and query stay visible.
    pub fn add_url_password(&mut self, url: &str) {
        if let Some(password) = UrlParts::parse(url).and_then(|parts| parts.password) {
            self.add_secret(&percent_decode(password));
        }
    }

    /// Everything `other` redacts, redacted by this one too.
    pub fn merge(&mut self, other: &Redactor) {
        if other.is_empty() {
            return;
        }
        let inner = Arc::make_mut(&mut self.inner);
        for pattern in &other.inner.patterns {
            if !inner.patterns.contains(pattern) {
                inner.patterns.push(pattern.clone());
            }
        }
        inner.patterns.sort_by_key(|pattern| std::cmp::Reverse(pattern.len()));
        for origin in &other.inner.origins {
            if !inner.origins.contains(origin) {
                inner.origins.push(origin.clone());
            }
        }
    }

    /// Whether it knows no secret and no endpoint (and so changes no text).
    pub fn is_empty(&self) -> bool {
        self.inner.patterns.is_empty() && self.inner.origins.is_empty()
    }

    /// `text` with configured endpoints cut to their origin and every form of every secret
    /// replaced by `REDACTED`. Borrowed when there was nothing to replace.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        // Endpoints first: cutting a URL removes whole tokens, where secret patterns alone
        // would leave the harmless parts of the path around `REDACTED`.
        let shortened = self.shorten_endpoints(text);
        let bytes = shortened.as_bytes();
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        let mut copied = 0;
        while at < bytes.len() {
            let longest = self.inner.patterns.iter().filter_map(|pattern| match_len(&bytes[at..], pattern)).max();
            match longest {
                Some(len) if len > 0 => {
                    let buffer = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                    buffer.extend_from_slice(&bytes[copied..at]);
                    buffer.extend_from_slice(REDACTED.as_bytes());
                    at += len;
                    copied = at;
                }
                _ => at += 1,
            }
        }
        match out {
            None => shortened,
            Some(mut buffer) => {
                buffer.extend_from_slice(&bytes[copied..]);
                // Matches start and end on character boundaries (a pattern is whole UTF-8 and
                // its escapes are ASCII), so this is valid; lossy only as a safety net.
                Cow::Owned(String::from_utf8(buffer).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
            }
        }
    }

    /// `text` with the path and query after every configured origin replaced by `/…`.
    fn shorten_endpoints<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for origin in &self.inner.origins {
            if !contains_ignore_case(&text, origin) {
                continue;
            }
            let mut out = String::with_capacity(text.len());
            let mut rest: &str = &text;
            while let Some(start) = find_ignore_case(rest, origin) {
                let after = start + origin.len();
                out.push_str(&rest[..after]);
                rest = &rest[after..];
                // Only a path or query belongs to the endpoint: `https://host.example.org` is
                // another host.
                if rest.starts_with(['/', '?', '#']) {
                    let end = rest.find(ends_url).unwrap_or(rest.len());
                    out.push_str(ELIDED);
                    rest = &rest[end..];
                }
            }
            out.push_str(rest);
            text = Cow::Owned(out);
        }
        text
    }
}

/// Characters that end a URL quoted in running text, a log line or a JSON string.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\' | ')' | ']' | '}')
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    (0..=haystack.len().checked_sub(needle.len())?)
        .find(|&start| haystack[start..start + needle.len()].eq_ignore_ascii_case(needle))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    find_ignore_case(haystack, needle).is_some()
}

/// How many bytes at the start of `text` spell `pattern`, each byte either as itself, as `%XX`
/// (hex in either case) or, for a space, as `+`; `None` when they do not.
fn match_len(text: &[u8], pattern: &[u8]) -> Option<usize> {
    let Some((&want, rest)) = pattern.split_first() else {
        return Some(0);
    };
    let first = *text.first()?;
    // A literal `%` in the pattern may itself be written as `%25`, so both readings are tried.
    if first == want {
        if let Some(len) = match_len(&text[1..], rest) {
            return Some(1 + len);
        }
    }
    if first == b'%' {
        if let Some(decoded) = text.get(1..3).and_then(decode_hex_pair) {
            if decoded == want {
                if let Some(len) = match_len(&text[3..], rest) {
                    return Some(3 + len);
                }
            }
        }
    }
    if first == b'+' && want == b' ' {
        return match_len(&text[1..], rest).map(|len| 1 + len);
    }
    None
}

fn decode_hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

/// `text` with `%XX` escapes decoded (and kept as they are where they are not valid UTF-8).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The base64 forms of `secret` to look for: its whole encodings (both alphabets, padded or
/// not), and, for a secret inside a longer encoded string, the characters that depend on the
/// secret alone at each of the three byte alignments it can have.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(secret));
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(secret);
            let encoded = engine.encode(&shifted);
            // A character carries 6 bits: those before the first whole secret bit, and the
            // last one when it mixes the secret's end with the bytes that follow, are not the
            // secret's alone.
            let first = (offset * 8).div_ceil(6);
            let last = shifted.len() * 8 / 6;
            if last > first && last - first >= MIN_BASE64_FRAGMENT {
                forms.push(encoded[first..last].to_string());
            }
        }
    }
    forms
}

/// A path segment or query value that is likely a generated token rather than a word:
/// long enough, and not just lower-case letters, hyphens and underscores (`services`,
/// `incoming-webhooks`).
fn looks_like_token(part: &str) -> bool {
    part.len() >= MIN_TOKEN_LEN && !part.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
}

/// A query parameter whose value is a credential however short it is.
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "token", "secret", "sig", "password", "auth"].iter().any(|word| name.contains(word))
}

/// An absolute URL cut where the redactor needs it.
struct UrlParts<'a> {
    /// `scheme://host[:port]`, without user information.
    origin: &'a str,
    password: Option<&'a str>,
    /// Path, query and fragment.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<UrlParts<'a>> {
        let url = url.trim();
        let (scheme, after) = url.split_once("://")?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return None;
        }
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(authority_end);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return None;
        }
        let password = userinfo.and_then(|info| info.split_once(':')).map(|(_, password)| password);
        let origin_start = url.len() - after.len() + (authority.len() - host.len());
        let origin = if userinfo.is_some() {
            // `scheme://` and the host are not adjacent in `url`; the origin is rebuilt only
            // for matching, so the host alone (after the scheme) is what is searched for.
            &url[origin_start..origin_start + host.len()]
        } else {
            &url[..url.len() - rest.len()]
        };
        Some(UrlParts { origin, password: password.filter(|p| !p.is_empty()), rest })
    }
}

#[cfg(test)]
mod tests;
