//! `feedmill` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use feedmill::cli::{self, Cli};

fn main() -> ExitCode {
    feedmill::app::tune_allocator();
    let cli = Cli::parse();
    cli::init_logging(&cli);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(cli::run(cli));
            // A parse still busy on a hostile document must not hold the exit up.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
