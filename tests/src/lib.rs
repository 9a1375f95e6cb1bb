//! Shared harness for the end-to-end tests in `tests/tests/`: find (and build) the binaries,
//! start servers and wait for their `listening on` line, run commands with a deadline, make
//! temporary directories, talk raw TCP. Everything is killed or removed on drop, and every wait
//! is bounded.
//!
//! How the binaries are found: a dev-dependency on `ricochet` would not make cargo build its
//! binaries, and `env!("CARGO_BIN_EXE_...")` only works inside the package that owns them. So
//! the first call to [`bin`] in each test process runs `cargo build -p ricochet --bins` (a quick
//! no-op when they are fresh) into the same target directory and profile as the running test,
//! found from the test executable's own path (`<target>/<profile>/deps/<test>`). That way the
//! tests never run stale binaries, whatever `CARGO_TARGET_DIR` or `--release` say.
//!
//! Tests that need an outside tool (curl, wget, python3) call [`require`], which fails the test
//! with a clear message when the tool is missing, unless `RICOCHET_SKIP_MISSING_TOOLS=1` is set.

pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a spawned server gets to print its `listening on` line.
pub const STARTUP: Duration = Duration::from_secs(20);
/// Default deadline for a command run by [`run`].
pub const COMMAND: Duration = Duration::from_secs(30);

/// The workspace root (the directory holding `www/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The sample site.
pub fn www() -> PathBuf {
    workspace().join("www")
}

/// The `cluster` command on free ports (its balancer and three servers) serving www/, logging
/// at info, with `args` first (e.g. `--tls`, `--admin 127.0.0.1:0`).
pub fn cluster_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("cluster"));
    cmd.args(args)
        .args(["--listen", "127.0.0.1:0", "--root"])
        .arg(www())
        .args([
            "--server-port",
            "0",
            "--server-port",
            "0",
            "--server-port",
            "0",
        ])
        .env("RICOCHET_LOG", "info");
    cmd
}

/// `<target>/<profile>` of the running test executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Path of one of `ricochet`'s binaries (`server`, `client`, ...), building them first (once per
/// test process).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = profile_dir();
    BUILT.get_or_init(|| {
        let target = dir.parent().expect("profile dir has a parent");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "ricochet",
            "--bins",
            "--target-dir",
        ])
        .arg(target)
        .current_dir(workspace());
        if dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p ricochet --bins failed");
    });
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} missing after build", path.display());
    path
}

/// Fail (or, with `RICOCHET_SKIP_MISSING_TOOLS=1`, skip by returning false) when `tool` is not
/// on the PATH.
pub fn require(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return true;
    }
    if std::env::var("RICOCHET_SKIP_MISSING_TOOLS").as_deref() == Ok("1") {
        eprintln!("skipping: {tool} is not installed");
        return false;
    }
    panic!("{tool} is not installed (set RICOCHET_SKIP_MISSING_TOOLS=1 to skip such tests)");
}

/// A child process that is killed when dropped, with its output collected in the background
/// (so a chatty process never blocks on a full pipe).
pub struct Spawned {
    child: Child,
    /// The URL from its `listening on` line, e.g. `http://127.0.0.1:40123` (or `https://`).
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl Spawned {
    /// Start `cmd` and wait (bounded by [`STARTUP`]) for a stdout line `listening on http://ADDR`.
    pub fn start(cmd: Command) -> Spawned {
        Spawned::start_with(cmd, |line| {
            line.strip_prefix("listening on ")
                .map(|s| s.trim().to_string())
        })
    }

    /// Start `cmd` and wait (bounded by [`STARTUP`]) for a stdout line from which `find_url`
    /// extracts the base URL (`http://ADDR`).
    pub fn start_with(mut cmd: Command, find_url: fn(&str) -> Option<String>) -> Spawned {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::clone(&output);
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = find_url(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::clone(&output);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = match rx.recv_timeout(STARTUP) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{cmd:?} printed no `listening on` line within {STARTUP:?}; output:\n{}",
                    output.lock().unwrap()
                );
            }
        };
        let url = url.trim_end_matches('/').to_string();
        let authority = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .unwrap_or_else(|| panic!("listening line without http:// or https://: {url}"));
        let addr = authority
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot parse the address in {url}"));
        Spawned {
            child,
            url,
            addr,
            output,
        }
    }

    /// Everything the process printed so far (stdout and stderr, interleaved by line).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Wait, at most `limit`, until the output contains `needle`; panic with the output if it
    /// never does. Logs go to stderr and `listening on` to stdout, read by separate threads, so
    /// a log line written before `listening on` may still be on its way when [`Spawned::start`]
    /// returns.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let output = self.output();
            if output.contains(needle) {
                return output;
            }
            assert!(
                Instant::now() < end,
                "no `{needle}` within {limit:?}; output:\n{output}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log messages the process wrote so far, one per line, decoded from the ndjson records
    /// the binaries write when stderr is not a terminal (other output lines are left out).
    pub fn log_messages(&self) -> String {
        log_messages(&self.output())
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send it a signal by name (`TERM`, `INT`, `HUP`), through the shell's `kill` builtin (no
    /// extra tool needed).
    pub fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.pid())])
            .status()
            .expect("run sh");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Wait, at most `limit`, for the process to end; panic with its output if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < end,
                "still running after {limit:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start our `server` on a free loopback port serving `root`, with extra flags.
