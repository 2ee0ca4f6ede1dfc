//! Prometheus metrics, through the `metrics` facade and `metrics-exporter-prometheus`.
//!
//! | metric | labels |
//! | --- | --- |
//! | `ncp_requests_total` | `endpoint` (route), `transaction` (ITI-55/38/39/41, gRPC method, or `-`), `status` |
//! | `ncp_request_duration_seconds` (histogram) | `endpoint`, `transaction` |
//! | `ncp_ehdsi_errors_total` | `code` (eHDSI/XDS error code), `via` (`soap-fault`, `registry-error`, `xcpd-ack`, `xcpd-issue`) |
//! | `ncp_outbox_pending`, `ncp_outbox_in_flight`, `ncp_outbox_rejected`, `ncp_outbox_oldest_pending_seconds` | |
//! | `ncp_upstream_request_duration_seconds` (histogram, from `nll-adapter`) | `service` (NLL, PDI, NTK, NSR, ...), `outcome` (`ok` or the error kind) |
//! | `ncp_trust_reloads_total` | `result` (`ok`, `error`) |
//! | `ncp_ready` | 1 ready, 0 not |
//!
//! Every label value comes from a closed set: never a patient, an HCP or free text from a
//! request. The recorder is process-wide (installed once, by the first bridge).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::soap::Transaction;

/// Latency buckets (seconds): 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder (once; later calls
/// return the same handle). `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "ncp_requests_total",
        "Requests answered, by endpoint, transaction and HTTP status"
    );
    metrics::describe_histogram!(
        "ncp_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from request to response head, by endpoint and transaction"
    );
    metrics::describe_counter!(
        "ncp_ehdsi_errors_total",
        "eHDSI/XDS error codes sent to foreign NCPs"
    );
    metrics::describe_gauge!(
        "ncp_outbox_pending",
        "Dispensations waiting for delivery to NLL"
    );
    metrics::describe_histogram!(
        "ncp_upstream_request_duration_seconds",
        metrics::Unit::Seconds,
        "Calls to the Swedish national services, by service and outcome"
    );
    metrics::describe_counter!("ncp_trust_reloads_total", "Trust list reloads, by result");
}

/// The metrics in the Prometheus text format (empty when no recorder is ours).
pub fn render() -> String {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

/// Counts an eHDSI (or XDS) error code as it is written into a response. `via` says where:
/// `soap-fault`, `registry-error`, `xcpd-ack` (acknowledgementDetail) or `xcpd-issue` (DetectedIssueEvent).
pub fn ehdsi_error(code: &'static str, via: &'static str) {
    metrics::counter!("ncp_ehdsi_errors_total", "code" => code, "via" => via).increment(1);
}

/// The outbox's counts, as gauges (set on every scrape).
pub fn outbox(counts: &crate::outbox::OutboxCounts) {
    metrics::gauge!("ncp_outbox_pending").set(counts.pending as f64);
    metrics::gauge!("ncp_outbox_in_flight").set(counts.in_flight as f64);
    metrics::gauge!("ncp_outbox_rejected").set(counts.rejected as f64);
    let age = counts
        .oldest_pending
        .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics::gauge!("ncp_outbox_oldest_pending_seconds").set(age);
}

/// Middleware on the mutual-TLS router: counts and times every request.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = endpoint_label(req.extensions().get::<MatchedPath>().map(|p| p.as_str()));
    let path_tx = grpc_method(req.uri().path());
    let request_tx = content_type_transaction(req.headers().get(CONTENT_TYPE), false);
    let response = next.run(req).await;
    let tx = content_type_transaction(response.headers().get(CONTENT_TYPE), true)
        .or(request_tx)
        .or(path_tx)
        .unwrap_or("-");
    let status = response.status().as_u16().to_string();
    metrics::counter!("ncp_requests_total", "endpoint" => endpoint, "transaction" => tx, "status" => status)
        .increment(1);
    metrics::histogram!("ncp_request_duration_seconds", "endpoint" => endpoint, "transaction" => tx)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The route, from the router's closed set of patterns; `other` for unmatched paths.
fn endpoint_label(matched: Option<&str>) -> &'static str {
    match matched {
        Some("/status") => "/status",
        Some("/ncp/xcpd") => "/ncp/xcpd",
        Some("/ncp/xca") => "/ncp/xca",
        Some("/ncp/xdr") => "/ncp/xdr",
        Some(p) if p.starts_with("/ncp.national_connector.") => "national-connector",
        Some(p) if p.starts_with("/fhir") => "/fhir",
        _ => "other",
    }
}

/// The ITI transaction named by a SOAP 1.2 (or MTOM) content type's `action`.
fn content_type_transaction(
    ct: Option<&axum::http::HeaderValue>,
    response: bool,
) -> Option<&'static str> {
    let ct = ct?.to_str().ok()?;
    let action = |t: Transaction| {
        if response {
            t.response_action()
        } else {
            t.request_action()
        }
    };
    Transaction::ALL
        .into_iter()
        .find(|t| {
            let a = action(*t);
            // The action ends at a quote or the end: request actions prefix the responses'.
            ct.match_indices(a).any(|(i, _)| {
                matches!(
                    ct.as_bytes().get(i + a.len()),
                    None | Some(b'"' | b'\\' | b';')
                )
            })
        })
        .map(iti)
}

fn iti(t: Transaction) -> &'static str {
    match t {
        Transaction::CrossGatewayPatientDiscovery => "ITI-55",
        Transaction::CrossGatewayQuery => "ITI-38",
        Transaction::CrossGatewayRetrieve => "ITI-39",
        Transaction::ProvideAndRegisterDocumentSet => "ITI-41",
    }
}

/// The National Connector's gRPC method, from a closed set.
fn grpc_method(path: &str) -> Option<&'static str> {
    let method = path.strip_prefix("/ncp.national_connector.v1.NationalConnector/")?;
    const KNOWN: [&str; 6] = [
        "PatientSearch",
        "GetEPDocumentList",
        "GetPSDocumentList",
        "GetDocument",
        "SubmitDispensation",
        "CancelDispensation",
    ];
    Some(
        KNOWN
            .into_iter()
            .find(|k| *k == method)
            .unwrap_or("grpc-other"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn transactions_come_from_the_content_type_action_only_when_known() {
        let ct = |s: &'static str| HeaderValue::from_static(s);
        let q = ct("application/soap+xml; charset=UTF-8; action=\"urn:ihe:iti:2007:CrossGatewayQueryResponse\"");
        assert_eq!(content_type_transaction(Some(&q), true), Some("ITI-38"));
        assert_eq!(content_type_transaction(Some(&q), false), None);
        let r = ct("application/soap+xml; action=\"urn:ihe:iti:2007:CrossGatewayRetrieve\"");
        assert_eq!(content_type_transaction(Some(&r), false), Some("ITI-39"));
        let odd = ct("application/soap+xml; action=\"urn:evil:patient-191212121212\"");
        assert_eq!(content_type_transaction(Some(&odd), false), None);
        assert_eq!(
            grpc_method("/ncp.national_connector.v1.NationalConnector/x191212"),
            Some("grpc-other")
        );
        assert_eq!(endpoint_label(Some("/ncp/xca")), "/ncp/xca");
        assert_eq!(endpoint_label(None), "other");
    }
}
