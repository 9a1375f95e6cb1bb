#!/usr/bin/env python3
"""Cargo runner for wasm32-wasip1: runs a WASI command module under Wasmtime (PyPI `wasmtime`).

Used as CARGO_TARGET_WASM32_WASIP1_RUNNER, so `cargo test --target wasm32-wasip1` executes the
test binaries in a real WASI runtime. Exits with the module's own exit code.
"""
import os
import sys

import wasmtime


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: wasi-run.py MODULE.wasm [ARGS...]", file=sys.stderr)
        return 2
    path = sys.argv[1]
    config = wasmtime.Config()
    config.cache = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [path] + sys.argv[2:]
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_env()
    # The sample site, read-only at its host path: core's tests check every directory index in it.
    workspace = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wasi.preopen_dir(os.path.join(workspace, "www"), os.path.join(workspace, "www"), False)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, path)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
