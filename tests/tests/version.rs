//! `--version` on every binary: `NAME VERSION`, exit 0, even where other arguments are
//! required (the client's URL).

use ricochet_tests::{bin, run, COMMAND};
use std::process::Command;

#[test]
fn every_binary_prints_its_name_and_version() {
    for name in ["server", "client", "balancer", "cluster"] {
        let ran = run(Command::new(bin(name)).arg("--version"), COMMAND);
        assert_eq!(ran.code(), 0, "{name}: {ran:?}");
        assert_eq!(
            ran.stdout,
            format!("{name} {}\n", env!("CARGO_PKG_VERSION")),
            "{name}"
        );
        let help = run(Command::new(bin(name)).arg("--help"), COMMAND);
        assert!(help.stdout.contains("--version"), "{name}: {help:?}");
    }
}
