//! The calls abroad the service layer makes, as a trait: [`ForeignGateway`] in the bridge, a
//! scripted double in the HTTP layer's unit tests.

use std::future::Future;
use std::pin::Pin;

use super::foreign_gateway::{
    Acknowledgement, DocumentClass, DocumentRef, ForeignGateway, ForeignNcp, ForeignPatient,
    ForeignPatientId, GatewayError, HcpUser, RetrievedDocument,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// XCPD, XCA and XDR towards one foreign NCP, on behalf of one user.
pub trait ForeignNcpClient: Send + Sync {
    fn find_patient<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        id: &'a ForeignPatientId,
    ) -> BoxFuture<'a, Result<Vec<ForeignPatient>, GatewayError>>;

    fn list_documents<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        class: DocumentClass,
    ) -> BoxFuture<'a, Result<Vec<DocumentRef>, GatewayError>>;

    fn retrieve<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        doc: &'a DocumentRef,
    ) -> BoxFuture<'a, Result<RetrievedDocument, GatewayError>>;

    fn submit_dispensation<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        cda: &'a str,
        discard: bool,
    ) -> BoxFuture<'a, Result<Acknowledgement, GatewayError>>;
}

impl ForeignNcpClient for ForeignGateway {
    fn find_patient<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        id: &'a ForeignPatientId,
    ) -> BoxFuture<'a, Result<Vec<ForeignPatient>, GatewayError>> {
        Box::pin(ForeignGateway::find_patient(self, ncp, user, id))
    }

    fn list_documents<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        class: DocumentClass,
    ) -> BoxFuture<'a, Result<Vec<DocumentRef>, GatewayError>> {
        Box::pin(ForeignGateway::list_documents(
            self, ncp, user, patient, class,
        ))
    }

    fn retrieve<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        doc: &'a DocumentRef,
    ) -> BoxFuture<'a, Result<RetrievedDocument, GatewayError>> {
        Box::pin(ForeignGateway::retrieve(self, ncp, user, patient, doc))
    }

    fn submit_dispensation<'a>(
        &'a self,
        ncp: &'a ForeignNcp,
        user: &'a HcpUser,
        patient: &'a ForeignPatientId,
        cda: &'a str,
        discard: bool,
    ) -> BoxFuture<'a, Result<Acknowledgement, GatewayError>> {
        Box::pin(ForeignGateway::submit_dispensation(
            self, ncp, user, patient, cda, discard,
        ))
    }
}
