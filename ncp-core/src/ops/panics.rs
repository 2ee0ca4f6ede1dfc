//! Panics, should one happen despite the parsers' care.
//!
//! - A handler that panics answers in its protocol's own terms instead of dropping the
//!   connection: a SOAP 1.2 `Receiver` fault with `ERROR_GENERIC` on the IHE endpoints
//!   ([`soap_fault_on_panic`]), a FHIR `OperationOutcome` on the FHIR API
//!   ([`operation_outcome_on_panic`]), both HTTP 500; gRPC status `INTERNAL` on the National
//!   Connector ([`grpc_status_on_panic`]).
//! - The panic is logged with its location only ([`install_hook`]): a panic message may quote
//!   the input it choked on (a string slice panic prints the string, which may be a personal
//!   identity number or a prescription id), and neither the default hook nor tower-http's
//!   default panic response keep it out of the logs.

use std::any::Any;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::ihe::errors::EhdsiError;
use crate::soap::{Fault, ResponseHeaders};

/// The panic hook of the `ncp` binary: logs where, never what.
pub fn install_hook() {
    std::panic::set_hook(Box::new(log_panic));
}

fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let at = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    tracing::error!(
        at,
        "panic (its message is not logged: it may quote request data)"
    );
}

/// The SOAP answer to a panicked request.
pub type SoapFaultOnPanic = fn(Box<dyn Any + Send + 'static>) -> Response;

/// For the XCPD, XCA and XDR routes.
pub fn soap_fault_on_panic() -> CatchPanicLayer<SoapFaultOnPanic> {
    CatchPanicLayer::custom(soap_fault as SoapFaultOnPanic)
}

fn soap_fault(_panic: Box<dyn Any + Send + 'static>) -> Response {
    let fault = Fault::receiver("Internal error of the Swedish NCP; please retry")
        .with_ehdsi(EhdsiError::ErrorGeneric);
    // The request's MessageID is not known here: no RelatesTo.
    let headers = ResponseHeaders {
        action: String::new(),
        message_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        relates_to: None,
    };
    let payload = fault.to_http(&headers);
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, payload.content_type)],
        payload.body,
    )
        .into_response()
}

/// For the FHIR API (`/fhir`).
pub fn operation_outcome_on_panic() -> CatchPanicLayer<SoapFaultOnPanic> {
    CatchPanicLayer::custom(operation_outcome as SoapFaultOnPanic)
}

fn operation_outcome(_panic: Box<dyn Any + Send + 'static>) -> Response {
    let oo = crate::country_b::fhir::operation_outcome(
        "fatal",
        "exception",
        "internal error of the Swedish NCP; please retry",
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, crate::country_b::fhir::FHIR_JSON)],
        oo.to_string(),
    )
        .into_response()
}

/// For the National Connector (gRPC): status `INTERNAL` as a trailers-only answer.
pub fn grpc_status_on_panic() -> CatchPanicLayer<SoapFaultOnPanic> {
    CatchPanicLayer::custom(grpc_internal as SoapFaultOnPanic)
}

fn grpc_internal(_panic: Box<dyn Any + Send + 'static>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/grpc"),
            (header::HeaderName::from_static("grpc-status"), "13"),
            (
                header::HeaderName::from_static("grpc-message"),
                "internal%20error%20of%20the%20Swedish%20NCP",
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// A handler that panics as an input-slicing bug would, quoting a personnummer.
    async fn slices_badly() -> &'static str {
        let id = std::hint::black_box(String::from("€191212121212"));
        let _ = &id[..2];
        "unreachable"
    }

    async fn answer(app: Router) -> (StatusCode, String, String) {
        let res = app
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let ct = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_panicking_soap_handler_answers_a_soap_fault() {
        let app = Router::new()
            .route("/x", get(slices_badly))
            .layer(soap_fault_on_panic());
        let (status, ct, body) = answer(app).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ct.starts_with("application/soap+xml"), "{ct}");
        roxmltree::Document::parse(&body).unwrap();
        assert!(body.contains("env:Receiver"), "{body}");
        assert!(body.contains("ERROR_GENERIC"), "{body}");
        assert!(!body.contains("1212"), "{body}");
    }

    #[tokio::test]
    async fn a_panicking_fhir_handler_answers_an_operation_outcome() {
        let app = Router::new()
            .route("/x", get(slices_badly))
            .layer(operation_outcome_on_panic());
        let (status, ct, body) = answer(app).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ct, "application/fhir+json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["resourceType"], "OperationOutcome");
        assert_eq!(v["issue"][0]["code"], "exception");
        assert!(!body.contains("1212"), "{body}");
    }

    #[tokio::test]
    async fn a_panicking_grpc_handler_answers_status_internal() {
        let app = Router::new()
            .route("/x", get(slices_badly))
            .layer(grpc_status_on_panic());
        let res = app
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/grpc");
        assert_eq!(res.headers()["grpc-status"], "13");
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The default hook prints the panic message, which quotes the sliced string.
    #[test]
    fn the_hook_logs_the_location_not_the_message() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(log_panic));
        let result = tracing::subscriber::with_default(subscriber, || {
            std::panic::catch_unwind(|| {
                let id = std::hint::black_box(String::from("€191212121212"));
                id[..2].len()
            })
        });
        std::panic::set_hook(previous);
        assert!(result.is_err());
        let logged = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("panic"), "{logged}");
        assert!(logged.contains("panics.rs:"), "{logged}");
        assert!(!logged.contains("1212"), "{logged}");
    }
}
