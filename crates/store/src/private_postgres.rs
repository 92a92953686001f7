//! A private PostgreSQL server started from the machine's own PostgreSQL binaries: what
//! `signalcraft run` uses when no database URL is configured, and what tests use when
//! `DATABASE_URL` is not set. It listens on 127.0.0.1 on a free port and trusts local
//! connections; it is for one machine, never for production.
//!
//! initdb refuses to run as root, so under root every server command runs as the `postgres`
//! user (through `runuser`) and the data directory is handed to that user. When that user
//! cannot reach the directory asked for (a clone under root's 0700 home), the cluster is kept
//! under [`ROOT_FALLBACK_DIR`] instead, in a directory named after the one asked for, and a
//! file `cluster-location` in the directory asked for says where.

use std::{
    net::TcpListener,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use sqlx::{Connection, PgConnection};

/// Where root keeps private clusters the `postgres` user could not reach where they were asked for.
pub const ROOT_FALLBACK_DIR: &str = "/var/lib/signalcraft/postgres";

/// Names the file, in the directory asked for, that says where the cluster really lives.
const LOCATION_NOTE: &str = "cluster-location";

/// Why the private server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PrivatePostgresError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin. \
         Install the Debian/Ubuntu package `postgresql` (apt-get install postgresql), or set DATABASE_URL \
         to use an existing server"
    )]
    BinariesMissing,
    #[error("running as root needs a `postgres` system user to own the private database (initdb refuses root): {0}")]
    NoPostgresUser(String),
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("preparing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("connecting to the private server: {0}")]
    Connect(#[from] sqlx::Error),
}

/// A running private server. Dropping it stops the server (and removes a temporary directory).
pub struct PrivatePostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as: Option<String>,
    port: u16,
    database: String,
    /// Whether this handle started the server and so stops it when dropped; a handle attached
    /// to a server another process runs leaves it running.
    owned: bool,
    _temp: Option<tempfile::TempDir>,
}

impl PrivatePostgres {
    /// Starts (creating it on first use) a server whose files live under `base_dir`, with a
    /// database named `database`. Durable settings: data written survives a restart.
    pub async fn start(base_dir: &Path, database: &str) -> Result<Self, PrivatePostgresError> {
        Self::start_in(base_dir.to_path_buf(), None, database, false).await
    }

    /// Connects to the server a running `signalcraft run` keeps under `base_dir`, or starts one
    /// when none runs: for commands (`watch`, `migrate`) that must not take the server away
    /// from a pipeline using it. An attached server is left running when the handle is dropped.
    pub async fn attach_or_start(base_dir: &Path, database: &str) -> Result<Self, PrivatePostgresError> {
        match Self::attach(base_dir, database).await {
            Some(attached) => Ok(attached),
            None => Self::start(base_dir, database).await,
        }
    }

    /// The server another process runs under `base_dir`, if one runs and answers; left running
    /// when the handle is dropped.
    pub async fn attach(base_dir: &Path, database: &str) -> Option<Self> {
        let bin_dir = find_bin_dir()?;
        let run_as = if is_root() { Some("postgres".to_string()) } else { None };
        let base_dir = std::fs::read_to_string(base_dir.join(LOCATION_NOTE))
            .ok()
            .map(|text| PathBuf::from(text.trim()))
            .unwrap_or_else(|| base_dir.to_path_buf());
        let data_dir = base_dir.join("data");
        let pid_file = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
        let port = pid_file.lines().nth(3).and_then(|line| line.trim().parse::<u16>().ok())?;
        let attached = PrivatePostgres {
            bin_dir,
            data_dir,
            run_as,
            port,
            database: database.to_string(),
            owned: false,
            _temp: None,
        };
        if !attached.pg_ctl_status_running() {
            return None;
        }
        let connection = PgConnection::connect(&attached.url()).await.ok()?;
        let _ = connection.close().await;
        tracing::info!(port = attached.port, "attached to the running private PostgreSQL");
        Some(attached)
    }

    /// Starts a throwaway server in a new temporary directory, tuned for speed over durability
    /// (fsync off): for tests and benchmarks.
    pub async fn start_temporary(database: &str) -> Result<Self, PrivatePostgresError> {
        let temp = tempfile::Builder::new()
            .prefix("signalcraft-pg-")
            .tempdir()
            .map_err(|source| PrivatePostgresError::Io { path: std::env::temp_dir(), source })?;
        let base = temp.path().to_path_buf();
        Self::start_in(base, Some(temp), database, true).await
    }

