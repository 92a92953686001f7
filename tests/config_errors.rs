//! Bad configuration is refused before anything starts, with a message naming the key and
//! where its value came from.

mod common;

use std::process::Output;

use common::unique_name;

/// Runs the binary with `args` and `env`. Inside a `figment::Jail`, though the jail changes
/// nothing: jails run one at a time, so no jail test of this binary has `SIGNALCRAFT_*`
/// variables of its own set in the process environment the child inherits.
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn signalcraft(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut output = None;
    figment::Jail::expect_with(|_| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signalcraft"));
        command.args(args).env_remove("DATABASE_URL");
        for (key, value) in env {
            command.env(key, value);
        }
        output = Some(command.output().expect("the signalcraft binary runs"));
        Ok(())
    });
    output.expect("the jail ran")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_value_from_the_environment_names_the_key_and_the_variable() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_SINK__BATCH_MAX_ROWS", "lots")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("sink.batch_max_rows: invalid type: found string \"lots\", expected usize"), "{text}");
    assert!(text.contains("(from environment variable SIGNALCRAFT_SINK__BATCH_MAX_ROWS)"), "{text}");
}

#[test]
fn an_unknown_key_in_the_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{}.toml", unique_name("config")));
    std::fs::write(&path, "[sink]\nbatch_rows = 5\n").expect("config written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("sink.batch_rows: unknown field: found `batch_rows`"), "{text}");
    assert!(text.contains(path.to_str().expect("utf-8 path")), "names the file: {text}");
}

#[test]
fn a_bad_currency_code_names_its_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    std::fs::write(&path, "[[ingest.fx.providers]]\nkind = \"frankfurter\"\nbases = [\"usd1\"]\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("ingest.fx.providers[0].bases[0]"), "{text}");
}

#[test]
fn a_missing_config_file_is_named() {
    let output = signalcraft(&["--config", "/nonexistent/signalcraft.toml", "migrate"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("/nonexistent/signalcraft.toml does not exist"), "{}", stderr(&output));
}

#[test]
fn an_exchangerate_host_provider_without_its_access_key_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    std::fs::write(&path, "[[ingest.fx.providers]]\nkind = \"exchangerate-host\"\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains(
            "ingest.fx.exchangerate_host_access_key: must be set: ingest.fx.providers[0] is an exchangerate-host \
             provider, which needs an access key"
        ),
        "{text}"
    );
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn the_access_key_and_a_fallback_chain_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "signalcraft.toml",
            "[[ingest.fx.providers]]\nkind = \"exchangerate-host\"\n[[ingest.fx.providers]]\nkind = \"frankfurter\"\n",
        )?;
        jail.set_env("SIGNALCRAFT_INGEST__FX__EXCHANGERATE_HOST_ACCESS_KEY", "k-from-env");
        jail.set_env("SIGNALCRAFT_INGEST__FX__FALLBACK__USD", "[exchangerate-host, frankfurter]");
        let config = signalcraft::Config::load(Some(std::path::Path::new("signalcraft.toml")))
            .map_err(|error| error.to_string())?;
        let fx = &config.ingest.fx;
        assert_eq!(fx.exchangerate_host_access_key.as_ref().map(|key| key.expose()), Some("k-from-env"));
        let chain: Vec<&str> = fx.fallback["USD"].iter().map(|kind| kind.as_str()).collect();
        assert_eq!(chain, ["exchangerate-host", "frankfurter"]);
        assert!(!format!("{config:?}").contains("k-from-env"), "Debug shows the key");

        // A key that looks like a number is refused without being repeated.
        jail.set_env("SIGNALCRAFT_INGEST__FX__EXCHANGERATE_HOST_ACCESS_KEY", "90210");
        let error = signalcraft::Config::load(Some(std::path::Path::new("signalcraft.toml")))
            .expect_err("a number is not a key")
            .to_string();
        assert!(error.contains("ingest.fx.exchangerate_host_access_key"), "{error}");
        assert!(error.contains("SIGNALCRAFT_INGEST__FX__EXCHANGERATE_HOST_ACCESS_KEY"), "{error}");
        assert!(!error.contains("90210"), "{error}");
        Ok(())
    });
}

#[test]
fn warm_up_settings_are_checked_by_name() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__WARMUP__MAX_POINTS", "0")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("process.warmup.max_points: must be at least 1"), "{}", stderr(&output));

    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__WARMUP__SINK_WAIT_MS", "600000")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("process.warmup.sink_wait_ms: 600000 is above 120000"), "{}", stderr(&output));

    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__WARMUP", "sometimes")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("process.warmup: invalid type"), "{text}");
    assert!(text.contains("SIGNALCRAFT_PROCESS__WARMUP)"), "{text}");
}