pub fn server(root: &Path, extra: &[&str]) -> Spawned {
    let mut cmd = Command::new(bin("server"));
    cmd.args(["--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .args(extra)
        .env("RICOCHET_LOG", "info");
    Spawned::start(cmd)
}

/// Two servers for `--verify-files` tests, each writing an access log: the first holds
/// `/new.bin`, the second lacks it (both hold `/probe.bin`, 16 KiB), in folders under `dir`.
pub struct HasAndLacks {
    pub servers: [Spawned; 2],
    pub logs: [PathBuf; 2],
}

impl HasAndLacks {
    pub fn start(dir: &Path) -> HasAndLacks {
        let start = |name: &str| {
            let root = dir.join(name);
            std::fs::create_dir(&root).unwrap();
            std::fs::write(root.join("probe.bin"), vec![7u8; 16_384]).unwrap();
            if name == "has" {
                std::fs::write(root.join("new.bin"), b"the new release").unwrap();
            }
            let log = dir.join(format!("{name}.log"));
            (server(&root, &["--access-log", log.to_str().unwrap()]), log)
        };
        let (has, has_log) = start("has");
        let (lacks, lacks_log) = start("lacks");
        HasAndLacks {
            servers: [has, lacks],
            logs: [has_log, lacks_log],
        }
    }

    /// The two servers' addresses, the one holding `/new.bin` first.
    pub fn addrs(&self) -> [SocketAddr; 2] {
        [self.servers[0].addr, self.servers[1].addr]
    }

    /// `HEAD path` lines in each server's access log so far.
    pub fn heads(&self, path: &str) -> [usize; 2] {
        [
            heads_logged(&self.logs[0], path),
            heads_logged(&self.logs[1], path),
        ]
    }
}

/// `HEAD path` lines in an access log so far.
pub fn heads_logged(log: &Path, path: &str) -> usize {
    let needle = format!("\"HEAD {path} HTTP/1.1\"");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

/// Start a python3 program given as source; it must print `listening on http://ADDR` (flushed)
/// once bound. `args` follow the script.
pub fn python(source: &str, args: &[&str]) -> Spawned {
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg("-c").arg(source).args(args);
    Spawned::start(cmd)
}

/// Start `python3 -m http.server` on a free loopback port serving `root`.
pub fn python_http_server(root: &Path) -> Spawned {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-u",
        "-m",
        "http.server",
        "0",
        "--bind",
        "127.0.0.1",
        "--directory",
    ])
    .arg(root);
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    Spawned::start_with(cmd, |line| {
        let start = line.find("(http://")? + 1;
        let end = start + line[start..].find(')')?;
        Some(line[start..end].to_string())
    })
}

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Make one; `label` goes into the name to help debugging.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ricochet-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the entries in it, sorted (hidden ones included).
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .expect("read temp dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Ran {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// The exit code (`-1` when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Run `cmd` to completion with a deadline; panics (after killing it) if it overruns.
pub fn run(cmd: &mut Command, deadline: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Run our `client` with `args` in directory `cwd`.
pub fn client(cwd: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(bin("client"));
    cmd.args(args).current_dir(cwd);
    run(&mut cmd, COMMAND)
}

/// `n` pipelined GETs on one connection to `addr` (the last one closing it), request `i` for
/// `target(i)`, each with the `extra` header lines; the raw responses, as text.
pub fn pipelined_gets(
    addr: SocketAddr,
    n: usize,
    target: impl Fn(usize) -> String,
    extra: &str,
    deadline: Duration,
) -> String {
    let mut request = String::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "Connection: close\r\n"
        } else {
            ""
        };
        let target = target(i);
        request.push_str(&format!(
            "GET {target} HTTP/1.1\r\nHost: balancer\r\n{extra}{close}\r\n"
        ));
    }
    let got = raw_exchange(addr, request.as_bytes(), deadline);
    String::from_utf8_lossy(&got).into_owned()
}

/// Load `url` in headless Chromium and return the DOM it built (bounded by [`COMMAND`]).
pub fn chromium_dom(url: &str) -> String {
    let profile = TempDir::new("chromium");
    let ran = run(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--dump-dom", url]),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    ran.stdout
}

/// Send `request` on a fresh connection to `addr` and read until the server closes or
/// `deadline` passes; returns what arrived.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], deadline: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect_timeout(&addr, deadline).expect("connect");
    stream.write_all(request).expect("send request");
    read_until_close(&mut stream, deadline)
}

/// Read from `stream` until EOF, an error, or `deadline` (total) passes.
pub fn read_until_close(stream: &mut TcpStream, deadline: Duration) -> Vec<u8> {
    let end = Instant::now() + deadline;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).expect("set timeout");
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// The status code on the first line of a raw response (`None` if there is none).
pub fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..response.len().min(64))?).ok()?;
    let mut parts = text.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Every status line (`HTTP/1.1 200 ...`) in a raw stream of responses, as codes.
