//! Operating the running `ncp` without dropping work:
//!
//! - SIGTERM while a request is in flight: the listening socket closes at once (new
//!   connections are refused), `/ready` answers 503 while draining, the request in flight
//!   still gets its answer, then the process exits cleanly.
//! - The TLS client trust list reloaded on SIGHUP: a foreign NCP whose CA is added to
//!   `tls.client_ca` is refused before and let in after, without a restart; a broken trust list
//!   file is refused and the previous list stays in force.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_tests::Sandbox;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn bridge_addr(sb: &Sandbox) -> SocketAddr {
    sb.bridge_url()
        .trim_start_matches("https://")
        .parse()
        .expect("bridge address")
}

fn client_files(sb: &Sandbox, i: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let c = &sb.endpoints["clients"][i];
    (
        c["tls_cert"].as_str().expect("tls_cert").into(),
        c["tls_key"].as_str().expect("tls_key").into(),
    )
}

/// A mutual-TLS connection, at the byte level (to stop in the middle of a request).
fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("CA PEM") {
        roots.add(c.expect("CA cert")).expect("CA usable");
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .expect("client cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("client cert PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("client key");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client auth");
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::IpAddress(addr.ip().into()))
            .expect("client connection");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

fn signal(sb: &Sandbox, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &sb.pid().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} failed");
}

#[test]
fn sigterm_refuses_new_connections_and_answers_the_request_in_flight() {
    let sb = Sandbox::start(&["--ops-listen", "127.0.0.1:0"]);
    let ready = format!(
        "{}/ready",
        sb.endpoints["ops"].as_str().expect("ops listener")
    );
    let get_ready = || {
        let r = reqwest::blocking::get(&ready).expect("GET /ready");
        (r.status().as_u16(), r.text().unwrap_or_default())
    };
    assert_eq!(get_ready().0, 200, "not ready after start");
    let addr = bridge_addr(&sb);
    let (cert, key) = client_files(&sb, 0);
    let mut tls = tls_connect(addr, &sb.path("ca_cert"), &cert, &key);

    let envelope = "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">\
                    <env:Header/><env:Body><unknown xmlns=\"urn:x\"/></env:Body></env:Envelope>";
    let (first, rest) = envelope.split_at(envelope.len() / 2);
    write!(
        tls,
        "POST /ncp/xcpd HTTP/1.1\r\nHost: ncp\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{first}",
        envelope.len()
    )
    .expect("send the first half");
    tls.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));

    // The request is in the handler, waiting for the rest of its body.
    signal(&sb, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            // Caught in the backlog as the listening socket closed: try again.
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionReset && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(_) => panic!("new connections are still accepted 5 s after SIGTERM"),
        }
    }

    // Draining: the probe says so, for the load balancer to stop sending work here.
    let (status, why) = get_ready();
    assert_eq!(status, 503, "still ready while draining: {why}");
    assert!(why.contains("shutting down"), "{why}");

    tls.write_all(rest.as_bytes()).expect("send the rest");
    tls.flush().expect("flush");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 "),
        "no answer to the request in flight: {answer:?}\n--- log:\n{}",
        sb.logs()
    );
    assert!(answer.contains("env:Fault"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    let (clean, logs) = sb.stop();
    assert!(clean, "did not exit cleanly after draining:\n{logs}");
    assert!(logs.contains("finishing the requests in flight"), "{logs}");
}

#[test]
fn sighup_reloads_the_client_trust_list_and_keeps_it_when_the_new_one_is_broken() {
    let sb = Sandbox::start(&[]);
    let status = format!("{}/status", sb.bridge_url());
    let ca_file = sb.path("ca_cert");
    let original = std::fs::read(&ca_file).expect("sandbox CA");
    let (old_cert, old_key) = client_files(&sb, 0);

    // Another PKI: its CA is not (yet) on the bridge's trust list.
    let other = tempfile::tempdir().expect("temp dir");
    let pki = ncp_core::pki::TestPki::ensure(other.path()).expect("second test PKI");
    let newcomer = &pki.foreign[0];
    // A fresh client (a new TLS handshake) each time, trusting the sandbox CA for the server.
    let ok = |cert: &Path, key: &Path| {
        let mut pem = std::fs::read(cert).expect("client cert");
        pem.extend(std::fs::read(key).expect("client key"));
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&original).expect("CA PEM"))
            .identity(reqwest::Identity::from_pem(&pem).expect("client identity"))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
            .get(&status)
            .send()
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false)
    };
    assert!(
        ok(&old_cert, &old_key),
        "the sandbox's own client is refused"
    );
    assert!(
        !ok(&newcomer.tls_cert, &newcomer.tls_key),
        "a client of an untrusted CA got in"
    );

    // A broken trust list: refused, the old one stays.
    std::fs::write(&ca_file, b"-----BEGIN CERTIFICATE-----\nnot base64\n").expect("write");
    signal(&sb, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sb.logs().contains("trust lists NOT reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload attempt:\n{}",
            sb.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ok(&old_cert, &old_key),
        "a broken file replaced the trust list"
    );
    assert!(!ok(&newcomer.tls_cert, &newcomer.tls_key));

    // The new CA added: let in after SIGHUP, the old clients still are.
    let mut both = original.clone();
    both.extend(std::fs::read(&pki.ca_cert).expect("second CA"));
    std::fs::write(&ca_file, &both).expect("write");
    signal(&sb, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(&newcomer.tls_cert, &newcomer.tls_key) {
        assert!(
            Instant::now() < deadline,
            "the newly trusted CA's client is still refused:\n{}",
            sb.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok(&old_cert, &old_key));
    let (clean, logs) = sb.stop();
    assert!(clean, "{logs}");
    assert!(logs.contains("trust lists reloaded"), "{logs}");
}
