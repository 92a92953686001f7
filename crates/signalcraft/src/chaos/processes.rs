//! The processes a chaos run or a latency run stands on: a broker process (`signalcraft
//! broker`) that outlives the roles, the roles themselves (`signalcraft run --role …`, each a
//! process of its own), started, SIGKILLed, restarted and stopped with SIGTERM, and measured
//! from /proc before each end: peak RSS (`VmHWM`, the most over its lives) and CPU time
//! (utime + stime, summed over its lives).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A role of the pipeline, as `run --role` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Ingest,
    Process,
    Sink,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Ingest, Role::Process, Role::Sink];

    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Process => "process",
            Role::Sink => "sink",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What /proc says about a process: peak resident set (kB) and CPU time (clock ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub peak_rss_kb: u64,
    pub cpu_ticks: u64,
}

/// Reads `VmHWM` and utime + stime of `pid`; `None` once it is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_rss_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at its closing parenthesis;
    // utime and stime are fields 14 and 15 of the line, 12th and 13th after it.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |index: usize| fields.get(index).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(Usage { peak_rss_kb, cpu_ticks: tick(11).saturating_add(tick(12)) })
}

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// Sends SIGTERM to `pid` (the `kill` command: no signal crate for one call).
fn terminate(pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    Ok(())
}

/// A broker process of its own (`signalcraft broker`), so it outlives the roles killed around it.
pub struct BrokerProcess {
    child: Child,
    bootstrap: String,
}

impl BrokerProcess {
    /// Starts `binary broker --partitions N` and reads the bootstrap address it prints.
    pub async fn start(binary: &Path, partitions: i32) -> anyhow::Result<BrokerProcess> {
        let mut child = Command::new(binary)
            .args(["broker", "--partitions", &partitions.to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} broker", binary.display()))?;
        let stdout = child.stdout.take().context("the broker's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let bootstrap = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the broker printed no address within 30 s")??
            .context("the broker exited before printing its address")?;
        // Keep reading (and dropping) whatever else it prints, so it never blocks on a pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(BrokerProcess { child, bootstrap: bootstrap.trim().to_string() })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    pub fn usage(&self) -> Option<Usage> {
        self.child.id().and_then(usage)
    }

    /// Stops the broker (SIGTERM), after the roles that use it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = terminate(pid);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// How one role fared over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleRecord {
    /// Processes started (the first included).
    pub starts: u32,
    /// SIGKILLs the harness sent.
    pub kills: u32,
    /// Times it exited without being asked (and was started again).
    pub unplanned_exits: u32,
    /// Largest `VmHWM` of any of its processes, kB.
    pub peak_rss_kb: u64,
    /// CPU time of all its processes, clock ticks.
    pub cpu_ticks: u64,
    /// Whether its last process stopped cleanly on SIGTERM.
    pub clean_stop: bool,
}

/// One running role process and what its earlier lives used.
struct RoleSlot {
    child: Option<Child>,
    /// The last /proc reading of the current process.
    current: Usage,
    record: RoleRecord,
}

/// The roles of one pipeline, each a process of the real binary, on one broker and database.
pub struct Pipeline {
    name: String,
    binary: PathBuf,
    broker: String,
    database_url: String,
    env: Vec<(String, String)>,
    replay: Option<PathBuf>,
    log_dir: PathBuf,
    slots: BTreeMap<Role, RoleSlot>,
}

impl Pipeline {
    /// A pipeline named `name` (its logs are `log_dir/<name>-<role>.log`); `env` is added to
    /// every role's environment (`SIGNALCRAFT_*` overrides); `replay` is what the ingest role
    /// replays.
    pub fn new(
        name: &str,
        binary: &Path,
        broker: &str,
        database_url: &str,
        env: Vec<(String, String)>,
        replay: Option<PathBuf>,
        log_dir: &Path,
    ) -> Pipeline {
        Pipeline {
            name: name.to_string(),
            binary: binary.to_path_buf(),
            broker: broker.to_string(),
            database_url: database_url.to_string(),
            env,
            replay,
            log_dir: log_dir.to_path_buf(),
            slots: BTreeMap::new(),
        }
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Starts `role` (again).
    pub fn start(&mut self, role: Role) -> anyhow::Result<()> {
        let log_path = self.log_dir.join(format!("{}-{role}.log", self.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut command = Command::new(&self.binary);
        command.arg("run").args(["--role", role.name()]);
        if let (Role::Ingest, Some(replay)) = (role, &self.replay) {
            command.arg("--replay").arg(replay);
        }
        command
            .env("SIGNALCRAFT_KAFKA__BROKERS", &self.broker)
            .env("SIGNALCRAFT_KAFKA__SESSION_TIMEOUT_MS", "3000")
            .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn,librdkafka=error")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting the {role} role"))?;
        let slot = self.slots.entry(role).or_insert_with(|| RoleSlot {
            child: None,
            current: Usage::default(),
            record: RoleRecord::default(),
        });
        slot.child = Some(child);
        slot.current = Usage::default();
        slot.record.starts += 1;
        Ok(())
    }

    /// Starts every role in `roles`.
    pub fn start_all(&mut self, roles: &[Role]) -> anyhow::Result<()> {
        for &role in roles {
            self.start(role)?;
        }
        Ok(())
    }

    /// Reads /proc for every running role (peak RSS and CPU so far).
    pub fn sample(&mut self) {
        for slot in self.slots.values_mut() {
            if let Some(reading) = slot.child.as_ref().and_then(Child::id).and_then(usage) {
                slot.current = reading;
                slot.record.peak_rss_kb = slot.record.peak_rss_kb.max(reading.peak_rss_kb);
            }
        }
    }

    /// The process id of `role`, while it runs.
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.slots.get(&role)?.child.as_ref()?.id()
    }

