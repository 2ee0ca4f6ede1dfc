//! The gRPC `TerminologyService` (`proto/terminology.proto`) over a [`Terminology`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let t = Arc::new(terminology::Terminology::load(None)?);
//! tonic::transport::Server::builder()
//!     .add_service(terminology::grpc::service(t))
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use ncp_types::Oid;
use tonic::{Request, Response, Status};
use tracing::debug;

use crate::{code_systems, Coded, Lang, Terminology, Transcoded};

/// The generated protobuf types, server and client.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("ncp.terminology.v1");
}

use proto::terminology_service_server::{TerminologyService, TerminologyServiceServer};
use proto::transcode_response::Outcome;
use proto::{
    Coding, Designation as PbDesignation, LookupRequest, LookupResponse, TranscodeRequest,
    TranscodeResponse, TranslateRequest, TranslateResponse, ValidateCodeRequest,
    ValidateCodeResponse,
};

pub use proto::terminology_service_client::TerminologyServiceClient;

/// The service implementation; build it with [`service`] or [`default_service`].
#[derive(Debug, Clone)]
pub struct TerminologyGrpc {
    terminology: Handle,
}

#[derive(Debug, Clone)]
enum Handle {
    Shared(Arc<Terminology>),
    Static(&'static Terminology),
}

impl std::ops::Deref for Handle {
    type Target = Terminology;
    fn deref(&self) -> &Terminology {
        match self {
            Handle::Shared(t) => t,
            Handle::Static(t) => t,
        }
    }
}

/// The tonic service over `t`, ready for `Server::builder().add_service(..)`.
pub fn service(t: Arc<Terminology>) -> TerminologyServiceServer<TerminologyGrpc> {
    TerminologyServiceServer::new(TerminologyGrpc {
        terminology: Handle::Shared(t),
    })
}

/// The tonic service over the process default ([`Terminology::embedded`]), so the gRPC
/// service and in-process callers share one copy.
pub fn default_service() -> TerminologyServiceServer<TerminologyGrpc> {
    TerminologyServiceServer::new(TerminologyGrpc {
        terminology: Handle::Static(Terminology::embedded()),
    })
}

fn system(s: &str) -> Result<Oid, Status> {
    if s.trim().is_empty() {
        return Err(Status::invalid_argument("code system is required"));
    }
    code_systems::from_uri(s)
        .ok_or_else(|| Status::invalid_argument(format!("unknown code system: {s}")))
}

fn coded(c: Option<Coding>) -> Result<Coded, Status> {
    let c = c.ok_or_else(|| Status::invalid_argument("coding is required"))?;
    if c.code.trim().is_empty() {
        return Err(Status::invalid_argument("code is required"));
    }
    let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(Coded {
        code_system: system(&c.system)?,
        code: c.code,
        code_system_name: non_empty(c.system_name),
        display: non_empty(c.display),
    })
}

fn value_set_oid(s: &str) -> Result<Oid, Status> {
    Oid::parse(s).map_err(|_| Status::invalid_argument(format!("not a value set OID: {s}")))
}

fn coding(c: Coded) -> Coding {
    Coding {
        code: c.code,
        system: c.code_system.to_string(),
        system_name: c.code_system_name.unwrap_or_default(),
        display: c.display.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl TerminologyService for TerminologyGrpc {
    async fn lookup(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let r = request.into_inner();
        let sys = system(&r.system)?;
        let info = self
            .terminology
            .lookup(&sys, r.code.trim())
            .ok_or_else(|| Status::not_found(format!("{} {} is not known", sys, r.code)))?;
        let display = info.display(Lang::EN).map(str::to_owned);
        Ok(Response::new(LookupResponse {
            coding: Some(coding(Coded {
                code: info.code,
                code_system: info.code_system,
                code_system_name: info.code_system_name,
                display,
            })),
            designations: info
                .designations
                .into_iter()
                .map(|d| PbDesignation {
                    language: d.lang.to_string(),
                    text: d.text,
                })
                .collect(),
            value_sets: info.value_sets.into_iter().map(String::from).collect(),
        }))
    }

    async fn validate_code(
        &self,
        request: Request<ValidateCodeRequest>,
    ) -> Result<Response<ValidateCodeResponse>, Status> {
        let r = request.into_inner();
        let vs_oid = value_set_oid(&r.value_set)?;
        let c = coded(r.coding)?;
        let vs = self
            .terminology
            .value_set(&vs_oid)
            .ok_or_else(|| Status::not_found(format!("value set {vs_oid} is not loaded")))?;
        let member = self.terminology.contains(&vs_oid, &c);
        debug!(value_set = %vs.name, code = %c.code, member, "validate code");
        Ok(Response::new(ValidateCodeResponse {
            member,
            value_set_name: vs.name.clone(),
            value_set_version: vs.version.clone(),
            display: self
                .terminology
                .display(&c.code_system, &c.code, Lang::EN)
                .unwrap_or_default(),
        }))
    }

    async fn transcode(
        &self,
        request: Request<TranscodeRequest>,
    ) -> Result<Response<TranscodeResponse>, Status> {
        let r = request.into_inner();
        let vs_oid = value_set_oid(&r.value_set)?;
        let c = coded(r.coding)?;
        let (outcome, target, original) = match self.terminology.transcode(&c, &vs_oid) {
            Transcoded::Member(m) => (Outcome::Member, Some(m), c),
            Transcoded::Mapped { target, original } => (Outcome::Mapped, Some(target), original),
            Transcoded::Unmapped { original } => (Outcome::Unmapped, None, original),
        };
        Ok(Response::new(TranscodeResponse {
            outcome: outcome as i32,
            target: target.map(coding),
            original: Some(coding(original)),
        }))
    }

    async fn translate(
        &self,
        request: Request<TranslateRequest>,
    ) -> Result<Response<TranslateResponse>, Status> {
        let r = request.into_inner();
        let lang = Lang::parse(&r.language).ok_or_else(|| {
            Status::invalid_argument(format!("not a language tag: {:?}", r.language))
        })?;
        let c = coded(r.coding)?;
        let found = self
            .terminology
            .designation(&c.code_system, &c.code, lang)
            .map(|d| d.lang.to_string())
            .unwrap_or_default();
        let translated = self.terminology.translate(&c, lang);
        Ok(Response::new(TranslateResponse {
            coding: Some(coding(translated)),
            language: found,
        }))
    }
}
