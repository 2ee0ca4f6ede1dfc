//! The HTTP side: FHIR JSON requests with caller headers, error mapping and paged searches.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::{AdapterError, CallContext, ClientConfig, Result, SearchResult};

pub(crate) const FHIR_JSON: &str = "application/fhir+json";

/// Builds the shared HTTP client with the configured timeout.
pub(crate) fn client(cfg: &ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .build()
        .map_err(|e| AdapterError::Transport(format!("cannot build the HTTP client: {e}")))
}

/// One FHIR server.
#[derive(Debug, Clone)]
pub(crate) struct FhirHttp {
    client: reqwest::Client,
    base: Url,
    service: &'static str,
    max_pages: usize,
    page_size: u32,
    retries: u32,
    max_backoff: Duration,
    max_body_bytes: usize,
}

/// Reads a body, refusing more than `max` bytes.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>> {
    let too_big = || AdapterError::Protocol(format!("the answer is larger than {max} bytes"));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| AdapterError::from_reqwest(&e))?
    {
        if out.len() + chunk.len() > max {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An answer that was not an error.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: reqwest::header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn location(&self) -> Option<String> {
        self.header(LOCATION)
    }
    pub fn etag(&self) -> Option<String> {
        self.header(ETAG)
    }
}

impl FhirHttp {
    pub fn new(
        client: reqwest::Client,
        base: Url,
        service: &'static str,
        cfg: &ClientConfig,
    ) -> Result<Self> {
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(AdapterError::Invalid {
                reason: format!("not an http(s) base URL: {base}"),
            });
        }
        Ok(FhirHttp {
            client,
            base,
            service,
            max_pages: cfg.max_pages.max(1),
            page_size: cfg.page_size.clamp(1, 100),
            retries: cfg.retries,
            max_backoff: cfg.max_backoff,
            max_body_bytes: cfg.max_body_bytes,
        })
    }

    /// `base/segments…?query`
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    /// The path of `u` below the base with every id segment as `*`: resource types
    /// (`MedicationRequest`) and operations (`$lock`, `_history`) stay.
    fn loggable_path(&self, u: &Url) -> String {
        let base = self.base.path().trim_end_matches('/');
        let rest = u.path().strip_prefix(base).unwrap_or(u.path());
        rest.split('/')
            .map(|seg| {
                let keep = seg.is_empty()
                    || seg.starts_with(['$', '_'])
                    || (seg.starts_with(|c: char| c.is_ascii_uppercase())
                        && seg.chars().all(|c| c.is_ascii_alphabetic()));
                if keep {
                    seg
                } else {
                    "*"
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn same_origin(&self, u: &Url) -> bool {
        u.scheme() == self.base.scheme()
            && u.host_str() == self.base.host_str()
            && u.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Sends one request; error statuses become [`AdapterError`]s.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        ctx: Option<&CallContext>,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer> {
        let started = Instant::now();
        let mut rb = self
            .client
            .request(method.clone(), url.clone())
            .header(ACCEPT, FHIR_JSON);
        if let Some(ctx) = ctx {
            for (k, v) in ctx.headers() {
                rb = rb.header(k, v);
            }
        }
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, FHIR_JSON).body(b.to_string());
        }
        if let Some(m) = if_match {
            rb = rb.header(IF_MATCH, m);
        }
        // Log the service, method and resource path only, ids masked: queries and paths carry
        // personal and prescription ids.
        let path = self.loggable_path(&url);
        let result = async {
            let resp = rb
                .send()
                .await
                .map_err(|e| AdapterError::from_reqwest(&e))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = read_capped(resp, self.max_body_bytes).await?;
            if !status.is_success() {
                let retry = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
                return Err(AdapterError::from_status(status.as_u16(), retry, &bytes));
            }
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|_| AdapterError::Protocol("the body is not JSON".into()))?
            };
            Ok(Answer {
                status,
                headers,
                body,
            })
        }
        .await;
        let elapsed = started.elapsed();
        // Upstream latency for the bridge's Prometheus metrics (a no-op without a recorder).
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        metrics::histogram!("ncp_upstream_request_duration_seconds", "service" => self.service, "outcome" => outcome)
            .record(elapsed.as_secs_f64());
        let ms = elapsed.as_millis() as u64;
        match &result {
            Ok(a) => {
                tracing::debug!(service = self.service, %method, path, status = a.status.as_u16(), ms, "FHIR call")
            }
            Err(e) => {
                tracing::warn!(service = self.service, %method, path, error = e.kind(), ms, "FHIR call failed")
            }
        }
        result
    }

    /// Sends a request that is safe to repeat, retrying after `Unavailable` (waiting
    /// `Retry-After`, at most `max_backoff`) or a failed connection.
    pub async fn send_idempotent(
        &self,
        method: Method,
        url: Url,
        ctx: Option<&CallContext>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            let r = self
                .send(method.clone(), url.clone(), ctx, body, None)
                .await;
            let wait = match &r {
                Err(AdapterError::Unavailable { retry_after }) => {
                    retry_after.unwrap_or(Duration::from_millis(200))
                }
                Err(AdapterError::Transport(_)) => Duration::from_millis(200),
                _ => return r,
            };
            if attempt >= self.retries {
                return r;
            }
            attempt += 1;
            tokio::time::sleep(wait.min(self.max_backoff)).await;
        }
    }

    pub async fn get(&self, ctx: Option<&CallContext>, url: Url) -> Result<Answer> {
        self.send_idempotent(Method::GET, url, ctx, None).await
    }

    /// Searches `resource_type` and follows `next` links, at most `max_pages` pages.
    pub async fn search(
        &self,
        ctx: Option<&CallContext>,
        resource_type: &str,
        query: &[(&str, &str)],
    ) -> Result<SearchResult> {
        let count = self.page_size.to_string();
        let mut q = query.to_vec();
        q.push(("_count", &count));
        let mut next = Some(self.url(&[resource_type], &q));
        let mut result = SearchResult::default();
        let mut pages = 0;
        while let Some(url) = next {
            if pages == self.max_pages {
                return Err(AdapterError::TooManyPages {
                    max: self.max_pages,
                });
            }
            if !self.same_origin(&url) {
                return Err(AdapterError::Protocol(
                    "a next link leaves the server".into(),
                ));
            }
            let page = self.get(ctx, url).await?;
            next = result.add_page(&page.body)?;
            pages += 1;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_paths_keep_resource_types_and_operations_but_mask_ids() {
        let cfg = crate::ClientConfig::default();
        let base = Url::parse("http://127.0.0.1:1/nll/fhir").unwrap();
        let h = FhirHttp::new(reqwest::Client::new(), base, "nll", &cfg).unwrap();
        let u = h.url(&["MedicationRequest", "rx-p01-01", "$lock"], &[]);
        assert_eq!(h.loggable_path(&u), "/MedicationRequest/*/$lock");
        let u = h.url(&["Patient", "191212121212", "_history", "2"], &[]);
        assert_eq!(h.loggable_path(&u), "/Patient/*/_history/*");
        let u = h.url(&["MedicationRequest"], &[("patient", "191212121212")]);
        assert_eq!(h.loggable_path(&u), "/MedicationRequest");
    }
}
