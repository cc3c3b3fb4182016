//! The command line. `prescaler --help` is the reference; every flag can also be set from
//! the environment variable named in its help.

use std::io::Write;

use clap::{Parser, Subcommand};

use crate::policy;
use crate::telemetry::{self, LogFormat};

/// prescaler: scales Kubernetes workloads ahead of their traffic.
#[derive(Debug, Parser)]
#[command(name = "prescaler", version, about, long_about = None)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "PRESCALER_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the ScalingPolicy CustomResourceDefinition as YAML (`prescaler crd | kubectl apply -f -`).
    Crd,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> crate::Result<()> {
    telemetry::init_logging(cli.log_format)?;
    match cli.command {
        Command::Crd => {
            let yaml = policy::crd_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(())
        }
    }
}
