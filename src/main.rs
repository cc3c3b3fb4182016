use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = prescaler::cli::Cli::parse();
    match prescaler::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.chain());
            ExitCode::FAILURE
        }
    }
}
