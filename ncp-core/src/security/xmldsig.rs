//! XML-DSig with libxmlsec1 (through the `xmlsec` crate): ID registration, verification of the
//! enveloped signature of one assertion with one given certificate, and signing.
//!
//! Everything here works on a libxml document owned by the calling function; the xmlsec contexts
//! live for one call and are never shared, so calls on different threads are independent. The
//! library's global initialisation happens once, behind the `xmlsec` crate's lock.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::null;
use std::sync::Once;

use libxml::bindings as xml;
use libxml::tree::{Document, Node};
use xmlsec::bindings as sec;
use xmlsec::{XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

use super::assertion::{children, DSIG_NS};
use super::errors::SignatureFailure;

pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// The signature algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    RsaSha256,
    EcdsaP256Sha256,
}

unsafe extern "C" {
    // xmlsec/errors.h; not in the `xmlsec` crate's generated bindings.
    fn xmlSecErrorsSetCallback(callback: Option<ErrorCallback>);
}

type ErrorCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

/// Routes libxmlsec1's error reports to `tracing` at debug level instead of stderr. Only the
/// reporting function, object and reason code are logged; never message content.
unsafe extern "C" fn on_xmlsec_error(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    _error_subject: *const c_char,
    reason: c_int,
    _msg: *const c_char,
) {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: libxmlsec1 passes NUL-terminated strings or NULL.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    tracing::debug!(
        func = %text(func),
        object = %text(error_object),
        reason,
        "xmlsec reported an error"
    );
}

/// How many libxml2 errors [`on_libxml_error`] took (for tests).
static LIBXML_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Routes libxml2's own error reports (C14N, encoding, tree errors met while canonicalising or
/// verifying) to `tracing` at debug level instead of stderr, where their messages would quote
/// parts of the document. Only the domain and code are logged.
unsafe extern "C" fn on_libxml_error(_data: *mut std::ffi::c_void, error: xml::xmlErrorPtr) {
    LIBXML_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if error.is_null() {
        return;
    }
    // SAFETY: libxml2 passes a valid error for the duration of the call.
    let (domain, code) = unsafe { ((*error).domain, (*error).code) };
    tracing::debug!(domain, code, "libxml2 reported an error");
}

/// Initialises libxml2 and libxmlsec1 once for the process, and routes the calling thread's
/// libxml2 errors to `tracing` (libxml2 keeps the handler per thread; threads that first touch
/// libxml2 after the first call inherit it from the thread default set here).
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: called once, before any parse; xmlInitParser is idempotent.
        unsafe { xml::xmlInitParser() };
        // Creating a context runs the crate's guarded global xmlsec initialisation.
        drop(XmlSecSignatureContext::new());
        // SAFETY: the callbacks are plain functions valid for the process lifetime.
        unsafe {
            xmlSecErrorsSetCallback(Some(on_xmlsec_error));
            xml::xmlThrDefSetStructuredErrorFunc(std::ptr::null_mut(), Some(on_libxml_error));
        }
    });
    // SAFETY: sets this thread's handler to a function valid for the process lifetime.
    unsafe { xml::xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(on_libxml_error)) };
}

/// Registers `assertion/@ID` as the document's ID `id`. `false` when the ID is already taken by
/// another attribute (xml:id, a DTD-less duplicate) or the attribute is missing.
pub(crate) fn register_id(doc: &Document, assertion: &Node, id: &str) -> bool {
    let Some(attr) = assertion.get_property_node_no_ns("ID") else {
        return false;
    };
    let Ok(cid) = CString::new(id) else {
        return false;
    };
    let attr_ptr = attr.node_ptr() as xml::xmlAttrPtr;
    let value = cid.as_ptr() as *const xml::xmlChar;
    // SAFETY: doc and attr belong to the live document `doc`; `value` outlives the calls.
    unsafe {
        let existing = xml::xmlGetID(doc.doc_ptr(), value);
        if existing.is_null() {
            !xml::xmlAddID(std::ptr::null_mut(), doc.doc_ptr(), value, attr_ptr).is_null()
        } else {
            existing == attr_ptr
        }
    }
}

