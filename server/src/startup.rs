//! Opening the platform's outside systems from the configuration.

use std::sync::Arc;

use domain::Platform;
use domain::db::Database;
use domain::storage::{LinkSigner, LocalStore, ObjectStore, S3Store};

use crate::CliError;
use crate::config::{DatasetArgs, StorageArgs, StorageTarget};

/// The database named by the arguments, migrated; the data directory is created for SQLite.
pub async fn database(args: &StorageArgs) -> Result<Database, CliError> {
    let url = args.database_url()?;
    if url.backend() == domain::db::Backend::Sqlite {
        tokio::fs::create_dir_all(&args.data_dir)
            .await
            .map_err(|err| {
                CliError::Config(format!(
                    "cannot create the data directory {}: {err}",
                    args.data_dir.display()
                ))
            })?;
    }
    Ok(Database::connect(&url).await?)
}

/// Everything a server needs: database, object store and signing key. `public_url` is where signed
/// links to local objects point.
pub async fn platform(
    args: &StorageArgs,
    datasets: &DatasetArgs,
    public_url: &str,
) -> Result<Platform, CliError> {
    let db = database(args).await?;
    let signing_key = domain::platform::signing_key(&db).await?;
    let store: Arc<dyn ObjectStore> = match args.storage_target()? {
        StorageTarget::Local(root) => {
            let links = LinkSigner::new(signing_key.clone(), public_url);
            Arc::new(LocalStore::open(&root, links).await.map_err(|err| {
                CliError::Config(format!(
                    "cannot open the object directory {}: {err}",
                    root.display()
                ))
            })?)
        }
        StorageTarget::S3(config) => Arc::new(S3Store::new(config)),
    };
    let (dataset_limits, upload_limits) = datasets.limits();
    let identity = domain::platform::derived_identity(&signing_key);
    let key_file = args
        .secrets_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("secrets.key"));
    let vault = domain::vault::Vault::open_or_create(&key_file).map_err(|err| {
        CliError::Config(format!("the secrets key {}: {err}", key_file.display()))
    })?;
    Ok(Platform {
        db,
        store,
        signing_key,
        dataset_limits,
        job_lease_ms: datasets.job_lease_ms,
        upload_limits,
        scheduling: datasets.scheduling(),
        offer_watch: Default::default(),
        evaluator: None,
        leaderboards: Default::default(),
        trainers: None,
        tournament_schedule: Default::default(),
        webhook_reach: Default::default(),
        identity,
        vault,
        queue_workers: Vec::new(),
    })
}

/// The trainer host the arguments name (`--trainers local` or a Docker engine's URL); none without.
pub fn trainers(
    args: &crate::config::ServeArgs,
) -> Result<Option<domain::tournaments::Trainers>, CliError> {
    let Some(url) = args.tournaments.trainers.as_deref() else {
        return Ok(None);
    };
    let url = (url != "local").then_some(url);
    let docker = runner::DockerRunner::connect(url)
        .map_err(|err| CliError::Config(format!("the trainer host's Docker engine: {err}")))?;
    let t = &args.tournaments;
    Ok(Some(domain::tournaments::Trainers {
        docker,
        limits: runner::Limits {
            memory_bytes: t.trainer_mib << 20,
            cpus: t.trainer_cpus,
            output_bytes: t.trainer_output_mib << 20,
            ..Default::default()
        },
        build_timeout: std::time::Duration::from_secs(t.recipe_build_secs),
        max_recipe_bytes: t.max_recipe_mib << 20,
        allowed_bases: t.recipe_base_images.clone(),
    }))
}

