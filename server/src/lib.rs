//! The `crucible` binary's parts: configuration, start-up, the HTTP server and the admin commands.

pub mod admin;
pub mod audit;
pub mod config;
pub mod dataset_check;
pub mod http;
pub mod logging;
pub mod serve;
pub mod startup;

use config::{Cli, Command};

/// An error that ends a command, with a message for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Domain(#[from] domain::Error),
    #[error("database: {0}")]
    Database(#[from] domain::db::SqlxError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Admin(command) => admin::run(command).await,
        Command::Datasets(command) => dataset_check::run(command).await,
        Command::Audit { export } => audit::run(&export),
    }
}
