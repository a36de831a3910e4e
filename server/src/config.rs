//! Typed configuration: every option of every command, from flags or `CRUCIBLE_*` environment
//! variables, documented here and in `--help` (README's "Configuration" section repeats it).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::db::DatabaseUrl;
use domain::secret::Secret;
use domain::storage::S3Config;

use crate::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "crucible",
    version,
    about = "Fine-tuning jobs decided by competition"
)]
pub struct Cli {
    /// Log lines as human-readable text or as JSON objects.
    #[arg(long, global = true, env = "CRUCIBLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server and the background workers.
    Serve(ServeArgs),
    /// Manage accounts from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Work with dataset files locally.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Recompute the weights from an audit export (`GET /api/v1/audit/export`) alone, print them, and
    /// fail if they differ from the weights the export publishes.
    Audit {
        #[arg(long)]
        export: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// Validate and split a file as the platform would, printing the report as JSON: check a file before
    /// uploading it (and the benchmark's measure).
    Check {
        file: PathBuf,
        #[arg(long)]
        task_type: String,
        /// ROLE=COLUMN, repeated; the suggested mapping when left out.
        #[arg(long = "map")]
        mappings: Vec<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the normalised training rows here.
        #[arg(long)]
        train_out: Option<PathBuf>,
        /// Write the normalised test rows here.
        #[arg(long)]
        test_out: Option<PathBuf>,
        #[arg(long, default_value_t = 2_000)]
        min_rows: u64,
    },
}

/// Where the platform keeps its data; every command takes these.
#[derive(Clone, Debug, Args)]
pub struct StorageArgs {
    /// Directory for the embedded SQLite database and stored objects.
    #[arg(long, env = "CRUCIBLE_DATA_DIR", default_value = "crucible-data")]
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite under the data directory.
    #[arg(long, env = "CRUCIBLE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// `s3://BUCKET[/PREFIX]?endpoint=URL&region=R` to keep objects in S3 instead of the data directory.
    /// Credentials come from CRUCIBLE_S3_ACCESS_KEY_ID and CRUCIBLE_S3_SECRET_ACCESS_KEY (or the AWS_ ones).
    #[arg(long, env = "CRUCIBLE_STORAGE")]
    pub storage: Option<String>,
    /// The file holding the key that seals secrets kept in the database (webhook secrets); made on
    /// first start when absent. Default DATA_DIR/secrets.key; replicas sharing a database must
    /// share it too.
    #[arg(long, env = "CRUCIBLE_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunnerKind {
    /// Local processes with time and memory limits.
    Process,
    /// Docker engines through their API.
    Docker,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "CRUCIBLE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// The URL people and miners reach this server at, for links it hands out; default `http://ADDR`.
    #[arg(long, env = "CRUCIBLE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where evaluators and tournament recipes run.
    #[arg(long, env = "CRUCIBLE_RUNNER", value_enum, default_value_t = RunnerKind::Process)]
    pub runner: RunnerKind,
    /// The Docker engine for `--runner docker` (`unix:///var/run/docker.sock`, `tcp://host:2375`);
    /// default: DOCKER_HOST or the local socket.
    #[arg(long, env = "CRUCIBLE_DOCKER_URL")]
    pub docker_url: Option<String>,
    /// The evaluator (docs/evaluator.md): a program and its first arguments for the process runner, or
    /// an image (then its arguments) for Docker. Without one, tasks wait in `preevaluation`.
    #[arg(long, env = "CRUCIBLE_EVALUATOR")]
    pub evaluator: Option<String>,
    /// Base models in the Hugging Face layout, one directory per model id; default DATA_DIR/base-models.
    #[arg(long, env = "CRUCIBLE_BASE_MODELS")]
    pub base_models: Option<PathBuf>,
    /// How long one evaluation may run, in seconds.
    #[arg(long, env = "CRUCIBLE_EVALUATION_SECS", default_value_t = 3600)]
    pub evaluation_secs: u64,
    /// How much memory one evaluation may use, in MiB.
    #[arg(long, env = "CRUCIBLE_EVALUATION_MIB", default_value_t = 8192)]
    pub evaluation_mib: u64,
    /// GPUs each evaluation container asks the Docker engine for (`--runner docker` only): 0 for none,
    /// -1 for every GPU the engine has.
    #[arg(
        long,
        env = "CRUCIBLE_EVALUATION_GPUS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub evaluation_gpus: i64,
    /// The built web assets (`pkg/` with the wasm, JS and CSS), as `cargo leptos build` writes them.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// How long a connection may take to send a request's headers, in seconds, counted from when the
    /// server waits for them: slower, or idle that long between requests, and it is closed.
    #[arg(long, env = "CRUCIBLE_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,
    /// Mark the session cookie `Secure` (set when the server is behind HTTPS).
    #[arg(long, env = "CRUCIBLE_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Deliver webhooks to loopback and private addresses too: for tests and local development only,
    /// since a customer's URL could then reach this network's own services.
    #[arg(long, env = "CRUCIBLE_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// This deployment's SS58 identity: a miner request with `Epistula-Signed-For` must name it.
    /// Default: an address derived from the deployment's signing key (`GET /api/v1/miner/identity`).
    #[arg(long, env = "CRUCIBLE_IDENTITY", value_parser = hotkey)]
    pub identity: Option<domain::miners::Hotkey>,
    #[command(flatten)]
    pub datasets: DatasetArgs,
    #[command(flatten)]
    pub tournaments: TournamentArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Rate limits: each a burst of that many, refilled evenly over a minute.
#[derive(Clone, Copy, Debug, Args)]
pub struct LimitArgs {
    /// Sign-in attempts one client address may make a minute.
    #[arg(long, env = "CRUCIBLE_SIGN_INS_PER_MINUTE", default_value_t = 30)]
    pub sign_ins_per_minute: u32,
    /// Sign-ups one client address may make a minute.
    #[arg(long, env = "CRUCIBLE_SIGN_UPS_PER_MINUTE", default_value_t = 20)]
    pub sign_ups_per_minute: u32,
    /// Requests one account may make a minute with its API keys.
    #[arg(
        long,
        env = "CRUCIBLE_API_REQUESTS_PER_MINUTE",
        default_value_t = 1_200
    )]
    pub api_requests_per_minute: u32,
    /// Tasks one account may create a minute.
    #[arg(long, env = "CRUCIBLE_TASKS_PER_MINUTE", default_value_t = 60)]
    pub tasks_per_minute: u32,
}

