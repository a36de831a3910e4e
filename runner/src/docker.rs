//! The Docker backend, through bollard: images are built from a tar build context (never pulled), and
//! each run is a fresh container with no network, a read-only root filesystem but for its output
//! directory (under a quota) and a small `/tmp`, every capability dropped, no new privileges, the
//! engine's default seccomp profile, an unprivileged user, memory, CPU, process and open-file limits,
//! and a hard timeout at which it is killed. Only the end of its log is read. The engine is named by URL
//! (`unix:///var/run/docker.sock`, `tcp://trainer-3:2375`), so trainer hosts can be other machines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, ResourcesUlimits};
use bollard::query_parameters::{
    BuildImageOptions, KillContainerOptions, ListContainersOptionsBuilder, LogsOptions,
    RemoveContainerOptions,
};
use futures::StreamExt;

use crate::logs::Tail;
use crate::{Ending, Outcome, RunSpec, Runner, RunnerError};

/// Where the output directory is mounted inside the container.
pub const OUTPUT_MOUNT: &str = "/output";

/// The exit code of a container whose program was killed with SIGKILL (128 + 9).
const KILLED: i64 = 137;

/// The user the program runs as: `nobody`.
const USER: &str = "65534:65534";

/// How many lines of a container's log are read: the end of it, never the whole.
const LOG_LINES: &str = "2000";

/// The label that names a container's work (`RunSpec::work`).
const WORK_LABEL: &str = "crucible.work";

/// Processes the sandbox user may have at once (`nproc`, counted per user by the kernel, so it
/// is a ceiling across containers; each container's own bound is its pids limit).
const NPROC: i64 = 4096;

/// A built image: its tag and its content digest (the image id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub tag: String,
    pub id: String,
}

#[derive(Clone, Debug)]
pub struct DockerRunner {
    docker: Docker,
    image: String,
}

impl DockerRunner {
    /// Connects to the engine at `url`, or this machine's (`DOCKER_HOST`, else the local socket).
    pub fn connect(url: Option<&str>) -> Result<Docker, RunnerError> {
        Ok(match url {
            Some(url) => Docker::connect_with_host(url)?,
            None => Docker::connect_with_defaults()?,
        })
    }

    /// A runner of containers made from `image`.
    pub fn new(docker: Docker, image: &str) -> Self {
        DockerRunner {
            docker,
            image: image.to_string(),
        }
    }

    /// Builds `context` (a tar holding a `Dockerfile`) as `tag`, with no network, the memory and CPUs
    /// of `limits` (at most 2 GiB: the engine takes a 32-bit figure) and at most `limits.time`; the
    /// build's own error, and the end of its log, are in the message when it fails.
    pub async fn build(
        docker: &Docker,
        tag: &str,
        context: Vec<u8>,
        limits: &crate::Limits,
    ) -> Result<Image, RunnerError> {
        let timeout = limits.time;
        let memory = i32::try_from(limits.memory_bytes).unwrap_or(i32::MAX);
        const CPU_PERIOD: i32 = 100_000;
        let options = BuildImageOptions {
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            networkmode: Some("none".into()),
            memory: Some(memory),
            memswap: Some(memory),
            cpuperiod: Some(CPU_PERIOD),
            cpuquota: Some((limits.cpus * f64::from(CPU_PERIOD)) as i32),
            ..Default::default()
        };
        let mut progress =
            docker.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut log = Tail::default();
        let building = async {
            while let Some(step) = progress.next().await {
                let step =
                    step.map_err(|err| RunnerError::Build(format!("{err}\n{}", log.text())))?;
                if let Some(detail) = step.error_detail {
                    let message = detail.message.unwrap_or_default();
                    return Err(RunnerError::Build(format!("{message}\n{}", log.text())));
                }
                if let Some(line) = step.stream {
                    log.push(line.as_bytes());
                }
            }
            Ok(())
        };
        tokio::time::timeout(timeout, building)
            .await
            .map_err(|_| RunnerError::Build(format!("the build took longer than {timeout:?}")))??;
        let inspected = docker.inspect_image(tag).await?;
        Ok(Image {
            tag: tag.to_string(),
            id: inspected.id.unwrap_or_default(),
        })
    }