    /// Folds the current process's last reading into the record, once it is gone.
    fn retire(slot: &mut RoleSlot) {
        slot.record.cpu_ticks = slot.record.cpu_ticks.saturating_add(slot.current.cpu_ticks);
        slot.current = Usage::default();
        slot.child = None;
    }

    /// SIGKILLs `role` (measured just before) and waits until it is gone.
    pub async fn kill(&mut self, role: Role) -> anyhow::Result<()> {
        self.sample();
        let slot = self.slots.get_mut(&role).context("the role never started")?;
        if let Some(child) = slot.child.as_mut() {
            child.start_kill().context("SIGKILL")?;
            child.wait().await.context("waiting for the killed role")?;
        }
        slot.record.kills += 1;
        Self::retire(slot);
        Ok(())
    }

    /// Roles that exited without being asked: counted, and started again. Returns how many.
    pub fn restart_exited(&mut self) -> anyhow::Result<u32> {
        self.sample();
        let mut exited = Vec::new();
        for (role, slot) in &mut self.slots {
            let gone = match slot.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten().is_some(),
                None => false,
            };
            if gone {
                slot.record.unplanned_exits += 1;
                Self::retire(slot);
                exited.push(*role);
            }
        }
        for role in &exited {
            tracing::warn!(pipeline = %self.name, %role, "a role exited on its own; starting it again");
            self.start(*role)?;
        }
        Ok(exited.len() as u32)
    }

    /// Stops every role with SIGTERM (the sink last, so it writes what the others flushed) and
    /// records whether each exited cleanly within 30 s.
    pub async fn stop_all(&mut self) {
        self.sample();
        for role in [Role::Ingest, Role::Process, Role::Sink] {
            let Some(slot) = self.slots.get_mut(&role) else { continue };
            let Some(child) = slot.child.as_mut() else { continue };
            let clean = match child.id() {
                Some(pid) if terminate(pid).is_ok() => {
                    matches!(tokio::time::timeout(Duration::from_secs(30), child.wait()).await, Ok(Ok(status)) if status.success())
                }
                _ => false,
            };
            if !clean {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            slot.record.clean_stop = clean;
            Self::retire(slot);
        }
    }

    /// What each role did, so far.
    pub fn records(&self) -> BTreeMap<Role, RoleRecord> {
        self.slots
            .iter()
            .map(|(role, slot)| {
                let mut record = slot.record.clone();
                record.cpu_ticks = record.cpu_ticks.saturating_add(slot.current.cpu_ticks);
                (*role, record)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        let reading = usage(std::process::id()).expect("our own /proc entry");
        assert!(reading.peak_rss_kb > 0);
        assert!(usage(u32::MAX).is_none(), "no such process");
        assert!(ticks_per_second() > 0);
    }
}
