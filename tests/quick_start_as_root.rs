//! The README's first command as a container or a fresh VM runs it: as root, from a clone under
//! a home directory that only root may enter (mode 0700, like `/root`). The private PostgreSQL
//! runs as the `postgres` user, who cannot reach a cluster inside that home; the run must
//! still succeed, and say where it keeps the cluster instead.

mod common;

use std::{os::unix::fs::PermissionsExt, path::PathBuf, time::Duration};

use common::*;
use tokio::process::Command;

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_runs_for_root_from_a_clone_in_a_closed_home() {
    if !running_as_root() {
        eprintln!("skipped: this test reproduces a root-only failure (initdb runs as postgres under root)");
        return;
    }
    let home = tempfile::Builder::new().prefix("signalcraft-root-home-").tempdir().expect("home");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).expect("closed home");
    let clone = home.path().join("signalcraft");
    std::fs::create_dir_all(&clone).expect("clone dir");

    let replay = fixture("replay");
    let run = Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(["run", "--replay", replay.to_str().expect("utf-8 path"), "--exit-when-done"])
        .current_dir(&clone)
        .env("HOME", home.path())
        .env_remove("DATABASE_URL")
        .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info,librdkafka=error")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run).await.expect("the run ends").expect("runs");
    let note = clone.join(".signalcraft/postgres/cluster-location");
    let cluster = std::fs::read_to_string(&note).ok().map(|text| PathBuf::from(text.trim()));

    let (out, err) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "the quick start failed as root:\n{err}");
    assert!(out.contains("signalcraft run summary"), "{out}");
    assert!(out.contains("dead letters (dlq):                0"), "{out}");
    // Each replayed tenant's dashboard, signed in through the address's fragment; the token is
    // printed for the terminal only, never logged.
    let dashboards: Vec<&str> =
        out.lines().filter_map(|line| line.trim_start().strip_prefix("dashboard: http://127.0.0.1:")).collect();
    assert_eq!(dashboards.len(), 2, "berlin and vizhinjam-port: {out}");
    for dashboard in dashboards {
        let token = dashboard.split_once("/#token=").map(|(_, token)| token).expect("a token in the fragment");
        assert!(token.len() > 100 && !err.contains(token), "the token stays out of the log");
    }
    let cluster = cluster.expect("the directory asked for says where the cluster is");
    assert!(cluster.starts_with(signalcraft_store::private_postgres::ROOT_FALLBACK_DIR), "{}", cluster.display());
    assert!(cluster.join("data/PG_VERSION").is_file(), "the cluster lives at {}", cluster.display());
    assert!(err.contains("keeping the cluster under"), "the log says where the cluster went:\n{err}");
    // A clean run says nothing alarming: no client outlives the embedded broker it talks to.
    let alarming: Vec<&str> = err.lines().filter(|line| line.contains("WARN") || line.contains("ERROR")).collect();
    assert!(alarming.is_empty(), "the quick start logged warnings or errors:\n{}", alarming.join("\n"));
    std::fs::remove_dir_all(&cluster).expect("cluster removed");
}
