//! The process's configured secrets, gathered once from the whole configuration into one
//! [`Redactor`], and the log writer that scrubs them out of every line before it reaches
//! standard error.
//!
//! Components redact what they know at the source (the ingest fetchers their access key, the
//! webhook deliverer its endpoints and keys), so errors they return and rows they store are
//! clean wherever they end up. The writer is the last line of defence for what no component
//! knows about: a Kafka SASL password or the database password quoted by a library's error,
//! or a component's secret reaching a log line by a path nobody foresaw.

use std::{
    io::{self, Write},
    sync::OnceLock,
};

use signalcraft_model::Redactor;

use crate::{backfill::StderrAroundProgress, config::Config};

/// librdkafka properties whose values are secrets: any name with one of these in it
/// (`sasl.password`, `ssl.key.password`, `sasl.oauthbearer.client.secret`, …).
const SECRET_PROPERTY_WORDS: &[&str] = &["password", "secret", "token"];
/// librdkafka properties that are secret as a whole though their names say nothing of it
/// (`sasl.oauthbearer.config` carries the client secret of the unsecured JWT flow).
const SECRET_PROPERTIES: &[&str] = &["sasl.oauthbearer.config", "sasl.kerberos.keytab"];

/// Every secret `config` holds or names: the exchangerate.host access key, each webhook
/// endpoint's URL (path and query are secret) and HMAC key (read from its environment
/// variable), secret librdkafka properties, and the passwords of the database and schema
/// registry URLs, the tenant API's token signing key and its database URL's password, and the
/// GeoNames username.
pub fn redactor(config: &Config) -> Redactor {
    redactor_with_env(config, |name| std::env::var(name).ok())
}

/// [`redactor`] with the environment given (tests).
pub fn redactor_with_env(config: &Config, env: impl Fn(&str) -> Option<String>) -> Redactor {
    let mut redactor = Redactor::new();
    if let Some(key) = &config.ingest.fx.exchangerate_host_access_key {
        redactor.add_secret(key.expose());
    }
    for endpoint in &config.webhooks.endpoints {
        redactor.add_endpoint(&endpoint.url);
        if let Some(key) = env(&endpoint.secret_env) {
            redactor.add_secret(&key);
        }
    }
    for (name, value) in &config.kafka.properties {
        let name = name.to_ascii_lowercase();
        if SECRET_PROPERTY_WORDS.iter().any(|word| name.contains(word)) || SECRET_PROPERTIES.contains(&name.as_str()) {
            redactor.add_secret(value);
        }
    }
    for url in [&config.database.url, &config.kafka.schema_registry_url, &config.api.database_url].into_iter().flatten()
    {
        redactor.add_url_password(url);
    }
    if let Some(key) = &config.api.signing_key {
        redactor.add_secret(key);
    }
    // The GeoNames account: not a password, but whoever holds it spends its request quota.
    if let Some(username) = &config.geocoding.username {
        redactor.add_secret(username);
    }
    redactor
}

/// What the log writer redacts; set once the configuration is read. Lines logged before that
/// cannot hold a configured secret: none was read yet.
static LOG_REDACTOR: OnceLock<Redactor> = OnceLock::new();

/// Makes the log writer redact everything `redactor` knows from now on. Only the first call
/// counts: a process reads its configuration once.
pub fn redact_logs(redactor: Redactor) {
    if LOG_REDACTOR.set(redactor).is_err() {
        tracing::warn!("log redaction was set up twice; the first set of secrets stays in force");
    }
}

/// The log subscriber's writer (`.with_writer(secrets::log_writer)`): standard error, around a
/// backfill's progress bar, with every configured secret redacted.
pub fn log_writer() -> RedactingWriter<StderrAroundProgress> {
    RedactingWriter { inner: crate::backfill::stderr_around_progress(), line: Vec::new() }
}

/// Collects one event's output and writes it, redacted, when the event is done (on flush or
/// drop): a secret split across two `write` calls is still seen whole.
pub struct RedactingWriter<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn write_out(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        match LOG_REDACTOR.get().filter(|redactor| !redactor.is_empty()) {
            Some(redactor) => self.inner.write_all(redactor.redact(&String::from_utf8_lossy(&line)).as_bytes()),
            None => self.inner.write_all(&line),
        }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write; losing the line is all that can happen.
        let _ = self.write_out();
    }
}

#[cfg(test)]
mod tests {
    use signalcraft_ingest::Secret;
    use signalcraft_sink::WebhookEndpointConfig;

    use super::*;

    #[test]
    fn every_configured_secret_is_known() {
        let mut config = Config::default();
        config.ingest.fx.exchangerate_host_access_key = Some(Secret::new("fx/k+y="));
        config.webhooks.endpoints =
            vec![WebhookEndpointConfig::new("chat", "https://hooks.example.com/T0001/B0002/XyZsecret123", "HOOK")];
        config.kafka.properties.insert("sasl.password".into(), "kafka-pw-1".into());
        config.kafka.properties.insert("sasl.username".into(), "alice".into());
        config.database.url = Some("postgres://app:db%2Fpw@db.example/signalcraft".into());
        config.kafka.schema_registry_url = Some("https://reg:reg-pw-2@registry.example".into());
        config.geocoding.username = Some("geo-account-7".into());
        let env = |name: &str| (name == "HOOK").then(|| "whsec-3".to_string());
        let redactor = redactor_with_env(&config, env);

        let text = "fx%2Fk%2By%3D POST https://hooks.example.com/T0001/B0002/XyZsecret123 whsec-3 kafka-pw-1 \
                    db/pw reg-pw-2 alice username=geo-account-7";
        assert_eq!(
            redactor.redact(text),
            "REDACTED POST https://hooks.example.com/… REDACTED REDACTED REDACTED REDACTED alice username=REDACTED"
        );
    }

    #[test]
    fn the_log_writer_redacts_a_line_written_in_pieces() {
        // The only test in this binary that sets the process's log redactor.
        redact_logs(Redactor::new().with_secret("sasl-pw/42"));
        let mut writer = RedactingWriter { inner: Vec::new(), line: Vec::new() };
        writer.write_all(b"auth failed: password=sasl-").expect("buffered");
        writer.write_all(b"pw%2F42 rejected\n").expect("buffered");
        writer.flush().expect("written");
        assert_eq!(String::from_utf8_lossy(&writer.inner), "auth failed: password=REDACTED rejected\n");
    }
}