/// Whether `value` occurs as the value of any attribute of the document other than `owner`'s
/// no-namespace `ID`: a second element claiming the same ID, under any attribute name.
pub(crate) fn id_value_elsewhere(root: &Node, owner: &Node, value: &str) -> bool {
    let mut stack = vec![root.clone()];
    while let Some(node) = stack.pop() {
        for ((name, ns), v) in node.get_properties_ns() {
            if v.trim() == value.trim() && !(node == *owner && name == "ID" && ns.is_none()) {
                return true;
            }
        }
        stack.extend(node.get_child_elements());
    }
    false
}

/// The `ds:Signature` of an assertion, checked to be an enveloped eHDSI signature over exactly
/// the element with ID `id`: one SignedInfo, exclusive c14n, RSA-SHA256 or ECDSA-SHA256, one
/// Reference to `#id` with the enveloped and exclusive-c14n transforms and SHA-256, no Object.
/// Returns the signature node and the DER certificates of its KeyInfo.
pub(crate) fn signature_of(
    assertion: &Node,
    id: &str,
) -> Result<(Node, Vec<Vec<u8>>), SignatureFailure> {
    let sigs = children(assertion, DSIG_NS, "Signature");
    let sig = match sigs.as_slice() {
        [] => return Err(SignatureFailure::Missing),
        [s] => s.clone(),
        _ => return Err(SignatureFailure::WrongReference),
    };
    let alg = |n: &Node| n.get_attribute_no_ns("Algorithm").unwrap_or_default();
    let one = |parent: &Node, local: &str| -> Result<Node, SignatureFailure> {
        let mut found = children(parent, DSIG_NS, local);
        if found.len() == 1 {
            found.pop().ok_or(SignatureFailure::WrongReference)
        } else {
            Err(SignatureFailure::WrongReference)
        }
    };
    if !children(&sig, DSIG_NS, "Object").is_empty() {
        return Err(SignatureFailure::WrongReference);
    }
    let signed_info = one(&sig, "SignedInfo")?;
    if alg(&one(&signed_info, "CanonicalizationMethod").map_err(|_| SignatureFailure::Algorithm)?)
        != EXC_C14N
    {
        return Err(SignatureFailure::Algorithm);
    }
    let method =
        alg(&one(&signed_info, "SignatureMethod").map_err(|_| SignatureFailure::Algorithm)?);
    if method != RSA_SHA256 && method != ECDSA_SHA256 {
        return Err(SignatureFailure::Algorithm);
    }
    let reference = one(&signed_info, "Reference")?;
    if reference.get_attribute_no_ns("URI").as_deref() != Some(&format!("#{id}")) {
        return Err(SignatureFailure::WrongReference);
    }
    let transforms = match children(&reference, DSIG_NS, "Transforms").as_slice() {
        [t] => children(t, DSIG_NS, "Transform"),
        _ => return Err(SignatureFailure::WrongReference),
    };
    let algs: Vec<String> = transforms.iter().map(alg).collect();
    if !algs.iter().any(|a| a == ENVELOPED)
        || algs.iter().any(|a| a != ENVELOPED && a != EXC_C14N)
        || algs.len() > 2
    {
        return Err(SignatureFailure::Algorithm);
    }
    if alg(&one(&reference, "DigestMethod").map_err(|_| SignatureFailure::Algorithm)?) != SHA256 {
        return Err(SignatureFailure::Algorithm);
    }
    let mut certs = Vec::new();
    for key_info in children(&sig, DSIG_NS, "KeyInfo") {
        for data in children(&key_info, DSIG_NS, "X509Data") {
            for cert in children(&data, DSIG_NS, "X509Certificate") {
                let b64: String = cert
                    .get_content()
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                use base64::Engine as _;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| SignatureFailure::UntrustedSigner)?;
                certs.push(der);
            }
        }
    }
    Ok((sig, certs))
}