pub fn statuses(responses: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(responses);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text[i + 9..].get(..3)?.parse().ok())
        .collect()
}

/// A scripted HTTP server on a loopback port, for the responses our server never sends
/// (redirect chains, truncated bodies, garbage). It handles one connection at a time: reads the
/// request head, asks the handler for the bytes to send (given the request path and the
/// server's own base URL), writes them, and closes. It stops when dropped, or after
/// [`TestServer::LIFETIME`] at the latest.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// What a [`TestServer`] sends for a request.
pub enum Reply {
    /// Send these bytes, then close.
    Bytes(Vec<u8>),
    /// Send these bytes, then keep the connection open without sending anything for this
    /// long before closing.
    Stall(Vec<u8>, Duration),
}

impl TestServer {
    /// The longest a test server lives.
    pub const LIFETIME: Duration = Duration::from_secs(60);

    /// Start one with `handler(path, base_url)`.
    pub fn start<F>(handler: F) -> TestServer
    where
        F: Fn(&str, &str) -> Reply + Send + 'static,
    {
        TestServer::start_with_head(move |head, base| {
            let path = head.split(' ').nth(1).unwrap_or("/");
            handler(path, base)
        })
    }

    /// Start one with `handler(request_head, base_url)`, for a test that reads the request's
    /// fields: the head is the request line and fields as received, up to the blank line.
    pub fn start_with_head<F>(handler: F) -> TestServer
    where
        F: Fn(&str, &str) -> Reply + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let url = format!("http://{addr}");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let base = url.clone();
        let thread = thread::spawn(move || {
            let end = Instant::now() + TestServer::LIFETIME;
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                let mut stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head);
                match handler(&text, &base) {
                    Reply::Bytes(bytes) => {
                        let _ = stream.write_all(&bytes);
                    }
                    Reply::Stall(bytes, pause) => {
                        let _ = stream.write_all(&bytes);
                        let until = Instant::now() + pause;
                        while Instant::now() < until && !flag.load(Ordering::Relaxed) {
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            }
        });
        TestServer {
            addr,
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A plain response with a body and Content-Length, closing the connection.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A redirect to `location`.
pub fn redirect(status: &str, location: &str) -> Vec<u8> {
    response(status, &[("Location", location)], b"")
}

/// A free port below the kernel's ephemeral range, for a peer program that must be told its
/// port in advance (nginx). A port from [`closed_port`] lies in the ephemeral range, where every
/// `bind` to port 0 of the tests running in parallel lands: one of them could take it before
/// the program binds it, and the program's readiness check would then reach the wrong server.
pub fn free_port_outside_ephemeral_range() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768)
        .max(12_000);
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Start somewhere different in each test process, then walk up from there.
    let seed = std::process::id() ^ Instant::now().elapsed().subsec_nanos();
    let span = u32::from(low - 10_000);
    for _ in 0..span {
        let offset = (seed.wrapping_mul(7919) + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = 10_000 + offset as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 10000 and {low}");
}

/// An nginx started by [`start_nginx`], stopped when dropped (a failing test included).
pub struct Nginx {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `nginx` with the configuration `conf(port)` (which must set `pid` to `dir`/nginx.pid,
/// and not `master_process`) on a free port, writing its files in `dir`; returns it once it
/// listens. It runs as one process (`-g "master_process off;"`): a worker outlives a killed
/// master, and each test run left one listening. nginx writes its pid file after binding its
/// sockets, so a port taken meanwhile is seen (no pid file, an exit or a bind error) and
/// another port tried.
pub fn start_nginx(dir: &Path, conf: impl Fn(u16) -> String) -> Nginx {
    for _ in 0..5 {
        let port = free_port_outside_ephemeral_range();
        let _ = std::fs::remove_file(dir.join("nginx.pid"));
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf(port)).expect("write nginx.conf");
        let mut child = Command::new("nginx")
            .arg("-g")
            .arg("master_process off;")
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || log.contains("bind()") {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            if dir.join("nginx.pid").exists() && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nginx { child, port };
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: {log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("nginx could not bind a port in 5 tries");
}

/// A local port with nothing listening on it (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local_addr")
}

/// The `msg` field of every ndjson log record in `output`, unescaped, one per line. Lines that
/// are not log records (`listening on ...`) are skipped.
pub fn log_messages(output: &str) -> String {
    let mut messages = String::new();
    for line in output.lines() {
        let Some(start) = line.find("\"msg\":\"") else {
            continue;
        };
        let mut chars = line[start + 7..].chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => messages.push('\n'),
                    Some('t') => messages.push('\t'),
                    Some('r') => messages.push('\r'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            messages.push(c);
                        }
                    }
                    Some(other) => messages.push(other),
                    None => break,
                },
                c => messages.push(c),
            }
        }
        messages.push('\n');
    }
    messages
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_messages_decode_ndjson_records() {
        let output = "listening on http://127.0.0.1:1\n\
            {\"time\":1,\"level\":\"info\",\"target\":\"t\",\"msg\":\"a \\\"GET /\\\" 200\\u0041\"}\n";
        assert_eq!(super::log_messages(output), "a \"GET /\" 200A\n");
    }
}

/// `len` bytes that differ with `seed` (xorshift): file contents for mirrors that must hold the
/// same or other bytes of one length.
pub fn seeded_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Write `content` to `root/name` and set its modification time to `modified`, as a mirror
/// synced with its times holds it.
pub fn put_file(
    root: &std::path::Path,
    name: &str,
    content: &[u8],
    modified: std::time::SystemTime,
) {
    let path = root.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

/// Processes and sockets as Linux's /proc shows them, for the tests of worker processes.
pub mod procfs {
    /// The PIDs of the processes whose parent is `pid`.
    pub fn children(pid: u32) -> Vec<u32> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(pid) {
                found.push(child);
            }
        }
        found
    }

    /// The socket inodes of the established TCP connections whose local port is `port`
    /// (/proc/net/tcp, IPv4).
    pub fn established_on(port: u16) -> Vec<u64> {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit_once(':')?.1;
                let state = *fields.get(3)?;
                (u16::from_str_radix(local_port, 16).ok()? == port && state == "01")
                    .then(|| fields.get(9)?.parse().ok())?
            })
            .collect()
    }

    /// How many of `inodes` are open in process `pid`.
    pub fn holds(pid: u32, inodes: &[u64]) -> usize {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return 0;
        };
        fds.flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .filter(|inode| inodes.contains(inode))
            .count()
    }
}
