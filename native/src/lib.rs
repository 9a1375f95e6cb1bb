//! Ricochet native shell.
