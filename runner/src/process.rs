//! The process backend: the program runs as the leader of its own process group, in a working
//! directory of its own, with its output captured. A watchdog sums the resident memory of the group
//! every 50 ms; at the memory or the time limit, or over the output quota, the whole group is
//! killed, and so is anything the program left running when it exits. The kernel bounds its open
//! files (`RLIMIT_NOFILE`) and the size of any file it writes (`RLIMIT_FSIZE`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::logs::Tail;
use crate::{Ending, Outcome, RunSpec, Runner, RunnerError};

/// How often the memory of a run is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct ProcessRunner {
    /// Where each run gets its working directory (removed afterwards).
    pub work_root: PathBuf,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            work_root: std::env::temp_dir(),
        }
    }
}

#[async_trait::async_trait]
impl Runner for ProcessRunner {
    async fn run(&self, spec: &RunSpec) -> Result<Outcome, RunnerError> {
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| RunnerError::Start("no program named".into()))?;
        let workdir =
            self.work_root
                .join(format!("crucible-run-{}-{}", std::process::id(), unique()));
        tokio::fs::create_dir_all(&workdir).await?;
        let started = Instant::now();
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&workdir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &workdir)
            .env("OUTPUT_DIR", &spec.output_dir)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let (open_files, file_bytes) = (spec.limits.open_files, spec.limits.output_bytes);
        // SAFETY: between fork and exec only setrlimit(2) runs, which is async-signal-safe and
        // touches no memory of the parent.
        unsafe {
            command.pre_exec(move || {
                set_limit(libc::RLIMIT_NOFILE, open_files)?;
                set_limit(libc::RLIMIT_FSIZE, file_bytes)
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                let _ = tokio::fs::remove_dir_all(&workdir).await;
                return Err(RunnerError::Start(format!("{program}: {err}")));
            }
        };
        let group = child.id().map(|id| id as i32).unwrap_or_default();
        let tail = Arc::new(Mutex::new(Tail::default()));
        let readers = [
            tokio::spawn(collect(child.stdout.take(), tail.clone())),
            tokio::spawn(collect(child.stderr.take(), tail.clone())),
        ];
        let ending = tokio::select! {
            status = child.wait() => {
                let status = status?;
                match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                    (Some(code), _) => Ending::Exited(i64::from(code)),
                    (None, Some(signal)) => Ending::Signalled(signal),
                    (None, None) => Ending::Signalled(0),
                }
            }
            () = tokio::time::sleep(spec.limits.time) => Ending::TimedOut,
            () = over_memory(group, spec.limits.memory_bytes) => Ending::OutOfMemory,
            () = crate::output::over_quota(&spec.output_dir, spec.limits.output_bytes) => Ending::OutputTooLarge,
        };
        // A file grown to the quota gets SIGXFSZ from the kernel.
        let ending = match ending {
            Ending::Signalled(libc::SIGXFSZ) => Ending::OutputTooLarge,
            Ending::Exited(_)
                if crate::output::used_bytes(&spec.output_dir) >= spec.limits.output_bytes =>
            {
                Ending::OutputTooLarge
            }
            ending => ending,
        };
        // Whatever is left of the group goes, whether the leader ended or was stopped.
        kill_group(group);
        let _ = child.wait().await;
        for reader in readers {
            // A descendant that left the group could hold a pipe open: do not wait for it forever.
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        let _ = tokio::fs::remove_dir_all(&workdir).await;
        let logs = tail.lock().unwrap_or_else(|p| p.into_inner()).text();
        Ok(Outcome {
            ending,
            logs,
            duration: started.elapsed(),
        })
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn collect(stream: Option<impl AsyncRead + Unpin>, tail: Arc<Mutex<Tail>>) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        tail.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(&buffer[..n]);
    }
}

/// Lowers a limit of this process to `value` (never raises it past what it already is).
fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct passed by reference.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let value = value.min(limit.rlim_max);
    limit = libc::rlimit {
        rlim_cur: value.min(limit.rlim_max),
        rlim_max: value,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn kill_group(group: i32) {
    if group > 0 {
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Resolves once the group's resident memory is over `limit` bytes.
async fn over_memory(group: i32, limit: u64) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    loop {
        every.tick().await;
        if group_rss_bytes(group) > limit {
            return;
        }
    }
}

/// The resident memory of every process in `group`, from `/proc`.
pub fn group_rss_bytes(group: i32) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name (which may hold spaces): state is field 3, the process
            // group field 5, the resident pages field 24.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let pgrp: i32 = fields.get(2)?.parse().ok()?;
            let pages: u64 = fields.get(21)?.parse().ok()?;
            (pgrp == group).then_some(pages * page)
        })
        .sum()
}
