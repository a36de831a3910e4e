//! `crucible`: the platform's one binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = server::config::Cli::parse();
    server::logging::init(cli.log_format);
    match server::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
