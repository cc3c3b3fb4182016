//! The command line as a user meets it.

use std::process::Command;

fn prescaler(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn help_lists_the_crd_command_and_the_log_format_env_var() {
    let out = prescaler(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("crd"), "{help}");
    assert!(help.contains("PRESCALER_LOG_FORMAT"), "{help}");
}

#[test]
fn an_unknown_log_format_is_refused_with_the_choices() {
    let out = prescaler(&["--log-format", "xml", "crd"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'xml' for '--log-format"),
        "{err}"
    );
    assert!(err.contains("text") && err.contains("json"), "{err}");
}

#[test]
fn log_format_is_read_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .env("PRESCALER_LOG_FORMAT", "yaml")
        .arg("crd")
        .output()
        .expect("the binary runs");
    assert!(
        !out.status.success(),
        "an invalid value from the environment is refused too"
    );
}