impl LimitArgs {
    pub fn allowances(&self) -> crate::http::rate_limits::Allowances {
        use crate::http::rate_limits::{Allowances, PerMinute};
        Allowances {
            sign_in_per_ip: PerMinute(self.sign_ins_per_minute),
            sign_up_per_ip: PerMinute(self.sign_ups_per_minute),
            api_key_per_account: PerMinute(self.api_requests_per_minute),
            tasks_per_account: PerMinute(self.tasks_per_minute),
        }
    }
}

/// Where tournament recipes run, and when tournaments open.
#[derive(Clone, Debug, Args)]
pub struct TournamentArgs {
    /// The trainer host's Docker engine, where recipes are built and run: `local` for this machine's,
    /// or a URL (`tcp://trainer-1:2375`). Without one, the platform runs no tournaments.
    #[arg(long, env = "CRUCIBLE_TRAINERS")]
    pub trainers: Option<String>,
    /// Memory of one recipe run, in MiB.
    #[arg(long, env = "CRUCIBLE_TRAINER_MIB", default_value_t = 8192)]
    pub trainer_mib: u64,
    /// CPUs of one recipe run.
    #[arg(long, env = "CRUCIBLE_TRAINER_CPUS", default_value_t = 2.0)]
    pub trainer_cpus: f64,
    /// How many recipe builds and runs the trainer host takes at once (its trainer queue's workers).
    #[arg(long, env = "CRUCIBLE_TRAINER_SLOTS", default_value_t = 1)]
    pub trainer_slots: usize,
    /// How long a recipe's image may take to build, in seconds.
    #[arg(long, env = "CRUCIBLE_RECIPE_BUILD_SECS", default_value_t = 600)]
    pub recipe_build_secs: u64,
    /// The largest recipe build context taken, in MiB.
    #[arg(long, env = "CRUCIBLE_MAX_RECIPE_MIB", default_value_t = 512)]
    pub max_recipe_mib: u64,
    /// The most one recipe run may write (its model), in MiB; beyond it the run is stopped.
    #[arg(long, env = "CRUCIBLE_TRAINER_OUTPUT_MIB", default_value_t = 65_536)]
    pub trainer_output_mib: u64,
    /// Base images recipes may build FROM besides `scratch`, comma-separated, each pinned by digest
    /// (`name@sha256:…`); they must already be on the trainer host, as nothing is pulled.
    #[arg(long, env = "CRUCIBLE_RECIPE_BASE_IMAGES", value_delimiter = ',', value_parser = pinned_image)]
    pub recipe_base_images: Vec<String>,
    /// How long a tournament takes entries, in seconds.
    #[arg(
        long,
        env = "CRUCIBLE_TOURNAMENT_REGISTRATION_SECS",
        default_value_t = 86_400
    )]
    pub tournament_registration_secs: u64,
    /// Fewer entrants than this when registration closes, and it is extended.
    #[arg(long, env = "CRUCIBLE_TOURNAMENT_MIN_ENTRANTS", default_value_t = 8)]
    pub tournament_min_entrants: usize,
    /// How many times registration is extended before the tournament is cancelled.
    #[arg(
        long,
        env = "CRUCIBLE_TOURNAMENT_REGISTRATION_RETRIES",
        default_value_t = 3
    )]
    pub tournament_registration_retries: i64,
    /// How long after a tournament ends the next opens, in seconds.
    #[arg(long, env = "CRUCIBLE_TOURNAMENT_GAP_SECS", default_value_t = 3_600)]
    pub tournament_gap_secs: u64,
}

