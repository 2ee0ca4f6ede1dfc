//! Helpers for the end-to-end tests in `tests/tests/`: they run the built `ncp` binary as a
//! user would and talk to it over the network.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ncp` binary of the build these tests belong to (`target/<profile>/ncp`).
pub fn ncp_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/ncp
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable inside target/<profile>/deps");
    let bin = profile_dir.join(format!("ncp{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first with `cargo build -p ncp-core --bin ncp` (./dev test does)",
        bin.display()
    );
    bin
}

/// A running `ncp sandbox` on free ports in its own data directory; killed on drop.
pub struct Sandbox {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub endpoints: serde_json::Value,
    pub banner: String,
    pub started_in: Duration,
}

impl Sandbox {
    /// Starts the sandbox in a fresh data directory and waits for its "Ready" line.
    pub fn start(extra_args: &[&str]) -> Sandbox {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut sb = Sandbox::start_in(tmp.path(), extra_args);
        sb._tmp = Some(tmp);
        sb
    }

    /// Starts the sandbox with `data_dir` (kept afterwards) and waits for its "Ready" line.
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Sandbox {
        Sandbox::start_logging(data_dir, extra_args, "info")
    }

    /// As [`Sandbox::start_in`], logging with the `RUST_LOG` filter `log` (e.g. `debug`).
    pub fn start_logging(data_dir: &Path, extra_args: &[&str], log: &str) -> Sandbox {
        let started = Instant::now();
        let mut child = Command::new(ncp_binary())
            .args(["sandbox", "--listen", "127.0.0.1:0", "--sim-base-port", "0"])
            .args(["--terminology-grpc", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ncp sandbox");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                    if line.starts_with("Ready.") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(200));
                    panic!(
                        "ncp sandbox did not print Ready within 60 s; stdout so far:\n{banner}\nstderr:\n{}",
                        stderr.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                }
            }
        }
        let started_in = started.elapsed();
        let endpoints = std::fs::read_to_string(data_dir.join("endpoints.json"))
            .expect("endpoints.json written before Ready");
        Sandbox {
            child,
            stderr,
            endpoints: serde_json::from_str(&endpoints).expect("endpoints.json is JSON"),
            data_dir: data_dir.to_owned(),
            _tmp: None,
            banner,
            started_in,
        }
    }

    /// The sandbox's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far (stderr).
    pub fn logs(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn bridge_url(&self) -> String {
        self.endpoints["bridge"]
            .as_str()
            .expect("bridge url")
            .to_owned()
    }

    /// The URL of a simulator by the name the banner gives it.
    pub fn simulator(&self, name: &str) -> String {
        self.endpoints["simulators"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|pair| pair[0].as_str() == Some(name))
            .and_then(|pair| pair[1].as_str())
            .unwrap_or_else(|| panic!("no simulator named {name} in {}", self.endpoints))
            .to_owned()
    }

    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(
            self.endpoints[key]
                .as_str()
                .expect("path in endpoints.json"),
        )
    }

    /// An HTTPS client presenting the given client certificate (PEM cert + key files), or
    /// none, trusting only the sandbox CA.
    pub fn client(&self, cert_and_key: Option<(&Path, &Path)>) -> reqwest::blocking::Client {
        let ca = std::fs::read(self.path("ca_cert")).expect("ca.pem");
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA PEM"))
            .timeout(Duration::from_secs(10));
        if let Some((cert, key)) = cert_and_key {
            let mut pem = std::fs::read(cert).expect("client cert");
            pem.extend(std::fs::read(key).expect("client key"));
            b = b.identity(reqwest::Identity::from_pem(&pem).expect("client identity"));
        }
        b.build().expect("client")
    }

    /// Stops the sandbox as an operator would (SIGTERM), waits for it to exit, and returns
    /// its exit success and everything it logged.
    pub fn stop(mut self) -> (bool, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        let success = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    break false;
                }
            }
        };
        std::thread::sleep(Duration::from_millis(100));
        let logs = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        (success, logs)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub mod python;

/// A throwaway PostgreSQL cluster (the same harness the ncp-core tests and benches use).
#[path = "../../ncp-core/tests/support/pg.rs"]
pub mod pg;