    async fn start_in(
        base_dir: PathBuf,
        temp: Option<tempfile::TempDir>,
        database: &str,
        fast: bool,
    ) -> Result<Self, PrivatePostgresError> {
        let bin_dir = find_bin_dir().ok_or(PrivatePostgresError::BinariesMissing)?;
        let run_as = if is_root() { Some("postgres".to_string()) } else { None };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PrivatePostgresError::Io { path, source }
        };
        std::fs::create_dir_all(&base_dir).map_err(io(&base_dir))?;
        let mut base_dir = base_dir.canonicalize().map_err(io(&base_dir))?;
        if let Some(user) = &run_as {
            let (uid, gid) = postgres_user_ids()?;
            // Its own mode is set below; what matters is whether every parent lets the user through.
            if !base_dir.parent().is_none_or(|parent| user_can_enter(user, parent)) {
                let elsewhere = fallback_dir(&base_dir);
                tracing::info!(
                    asked = %base_dir.display(),
                    cluster = %elsewhere.display(),
                    "the postgres user cannot reach the private PostgreSQL's directory (a parent is closed to it); \
                     keeping the cluster under {} instead",
                    elsewhere.display()
                );
                let note = base_dir.join(LOCATION_NOTE);
                std::fs::write(&note, format!("{}\n", elsewhere.display())).map_err(io(&note))?;
                std::fs::create_dir_all(&elsewhere).map_err(io(&elsewhere))?;
                base_dir = elsewhere;
            }
            std::os::unix::fs::chown(&base_dir, Some(uid), Some(gid)).map_err(io(&base_dir))?;
            // The server user must be able to reach the directory.
            std::fs::set_permissions(&base_dir, std::fs::Permissions::from_mode(0o755)).map_err(io(&base_dir))?;
        }
        let data_dir = base_dir.join("data");
        let mut server = PrivatePostgres {
            bin_dir,
            data_dir,
            run_as,
            port: 0,
            database: database.to_string(),
            owned: true,
            _temp: temp,
        };

        if !server.data_dir.join("PG_VERSION").exists() {
            let data = server.data_dir.display().to_string();
            server.run(
                "initdb",
                &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            )?;
        } else if server.pg_ctl_status_running() {
            // Left running by a process that was killed: take it over on a fresh port.
            let data = server.data_dir.display().to_string();
            server.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w"])?;
        }

        server.port = free_port().map_err(io(&base_dir))?;
        let mut options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", server.port, base_dir.display());
        if fast {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let data = server.data_dir.display().to_string();
        let log = base_dir.join("postgres.log").display().to_string();
        server.run("pg_ctl", &["start", "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options])?;

        let mut admin = PgConnection::connect(&server.url_for("postgres")).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(database)
            .fetch_optional(&mut admin)
            .await?;
        if exists.is_none() {
            // Identifiers cannot be bound as parameters; quote it as an identifier instead.
            let quoted = format!("\"{}\"", database.replace('"', "\"\""));
            sqlx::query(&format!("CREATE DATABASE {quoted}")).execute(&mut admin).await?;
        }
        admin.close().await?;
        tracing::info!(port = server.port, data_dir = %server.data_dir.display(), "private PostgreSQL started");
        Ok(server)
    }

    /// Connection URL of the database.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// Connection URL of another database on the same server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`), as a crash or an outage would;
    /// [`PrivatePostgres::restart`] brings it back on the same port. For outage tests.
    pub fn stop(&self) -> Result<(), PrivatePostgresError> {
        let data = self.data_dir.display().to_string();
        self.run("pg_ctl", &["stop", "-D", &data, "-m", "immediate", "-w", "-t", "30"])
    }

    /// Starts again a server [`PrivatePostgres::stop`] stopped, on the same port and with the
    /// settings it was started with.
    pub fn restart(&self) -> Result<(), PrivatePostgresError> {
        let base_dir = self.data_dir.parent().unwrap_or(&self.data_dir);
        let mut options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, base_dir.display());
        // Temporary servers are the fast ones (see `start_temporary`).
        if self._temp.is_some() {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let data = self.data_dir.display().to_string();
        let log = base_dir.join("postgres.log").display().to_string();
        self.run("pg_ctl", &["start", "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options])
    }

    fn pg_ctl_status_running(&self) -> bool {
        let data = self.data_dir.display().to_string();
        self.command("pg_ctl", &["status", "-D", &data]).output().map(|o| o.status.success()).unwrap_or(false)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program).args(args);
                command
            }
            None => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), PrivatePostgresError> {
        let action = format!("{program} {}", args.first().copied().unwrap_or_default());
        let output = self
            .command(program, args)
            .output()
            .map_err(|error| PrivatePostgresError::Command { action: action.clone(), detail: error.to_string() })?;
        if output.status.success() {
            Ok(())
        } else {
            let detail = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            Err(PrivatePostgresError::Command { action, detail })
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let data = self.data_dir.display().to_string();
        if let Err(error) = self.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w", "-t", "30"]) {
            tracing::warn!(%error, "private PostgreSQL did not stop cleanly");
        }
    }
}

/// The first directory holding both initdb and pg_ctl: PATH first, then Debian's layout
/// (newest version first).
fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|dir| has_both(dir)) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// Whether `user` can pass through `dir` (and every parent of it): asked of the system as that
/// user, which also covers ACLs and group membership.
fn user_can_enter(user: &str, dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", user, "--", "test", "-x"])
        .arg(dir)
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

/// The directory under [`ROOT_FALLBACK_DIR`] for a cluster asked for at `asked`: named after
/// its last components and a digest of the whole path, so two clones keep two clusters and the
/// same clone finds its own again.
fn fallback_dir(asked: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(asked.as_os_str().as_encoded_bytes());
    let label: String = asked
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    Path::new(ROOT_FALLBACK_DIR).join(format!("{label}-{}", hex::encode(&digest[..6])))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_user_ids() -> Result<(u32, u32), PrivatePostgresError> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(|e| PrivatePostgresError::NoPostgresUser(e.to_string()))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .ok_or_else(|| PrivatePostgresError::NoPostgresUser("no `postgres` entry in /etc/passwd".into()))
}

/// A port free right now on 127.0.0.1 (the server binds it a moment later).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