impl TournamentArgs {
    pub fn schedule(&self) -> domain::tournaments::Schedule {
        domain::tournaments::Schedule {
            registration_ms: (self.tournament_registration_secs * 1000) as i64,
            min_entrants: self.tournament_min_entrants,
            registration_retries: self.tournament_registration_retries,
            gap_ms: (self.tournament_gap_secs * 1000) as i64,
        }
    }
}

/// What a dataset must satisfy.
#[derive(Clone, Debug, Args)]
pub struct DatasetArgs {
    /// Fewer usable rows than this and a dataset is refused.
    #[arg(long, env = "CRUCIBLE_MIN_DATASET_ROWS", default_value_t = 2_000)]
    pub min_dataset_rows: u64,
    /// Fewer usable image-caption pairs than this and an image dataset is refused.
    #[arg(long, env = "CRUCIBLE_MIN_IMAGE_PAIRS", default_value_t = 10)]
    pub min_image_pairs: u64,
    /// The largest dataset file accepted, in bytes.
    #[arg(long, env = "CRUCIBLE_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// How long a worker's claim on a background job lasts without a heartbeat, in milliseconds; a job
    /// whose worker died is taken up again after this.
    #[arg(long, env = "CRUCIBLE_JOB_LEASE_MS", default_value_t = domain::queue::LEASE_MS)]
    pub job_lease_ms: i64,
    /// How long a miner has to accept an offer, in seconds; the round of offers closes then.
    #[arg(long, env = "CRUCIBLE_OFFER_TTL_SECS", default_value_t = 600)]
    pub offer_ttl_secs: u64,
    /// How long a task with too few miners waits before it is offered again, in seconds.
    #[arg(long, env = "CRUCIBLE_OFFER_RETRY_SECS", default_value_t = 900)]
    pub offer_retry_secs: u64,
    /// How many times a task with too few miners is offered again before it fails.
    #[arg(long, env = "CRUCIBLE_OFFER_RETRIES", default_value_t = 6)]
    pub offer_retries: i64,
    /// How long one hour of a task's window lasts, in milliseconds: shorten it only for tests and demos.
    #[arg(long, env = "CRUCIBLE_HOUR_MS", default_value_t = 3_600_000)]
    pub hour_ms: i64,
    /// How many miners a text task is offered to, as MIN-MAX (every eligible miner when fewer).
    #[arg(long, env = "CRUCIBLE_TEXT_POOL", default_value = "8-15", value_parser = pool_size)]
    pub text_pool: domain::tasks::PoolSize,
    /// How many miners an image task is offered to, as MIN-MAX.
    #[arg(long, env = "CRUCIBLE_IMAGE_POOL", default_value = "15-25", value_parser = pool_size)]
    pub image_pool: domain::tasks::PoolSize,
    /// How many acceptances open a task's window: it opens once the pool's maximum has accepted or
    /// every offered miner has answered, or when the offers expire, if this many accepted.
    #[arg(long, env = "CRUCIBLE_MIN_ACCEPTED", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_accepted: u64,
    /// How many workers the fast queue gets (offers, windows, deadlines, webhooks).
    #[arg(long, env = "CRUCIBLE_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// How many workers the CPU queue gets (dataset validation, splitting task data).
    #[arg(long, env = "CRUCIBLE_CPU_WORKERS", default_value_t = 1)]
    pub cpu_workers: usize,
    /// How many submissions this server evaluates at once (with an evaluator).
    #[arg(long, env = "CRUCIBLE_EVALUATION_WORKERS", default_value_t = 1)]
    pub evaluation_workers: usize,
    /// The largest model artifact a miner may submit, in bytes.
    #[arg(long, env = "CRUCIBLE_MAX_SUBMISSION_BYTES", default_value_t = 50 * 1024 * 1024 * 1024)]
    pub max_submission_bytes: u64,
    /// What one account may store in datasets, in bytes.
    #[arg(long, env = "CRUCIBLE_UPLOAD_QUOTA_BYTES", default_value_t = 50 * 1024 * 1024 * 1024)]
    pub upload_quota_bytes: u64,
}

