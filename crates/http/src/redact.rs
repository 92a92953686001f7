//! Secrets out of URLs: the values of query parameters that carry API keys and tokens are
//! replaced before a URL reaches a log line, an error or a metric. Secrets elsewhere in a text
//! (echoed in a body, a webhook's path token) are the [`signalcraft_model::Redactor`]'s job.

/// What replaces a secret in URLs, logs and errors.
const REDACTED: &str = signalcraft_model::redact::REDACTED;
/// Query parameters whose values are secrets and never appear in logs or errors.
const SECRET_PARAMS: &[&str] = &["access_key", "api_key", "apikey", "appid", "key", "token"];

/// `url` with the values of secret query parameters (API keys, tokens) replaced.
pub fn redact_url(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|secret| name.eq_ignore_ascii_case(secret)) => {
                format!("{name}={REDACTED}")
            }
            _ => param.to_string(),
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_urls() {
        assert_eq!(
            redact_url("https://api.example/live?access_key=abc123&source=USD&Token=x"),
            "https://api.example/live?access_key=REDACTED&source=USD&Token=REDACTED"
        );
        assert_eq!(redact_url("https://api.example/latest"), "https://api.example/latest");
    }
}
