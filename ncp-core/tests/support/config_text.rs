//! The smallest bridge configuration the ops tests start from (included with `#[path]`).

use std::fmt::Display;

/// A configuration text with the `[ncp]`, `[server]`, `[tls]` (the given files) and
/// `[national]` (nothing listening) sections, followed by `more`.
pub fn minimal_config(
    cert: impl Display,
    key: impl Display,
    ca: impl Display,
    more: &str,
) -> String {
    format!(
        r#"
[ncp]
country = "SE"
home_community_id = "1.2.752.129.2.1.99"
document_root = "1.2.752.129.2.1.99.1"
organization_name = "E-hälsomyndigheten"
hsa_id = "SE2321000198-NCP1"

[server]
listen = "127.0.0.1:0"

[tls]
cert = "{cert}"
key = "{key}"
client_ca = ["{ca}"]

[national]
nll = "http://127.0.0.1:9/nll/fhir"
pdi = "http://127.0.0.1:9/pdi/fhir"
ntk = "http://127.0.0.1:9/ntk/fhir"
nsr = "http://127.0.0.1:9/nsr/fhir"
{more}"#
    )
}