/// Every flat `[process]` key of before, and where it went.
const MOVED_PROCESS_KEYS: [(&str, &str, &str); 11] = [
    ("anomaly_threshold", "0.5", "process.anomaly.threshold"),
    ("anomaly_max_series", "10", "process.anomaly.max_series"),
    ("forecast_history_cap", "10", "process.forecast.history_cap"),
    ("forecast_refit_every", "10", "process.forecast.refit_every"),
    ("forecast_max_series", "10", "process.forecast.max_series"),
    ("alert_open_score", "0.5", "process.alerting.open_score"),
    ("alert_resolve_after", "10", "process.alerting.resolve_after"),
    ("alert_cooldown_secs", "10", "process.alerting.cooldown_secs"),
    ("warmup", "false", "process.warmup.enabled"),
    ("warmup_max_points", "10", "process.warmup.max_points"),
    ("warmup_sink_wait_ms", "10", "process.warmup.sink_wait_ms"),
];

#[test]
fn a_flat_process_key_from_the_environment_is_refused_with_its_new_name() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__ANOMALY_THRESHOLD", "0.5")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("process.anomaly_threshold moved to process.anomaly.threshold"), "{text}");
    assert!(text.contains("(set in environment variable SIGNALCRAFT_PROCESS__ANOMALY_THRESHOLD)"), "{text}");

    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__WARMUP", "false")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("process.warmup moved to process.warmup.enabled"), "{text}");
}

/// `Config::load(path)` in a clean environment: `figment::Jail` tests of this binary set
/// `SIGNALCRAFT_*` variables of the whole process while they run, and a jail runs one at a time.
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn load_alone(path: &std::path::Path) -> Result<signalcraft::Config, String> {
    let mut loaded = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        loaded = Some(signalcraft::Config::load(Some(path)).map_err(|error| error.to_string()));
        Ok(())
    });
    loaded.unwrap_or_else(|| Err("the jail did not run".into()))
}

#[test]
fn every_flat_process_key_in_the_file_is_refused_with_its_new_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    let keys: Vec<String> = MOVED_PROCESS_KEYS.iter().map(|(old, value, _)| format!("{old} = {value}")).collect();
    std::fs::write(&path, format!("[process]\n{}\n", keys.join("\n"))).expect("written");
    let error = load_alone(&path).expect_err("moved keys");
    for (old, _, new) in MOVED_PROCESS_KEYS {
        assert!(error.contains(&format!("process.{old} moved to {new} (set in {})", path.display())), "{error}");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn each_processor_reads_its_own_table_from_the_file_and_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "signalcraft.toml",
            "[process.anomaly]\nthreshold = 0.7\n[process.alerting]\nopen_score = 0.8\n\
             [process.sentiment]\nlateness_secs = 7200\n[process.warmup]\nenabled = false\n",
        )?;
        jail.set_env("SIGNALCRAFT_PROCESS__FORECAST__REFIT_EVERY", "12");
        let config = signalcraft::Config::load(Some(std::path::Path::new("signalcraft.toml")))
            .map_err(|error| error.to_string())?;
        let process = &config.process;
        assert_eq!(process.anomaly.detect_anomalies_config().threshold, 0.7);
        assert_eq!(process.forecast.forecast_series_config().refit_every, 12);
        assert_eq!(process.alerting.raise_alerts_config().open_score, 0.8);
        assert_eq!(process.sentiment.hourly_lateness(), chrono::TimeDelta::hours(2));
        assert_eq!(process.warmup.settings(), None, "warm-up off");
        assert_eq!(process.group_prefix, "signalcraft-process");
        Ok(())
    });
}

#[test]
fn the_rules_reload_interval_is_refused_as_no_longer_used() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__RULES_RELOAD_SECS", "30")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("process.rules_reload_secs: no longer used: alert rules are versioned input"), "{text}");
    assert!(text.contains("(set in environment variable SIGNALCRAFT_PROCESS__RULES_RELOAD_SECS)"), "{text}");
}

#[test]
fn an_alert_cooldown_beyond_a_year_is_refused_by_name_not_a_panic() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__ALERTING__COOLDOWN_SECS", "10000000000000000")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("process.alerting.cooldown_secs: 10000000000000000 is above 31622400"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn a_bad_processor_setting_names_its_nested_key() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__ANOMALY__THRESHOLD", "1.5")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("process.anomaly.threshold: 1.5 is not a score in [0, 1]"), "{}", stderr(&output));

    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_PROCESS__FORECAST__REFIT_EVERYY", "3")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("process.forecast.refit_everyy: unknown field"), "{}", stderr(&output));
}

#[test]
fn a_broker_port_beyond_65535_is_refused_not_wrapped() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_KAFKA__BROKERS", "127.0.0.1:9092,127.0.0.1:99999")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("kafka.brokers: `127.0.0.1:99999` has port `99999`, which is not a TCP port (1–65535)"),
        "{text}"
    );
}

