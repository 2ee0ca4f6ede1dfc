//! A throwaway PostgreSQL cluster for tests and benches.
//!
//! Finds `initdb`/`pg_ctl` under `/usr/lib/postgresql/*/bin` (or `$NCP_PG_BIN`), creates a
//! cluster in a fresh directory under /tmp on a free port with trust authentication, and
//! starts it. As root (CI), the cluster belongs to the `postgres` user and every command runs
//! through `runuser -u postgres --`. A watchdog process stops the cluster and removes its
//! directory when the test process exits, however it exits.
//!
//! ```ignore
//! #[path = "support/pg.rs"]
//! mod pg;
//! let Some(url) = pg::fresh_database().await else { return }; // prints SKIPPED
//! ```
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// The server options (`pg_ctl -o`), kept for [`PgCluster::start_server`].
    opts: String,
}

fn find_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NCP_PG_BIN") {
        let p = PathBuf::from(p);
        return p.join("initdb").exists().then_some(p);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    // Highest version first (directory names are the major versions).
    versions.sort_by_key(|p| {
        let v = p
            .parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok());
        std::cmp::Reverse(v.unwrap_or(0))
    });
    versions.into_iter().next()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Starts a cluster, or `Ok(None)` when no server binaries are installed.
    /// `fsync` off makes tests faster; benches keep it on to measure real commits.
    pub fn start(fsync: bool) -> Result<Option<PgCluster>, String> {
        let Some(bin) = find_bin() else {
            return Ok(None);
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = PathBuf::from(format!("/tmp/ncp-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?
                .success();
            if !ok {
                return Err("chown of the cluster directory to postgres failed".into());
            }
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync={} -c max_connections=200",
            dir.display(),
            if fsync { "on" } else { "off" }
        );
        let cluster = PgCluster {
            port,
            dir,
            bin,
            as_postgres,
            opts,
        };
        let data = cluster.dir.join("data");
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        cluster.spawn_watchdog(&data);
        cluster.start_server()?;
        Ok(Some(cluster))
    }

    /// Starts the server (again) on the cluster's port and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        // The server's own output goes to a log file, never to the test's pipes.
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &self.opts, "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            return Err(format!("pg_ctl start failed: {log}"));
        }
        Ok(())
    }

    /// Stops the server at once (`-m immediate`: open connections are cut, as in a crash) and
    /// keeps its data for [`PgCluster::start_server`].
    pub fn stop_server(&self) -> Result<(), String> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err("pg_ctl stop failed".into())
        }
    }

    /// Stops the cluster and removes its directory once this process is gone.
    fn spawn_watchdog(&self, data: &Path) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        } else {
            format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// A connection string for `dbname` as the `postgres` superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname}",
            self.port
        )
    }

    /// Creates a new, empty database and returns its connection string.
    pub async fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        drop(client);
        let _ = task.await;
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test process's shared cluster (started on first use), or `None` with a SKIPPED line
/// when there are no server binaries.
pub fn cluster() -> Option<&'static PgCluster> {
    static CLUSTER: OnceLock<Option<PgCluster>> = OnceLock::new();
    let c = CLUSTER
        .get_or_init(|| match PgCluster::start(false) {
            Ok(c) => c,
            Err(e) => panic!("could not start the test PostgreSQL cluster: {e}"),
        })
        .as_ref();
    if c.is_none() {
        println!("SKIPPED: no PostgreSQL server binaries");
    }
    c
}

/// A fresh database on the shared cluster, or `None` (SKIPPED) without server binaries.
pub async fn fresh_database() -> Option<String> {
    let c = cluster()?;
    Some(c.create_database().await)
}
