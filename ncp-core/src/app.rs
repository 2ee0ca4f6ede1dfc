//! The application: the routes foreign NCPs call, over the mutual-TLS listener of
//! [`crate::server`].

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::config::Config;
use crate::server::Peer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Sweden as country A: the XCPD, XCA and XDR endpoints.
    pub country_a: Arc<crate::endpoints::CountryAEndpoints>,
    /// Sweden as country B: the FHIR API for Swedish users (`[country_b]`), when configured.
    pub country_b: Option<Arc<crate::country_b::api::CountryBApi>>,
}

/// The bridge's routes.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.server.max_body_bytes;
    // The National Connector API (gRPC, HTTP/2) shares the mutual-TLS listener and its trust
    // list with the SOAP endpoints: an OpenNCP gateway connects like a foreign NCP does.
    let connector = crate::national_connector::service(state.country_a.clone());
    // A panic (a bug) answers in the protocol's terms rather than dropping the connection.
    let soap = Router::new()
        .route("/ncp/xcpd", post(crate::endpoints::xcpd_endpoint))
        .route("/ncp/xca", post(crate::endpoints::xca_endpoint))
        .route("/ncp/xdr", post(crate::endpoints::xdr_endpoint))
        .layer(crate::ops::panics::soap_fault_on_panic());
    let fhir = crate::country_b::api::router(state.country_b.clone())
        .layer(crate::ops::panics::operation_outcome_on_panic());
    Router::new()
        .route("/status", get(status))
        .merge(soap)
        .nest_service("/fhir", fhir)
        .route_service(
            "/ncp.national_connector.v1.NationalConnector/{*method}",
            tower::ServiceBuilder::new()
                .layer(crate::ops::panics::grpc_status_on_panic())
                .service(connector),
        )
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .route_layer(axum::middleware::from_fn(crate::ops::metrics::track))
        .with_state(state)
}

#[derive(Serialize)]
struct Status {
    service: &'static str,
    version: &'static str,
    country: String,
    home_community_id: String,
    /// The caller as its certificate names it.
    caller: Caller,
}

#[derive(Serialize)]
struct Caller {
    common_name: Option<String>,
    country: Option<String>,
    organization: Option<String>,
}

/// Who we are and who the caller is: the first thing a foreign NCP tries after connecting.
async fn status(State(state): State<AppState>, Extension(peer): Extension<Peer>) -> Json<Status> {
    Json(Status {
        service: "Swedish NCP bridge (MyHealth@EU)",
        version: env!("CARGO_PKG_VERSION"),
        country: state.config.ncp.country.to_string(),
        home_community_id: state.config.ncp.home_community_id.to_urn(),
        caller: Caller {
            common_name: peer.common_name,
            country: peer.country.map(|c| c.to_string()),
            organization: peer.organization,
        },
    })
}