/// Verifies the enveloped signature `sig` of the element with ID `id` with the public key of
/// the certificate `cert_der` (which the caller took from the trust list). Only same-document
/// references and the eHDSI transforms and algorithms are enabled in libxmlsec1; afterwards the
/// one processed reference must be `#id` and have succeeded.
pub(crate) fn verify(sig: &Node, id: &str, cert_der: &[u8]) -> Result<(), SignatureFailure> {
    init();
    let key = XmlSecKey::from_memory(cert_der, XmlSecKeyFormat::CertDer, None)
        .map_err(|_| SignatureFailure::UntrustedSigner)?;
    let mut ctx = XmlSecSignatureContext::new();
    // SAFETY: ctx is a live xmlSecDSigCtx owned by `ctx` for this whole function; the transform
    // klasses are static descriptors of libxmlsec1.
    unsafe {
        let raw = ctx.as_ptr();
        (*raw).enabledReferenceUris = sec::xmlSecTransformUriTypeSameDocument;
        (*raw).flags |= sec::XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
        let reference_transforms = [
            sec::xmlSecTransformEnvelopedGetKlass(),
            sec::xmlSecTransformExclC14NGetKlass(),
            sec::xmlSecOpenSSLTransformSha256GetKlass(),
        ];
        for t in reference_transforms {
            if sec::xmlSecDSigCtxEnableReferenceTransform(raw, t) < 0 {
                return Err(SignatureFailure::Algorithm);
            }
        }
        let signature_transforms = [
            sec::xmlSecTransformExclC14NGetKlass(),
            sec::xmlSecOpenSSLTransformRsaSha256GetKlass(),
            sec::xmlSecOpenSSLTransformEcdsaSha256GetKlass(),
        ];
        for t in signature_transforms {
            if sec::xmlSecDSigCtxEnableSignatureTransform(raw, t) < 0 {
                return Err(SignatureFailure::Algorithm);
            }
        }
    }
    ctx.insert_key(key);
    let valid = match ctx.verify_node(sig) {
        Ok(valid) => valid,
        Err(_) => return Err(SignatureFailure::Invalid),
    };
    if !valid {
        return Err(SignatureFailure::Invalid);
    }
    // SAFETY: as above; the reference list and its items are owned by the context.
    unsafe {
        let raw = ctx.as_ptr();
        let list = &mut (*raw).signedInfoReferences as *mut sec::xmlSecPtrList;
        if sec::xmlSecPtrListGetSize(list) != 1 {
            return Err(SignatureFailure::WrongReference);
        }
        let reference = sec::xmlSecPtrListGetItem(list, 0) as sec::xmlSecDSigReferenceCtxPtr;
        if reference.is_null()
            || (*reference).status != sec::xmlSecDSigStatus_xmlSecDSigStatusSucceeded
            || (*reference).uri.is_null()
        {
            return Err(SignatureFailure::WrongReference);
        }
        let uri = CStr::from_ptr((*reference).uri as *const c_char);
        if uri.to_bytes() != format!("#{id}").as_bytes() {
            return Err(SignatureFailure::WrongReference);
        }
    }
    Ok(())
}

/// Why signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the private key or certificate cannot be loaded")]
    Key,
    #[error("the signature template cannot be built")]
    Template,
    #[error("libxmlsec1 failed to sign")]
    Sign,
}

