//! `signalcraft rules` as an operator uses it against a real PostgreSQL: a rule added is what
//! the alerting processor loads, `list` shows it, `disable` takes it out of the loaded set and
//! `enable` brings it back, `remove` deletes it. Bad input is refused with a message naming the
//! option, and nothing is stored.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_added_listed_disabled_and_removed_from_the_command_line() {
    let database = TestDatabase::new().await;
    let add = [
        "rules",
        "add",
        "--name",
        "euro above 1.1",
        "--series",
        "fx:USD:EUR",
        "--comparison",
        ">=",
        "--threshold",
        "1.1",
        "--duration-secs",
        "3600",
        "--severity",
        "critical",
    ];
    let added = signalcraft(&database, &add).await;
    assert!(added.status.success(), "{}", stderr(&added));
    let id: i64 = sqlx::query_scalar("SELECT id FROM alert_rules").fetch_one(&database.pool).await.expect("stored");
    assert_eq!(stdout(&added).trim(), format!("added rule #{id} euro above 1.1"));

    // What the alerting processor loads.
    let loaded = signalcraft_store::alert_rules::load(&database.pool).await.expect("loads");
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        (loaded[0].id, loaded[0].series_pattern.as_str(), loaded[0].threshold, loaded[0].duration.num_seconds()),
        (id, "fx:USD:EUR", 1.1, 3600)
    );
    assert_eq!(loaded[0].severity, signalcraft_model::Severity::Critical);

    let listed = signalcraft(&database, &["rules", "list"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(stdout(&listed), format!("#{id} euro above 1.1: fx:USD:EUR >= 1.1 for 3600 s, CRITICAL\n1 rule(s)\n"));
    let json = signalcraft(&database, &["rules", "list", "--json"]).await;
    let row: serde_json::Value = serde_json::from_str(stdout(&json).trim()).expect("one JSON object");
    assert_eq!((row["id"].as_i64(), row["enabled"].as_bool()), (Some(id), Some(true)));

    let id_text = id.to_string();
    let disabled = signalcraft(&database, &["rules", "disable", &id_text]).await;
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    assert!(
        signalcraft_store::alert_rules::load(&database.pool).await.expect("loads").is_empty(),
        "a disabled rule is not loaded"
    );
    assert!(stdout(&signalcraft(&database, &["rules", "list"]).await).contains("CRITICAL (disabled)"));
    let enabled = signalcraft(&database, &["rules", "enable", &id_text]).await;
    assert!(enabled.status.success(), "{}", stderr(&enabled));
    assert_eq!(signalcraft_store::alert_rules::load(&database.pool).await.expect("loads").len(), 1);

    let removed = signalcraft(&database, &["rules", "remove", &id_text]).await;
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(database.count("alert_rules").await, 0);
    let again = signalcraft(&database, &["rules", "remove", &id_text]).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains(&format!("no alert rule has id {id}")), "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_naming_the_option() {
    let database = TestDatabase::new().await;
    // (option, bad value, the error it gets); every other option is valid.
    for (option, value, expected) in [
        ("--comparison", "=>", "--comparison: `=>` is not one of >, >=, <, <="),
        ("--severity", "severe", "--severity: `severe` is not one of INFO, WARNING, CRITICAL"),
        ("--duration-secs", "-5", "--duration-secs: -5 is negative"),
        ("--threshold", "NaN", "--threshold: `NaN` is not a finite number"),
        ("--series", " ", "--series: must not be empty"),
        (
            "--duration-secs",
            "9223372036854775807",
            "--duration-secs: 9223372036854775807 is more than 31622400 (366 days)",
        ),
        ("--series", "fx:USD:\\", "--series: `fx:USD:\\\\` ends with the escape character"),
    ] {
        let mut args = vec!["rules", "add", "--name", "n"];
        for (name, good) in [("--series", "fx:%"), ("--comparison", ">"), ("--threshold", "1")] {
            if name != option {
                args.extend([name, good]);
            }
        }
        args.extend([option, value]);
        let output = signalcraft(&database, &args).await;
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(database.count("alert_rules").await, 0, "nothing refused is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_would_drive_the_terminal_is_refused_and_one_stored_by_hand_is_shown_escaped() {
    let database = TestDatabase::new().await;
    let base = ["rules", "add", "--series", "fx:%", "--comparison", ">", "--threshold", "1", "--name"];
    let refused = signalcraft(&database, &[&base[..], &["red\u{1b}[31malert"]].concat()).await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--name: contains the control character \\u{1b}"), "{}", stderr(&refused));
    let long = "n".repeat(201);
    let refused = signalcraft(&database, &[&base[..], &[long.as_str()]].concat()).await;
    assert!(stderr(&refused).contains("--name: 201 characters is more than the 200 allowed"), "{}", stderr(&refused));
    assert_eq!(database.count("alert_rules").await, 0);

    // Written with plain SQL, around the command line's checks.
    sqlx::query("INSERT INTO alert_rules (name, series_pattern, comparison, threshold) VALUES ($1, 'fx:%', '>', 1)")
        .bind("clear\u{1b}[2J\u{1b}[Hscreen")
        .execute(&database.pool)
        .await
        .expect("stored");
    let listed = signalcraft(&database, &["rules", "list"]).await;
    let shown = stdout(&listed);
    assert!(!shown.contains('\u{1b}'), "raw escape printed: {shown:?}");
    assert!(shown.contains("clear\\u{1b}[2J\\u{1b}[Hscreen: fx:% > 1 for 0 s, WARNING"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_rule_whose_duration_cannot_be_used_is_skipped_not_a_panic() {
    let database = TestDatabase::new().await;
    // A row as an older version could have stored it, before the table bounded durations.
    sqlx::query("ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_duration_bounded")
        .execute(&database.pool)
        .await
        .expect("constraint dropped");
    sqlx::query(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, duration_secs) \
         VALUES ('forever', 'fx:%', '>', 1, 9223372036854775807), ('hour', 'fx:%', '>', 1, 3600)",
    )
    .execute(&database.pool)
    .await
    .expect("stored");
    let loaded = signalcraft_store::alert_rules::load(&database.pool).await.expect("loads");
    let names: Vec<&str> = loaded.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(names, ["hour"], "the unusable rule is skipped, the others load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_refuses_an_unbounded_duration_written_by_hand() {
    let database = TestDatabase::new().await;
    let refused = sqlx::query(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, duration_secs) \
         VALUES ('forever', 'fx:%', '>', 1, 9223372036854775807)",
    )
    .execute(&database.pool)
    .await
    .expect_err("refused");
    assert!(refused.to_string().contains("alert_rules_duration_bounded"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_rule_is_stored_listed_and_loaded_with_its_tenant() {
    let database = TestDatabase::new().await;
    let add = |tenant: &'static str| {
        [
            "rules",
            "add",
            "--name",
            "sales drop",
            "--series",
            "custom:%:sales",
            "--comparison",
            "<",
            "--threshold",
            "10",
            "--tenant-id",
            tenant,
        ]
    };
    let added = signalcraft(&database, &add("acme")).await;
    assert!(added.status.success(), "{}", stderr(&added));
    let refused = signalcraft(&database, &add("Acme Corp")).await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--tenant-id: `Acme Corp` must be 1–63 characters"), "{}", stderr(&refused));

    let listed = stdout(&signalcraft(&database, &["rules", "list"]).await);
    assert!(listed.contains("sales drop: custom:%:sales < 10 for 0 s, WARNING, tenant acme\n"), "{listed}");
    let loaded = signalcraft_store::alert_rules::load(&database.pool).await.expect("loads");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tenant_id.as_deref(), Some("acme"));
    assert!(loaded[0].matches(Some("acme"), "custom:acme:sales"));
    assert!(!loaded[0].matches(Some("globex"), "custom:globex:sales"), "another tenant's series is not watched");
}
