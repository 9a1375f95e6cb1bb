//! `--version` on every binary: prints `NAME VERSION` (the crate's version) and exits 0.
//!
//! argh has no version flag of its own, and a binary with a required argument (the client's
//! URL) would refuse `--version` alone; so the arguments are checked before argh parses them.

/// The line `--version` prints, e.g. `server 0.1.0`.
pub fn line(name: &str) -> String {
    format!("{name} {}", env!("CARGO_PKG_VERSION"))
}

/// If the command line asks for `--version` (before any `--`), print [`line()`] and exit 0.
pub fn exit_if_asked(name: &str) {
    let asked = std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--version");
    if asked {
        println!("{}", line(name));
        std::process::exit(0);
    }
}
