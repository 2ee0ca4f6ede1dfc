//! The errors of the clients, mapped from HTTP statuses and `OperationOutcome`s.

use std::time::Duration;

use serde_json::Value;

/// Why a call to a national service or a care provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// 404: the resource does not exist (or is not visible to the caller).
    #[error("not found: {reason}")]
    NotFound { reason: String },
    /// 409 / 412: locked, already dispensed, expired, version conflict…
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// 503 / 429: try again later.
    #[error("service unavailable (retry after {retry_after:?})")]
    Unavailable { retry_after: Option<Duration> },
    /// No answer within the configured timeout.
    #[error("timed out")]
    Timeout,
    /// 400 / 422: the request was refused as invalid (a bug on our side or bad input).
    #[error("invalid request: {reason}")]
    Invalid { reason: String },
    /// 401 / 403: the caller is not allowed.
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    /// Any other error status.
    #[error("server error {status}: {reason}")]
    Server { status: u16, reason: String },
    /// The connection failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer was not the FHIR we expected.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// A search had more pages than allowed.
    #[error("more than {max} pages")]
    TooManyPages { max: usize },
}

impl AdapterError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AdapterError::Unavailable { .. } | AdapterError::Timeout | AdapterError::Transport(_)
        )
    }

    /// A short name of the kind of error, for logs (the reasons may echo request data).
    pub fn kind(&self) -> &'static str {
        match self {
            AdapterError::NotFound { .. } => "not-found",
            AdapterError::Conflict { .. } => "conflict",
            AdapterError::Unavailable { .. } => "unavailable",
            AdapterError::Timeout => "timeout",
            AdapterError::Invalid { .. } => "invalid",
            AdapterError::Forbidden { .. } => "forbidden",
            AdapterError::Server { .. } => "server",
            AdapterError::Transport(_) => "transport",
            AdapterError::Protocol(_) => "protocol",
            AdapterError::TooManyPages { .. } => "too-many-pages",
        }
    }

    /// Maps an error status and its body (an `OperationOutcome`, if any).
    pub(crate) fn from_status(status: u16, retry_after: Option<&str>, body: &[u8]) -> Self {
        let reason = outcome_text(body).unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            400 | 422 => AdapterError::Invalid { reason },
            401 | 403 => AdapterError::Forbidden { reason },
            404 | 410 => AdapterError::NotFound { reason },
            409 | 412 => AdapterError::Conflict { reason },
            429 | 503 => AdapterError::Unavailable {
                retry_after: retry_after
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            },
            504 => AdapterError::Timeout,
            _ => AdapterError::Server { status, reason },
        }
    }

    pub(crate) fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            AdapterError::Timeout
        } else if e.is_decode() {
            AdapterError::Protocol("the body is not JSON".into())
        } else {
            // The error text names the URL, which may carry a personal id in its query.
            AdapterError::Transport(
                if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                }
                .into(),
            )
        }
    }
}

/// The diagnostics (or details text, or code) of an `OperationOutcome`'s issues.
fn outcome_text(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["resourceType"] != "OperationOutcome" {
        return None;
    }
    let texts: Vec<String> = v["issue"]
        .as_array()?
        .iter()
        .filter_map(|i| {
            i["diagnostics"]
                .as_str()
                .or_else(|| i["details"]["text"].as_str())
                .or_else(|| i["code"].as_str())
                .map(str::to_owned)
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses_and_reads_the_outcome() {
        let oo = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","diagnostics":"locked"}]}"#;
        assert_eq!(
            AdapterError::from_status(409, None, oo),
            AdapterError::Conflict {
                reason: "locked".into()
            }
        );
        assert_eq!(
            AdapterError::from_status(503, Some("7"), b""),
            AdapterError::Unavailable {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            AdapterError::from_status(418, None, b"<html>"),
            AdapterError::Server {
                status: 418,
                reason: "HTTP 418".into()
            }
        );
        assert!(matches!(
            AdapterError::from_status(403, None, b"{}"),
            AdapterError::Forbidden { .. }
        ));
        assert!(matches!(
            AdapterError::from_status(400, None, b"{}"),
            AdapterError::Invalid { .. }
        ));
        assert!(matches!(
            AdapterError::from_status(404, None, b"{}"),
            AdapterError::NotFound { .. }
        ));
    }
}
