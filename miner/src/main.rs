//! `crucible-miner`: the reference miner. Registers its hotkey, long-polls for offers, accepts those it
//! can serve (a declared task type, the base model at hand, a window it accepts), downloads the training
//! split when the window opens, fine-tunes the reference model by the recipe its flags give, and submits
//! the result before the deadline. Each accepted task is worked on at once, beside the others.

mod client;
mod hotkey;
mod work;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use serde_json::json;

use client::Api;
use lm::recipe::{Method, RecipeArgs};

/// What can stop the miner or one of its tasks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hotkey: {0}")]
    Hotkey(String),
    /// The server could not be reached or answered nonsense.
    #[error("{0}")]
    Server(String),
    /// The server refused a request, with its reason.
    #[error("{message} ({status})")]
    Refused { status: u16, message: String },
    #[error("{0}")]
    Model(#[from] lm::Error),
    #[error("{0}")]
    Io(String),
}

/// Competes for fine-tuning tasks on a Crucible server with the reference model family.
#[derive(Parser, Clone, Debug)]
#[command(name = "crucible-miner", version)]
pub struct Args {
    /// The Crucible server.
    #[arg(long, env = "CRUCIBLE_SERVER", default_value = "http://127.0.0.1:3000")]
    server: String,
    /// The hotkey file (JSON with secretSeed and ss58Address, as a Bittensor wallet keeps it).
    #[arg(long)]
    hotkey_file: PathBuf,
    /// Create the hotkey file first if there is none.
    #[arg(long)]
    new_hotkey: bool,
    /// Base models, one directory per model id (as `crucible-base-models --dir` makes them).
    #[arg(long, default_value = "crucible-data/base-models")]
    base_models: PathBuf,
    /// The task types this miner takes.
    #[arg(long, value_delimiter = ',', default_value = "instruct,chat,dpo,grpo")]
    task_types: Vec<String>,
    /// The largest base model it trains, in parameters.
    #[arg(long, default_value_t = 1_000_000)]
    max_parameters: u64,
    /// Offers whose window is longer than this many hours are declined.
    #[arg(long, default_value_t = 12)]
    max_hours: u64,
    #[command(flatten)]
    recipe: RecipeArgs,
    /// Stop after this many submissions (default: run until stopped).
    #[arg(long)]
    tasks: Option<usize>,
    /// Where models are trained and packed (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Only sign this text with the hotkey, print the signature and exit: to link the hotkey to a
    /// browser account, sign the challenge its Hotkeys page shows.
    #[arg(long, value_name = "CHALLENGE")]
    sign: Option<String>,
}

#[derive(Deserialize)]
struct Offers {
    offers: Vec<Offer>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Offer {
    pub id: String,
    pub task_id: String,
    pub task_type: String,
    pub model_id: String,
    pub hours_to_complete: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crucible-miner: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

impl Args {
    fn method(&self) -> Result<Method, Error> {
        Ok(self.recipe.method()?)
    }
}

async fn run(args: Args) -> Result<(), Error> {
    args.method()?;
    if args.new_hotkey && !args.hotkey_file.exists() {
        let address = hotkey::create(&args.hotkey_file)?;
        println!("created hotkey {address} in {}", args.hotkey_file.display());
    }
    let keys = hotkey::read(&args.hotkey_file)?;
    if let Some(text) = &args.sign {
        println!(
            "{}",
            domain::miners::epistula::sign_text(&keys, text.as_bytes())
        );
        return Ok(());
    }
    println!("miner {} on {}", hotkey::address(&keys), args.server);
    let mut api = Api::new(&args.server, keys)?;
    let identity = api.sign_for_server().await?;
    println!("signing every request for the server's identity {identity}");
    let api = Arc::new(api);
    let declaration = json!({"task_types": args.task_types, "max_parameters": args.max_parameters});
    let _: serde_json::Value = api
        .call(
            "POST",
            "/api/v1/miner/register",
            declaration.to_string().into_bytes(),
            &[],
        )
        .await?;
    println!("registered for {}", args.task_types.join(", "));

    let work_root = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("crucible-miner-{}", std::process::id())),
    };
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<String, String>>();
    let (mut accepted, mut finished) = (0usize, 0usize);
    loop {
        while let Ok(result) = done_rx.try_recv() {
            finished += 1;
            match result {
                Ok(line) => println!("{line}"),
                Err(why) => eprintln!("{why}"),
            }
        }
        if args.tasks.is_some_and(|n| finished >= n) {
            return Ok(());
        }
        if args.tasks.is_some_and(|n| accepted >= n) {
            if let Some(result) = done_rx.recv().await {
                finished += 1;
                match result {
                    Ok(line) => println!("{line}"),
                    Err(why) => eprintln!("{why}"),
                }
            }
            continue;
        }
        let offers: Offers = match api
            .call("GET", "/api/v1/miner/offers?wait=20", Vec::new(), &[])
            .await
        {
            Ok(offers) => offers,
            Err(err) => {
                eprintln!("polling for offers: {err}; trying again in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        for offer in offers.offers {
            let decision = if let Some(why) = declines(&args, &offer) {
                println!(
                    "declining {} ({} on {}): {why}",
                    offer.task_id, offer.task_type, offer.model_id
                );
                "decline"
            } else {
                "accept"
            };
            let path = format!("/api/v1/miner/offers/{}/{decision}", offer.id);
            if let Err(err) = api
                .call::<serde_json::Value>("POST", &path, Vec::new(), &[])
                .await
            {
                eprintln!("{decision} {}: {err}", offer.task_id);
                continue;
            }
            if decision == "accept" {
                accepted += 1;
                println!(
                    "accepted {} ({} on {})",
                    offer.task_id, offer.task_type, offer.model_id
                );
                let (api, args, done) = (api.clone(), args.clone(), done_tx.clone());
                let dir = work_root.join(&offer.task_id);
                tokio::spawn(async move {
                    let result = work::compete(&api, &args, &offer, &dir)
                        .await
                        .map_err(|err| format!("task {}: {err}", offer.task_id));
                    let _ = std::fs::remove_dir_all(&dir);
                    let _ = done.send(result);
                });
            }
        }
    }
}

/// Why the miner declines `offer`, if it does.
fn declines(args: &Args, offer: &Offer) -> Option<String> {
    if !args.task_types.contains(&offer.task_type) {
        return Some(format!("it does not take {} tasks", offer.task_type));
    }
    if !args
        .base_models
        .join(&offer.model_id)
        .join("config.json")
        .is_file()
    {
        return Some(format!(
            "the base model is not in {}",
            args.base_models.display()
        ));
    }
    if offer.hours_to_complete > args.max_hours {
        return Some(format!(
            "a {} h window is over its {} h",
            offer.hours_to_complete, args.max_hours
        ));
    }
    None
}