/// Signs `assertion` (ID `id`, already registered) with an enveloped signature placed right
/// after its `saml2:Issuer`, as the SAML schema orders it: exclusive c14n, SHA-256, RSA-SHA256
/// or ECDSA-SHA256 per `alg`, and the certificate in `KeyInfo/X509Data`.
pub(crate) fn sign(
    doc: &Document,
    issuer: &Node,
    id: &str,
    key_pem: &[u8],
    cert_der: &[u8],
    alg: KeyAlgorithm,
) -> Result<(), SignError> {
    init();
    let key =
        XmlSecKey::from_memory(key_pem, XmlSecKeyFormat::Pem, None).map_err(|_| SignError::Key)?;
    key.load_cert_from_memory(cert_der, XmlSecKeyFormat::CertDer)
        .map_err(|_| SignError::Key)?;
    let uri = CString::new(format!("#{id}")).map_err(|_| SignError::Template)?;
    let prefix = CString::new("ds").map_err(|_| SignError::Template)?;
    let mut ctx = XmlSecSignatureContext::new();
    ctx.insert_key(key);
    // SAFETY: all nodes belong to the live document `doc`; the template nodes are linked into
    // it before signing, so the document frees them; `ctx` outlives the sign call.
    unsafe {
        let doc_ptr = doc.doc_ptr() as sec::xmlDocPtr;
        let method = match alg {
            KeyAlgorithm::RsaSha256 => sec::xmlSecOpenSSLTransformRsaSha256GetKlass(),
            KeyAlgorithm::EcdsaP256Sha256 => sec::xmlSecOpenSSLTransformEcdsaSha256GetKlass(),
        };
        let sig = sec::xmlSecTmplSignatureCreateNsPref(
            doc_ptr,
            sec::xmlSecTransformExclC14NGetKlass(),
            method,
            null(),
            prefix.as_ptr() as *const sec::xmlChar,
        );
        if sig.is_null() {
            return Err(SignError::Template);
        }
        if xml::xmlAddNextSibling(issuer.node_ptr(), sig as xml::xmlNodePtr).is_null() {
            sec::xmlFreeNode(sig);
            return Err(SignError::Template);
        }
        let reference = sec::xmlSecTmplSignatureAddReference(
            sig,
            sec::xmlSecOpenSSLTransformSha256GetKlass(),
            null(),
            uri.as_ptr() as *const sec::xmlChar,
            null(),
        );
        if reference.is_null()
            || sec::xmlSecTmplReferenceAddTransform(
                reference,
                sec::xmlSecTransformEnvelopedGetKlass(),
            )
            .is_null()
            || sec::xmlSecTmplReferenceAddTransform(
                reference,
                sec::xmlSecTransformExclC14NGetKlass(),
            )
            .is_null()
        {
            return Err(SignError::Template);
        }
        let key_info = sec::xmlSecTmplSignatureEnsureKeyInfo(sig, null());
        let x509 = if key_info.is_null() {
            key_info
        } else {
            sec::xmlSecTmplKeyInfoAddX509Data(key_info)
        };
        if x509.is_null() || sec::xmlSecTmplX509DataAddCertificate(x509).is_null() {
            return Err(SignError::Template);
        }
        if sec::xmlSecDSigCtxSign(ctx.as_ptr(), sig) < 0 {
            return Err(SignError::Sign);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libxml2_errors_go_to_tracing_not_stderr() {
        init();
        let before = LIBXML_ERRORS.load(std::sync::atomic::Ordering::Relaxed);
        // Not UTF-8 though it says so: libxml2 raises an encoding error quoting the bytes.
        let bad = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>19121212\xff\xfe1212</a>";
        // SAFETY: the buffer outlives the call; a returned document is freed.
        unsafe {
            let doc = xml::xmlReadMemory(
                bad.as_ptr() as *const c_char,
                bad.len() as c_int,
                null(),
                null(),
                (xml::xmlParserOption_XML_PARSE_NONET) as c_int,
            );
            if !doc.is_null() {
                xml::xmlFreeDoc(doc);
            }
        }
        assert!(
            LIBXML_ERRORS.load(std::sync::atomic::Ordering::Relaxed) > before,
            "libxml2's error went around the handler (to stderr)"
        );
    }
}
