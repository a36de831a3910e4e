//! `crucible`: the platform's one binary.

use clap::Parser;

// Validation parses millions of small rows on every core; mimalloc's per-thread heaps serve their
// allocations faster than the system allocator (measured by `scripts/bench-datasets.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