#[test]
fn a_database_url_of_another_kind_is_refused_without_echoing_it() {
    let output = signalcraft(&["migrate"], &[("DATABASE_URL", "mysql://root:s3cret@127.0.0.1:3306/signalcraft")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("database.url (or DATABASE_URL): the scheme `mysql://` is not PostgreSQL's"), "{text}");
    assert!(!text.contains("s3cret"), "the password is never repeated: {text}");
}

#[test]
fn an_unreachable_database_says_why_not_only_that_a_pool_timed_out() {
    // A port nothing listens on: the kernel refuses at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/signalcraft");
    let started = std::time::Instant::now();
    let output = signalcraft(&["migrate"], &[("DATABASE_URL", url.as_str())]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains(&format!("connecting to PostgreSQL at 127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "the cause is named: {text}");
    assert!(!text.contains("pool timed out"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "refused at once, not after a pool timeout");
}

#[test]
fn an_embedded_broker_of_no_partitions_is_refused() {
    let output = signalcraft(&["broker", "--partitions", "0"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("--partitions") && text.contains("0 is not in 1..=1000"), "{text}");
}

#[test]
fn the_view_refresh_interval_is_refused_with_the_reason_it_went() {
    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_SINK__VIEW_REFRESH_SECS", "30")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("sink.view_refresh_secs: no longer used"), "{text}");
}

#[test]
fn the_plausibility_window_is_set_per_topic_and_an_unknown_topic_is_refused() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use signalcraft_model::Topic;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    std::fs::write(
        &path,
        "[validation]\nnot_before = \"1800-01-01T00:00:00Z\"\n[validation.max_ahead_days]\n\"kpi.points\" = 30\n",
    )
    .expect("written");
    let config = load_alone(&path).expect("valid configuration");
    let windows = config.validation.windows();
    let since_1800 = Utc.with_ymd_and_hms(1800, 1, 1, 0, 0, 0).single().expect("instant");
    assert_eq!(windows[&Topic::KpiPoints].not_before, since_1800);
    assert_eq!(windows[&Topic::KpiPoints].max_ahead, TimeDelta::days(30));
    assert_eq!(windows[&Topic::RawFx].not_before, since_1800, "not_before holds on every topic");
    assert_eq!(windows[&Topic::RawFx].max_ahead, TimeDelta::days(62), "unnamed topics keep their default");
    assert_eq!(windows[&Topic::KpiForecasts].max_ahead, TimeDelta::days(3653));

    std::fs::write(&path, "[validation.max_ahead_days]\n\"kpi.pointz\" = 30\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("validation.max_ahead_days: `kpi.pointz` is not a topic whose records are validated"),
        "{text}"
    );
}

#[test]
fn http_keys_of_an_older_release_are_refused_with_their_new_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    std::fs::write(&path, "[ingest.gdelt]\ntimeout_ms = 30000\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("ingest.gdelt.timeout_ms: moved to `ingest.gdelt.http.timeout_ms`"), "{text}");

    std::fs::write(
        &path,
        "[[webhooks.endpoints]]\nname = \"ops\"\nurl = \"https://hooks.example\"\nsecret_env = \"OPS_KEY\"\n\
         max_backoff_secs = 30\n",
    )
    .expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    let text = stderr(&output);
    assert!(text.contains("moved to `webhooks.endpoints.0.http.max_backoff_ms` (now in milliseconds)"), "{text}");

    let output = signalcraft(&["migrate"], &[("SIGNALCRAFT_INGEST__OPENMETEO__MAX_ATTEMPTS", "2")]);
    let text = stderr(&output);
    assert!(text.contains("ingest.openmeteo.max_attempts: moved to `ingest.openmeteo.http.max_attempts`"), "{text}");
    assert!(text.contains("(from environment variable SIGNALCRAFT_INGEST__OPENMETEO__MAX_ATTEMPTS)"), "{text}");
}

#[test]
fn the_shared_http_policy_is_overridden_key_by_key_and_checked_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("signalcraft.toml");
    std::fs::write(
        &path,
        "[http_client]\nmax_attempts = 6\nmax_retry_after_secs = 9\n\n\
         [ingest.gdelt.http]\nmax_attempts = 2\n\n\
         [[ingest.fx.providers]]\nkind = \"frankfurter\"\nhttp = { timeout_ms = 1500 }\n",
    )
    .expect("written");
    let config = signalcraft::Config::load(Some(&path)).expect("valid configuration");
    let gdelt = config.ingest.gdelt.http_policy();
    assert_eq!((gdelt.timeout_ms, gdelt.max_attempts, gdelt.max_retry_after_secs), (30_000, 2, 9), "own key wins");
    let weather = config.ingest.openmeteo.http_policy();
    assert_eq!((weather.timeout_ms, weather.max_attempts, weather.max_retry_after_secs), (10_000, 6, 9));
    let fx = config.ingest.fx.providers[0].http_policy();
    assert_eq!((fx.timeout_ms, fx.max_attempts), (1_500, 6));

    std::fs::write(&path, "[http_client]\nmax_attempts = 0\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("http_client.max_attempts: 0 is not between 1 and 20"), "{text}");

    std::fs::write(&path, "[ingest.gdelt.http]\ntimeout_ms = 0\n").expect("written");
    let output = signalcraft(&["--config", path.to_str().expect("utf-8 path"), "migrate"], &[]);
    let text = stderr(&output);
    assert!(text.contains("ingest.gdelt.http.timeout_ms: must be at least 1 millisecond"), "{text}");
}
