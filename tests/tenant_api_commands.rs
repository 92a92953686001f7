//! The tenant API's commands as an operator runs them: `apikey create|list|revoke`, `token
//! issue`, and `signalcraft serve` answering on its listener — and refusing to start without a
//! signing key, naming the key to set.

mod common;

use std::time::Duration;

use common::*;
use signalcraft_api::{Role, TokenSigner};
use tokio::process::Command;

const SIGNING_KEY: &str = "test signing key of at least 32 bytes!";

/// The binary with `args` and `env`, against `database`.
async fn signalcraft_with(database: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signalcraft"));
    command.args(args).env("DATABASE_URL", &database.url).env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("the signalcraft binary runs")
}

#[tokio::test]
async fn api_keys_are_printed_once_listed_without_their_secret_and_revoked() {
    let database = TestDatabase::new().await;
    let created =
        signalcraft(&database, &["apikey", "create", "--tenant", "acme", "--role", "editor", "--label", "ci"]).await;
    assert!(created.status.success(), "{}", stderr(&created));
    let key = stdout(&created).trim().to_string();
    assert!(key.starts_with("sck_") && key.len() == 4 + 16 + 1 + 43, "one key alone on stdout: {key:?}");
    let key_id = &key[4..20];

    let stored: (String, String, String, Vec<u8>) =
        sqlx::query_as("SELECT tenant_id, role, label, secret_sha256 FROM api_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_one(&database.pool)
            .await
            .expect("the key is stored");
    assert_eq!((stored.0.as_str(), stored.1.as_str(), stored.2.as_str()), ("acme", "editor", "ci"));
    assert_eq!(stored.3.len(), 32, "a SHA-256 digest");
    assert!(!stored.3.windows(8).any(|w| key.as_bytes().windows(8).any(|k| k == w)), "no part of the key is stored");

    let listed = signalcraft(&database, &["apikey", "list"]).await;
    assert!(stdout(&listed).contains(&format!("{key_id} acme editor ci")), "{}", stdout(&listed));
    assert!(!stdout(&listed).contains(&key[21..]), "the secret is never printed again");

    let revoked = signalcraft(&database, &["apikey", "revoke", key_id]).await;
    assert_eq!(stdout(&revoked).trim(), format!("revoked {key_id}"));
    let again = signalcraft(&database, &["apikey", "revoke", key_id]).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains("no unrevoked API key has id"), "{}", stderr(&again));

    let bad = signalcraft(&database, &["apikey", "create", "--tenant", "Acme Corp", "--role", "viewer"]).await;
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--tenant"), "names the option: {}", stderr(&bad));
}

#[tokio::test]
async fn token_issue_signs_with_the_configured_key_and_refuses_without_one() {
    let database = TestDatabase::new().await;
    let args = ["token", "issue", "--tenant", "acme", "--role", "viewer", "--subject", "alice"];
    let issued = signalcraft_with(&database, &args, &[("SIGNALCRAFT_API__SIGNING_KEY", SIGNING_KEY)]).await;
    assert!(issued.status.success(), "{}", stderr(&issued));
    let token = stdout(&issued).trim().to_string();
    let claims = TokenSigner::new(SIGNING_KEY.as_bytes(), Duration::from_secs(900)).verify(&token).expect("our token");
    assert_eq!((claims.sub.as_str(), claims.tenant.as_str(), claims.role), ("alice", "acme", Role::Viewer));
    assert!(!stderr(&issued).contains(SIGNING_KEY));

    let unsigned = signalcraft(&database, &args).await;
    assert!(!unsigned.status.success());
    assert!(stderr(&unsigned).contains("api.signing_key"), "{}", stderr(&unsigned));

    let short = signalcraft_with(&database, &args, &[("SIGNALCRAFT_API__SIGNING_KEY", "short")]).await;
    assert!(!short.status.success());
    assert!(
        stderr(&short).contains("api.signing_key: 5 bytes is shorter than the 32"),
        "names the key: {}",
        stderr(&short)
    );
    assert!(!stderr(&short).contains("\"short\""), "the key itself is not repeated");
}

#[tokio::test]
async fn serve_answers_the_api_on_its_listener_and_exchanges_a_key() {
    let database = TestDatabase::new().await;
    let created = signalcraft(&database, &["apikey", "create", "--tenant", "acme", "--role", "viewer"]).await;
    let key = stdout(&created).trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
    let listen = format!("127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .arg("serve")
        .env("DATABASE_URL", &database.url)
        .env("SIGNALCRAFT_API__SIGNING_KEY", SIGNING_KEY)
        .env("SIGNALCRAFT_HTTP__LISTEN", &listen)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(30), || async {
            client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await,
        "serve becomes ready"
    );
    let exchanged: serde_json::Value = client
        .post(format!("{base}/api/v1/token"))
        .json(&serde_json::json!({ "api_key": key }))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("a JSON body");
    assert_eq!((exchanged["tenant"].as_str(), exchanged["role"].as_str()), (Some("acme"), Some("viewer")));
    assert_eq!(exchanged["expires_in"], 900);
    let token = exchanged["access_token"].as_str().expect("a token");
    let series =
        client.get(format!("{base}/api/v1/tenants/acme/series")).bearer_auth(token).send().await.expect("answers");
    assert_eq!(series.status(), 200);
    assert_eq!(series.json::<serde_json::Value>().await.expect("JSON"), serde_json::json!({ "series": [] }));
    let wrong =
        client.post(format!("{base}/api/v1/token")).json(&serde_json::json!({ "api_key": "sck_x" })).send().await;
    assert_eq!(wrong.expect("answers").status(), 401);
    stop(server).await;

    let refused = signalcraft_with(&database, &["serve"], &[("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")]).await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("SIGNALCRAFT_API__SIGNING_KEY"), "{}", stderr(&refused));
}
