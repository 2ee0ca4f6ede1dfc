//! The Swedish NCP bridge service.
//!
//! - [`config`]: the TOML configuration, validated at start-up.
//! - [`tls`] and [`server`]: the mutual-TLS listener foreign NCPs connect to.
//! - [`app`]: the routes.
//! - [`country_a`] and [`endpoints`]: Sweden as country A, the service and its SOAP endpoints.
//! - [`bridge`]: starting and stopping the service.
//! - [`pki`]: the sandbox's test PKI.
//! - [`sandbox`]: `ncp sandbox`, the bridge on a simulated Sweden.

pub mod app;
pub mod audit;
pub mod audit_command;
pub mod bridge;
pub mod config;
pub mod country_a;
pub mod country_b;
pub(crate) mod db;
pub mod endpoints;
pub mod ihe;
pub mod national_connector;
pub mod ops;
pub mod outbox;
pub mod pki;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod security;
pub mod server;
pub mod soap;
pub mod tls;
pub mod transform_command;
