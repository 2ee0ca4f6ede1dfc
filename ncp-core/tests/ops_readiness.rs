//! Readiness follows the stores: ready while the audit store and the outbox (PostgreSQL here)
//! answer, not ready with the reasons while the server is down, ready again once it is back
//! (the probe reconnects), and not ready once the bridge is shutting down.

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/pg.rs"]
mod pg;

use ncp_core::config::Config;
use ncp_core::ops::health::Readiness;

#[tokio::test]
async fn ready_only_while_the_audit_store_and_the_outbox_answer() {
    let Some(cluster) = pg::cluster() else {
        return;
    };
    let url = cluster.create_database().await;
    let text = config_text::minimal_config(
        "server.pem",
        "server.key",
        "ca.pem",
        &format!(
            "\n[audit.backend]\nkind = \"postgres\"\nurl = \"{url}\"\n\n\
             [outbox.backend]\nkind = \"postgres\"\nurl = \"{url}\"\n"
        ),
    );
    let config = Config::parse(&text).expect("configuration");
    let ready = Readiness::open(&config).await.expect("probe connections");
    assert_eq!(ready.check().await, Ok(()));

    cluster.stop_server().expect("stop PostgreSQL");
    let reasons = ready.check().await.expect_err("ready without its database");
    assert!(
        reasons.iter().any(|r| r.starts_with("audit store:")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("outbox:")),
        "{reasons:?}"
    );

    cluster.start_server().expect("start PostgreSQL again");
    assert_eq!(
        ready.check().await,
        Ok(()),
        "not ready after the database came back"
    );

    ready.set_shutting_down();
    assert_eq!(ready.check().await, Err(vec!["shutting down".to_owned()]));
}
