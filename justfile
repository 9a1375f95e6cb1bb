# Ricochet's tasks. Install just with `pip install rust-just` (or `cargo install just`).

# List the recipes.
default:
    @just --list

# Demo: three throttled servers on 11111, 22222, 33333 and the balancer on 12345 (Ctrl-C stops).
run-cluster:
    cargo run --release -p ricochet --bin cluster

# The same demo over HTTPS: a throwaway CA and certificate made at start; prints a client command with --cacert.
run-cluster-tls:
    cargo run --release -p ricochet --bin cluster -- --tls

# All tests: installs what they need (tests/install-deps.sh), then the workspace on this machine, core's suite on wasm32-wasip1 under Wasmtime, and the stdio redirector.
test: deps test-native test-wasm test-stdio

# Install what the tests need and are missing (Debian's packages, the wasm32-wasip1 target, Wasmtime); says what it installs.
deps:
    bash tests/install-deps.sh

# The workspace's tests (unit, scenario, end-to-end over loopback).
test-native:
    cargo test --workspace

# core's test suite on wasm32-wasip1, run by Wasmtime.
test-wasm:
    CARGO_TARGET_WASM32_WASIP1_RUNNER="python3 {{justfile_directory()}}/.ci/wasi-run.py" cargo test -p ricochet-core --target wasm32-wasip1

# core's inetd-style redirector (examples/stdio_redirect.rs), natively and under Wasmtime.
test-stdio:
    bash .ci/stdio-redirect.sh

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --manifest-path core/fuzz/Cargo.toml -- --check
    cargo check --manifest-path core/fuzz/Cargo.toml --bins

# Whatever CI runs, from this checkout.
ci:
    bash .ci/run

# Core micro-benchmarks (criterion) and whole-system comparisons against nginx, HAProxy and curl.
bench: bench-core bench-system

# Request-head parsing throughput, and the server's whole-file hashing (SHA-256/512, one core).
bench-core:
    cargo bench -p ricochet-core --bench parse
    cargo bench -p ricochet --bench hash

# server vs nginx, client vs curl, balancer vs nginx and HAProxy (installs them from Debian).
bench-system:
    bash bench/run.sh

# Stress and faults on release binaries (slowloris, wrk, 2,000 connections under `ulimit -n 256`, servers killed); prints a table. STRESS_SECONDS=60 of wrk by default.
stress:
    bash bench/stress.sh

# Every fuzz target for FUZZ_SECONDS each (default 60), printing executions; a crash stops it (its input is in core/fuzz/artifacts/). Needs nightly and `cargo install cargo-fuzz`.
fuzz:
    #!/usr/bin/env bash
    set -euo pipefail
    cd core
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    for target in request response chunked url redirect want_repr_digest want_digest repr_digest digest link; do
        if ! cargo +nightly fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 >"$log" 2>&1; then
            tail -n 40 "$log"
            echo "fuzz: $target failed; the input is under core/fuzz/artifacts/$target/"
            exit 1
        fi
        runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        echo "$target: $runs executions in ${FUZZ_SECONDS:-60} s, no crash"
    done
