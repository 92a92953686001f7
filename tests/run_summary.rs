//! The summary of `signalcraft run --replay DIR --exit-when-done` counts failed polls per
//! source: a replay where GDELT answers its plain-text 429 and ExchangeRate-API its recorded
//! rates, run through the real binary as the README runs it.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_summary_counts_the_failed_poll_of_a_rate_limited_source() {
    let database = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let fx = fixture("fx/exchangerate-api_v4_latest_USD_2022-09-20.json");
    let rate_limited = fixture("gdelt/overwatch__rate_limited.txt");
    std::fs::write(
        dir.path().join("replay.toml"),
        format!(
            "[[route]]\npath = \"/exchangerate-api/v4/latest/USD\"\nfile = {fx:?}\n\n\
             [[route]]\npath = \"/gdelt/api/v2/doc/doc\"\nstatus = 429\nfile = {rate_limited:?}\n\
             content_type = \"text/plain\"\nheaders = {{ \"Retry-After\" = \"0\" }}\n"
        ),
    )
    .expect("replay.toml written");
    // The replay directory's own configuration: one FX provider, one GDELT query that is asked
    // once (no retries), and nothing on a fixed port.
    std::fs::write(
        dir.path().join("signalcraft.toml"),
        "[http]\nlisten = \"127.0.0.1:0\"\n\n\
         [[ingest.fx.providers]]\nkind = \"exchangerate-api\"\n\n\
         [ingest.gdelt]\ntone = false\nhttp = { max_attempts = 1 }\n\n\
         [[ingest.gdelt.queries]]\ntenant_id = \"port\"\nquery = \"vizhinjam\"\n",
    )
    .expect("signalcraft.toml written");

    let replay = dir.path().to_str().expect("utf-8 path");
    let output = signalcraft(&database, &["run", "--replay", replay, "--exit-when-done"]).await;

    let (stdout, stderr) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let section: Vec<&str> = stdout
        .lines()
        .skip_while(|line| line.trim() != "failed polls per source:")
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .collect();
    let count = |source: &str| -> Option<u64> {
        section.iter().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(source)).then(|| words.next().and_then(|n| n.parse().ok())).flatten()
        })
    };
    assert_eq!(count("gdelt"), Some(1), "{stdout}");
    assert_eq!(count("exchangerate-api"), Some(0), "{stdout}");
    // The failure says why, in GDELT's own words.
    assert!(stderr.contains("Please limit requests to one every 5 seconds"), "{stderr}");
}