impl DatasetArgs {
    pub fn limits(&self) -> (domain::datasets::Limits, domain::datasets::UploadLimits) {
        let limits = domain::datasets::Limits {
            min_usable_rows: self.min_dataset_rows,
            min_usable_images: self.min_image_pairs,
            ..Default::default()
        };
        let upload = domain::datasets::UploadLimits {
            max_file_bytes: self.max_upload_bytes,
            quota_bytes: self.upload_quota_bytes,
        };
        (limits, upload)
    }

    pub fn scheduling(&self) -> domain::tasks::Scheduling {
        domain::tasks::Scheduling {
            offer_ttl_ms: (self.offer_ttl_secs * 1000) as i64,
            retry_delay_ms: (self.offer_retry_secs * 1000) as i64,
            max_retries: self.offer_retries,
            hour_ms: self.hour_ms,
            text_pool: self.text_pool,
            image_pool: self.image_pool,
            min_accepted: self.min_accepted,
            max_submission_bytes: self.max_submission_bytes,
        }
    }
}

/// `MIN-MAX`, with 1 ≤ MIN ≤ MAX.
fn pinned_image(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text.split_once("@sha256:") {
        Some((name, digest))
            if !name.is_empty()
                && digest.len() == 64
                && digest.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(text.to_string())
        }
        _ => Err(format!(
            "{text:?} is not pinned: write it as name@sha256:<64 hex digits>, so that it cannot change"
        )),
    }
}

fn hotkey(text: &str) -> Result<domain::miners::Hotkey, String> {
    domain::miners::Hotkey::parse(text.trim()).map_err(|why| format!("not an SS58 address: {why}"))
}

fn pool_size(text: &str) -> Result<domain::tasks::PoolSize, String> {
    let (min, max) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not MIN-MAX, as in 8-15"))?;
    let number = |part: &str| {
        part.trim().parse::<u64>().map_err(|_| {
            format!("{part:?} is not a whole number (the pool size is MIN-MAX, as in 8-15)")
        })
    };
    let (min, max) = (number(min)?, number(max)?);
    if min == 0 || min > max {
        return Err(format!("the pool needs 1 ≤ MIN ≤ MAX, not {min}-{max}"));
    }
    Ok(domain::tasks::PoolSize { min, max })
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateUser {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        email: String,
        /// A file whose first line is the password (kept off the command line and out of shell history).
        #[arg(long)]
        password_file: PathBuf,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Create an API key for an account and print it once (its last word).
    CreateApiKey {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin-created")]
        name: String,
    },
    /// Suspend a miner: it gets no offers until reinstated. The reason is kept and shown.
    SuspendMiner {
        #[command(flatten)]
        storage: StorageArgs,
        /// The miner's hotkey (SS58).
        #[arg(long)]
        hotkey: String,
        #[arg(long)]
        reason: String,
    },
    /// Reinstate a suspended miner.
    ReinstateMiner {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        hotkey: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Customer,
    Miner,
    Admin,
}

impl From<RoleArg> for domain::accounts::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Customer => Self::Customer,
            RoleArg::Miner => Self::Miner,
            RoleArg::Admin => Self::Admin,
        }
    }
}