/// The evaluator the arguments name, on the runner they choose; none without `--evaluator`.
pub fn evaluator(
    args: &crate::config::ServeArgs,
) -> Result<Option<domain::evaluation::Evaluator>, CliError> {
    use crate::config::RunnerKind;
    let Some(words) = args.evaluator.as_deref() else {
        return Ok(None);
    };
    let mut words: Vec<String> = words.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        return Err(CliError::Config(
            "--evaluator is empty: name a program or an image".into(),
        ));
    }
    if args.evaluation_gpus < -1 {
        return Err(CliError::Config(
            "--evaluation-gpus is a number of GPUs, or -1 for all of them".into(),
        ));
    }
    if args.evaluation_gpus != 0 && !matches!(args.runner, RunnerKind::Docker) {
        return Err(CliError::Config(
            "--evaluation-gpus asks the Docker engine for GPUs: use it with --runner docker".into(),
        ));
    }
    let limits = runner::Limits {
        time: std::time::Duration::from_secs(args.evaluation_secs),
        memory_bytes: args.evaluation_mib << 20,
        gpus: (args.evaluation_gpus != 0).then_some(args.evaluation_gpus),
        ..Default::default()
    };
    let (runner, in_container): (Arc<dyn runner::Runner>, bool) = match args.runner {
        RunnerKind::Process => (Arc::new(runner::ProcessRunner::default()), false),
        RunnerKind::Docker => {
            let image = words.remove(0);
            let docker = runner::DockerRunner::connect(args.docker_url.as_deref())
                .map_err(|err| CliError::Config(format!("the Docker engine: {err}")))?;
            (Arc::new(runner::DockerRunner::new(docker, &image)), true)
        }
    };
    let base_models = args
        .base_models
        .clone()
        .unwrap_or_else(|| args.storage.data_dir.join("base-models"));
    // Absolute: the evaluator runs in a directory of its own (and a container mounts host paths), so
    // a relative path would make every evaluation fail as the platform's fault.
    let base_models = std::path::absolute(&base_models).map_err(|err| {
        CliError::Config(format!("--base-models {}: {err}", base_models.display()))
    })?;
    let families = if in_container {
        None
    } else {
        families_of(&words)
    };
    Ok(Some(domain::evaluation::Evaluator {
        runner,
        command: words,
        in_container,
        limits,
        base_models,
        families,
    }))
}

/// The families an evaluator program reads, when it says (`crucible-eval --families` prints them as a
/// JSON list); `None` for one that does not, or that has not answered within five seconds (it is killed).
fn families_of(command: &[String]) -> Option<Vec<String>> {
    use std::io::Read;
    let mut child = std::process::Command::new(&command[0])
        .args(&command[1..])
        .arg("--families")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut stdout = Vec::new();
    child.stdout.take()?.read_to_end(&mut stdout).ok()?;
    if !status.success() {
        return None;
    }
    serde_json::from_slice(&stdout).ok()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::{Cli, Command};

    #[test]
    fn an_evaluator_that_does_not_say_its_families_is_taken_on_trust() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A program that prints no list, one that fails, and one that never answers (killed).
        assert_eq!(super::families_of(&words(&["echo"])), None);
        assert_eq!(super::families_of(&words(&["false"])), None);
        let started = std::time::Instant::now();
        let silent = words(&["sh", "-c", "sleep 60", "evaluator"]);
        assert_eq!(super::families_of(&silent), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let listed = super::families_of(&words(&["sh", "-c", "echo '[\"qwen2\"]'", "evaluator"]));
        assert_eq!(listed, Some(vec!["qwen2".to_string()]));
    }

    #[test]
    fn gpus_are_asked_of_the_docker_engine_only() {
        let parse = |extra: &[&str]| {
            let mut words = vec!["crucible", "serve", "--evaluator", "crucible-eval"];
            words.extend(extra);
            let Command::Serve(args) = Cli::try_parse_from(words).unwrap().command else {
                panic!("not serve");
            };
            args
        };
        let refused = super::evaluator(&parse(&["--evaluation-gpus", "1"])).unwrap_err();
        assert!(refused.to_string().contains("--runner docker"), "{refused}");
        let refused = super::evaluator(&parse(&["--evaluation-gpus", "-2"])).unwrap_err();
        assert!(refused.to_string().contains("-1 for all"), "{refused}");
        let none = super::evaluator(&parse(&[])).unwrap().unwrap();
        assert_eq!(none.limits.gpus, None);
    }

    #[test]
    fn a_relative_base_model_directory_is_made_absolute_for_the_evaluator() {
        let cli = Cli::try_parse_from([
            "crucible",
            "serve",
            "--evaluator",
            "crucible-eval",
            "--base-models",
            "models",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let evaluator = super::evaluator(&args).unwrap().unwrap();
        assert!(
            evaluator.base_models.is_absolute() && evaluator.base_models.ends_with("models"),
            "{}",
            evaluator.base_models.display()
        );
    }
}
