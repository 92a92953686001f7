//! docker-compose.yml cannot be started here (no Docker engine), so this checks what can be
//! checked: it parses, it names every service of the stack, the pipeline roles run the commands
//! the binary has, and the environment they get is a configuration the binary accepts.

use std::collections::BTreeMap;

use serde_norway::Value;
use signalcraft::Config;

fn compose() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).expect("compose file");
    let mut value: Value = serde_norway::from_str(&text).expect("docker-compose.yml is valid YAML");
    value.apply_merge().expect("anchors and merge keys resolve");
    value
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    let Some(Value::Mapping(env)) = service.get("environment") else { return BTreeMap::new() };
    env.iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.as_str()?.to_string(), value))
        })
        .collect()
}

#[test]
fn compose_names_the_whole_stack() {
    let compose = compose();
    let services = compose.get("services").and_then(Value::as_mapping).expect("services");
    for name in [
        "kafka",
        "kafka-init",
        "postgres",
        "migrate",
        "grafana-login",
        "ingest",
        "process",
        "sink",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(name), "service {name} is missing");
    }
    let kafka_env = environment(&services["kafka"]);
    assert_eq!(kafka_env.get("KAFKA_PROCESS_ROLES").map(String::as_str), Some("broker,controller"), "KRaft mode");
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn every_pipeline_role_runs_a_real_command_with_a_configuration_the_binary_accepts() {
    let compose = compose();
    let services = compose.get("services").and_then(Value::as_mapping).expect("services");
    for (name, expected) in [
        ("migrate", vec!["migrate"]),
        ("ingest", vec!["run", "--role", "ingest"]),
        ("process", vec!["run", "--role", "process"]),
        ("sink", vec!["run", "--role", "sink"]),
    ] {
        let service = &services[name];
        let command: Vec<&str> =
            service["command"].as_sequence().expect("command list").iter().filter_map(Value::as_str).collect();
        assert_eq!(command, expected, "{name}'s command");
        let env = environment(service);
        assert!(env.contains_key("SIGNALCRAFT_KAFKA__BROKERS"), "{name} names its brokers");
        assert!(env.contains_key("DATABASE_URL"), "{name} names its database");
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (key, value) in &env {
                jail.set_env(key, value);
            }
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.kafka.brokers.as_deref(), Some("kafka:9092"));
            assert_eq!(config.http.listen.port(), 9898);
            assert_eq!(
                config.database.url.as_deref(),
                Some("postgres://signalcraft:signalcraft@postgres:5432/signalcraft")
            );
            Ok(())
        });
    }
}

fn yaml_file(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect("file");
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is valid YAML: {e}"))
}

/// Grafana's PostgreSQL data source logs in as the login `grafana-login` creates (after the
/// migrations made the reader role), with the password from the environment both get, and
/// the KPI dashboard names that data source.
#[test]
fn grafana_reads_postgres_as_the_login_the_one_shot_creates_with_a_password_from_the_environment() {
    let compose = compose();
    let services = compose.get("services").and_then(Value::as_mapping).expect("services");
    let login = &services["grafana-login"];
    assert_eq!(
        login["depends_on"]["migrate"]["condition"].as_str(),
        Some("service_completed_successfully"),
        "the reader role exists once the migrations ran"
    );
    let command: Vec<&str> =
        login["command"].as_sequence().expect("command").iter().filter_map(Value::as_str).collect();
    let command = command.join(" ");
    assert!(command.contains("-v login=signalcraft_grafana"), "{command}");
    assert!(command.contains("-f /grafana-login.sql"), "{command}");
    let mounts: Vec<&str> = login["volumes"].as_sequence().expect("volumes").iter().filter_map(Value::as_str).collect();
    assert!(mounts.contains(&"./deploy/postgres/grafana-login.sql:/grafana-login.sql:ro"), "{mounts:?}");
    let grafana = &services["grafana"];
    assert_eq!(grafana["depends_on"]["grafana-login"]["condition"].as_str(), Some("service_completed_successfully"));
    let password = "${SIGNALCRAFT_GRAFANA_DB_PASSWORD:-local-try-out-only}";
    for service in [login, grafana] {
        assert_eq!(environment(service).get("SIGNALCRAFT_GRAFANA_DB_PASSWORD").map(String::as_str), Some(password));
    }

    let datasources = yaml_file("deploy/grafana/provisioning/datasources/postgres.yml");
    let source = &datasources["datasources"][0];
    assert_eq!(source["type"].as_str(), Some("grafana-postgresql-datasource"));
    assert_eq!(source["user"].as_str(), Some("signalcraft_grafana"), "the login grafana-login creates");
    assert_eq!(
        source["secureJsonData"]["password"].as_str(),
        Some("$SIGNALCRAFT_GRAFANA_DB_PASSWORD"),
        "from the environment"
    );
    assert_eq!(source["url"].as_str(), Some("postgres:5432"));
    assert_eq!(source["jsonData"]["database"].as_str(), Some("signalcraft"));
    let uid = source["uid"].as_str().expect("a fixed uid");

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana/dashboards/signalcraft-kpis.json"
        ))
        .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"].as_str(), Some(uid), "{}", panel["title"]);
    }
}