/// Where objects are stored, resolved from `--storage` and `--data-dir`.
#[derive(Clone, Debug)]
pub enum StorageTarget {
    Local(PathBuf),
    S3(S3Config),
}

impl StorageArgs {
    pub fn database_url(&self) -> Result<DatabaseUrl, CliError> {
        match &self.database_url {
            Some(url) => DatabaseUrl::parse(url)
                .map_err(|err| CliError::Config(format!("--database-url: {err}"))),
            None => Ok(DatabaseUrl::sqlite_file(&self.data_dir.join("crucible.db"))),
        }
    }

    pub fn storage_target(&self) -> Result<StorageTarget, CliError> {
        match &self.storage {
            None => Ok(StorageTarget::Local(self.data_dir.join("objects"))),
            Some(url) if url.starts_with("s3://") => parse_s3(url).map(StorageTarget::S3),
            Some(url) => match url.strip_prefix("file://") {
                Some(path) => Ok(StorageTarget::Local(PathBuf::from(path))),
                None => Err(CliError::Config(
                    "--storage must be s3://BUCKET… or file:///PATH".into(),
                )),
            },
        }
    }
}

fn parse_s3(raw: &str) -> Result<S3Config, CliError> {
    let bad = |why: &str| CliError::Config(format!("--storage {raw}: {why}"));
    let url = url::Url::parse(raw).map_err(|err| bad(&err.to_string()))?;
    let bucket = url
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("name the bucket: s3://BUCKET"))?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let env = |names: [&str; 2]| names.iter().find_map(|n| std::env::var(n).ok());
    let access_key_id = env(["CRUCIBLE_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"])
        .ok_or_else(|| bad("set CRUCIBLE_S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)"))?;
    let secret_access_key = env(["CRUCIBLE_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"])
        .ok_or_else(|| bad("set CRUCIBLE_S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)"))?;
    Ok(S3Config {
        bucket: bucket.to_string(),
        prefix: url.path().trim_matches('/').to_string(),
        endpoint: query("endpoint"),
        region: query("region").unwrap_or_else(|| "us-east-1".into()),
        access_key_id,
        secret_access_key: Secret::new(secret_access_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(storage: Option<&str>, database_url: Option<&str>) -> StorageArgs {
        StorageArgs {
            data_dir: PathBuf::from("/srv/crucible"),
            database_url: database_url.map(str::to_string),
            storage: storage.map(str::to_string),
            secrets_key_file: None,
        }
    }

    #[test]
    fn defaults_put_everything_under_the_data_dir() {
        let a = args(None, None);
        assert_eq!(
            a.database_url().unwrap().backend(),
            domain::db::Backend::Sqlite
        );
        assert!(
            matches!(a.storage_target().unwrap(), StorageTarget::Local(p) if p == std::path::Path::new("/srv/crucible/objects"))
        );
    }

    #[test]
    fn an_s3_url_names_bucket_prefix_endpoint_and_region() {
        // SAFETY of the test: the variables are set before any thread reads them in this test binary.
        unsafe {
            std::env::set_var("CRUCIBLE_S3_ACCESS_KEY_ID", "AKID");
            std::env::set_var("CRUCIBLE_S3_SECRET_ACCESS_KEY", "shh");
        }
        let target = args(
            Some("s3://models/crucible/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1"),
            None,
        )
        .storage_target()
        .unwrap();
        let StorageTarget::S3(s3) = target else {
            panic!("not S3")
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str(), s3.region.as_str()),
            ("models", "crucible/prod", "eu-west-1")
        );
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(
            !format!("{s3:?}").contains("shh"),
            "the secret key reached Debug output"
        );
    }

    #[test]
    fn unknown_urls_are_refused_with_the_accepted_forms() {
        let err = args(None, Some("mysql://x")).database_url().unwrap_err();
        assert!(
            err.to_string().contains("sqlite:// or postgres://"),
            "{err}"
        );
        let err = args(Some("ftp://x"), None).storage_target().unwrap_err();
        assert!(err.to_string().contains("s3://BUCKET"), "{err}");
    }
}