    fn container(&self, spec: &RunSpec) -> ContainerCreateBody {
        let mut binds: Vec<String> = spec
            .inputs
            .iter()
            .map(|(host, inside)| format!("{}:{inside}:ro", host.display()))
            .collect();
        binds.push(format!("{}:{OUTPUT_MOUNT}:rw", spec.output_dir.display()));
        let memory = i64::try_from(spec.limits.memory_bytes).unwrap_or(i64::MAX);
        let device_requests = spec.limits.gpus.map(|count| {
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count: Some(count),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        });
        let env = spec
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain([format!("OUTPUT_DIR={OUTPUT_MOUNT}")])
            .collect();
        ContainerCreateBody {
            image: Some(self.image.clone()),
            labels: spec
                .work
                .as_ref()
                .map(|work| HashMap::from([(WORK_LABEL.to_string(), work.clone())])),
            cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
            env: Some(env),
            user: Some(USER.into()),
            working_dir: Some(OUTPUT_MOUNT.into()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("none".into()),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_string(),
                    "rw,noexec,nosuid,size=64m".to_string(),
                )])),
                cap_drop: Some(vec!["ALL".into()]),
                // The engine's default seccomp profile applies as long as none is named here.
                security_opt: Some(vec!["no-new-privileges".into()]),
                ulimits: Some(ulimits(&spec.limits)),
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some((spec.limits.cpus * 1e9) as i64),
                pids_limit: Some(spec.limits.pids),
                device_requests,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Removes the containers an earlier attempt at `work` left behind.
    async fn remove_left_behind(&self, work: &str) -> Result<(), RunnerError> {
        let filters = HashMap::from([("label", vec![format!("{WORK_LABEL}={work}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        for left in self.docker.list_containers(Some(options)).await? {
            if let Some(id) = left.id {
                tracing::warn!(container = %id, %work, "removing a container an earlier attempt left behind");
                remove(&self.docker, &id).await;
            }
        }
        Ok(())
    }

    async fn logs(&self, id: &str) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: LOG_LINES.into(),
            ..Default::default()
        };
        let mut tail = Tail::default();
        let mut stream = self.docker.logs(id, Some(options));
        while let Some(Ok(chunk)) = stream.next().await {
            tail.push(&chunk.into_bytes());
        }
        tail.text()
    }
}

/// The kernel's per-process limits inside the container.
fn ulimits(limits: &crate::Limits) -> Vec<ResourcesUlimits> {
    let limit = |name: &str, value: i64| ResourcesUlimits {
        name: Some(name.into()),
        soft: Some(value),
        hard: Some(value),
    };
    let clamp = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    vec![
        limit("nofile", clamp(limits.open_files)),
        limit("nproc", NPROC),
        limit("fsize", clamp(limits.output_bytes)),
    ]
}

#[async_trait::async_trait]
impl Runner for DockerRunner {
    async fn run(&self, spec: &RunSpec) -> Result<Outcome, RunnerError> {
        // The container's user must be able to write its output.
        std::fs::set_permissions(
            &spec.output_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )?;
        if let Some(work) = &spec.work {
            self.remove_left_behind(work).await?;
        }
        let created = self
            .docker
            .create_container(None, self.container(spec))
            .await?;
        let mut container = Container {
            docker: self.docker.clone(),
            id: created.id,
            removed: false,
        };
        let started = Instant::now();
        let outcome = self.run_created(&container.id, spec, started).await;
        container.remove().await;
        outcome
    }
}

/// A created container, removed when its run ends, and also when the run is dropped before it ends
/// (its job stopped by a server shutting down): then the removal runs on its own, and [`settle`]
/// waits for it.
struct Container {
    docker: Docker,
    id: String,
    removed: bool,
}

/// Removals of containers whose runs were dropped before they ended.
static ABANDONED: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

impl Container {
    async fn remove(&mut self) {
        self.removed = true;
        remove(&self.docker, &self.id).await;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(container = %self.id, "a container outlived its run and no runtime is left to remove it");
            return;
        };
        let (docker, id) = (self.docker.clone(), self.id.clone());
        let removal = runtime.spawn(async move { remove(&docker, &id).await });
        ABANDONED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(removal);
    }
}

async fn remove(docker: &Docker, id: &str) {
    let remove = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    if let Err(err) = docker.remove_container(id, Some(remove)).await {
        tracing::warn!(container = %id, error = %err, "could not remove a finished container");
    }
}

/// Waits until every container whose run was dropped before it ended has been removed. A server calls
/// it after stopping its workers, so that no container outlives it.
pub async fn settle() {
    let removals = std::mem::take(
        &mut *ABANDONED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for removal in removals {
        let _ = removal.await;
    }
}

impl DockerRunner {
    async fn run_created(
        &self,
        id: &str,
        spec: &RunSpec,
        started: Instant,
    ) -> Result<Outcome, RunnerError> {
        self.docker.start_container(id, None).await?;
        let mut waiting = self.docker.wait_container(id, None);
        let quota = spec.limits.output_bytes;
        let (timed_out, over_quota) = tokio::select! {
            _ = waiting.next() => (false, false),
            () = tokio::time::sleep(spec.limits.time) => (true, false),
            () = crate::output::over_quota(&spec.output_dir, quota) => (false, true),
        };
        if timed_out || over_quota {
            let kill = KillContainerOptions {
                signal: "SIGKILL".into(),
            };
            // It may have ended meanwhile; the inspection below tells.
            let _ = self.docker.kill_container(id, Some(kill)).await;
            let _ = self.docker.wait_container(id, None).next().await;
        }
        let state = self.docker.inspect_container(id, None).await?.state;
        let oom = state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false);
        let code = state.as_ref().and_then(|s| s.exit_code).unwrap_or(-1);
        // A file grown to the quota meets the `fsize` limit: SIGXFSZ, or (for the container's first
        // process, which ignores it) a failed write. Output at the quota is output over it.
        let over_quota = over_quota
            || code == 128 + i64::from(libc::SIGXFSZ)
            || crate::output::used_bytes(&spec.output_dir) >= quota;
        let ending = if timed_out {
            Ending::TimedOut
        } else if over_quota {
            Ending::OutputTooLarge
        } else if oom || code == KILLED {
            // The engine's OOMKilled flag misses some kills on cgroup v2 (it comes from an event
            // that can lose the race with the exit). The runner sends SIGKILL only at the time
            // limit or over the output quota, both handled above, and the sandboxed user can signal no other process: a SIGKILL
            // here is the kernel's OOM killer, or the program killing itself.
            Ending::OutOfMemory
        } else if code > 128 {
            Ending::Signalled((code - 128) as i32)
        } else {
            Ending::Exited(code)
        };
        Ok(Outcome {
            ending,
            logs: self.logs(id).await,
            duration: started.elapsed(),
        })
    }
}
