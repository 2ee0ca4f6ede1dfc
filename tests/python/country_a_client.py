#!/usr/bin/env python3
"""An independent Country B client of the Swedish NCP's Country A endpoints.

Written without the project's code: HTTP and mutual TLS by `requests`, XML by `lxml`, the SAML
assertions' XML-DSig signatures by `signxml`, every SOAP 1.2 envelope, MTOM package, IHE message
and the eDispensation CDA built here from the IHE and eHDSI specifications.

usage: country_a_client.py ENDPOINTS_JSON [--country EE] [--patient 191212121212]
                           [--other-patient 195804232378] [--out DIR]

ENDPOINTS_JSON is the file `ncp sandbox` writes. The flow, as a pharmacy abroad would run it:

  XCPD (ITI-55) identify the patient by personnummer
  XCA  (ITI-38) list their ePrescriptions (class 57833-6)
  XCA  (ITI-39) retrieve one L3 ePrescription, once plainly and once as MTOM
       validate it with ../shared/conformance/validate-cda when ../shared exists
  XDR  (ITI-41) submit an eDispensation built here (MTOM), then discard it (inline base64)
  negative: an unsigned HCP assertion (4704); a TRC assertion for another patient (4206)

Every response is checked (HTTP status, SOAP Action and RelatesTo, acknowledgement codes,
metadata values, absence of eHDSI errors). One `OK ...` line per passed step on stdout, then
`ALL CHECKS PASSED`; on the first mismatch `FAILED: ...` and exit status 1. Nothing printed
names a patient: no identifiers, names or document content.
"""

import argparse
import base64
import copy
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import ssl

import requests
from lxml import etree
from requests.adapters import HTTPAdapter
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

# --- namespaces and codes (IHE ITI TF-2/3, eHDSI) ---------------------------------------------

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
HL7 = "urn:hl7-org:v3"
PHARM = "urn:hl7-org:pharm"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
NS = {
    "s": SOAP, "wsa": WSA, "wsse": WSSE, "saml2": SAML, "hl7": HL7, "pharm": PHARM,
    "query": QUERY, "rim": RIM, "rs": RS, "lcm": LCM, "xdsb": XDSB, "xop": XOP,
}

ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
ACTIONS = {
    "xcpd": ("urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
             "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery"),
    "query": ("urn:ihe:iti:2007:CrossGatewayQuery", "urn:ihe:iti:2007:CrossGatewayQueryResponse"),
    "retrieve": ("urn:ihe:iti:2007:CrossGatewayRetrieve",
                 "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"),
    "pnr": ("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
            "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"),
}

PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
LOINC = "2.16.840.1.113883.6.1"
CLASS_EP = "57833-6"
CLASS_ED = "60593-1"
FORMAT_EP = "urn:epSOS:ep:pre:2010"
FORMAT_ED = "urn:epSOS:ep:dis:2010"
FORMAT_ED_DISCARD = "urn:eHDSI:ed:discard:2020"
FORMAT_PDF = "urn:ihe:iti:xds-sd:pdf:2008"
TEMPLATE_EP_L3 = "1.3.6.1.4.1.12559.11.10.1.3.1.1.1"
TEMPLATE_ED = "1.3.6.1.4.1.12559.11.10.1.3.1.1.2"
TEMPLATE_EP_ITEM = "1.3.6.1.4.1.12559.11.10.1.3.1.3.2"
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
DOC_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SCHEME = {
    "class": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "type": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "format": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "conf": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "facility": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practice": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "event": "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4",
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "patient": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "unique": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "ss_author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "ss_content": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
    "ss_unique": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "ss_source": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "ss_patient": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
XDW = ("urn:ihe:iti:xdw:2011:eventCode:open", "1.3.6.1.4.1.19376.1.2.3")

# The (invented) Estonian pharmacy and pharmacist of this client; an arc of the OID 2.25 space.
ORG_ROOT = "2.25.311842016543077186238457613401239177501"
DOC_ROOT = ORG_ROOT + ".1"
PERMISSION_PREFIX = "urn:oasis:names:tc:xspa:1.0:subject:hl7:permission:"
PERMISSIONS = ["PRD-006", "PRD-004", "PRD-010", "PPD-046"]
AUDIENCE = "urn:ehdsi:assertions.audience:x-border"


class Failure(Exception):
    """A check that did not hold: the message says what was expected and what came."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def ok(message):
    print("OK " + message, flush=True)


def q(ns, local):
    return "{%s}%s" % (NS[ns], local)


def el(parent, tag, attrs=None, text=None, nsmap=None):
    """A child element `ns:local` (or an element when `parent` is None)."""
    ns, local = tag.split(":", 1)
    name = q(ns, local)
    e = etree.Element(name, nsmap=nsmap) if parent is None else etree.SubElement(parent, name, nsmap=nsmap)
    for k, v in (attrs or {}).items():
        if ":" in k:
            kns, klocal = k.split(":", 1)
            e.set("{%s}%s" % ({"xsi": XSI, "s": SOAP}[kns], klocal), v)
        else:
            e.set(k, v)
    if text is not None:
        e.text = text
    return e


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


def saml_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def hl7_ts(t):
    return t.strftime("%Y%m%d%H%M%S")


def new_oid():
    return "2.25.%d" % uuid.uuid4().int


SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_xml(data, what):
    try:
        return etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError as e:
        raise Failure("%s is not well-formed XML: %s" % (what, e))


# --- SAML assertions -----------------------------------------------------------------------------


class Signer:
    def __init__(self, cert_path, key_path):
        self.cert_pem = open(cert_path, "r").read()
        self.key_pem = open(key_path, "rb").read()

    def sign(self, assertion):
        """An enveloped exclusive-c14n ECDSA-SHA256 signature right after saml2:Issuer."""
        issuer = assertion.find(q("saml2", "Issuer"))
        issuer.addnext(etree.Element("{%s}Signature" % DS, Id="placeholder", nsmap={"ds": DS}))
        signer = XMLSigner(
            signature_algorithm=SignatureMethod.ECDSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed = signer.sign(assertion, key=self.key_pem, cert=self.cert_pem,
                             reference_uri="#" + assertion.get("ID"), id_attribute="ID")
        # Re-parse the serialisation, as a receiver will see it.
        return etree.fromstring(etree.tostring(signed))


def _assertion(qualifier, issuer, subject, lifetime_minutes):
    t = now_utc()
    a = el(None, "saml2:Assertion", nsmap={"saml2": SAML, "xsi": XSI, "xsd": XSD})
    a.set("ID", "_" + str(uuid.uuid4()))
    a.set("IssueInstant", saml_time(t))
    a.set("Version", "2.0")
    el(a, "saml2:Issuer", {"NameQualifier": qualifier}, issuer)
    s = el(a, "saml2:Subject")
    el(s, "saml2:NameID", {"Format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}, subject)
    el(s, "saml2:SubjectConfirmation", {"Method": "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"})
    c = el(a, "saml2:Conditions", {
        "NotBefore": saml_time(t),
        "NotOnOrAfter": saml_time(t + dt.timedelta(minutes=lifetime_minutes)),
    })
    el(el(c, "saml2:AudienceRestriction"), "saml2:Audience", text=AUDIENCE)
    return a, t


def _authn(a, t, cls):
    st = el(a, "saml2:AuthnStatement", {"AuthnInstant": saml_time(t)})
    el(el(st, "saml2:AuthnContext"), "saml2:AuthnContextClassRef",
       text="urn:oasis:names:tc:SAML:2.0:ac:classes:" + cls)


def _attribute(stmt, friendly, name, values=(), coded=None):
    at = el(stmt, "saml2:Attribute", {
        "FriendlyName": friendly, "Name": name,
        "NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    })
    for v in values:
        el(at, "saml2:AttributeValue", {"xsi:type": "xsd:string"}, v)
    if coded is not None:
        local, attrs = coded
        av = el(at, "saml2:AttributeValue")
        c = etree.SubElement(av, "{%s}%s" % (HL7, local), nsmap={None: HL7})
        for k, v in attrs.items():
            c.set(k, v)


def purpose(stmt):
    _attribute(stmt, "XSPA Purpose Of Use", "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
               coded=("PurposeOfUse", {
                   "code": "TREATMENT", "codeSystem": "3bc18518-d305-46c2-a8d6-94bd59856e9e",
                   "codeSystemName": "eHDSI XSPA PurposeOfUse", "displayName": "TREATMENT"}))


HCP_SUBJECT = "pharmacist.kask@apteek.test"


def hcp_assertion(country):
    """The HCP identity assertion of an (invented) pharmacist in `country`."""
    a, t = _assertion("urn:ehdsi:assertions:hcp", "urn:idp:%s:countryB" % country, HCP_SUBJECT, 120)
    _authn(a, t, "X509")
    st = el(a, "saml2:AttributeStatement")
    _attribute(st, "XSPA Subject", "urn:oasis:names:tc:xspa:1.0:subject:subject-id", ["Kadri Kask"])
    _attribute(st, "XSPA Role", "urn:oasis:names:tc:xacml:2.0:subject:role",
               coded=("Role", {"code": "2262", "codeSystem": "2.16.840.1.113883.2.9.6.2.7",
                               "codeSystemName": "ISCO", "displayName": "Pharmacists"}))
    _attribute(st, "XSPA Organization", "urn:oasis:names:tc:xspa:1.0:subject:organization",
               ["Tallinna Test Apteek"])
    _attribute(st, "XSPA Organization ID", "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
               ["urn:oid:" + ORG_ROOT])
    _attribute(st, "eHealth DSI Healthcare Facility Type",
               "urn:ehdsi:names:subject:healthcare-facility-type", ["Pharmacy"])
    purpose(st)
    _attribute(st, "XSPA Locality", "urn:oasis:names:tc:xspa:1.0:environment:locality",
               ["Tallinna Test Apteek, Tallinn"])
    _attribute(st, "Hl7 Permissions", "urn:oasis:names:tc:xspa:1.0:subject:hl7:permission",
               [PERMISSION_PREFIX + p for p in PERMISSIONS])
    return a


def trc_assertion(country, hcp_id, patient_cx):
    """The treatment relationship confirmation for `patient_cx`, referring to the HCP assertion."""
    a, t = _assertion("urn:ehdsi:assertions:trc", "urn:ncp:%s:countryB" % country, HCP_SUBJECT, 60)
    el(el(a, "saml2:Advice"), "saml2:AssertionIDRef", text=hcp_id)
    _authn(a, t, "PreviousSession")
    st = el(a, "saml2:AttributeStatement")
    _attribute(st, "XACML Resource Id", "urn:oasis:names:tc:xacml:1.0:resource:resource-id",
               [patient_cx])
    purpose(st)
    return a


# --- SOAP 1.2 over HTTPS, plain and MTOM ------------------------------------------------------


class Response:
    def __init__(self, http, envelope, parts, mtom):
        self.http = http
        self.envelope = envelope
        self.parts = parts  # Content-ID (no angle brackets) -> bytes
        self.mtom = mtom

    @property
    def body(self):
        b = self.envelope.find(q("s", "Body"))
        kids = [] if b is None else [k for k in b if isinstance(k.tag, str)]
        return kids[0] if kids else None

    def fault(self):
        b = self.body
        return b if b is not None and b.tag == q("s", "Fault") else None

    def header(self, local):
        return self.envelope.findtext("s:Header/wsa:%s" % local, namespaces=NS)


def split_multipart(content_type, data):
    """multipart/related -> (root bytes, {content-id: bytes}): RFC 2046 by hand."""
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    check(m, "multipart response without a boundary: %s" % content_type)
    start = re.search(r'start="?<?([^">;]+)>?"?', content_type, re.I)
    delim = b"--" + m.group(1).encode()
    chunks = data.split(delim)
    check(len(chunks) >= 3 and chunks[-1].strip().startswith(b"--"),
          "multipart response not closed by its boundary")
    parts = []
    for chunk in chunks[1:-1]:
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, body = chunk.partition(b"\r\n\r\n")
        check(sep, "a MIME part without a header/body separator")
        if body.endswith(b"\r\n"):
            body = body[:-2]
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        cid = headers.get("content-id", "").strip().strip("<>")
        parts.append((cid, headers.get("content-type", ""), body))
    check(parts, "multipart response without parts")
    root_index = 0
    if start:
        ids = [p[0] for p in parts]
        check(start.group(1) in ids, "no MIME part matches start=%s" % start.group(1))
        root_index = ids.index(start.group(1))
    root = parts[root_index]
    check(root[1].lower().startswith("application/xop+xml"),
          "MTOM root part is %r, expected application/xop+xml" % root[1])
    return root[2], {p[0]: p[2] for i, p in enumerate(parts) if i != root_index}


class TlsAdapter(HTTPAdapter):
    """Mutual TLS with an explicit context: trust the sandbox CA only, present our client
    certificate. (`verify=CA_PATH` alone does not reach urllib3 2.8's context with requests
    2.32.3, so the context is built here.)"""

    def __init__(self, ca, cert, key, strict=False):
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        if strict:
            self.ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        else:
            self.ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self.ctx
        return super().init_poolmanager(*args, **kwargs)


class Gateway:
    def __init__(self, endpoints, country):
        self.base = endpoints["bridge"].rstrip("/")
        client = next((c for c in endpoints["clients"] if c["country"] == country), None)
        check(client is not None, "endpoints.json has no client for %s" % country)
        self.country = country
        self.tls = (endpoints["ca_cert"], client["tls_cert"], client["tls_key"])
        self.http = requests.Session()
        self.http.mount(self.base, TlsAdapter(*self.tls))
        self.signer = Signer(client["saml_cert"], client["saml_key"])

    def strict_x509_finding(self):
        """None when the bridge's chain passes OpenSSL's X509_STRICT profile (the default of
        Python 3.13+), else why not."""
        s = requests.Session()
        s.mount(self.base, TlsAdapter(*self.tls, strict=True))
        try:
            s.get(self.base + "/status", timeout=15)
            return None
        except requests.exceptions.SSLError as e:
            m = re.search(r"certificate verify failed: ([^(]+)", str(e))
            return m.group(1).strip() if m else str(e)[:200]

    def status(self):
        r = self.http.get(self.base + "/status", timeout=15)
        check(r.status_code == 200, "GET /status: HTTP %d" % r.status_code)
        return r.json()

    def call(self, path, kind, body, assertions, attachments=None, mtom=False):
        """POSTs a SOAP 1.2 request (MTOM when `mtom` or with `attachments`) and reads the answer."""
        action, _ = ACTIONS[kind]
        message_id = "urn:uuid:" + str(uuid.uuid4())
        env = el(None, "s:Envelope", nsmap={"s": SOAP, "wsa": WSA})
        h = el(env, "s:Header")
        el(h, "wsa:Action", {"s:mustUnderstand": "true"}, action)
        el(h, "wsa:MessageID", text=message_id)
        el(el(h, "wsa:ReplyTo"), "wsa:Address", text=ANONYMOUS)
        el(h, "wsa:To", text=self.base + path)
        if assertions:
            sec = el(h, "wsse:Security", {"s:mustUnderstand": "true"}, nsmap={"wsse": WSSE})
            for a in assertions:
                sec.append(copy.deepcopy(a))
        el(env, "s:Body").append(body)
        xml = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        if attachments or mtom:
            boundary = "MIMEBoundary_" + uuid.uuid4().hex
            root_id = "root.%s@client.test" % uuid.uuid4().hex
            out = [b"--" + boundary.encode(),
                   b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
                   b"Content-Transfer-Encoding: binary",
                   ("Content-ID: <%s>" % root_id).encode(), b"", xml]
            for cid, ctype, data in attachments or []:
                out += [b"--" + boundary.encode(), ("Content-Type: %s" % ctype).encode(),
                        b"Content-Transfer-Encoding: binary",
                        ("Content-ID: <%s>" % cid).encode(), b"", data]
            payload = b"\r\n".join(out) + b"\r\n--" + boundary.encode() + b"--\r\n"
            ctype = ('multipart/related; boundary="%s"; type="application/xop+xml"; start="<%s>"; '
                     'start-info="application/soap+xml"; action="%s"' % (boundary, root_id, action))
        else:
            payload = xml
            ctype = 'application/soap+xml; charset=UTF-8; action="%s"' % action
        r = self.http.post(self.base + path, data=payload, headers={"Content-Type": ctype},
                           timeout=60)
        rtype = r.headers.get("Content-Type", "")
        if rtype.lower().startswith("multipart/related"):
            root, parts = split_multipart(rtype, r.content)
            resp = Response(r, parse_xml(root, "the MTOM root part"), parts, True)
        else:
            check(rtype.lower().startswith("application/soap+xml"),
                  "%s %s: HTTP %d with Content-Type %r, expected SOAP 1.2"
                  % (kind, path, r.status_code, rtype))
            resp = Response(r, parse_xml(r.content, "the response"), {}, False)
        check(resp.envelope.tag == q("s", "Envelope"), "%s: the answer is not a SOAP 1.2 envelope" % kind)
        check(resp.header("RelatesTo") == message_id,
              "%s: wsa:RelatesTo is %r, expected our MessageID" % (kind, resp.header("RelatesTo")))
        return resp

    def expect_ok(self, resp, kind):
        f = resp.fault()
        if f is not None:
            raise Failure("%s: SOAP fault %s (HTTP %d): %s" % (
                kind, fault_codes(f), resp.http.status_code,
                f.findtext("s:Reason/s:Text", namespaces=NS)))
        check(resp.http.status_code == 200, "%s: HTTP %d" % (kind, resp.http.status_code))
        _, response_action = ACTIONS[kind]
        check(resp.header("Action") == response_action,
              "%s: wsa:Action is %r, expected %r" % (kind, resp.header("Action"), response_action))


def fault_codes(fault):
    """Every code a SOAP fault carries: Code/Subcode values and the texts of Detail elements."""
    codes = [v.text.strip() for v in fault.iter(q("s", "Value")) if v.text]
    detail = fault.find(q("s", "Detail"))
    if detail is not None:
        codes += [e.text.strip() for e in detail.iter() if isinstance(e.tag, str) and e.text and e.text.strip()]
        codes += [v for e in detail.iter() if isinstance(e.tag, str) for k, v in e.attrib.items()
                  if k in ("code", "errorCode")]
    return codes


def registry_errors(node):
    """(errorCode, severity) of every rs:RegistryError under `node`."""
    return [(e.get("errorCode"), e.get("severity", "")) for e in node.iter(q("rs", "RegistryError"))]


def cx(ext, root):
    return "%s^^^&%s&ISO" % (ext, root)


def person_root(pnr):
    return SAMORDNINGSNUMMER_OID if int(pnr[6:8]) > 60 else PERSONNUMMER_OID


# --- XCPD ------------------------------------------------------------------------------------


def xcpd_request(pnr, hcid, message_id, query_id):
    hl7 = lambda p, t, a=None, text=None: el(p, "hl7:" + t, a, text)  # noqa: E731
    m = el(None, "hl7:PRPA_IN201305UV02", {"ITSVersion": "XML_1.0"}, nsmap={None: HL7, "xsi": XSI})
    hl7(m, "id", {"root": ORG_ROOT, "extension": message_id})
    hl7(m, "creationTime", {"value": hl7_ts(now_utc())})
    hl7(m, "interactionId", {"root": "2.16.840.1.113883.1.6", "extension": "PRPA_IN201305UV02"})
    hl7(m, "processingCode", {"code": "P"})
    hl7(m, "processingModeCode", {"code": "T"})
    hl7(m, "acceptAckCode", {"code": "AL"})
    for wrapper, type_code, org in (("receiver", "RCV", hcid), ("sender", "SND", ORG_ROOT)):
        d = hl7(hl7(m, wrapper, {"typeCode": type_code}), "device",
                {"classCode": "DEV", "determinerCode": "INSTANCE"})
        hl7(d, "id", {"root": org})
        o = hl7(hl7(d, "asAgent", {"classCode": "AGNT"}), "representedOrganization",
                {"classCode": "ORG", "determinerCode": "INSTANCE"})
        hl7(o, "id", {"root": org})
    cap = hl7(m, "controlActProcess", {"classCode": "CACT", "moodCode": "EVN"})
    hl7(cap, "code", {"code": "PRPA_TE201305UV02", "codeSystem": "2.16.840.1.113883.1.6"})
    qbp = hl7(cap, "queryByParameter")
    hl7(qbp, "queryId", {"root": ORG_ROOT, "extension": query_id})
    hl7(qbp, "statusCode", {"code": "new"})
    hl7(qbp, "responseModalityCode", {"code": "R"})
    hl7(qbp, "responsePriorityCode", {"code": "I"})
    pl = hl7(qbp, "parameterList")
    lsi = hl7(pl, "livingSubjectId")
    hl7(lsi, "value", {"root": person_root(pnr), "extension": pnr})
    hl7(lsi, "semanticsText", text="LivingSubject.id")
    return m


def identify(gw, pnr, hcid, hcp):
    message_id, query_id = uuid.uuid4().hex, uuid.uuid4().hex
    resp = gw.call("/ncp/xcpd", "xcpd", xcpd_request(pnr, hcid, message_id, query_id), [hcp])
    gw.expect_ok(resp, "xcpd")
    r = resp.body
    check(r.tag == q("hl7", "PRPA_IN201306UV02"), "XCPD: body is %s, expected PRPA_IN201306UV02" % r.tag)
    ack = r.find("hl7:acknowledgement", NS)
    check(ack is not None, "XCPD: no acknowledgement")
    check(ack.find("hl7:typeCode", NS).get("code") == "AA",
          "XCPD: acknowledgement %s, expected AA" % ack.find("hl7:typeCode", NS).get("code"))
    target = ack.find("hl7:targetMessage/hl7:id", NS)
    check(target is not None and target.get("extension") == message_id and target.get("root") == ORG_ROOT,
          "XCPD: targetMessage does not acknowledge our message id")
    details = [d.find("hl7:code", NS).get("code") for d in ack.findall("hl7:acknowledgementDetail", NS)]
    check(not details, "XCPD: acknowledgementDetail codes %s on a match" % details)
    qa = r.find("hl7:controlActProcess/hl7:queryAck", NS)
    check(qa is not None, "XCPD: no queryAck")
    check(qa.find("hl7:queryId", NS).get("extension") == query_id, "XCPD: queryAck/queryId is not ours")
    code = qa.find("hl7:queryResponseCode", NS).get("code")
    check(code == "OK", "XCPD: queryResponseCode %s, expected OK" % code)
    total = qa.find("hl7:resultTotalQuantity", NS).get("value")
    check(total == "1", "XCPD: resultTotalQuantity %s, expected 1" % total)
    patients = r.findall("hl7:controlActProcess/hl7:subject/hl7:registrationEvent/hl7:subject1/hl7:patient", NS)
    check(len(patients) == 1, "XCPD: %d patients in the answer, expected 1" % len(patients))
    p = patients[0]
    ids = [(i.get("root"), i.get("extension")) for i in p.findall("hl7:id", NS)]
    check((person_root(pnr), pnr) in ids, "XCPD: the matched patient does not carry the queried id")
    person = p.find("hl7:patientPerson", NS)
    check(person is not None and (person.findtext("hl7:name/hl7:family", namespaces=NS) or "").strip(),
          "XCPD: the matched patient has no family name")
    birth = person.find("hl7:birthTime", NS)
    day = int(pnr[6:8])
    expected_birth = pnr[:6] + "%02d" % (day - 60 if day > 60 else day)
    check(birth is not None and (birth.get("value") or "").startswith(expected_birth),
          "XCPD: birthTime does not agree with the personal identity number")
    echoed = r.find("hl7:controlActProcess/hl7:queryByParameter/hl7:queryId", NS)
    check(echoed is not None and echoed.get("extension") == query_id, "XCPD: queryByParameter not echoed")
    ok("XCPD: patient identified (1 match, AA/OK, birth date agrees with the id)")
    return cx(pnr, person_root(pnr))


# --- XCA --------------------------------------------------------------------------------------


def slot(parent, name, values):
    s = el(parent, "rim:Slot", {"name": name})
    vl = el(s, "rim:ValueList")
    for v in values:
        el(vl, "rim:Value", text=v)
    return s


def find_documents_request(patient_cx, hcid):
    r = el(None, "query:AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    el(r, "query:ResponseOption", {"returnComposedObjects": "true", "returnType": "LeafClass"})
    aq = el(r, "rim:AdhocQuery", {"id": FIND_DOCUMENTS, "home": hcid})
    slot(aq, "$XDSDocumentEntryPatientId", ["'%s'" % patient_cx])
    slot(aq, "$XDSDocumentEntryStatus", ["('%s')" % STATUS_APPROVED])
    slot(aq, "$XDSDocumentEntryClassCode", ["('%s^^%s')" % (CLASS_EP, LOINC)])
    return r


def slot_values(node, name):
    return [v.text or "" for v in node.findall("rim:Slot[@name='%s']/rim:ValueList/rim:Value" % name, NS)]


def classification(node, scheme_key):
    return [(c.get("nodeRepresentation"), (slot_values(c, "codingScheme") or [""])[0])
            for c in node.findall("rim:Classification[@classificationScheme='%s']" % SCHEME[scheme_key], NS)]


def external_id(node, scheme_key):
    e = node.find("rim:ExternalIdentifier[@identificationScheme='%s']" % SCHEME[scheme_key], NS)
    return None if e is None else e.get("value")


def list_prescriptions(gw, patient_cx, hcid, hcp, trc):
    resp = gw.call("/ncp/xca", "query", find_documents_request(patient_cx, hcid), [hcp, trc])
    gw.expect_ok(resp, "query")
    r = resp.body
    check(r.tag == q("query", "AdhocQueryResponse"), "XCA query: body is %s" % r.tag)
    errors = registry_errors(r)
    check(r.get("status") == SUCCESS, "XCA query: status %s, errors %s" % (r.get("status"), errors))
    check(not errors, "XCA query: RegistryErrors %s on a patient with prescriptions" % errors)
    entries = r.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    check(entries, "XCA query: no ExtrinsicObject")
    l3 = []
    for e in entries:
        uid = external_id(e, "unique")
        check(e.get("objectType") == DOC_ENTRY_TYPE, "XCA query: objectType %s" % e.get("objectType"))
        check(e.get("status") == STATUS_APPROVED, "XCA query: entry status %s" % e.get("status"))
        check(e.get("home") == hcid, "XCA query: entry home %r, expected the bridge's %r" % (e.get("home"), hcid))
        check(classification(e, "class") == [(CLASS_EP, LOINC)],
              "XCA query: classCode %s, expected 57833-6" % classification(e, "class"))
        check(external_id(e, "patient") == patient_cx, "XCA query: an entry's patientId is not the patient's")
        check(slot_values(e, "sourcePatientId") in ([patient_cx], []), "XCA query: sourcePatientId differs")
        check(uid, "XCA query: an entry has no uniqueId")
        check(slot_values(e, "repositoryUniqueId"), "XCA query: entry %s has no repositoryUniqueId" % uid)
        check(re.fullmatch(r"\d{8,14}", (slot_values(e, "creationTime") or [""])[0]),
              "XCA query: entry %s creationTime is not an HL7 DTM" % uid)
        fmt = classification(e, "format")
        check(len(fmt) == 1 and fmt[0][0] in (FORMAT_EP, FORMAT_PDF), "XCA query: formatCode %s" % fmt)
        if fmt[0][0] == FORMAT_EP:
            check(e.get("mimeType") == "text/xml", "XCA query: L3 mimeType %s" % e.get("mimeType"))
            l3.append(e)
        else:
            # eHDSI L1: a CDA wrapping the PDF (text/xml); a bare PDF is application/pdf.
            check(e.get("mimeType") in ("text/xml", "application/pdf"),
                  "XCA query: L1 mimeType %s" % e.get("mimeType"))
    ids = {e.get("id") for e in entries}
    for a in r.findall("rim:RegistryObjectList/rim:Association", NS):
        if a.get("associationType") == "urn:ihe:iti:2007:AssociationType:XFRM":
            check(a.get("sourceObject") in ids and a.get("targetObject") in ids,
                  "XCA query: an XFRM association names an entry not in the response")
    dispensable = [e for e in l3 if XDW in classification(e, "event")]
    check(dispensable, "XCA query: no L3 ePrescription flagged dispensable (XDW open)")
    ok("XCA query: %d entries, %d L3 ePrescriptions, %d dispensable; metadata checked"
       % (len(entries), len(l3), len(dispensable)))
    return dispensable[0]


def retrieve_request(hcid, repository, unique_id):
    r = el(None, "xdsb:RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB})
    dr = el(r, "xdsb:DocumentRequest")
    el(dr, "xdsb:HomeCommunityId", text=hcid)
    el(dr, "xdsb:RepositoryUniqueId", text=repository)
    el(dr, "xdsb:DocumentUniqueId", text=unique_id)
    return r


def retrieve(gw, entry, hcid, hcp, trc, mtom):
    repository = slot_values(entry, "repositoryUniqueId")[0]
    unique_id = external_id(entry, "unique")
    resp = gw.call("/ncp/xca", "retrieve", retrieve_request(hcid, repository, unique_id), [hcp, trc], mtom=mtom)
    gw.expect_ok(resp, "retrieve")
    r = resp.body
    check(r.tag == q("xdsb", "RetrieveDocumentSetResponse"), "XCA retrieve: body is %s" % r.tag)
    rr = r.find("rs:RegistryResponse", NS)
    check(rr is not None and rr.get("status") == SUCCESS,
          "XCA retrieve: status %s, errors %s" % (rr.get("status") if rr is not None else None,
                                                   registry_errors(r)))
    check(not registry_errors(r), "XCA retrieve: RegistryErrors %s" % registry_errors(r))
    docs = r.findall("xdsb:DocumentResponse", NS)
    check(len(docs) == 1, "XCA retrieve: %d DocumentResponses, expected 1" % len(docs))
    d = docs[0]
    check(d.findtext("xdsb:DocumentUniqueId", namespaces=NS) == unique_id, "XCA retrieve: another document came")
    check(d.findtext("xdsb:RepositoryUniqueId", namespaces=NS) == repository, "XCA retrieve: repository differs")
    check(d.findtext("xdsb:HomeCommunityId", namespaces=NS) == hcid, "XCA retrieve: HomeCommunityId differs")
    check(d.findtext("xdsb:mimeType", namespaces=NS) == "text/xml", "XCA retrieve: mimeType is not text/xml")
    doc = d.find("xdsb:Document", NS)
    inc = doc.find("xop:Include", NS)
    if inc is not None:
        check(resp.mtom, "XCA retrieve: xop:Include in a response that is not MTOM")
        href = inc.get("href", "")
        check(href.lower().startswith("cid:"), "XCA retrieve: xop:Include href %r" % href)
        cid = urllib.parse.unquote(href[4:])
        check(cid in resp.parts, "XCA retrieve: xop:Include names no MIME part")
        data, form = resp.parts[cid], "MTOM"
    else:
        data, form = base64.b64decode("".join((doc.text or "").split()), validate=True), "inline"
    size = slot_values(entry, "size")
    if size:
        check(int(size[0]) == len(data), "XCA retrieve: %d bytes, metadata size says %s" % (len(data), size[0]))
    sha1 = slot_values(entry, "hash")
    if sha1:
        check(sha1[0].lower() == hashlib.sha1(data).hexdigest(), "XCA retrieve: SHA-1 differs from the metadata hash")
    return data, form, bool(size), bool(sha1)


def check_eprescription(data, patient_cx):
    cda = parse_xml(data, "the retrieved ePrescription")
    check(cda.tag == q("hl7", "ClinicalDocument"), "retrieved document is not a CDA ClinicalDocument")
    templates = [t.get("root") for t in cda.findall("hl7:templateId", NS)]
    check(TEMPLATE_EP_L3 in templates, "retrieved CDA templateIds %s lack the ePrescription L3" % templates)
    check(cda.find("hl7:code", NS).get("code") == CLASS_EP, "retrieved CDA code is not 57833-6")
    pids = ["%s^^^&%s&ISO" % (i.get("extension"), i.get("root"))
            for i in cda.findall("hl7:recordTarget/hl7:patientRole/hl7:id", NS)]
    check(patient_cx in pids, "retrieved CDA is about another patient")
    items = prescription_items(cda)
    check(items, "retrieved CDA has no prescription item (substanceAdministration)")
    return cda


def prescription_items(cda):
    entries = cda.findall(".//hl7:structuredBody/hl7:component/hl7:section/hl7:entry/hl7:substanceAdministration", NS)
    flagged = [sa for sa in entries if TEMPLATE_EP_ITEM in [t.get("root") for t in sa.findall("hl7:templateId", NS)]]
    return flagged or entries


def validate_cda(path):
    here = os.path.dirname(os.path.abspath(__file__))
    tool = os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "conformance", "validate-cda"))
    if not os.path.exists(tool):
        print("SKIPPED CDA conformance: %s is absent (../shared not checked out)" % tool, flush=True)
        return False
    run = subprocess.run([tool, path], capture_output=True, text=True, timeout=900)
    failures = [ln for ln in run.stdout.splitlines() if ln.strip()]
    if run.returncode != 0:
        # The rule ids and locations only: validate-cda prints no document content in them.
        for ln in failures[:20]:
            try:
                f = json.loads(ln)
                print("  schematron %s: %s at %s" % (f.get("role", ""), f.get("text", "")[:300],
                                                     f.get("location", "")), file=sys.stderr)
            except ValueError:
                print("  schematron: " + ln[:300], file=sys.stderr)
        print(run.stderr[-2000:], file=sys.stderr)
        raise Failure("validate-cda refused %s (exit %d, %d failed asserts)"
                      % (os.path.basename(path), run.returncode, len(failures)))
    return True


# --- the eDispensation --------------------------------------------------------------------------


def h(parent, tag, attrs=None, text=None):
    e = etree.SubElement(parent, "{%s}%s" % (HL7, tag))
    for k, v in (attrs or {}).items():
        e.set("{%s}type" % XSI if k == "xsi:type" else k, v)
    if text is not None:
        e.text = text
    return e


def pharmacist(parent, t):
    """assignedAuthor/assignedEntity content: the Estonian pharmacist and pharmacy."""
    h(parent, "id", {"root": ORG_ROOT + ".2", "extension": "PH-0042"})
    a = h(parent, "addr")
    h(a, "country", text="EE")
    h(parent, "telecom", {"use": "WP", "value": "tel:+3726000042"})
    n = h(h(parent, "assignedPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"}), "name")
    h(n, "given", text="Kadri")
    h(n, "family", text="Kask")
    o = h(parent, "representedOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
    h(o, "id", {"root": ORG_ROOT, "extension": "APTEEK-1"})
    h(o, "name", text="Tallinna Test Apteek")
    h(o, "telecom", {"use": "WP", "value": "tel:+3726000000"})
    oa = h(o, "addr")
    h(oa, "streetAddressLine", text="Narva mnt 1")
    h(oa, "city", text="Tallinn")
    h(oa, "postalCode", text="10117")
    h(oa, "country", text="EE")


def edispensation(prescription, doc_ext, discard_of=None):
    """An eHDSI eDispensation (template 1.3.6.1.4.1.12559.11.10.1.3.1.1.2) dispensing one package
    against the first item of `prescription` (its recordTarget, item id and product are reused).
    With `discard_of` (the extension of an earlier eDispensation): its discard, replacing it."""
    t = now_utc()
    ts = t.strftime("%Y%m%d%H%M%S+0000")
    item = prescription_items(prescription)[0]
    item_id = item.find("hl7:id", NS)
    product = item.find("hl7:consumable/hl7:manufacturedProduct", NS)
    check(item_id is not None and product is not None,
          "the prescription item lacks its id or consumable/manufacturedProduct")

    d = etree.Element("{%s}ClinicalDocument" % HL7, nsmap={None: HL7, "pharm": PHARM, "xsi": XSI},
                      classCode="DOCCLIN", moodCode="EVN")
    h(d, "realmCode", {"code": "EE"})
    h(d, "typeId", {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"})
    h(d, "templateId", {"root": TEMPLATE_ED})
    h(d, "id", {"root": DOC_ROOT, "extension": doc_ext})
    h(d, "code", {"code": CLASS_ED, "codeSystem": LOINC, "codeSystemName": "LOINC",
                  "displayName": "Medication dispensed.brief"})
    h(d, "title", text="eDispensation" + (" (discarded)" if discard_of else ""))
    h(d, "effectiveTime", {"value": ts})
    h(d, "confidentialityCode", {"code": "N", "codeSystem": "2.16.840.1.113883.5.25",
                                 "displayName": "normal"})
    h(d, "languageCode", {"code": "et-EE"})
    h(d, "setId", {"root": DOC_ROOT, "extension": discard_of or doc_ext})
    h(d, "versionNumber", {"value": "2" if discard_of else "1"})
    d.append(copy.deepcopy(prescription.find("hl7:recordTarget", NS)))
    author = h(d, "author", {"typeCode": "AUT"})
    h(author, "functionCode", {"code": "2262", "codeSystem": "2.16.840.1.113883.2.9.6.2.7",
                               "codeSystemName": "ISCO", "displayName": "Pharmacists"})
    h(author, "time", {"value": ts})
    pharmacist(h(author, "assignedAuthor", {"classCode": "ASSIGNED"}), t)
    cust = h(h(h(d, "custodian", {"typeCode": "CST"}), "assignedCustodian", {"classCode": "ASSIGNED"}),
             "representedCustodianOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
    h(cust, "id", {"root": ORG_ROOT})
    h(cust, "name", text="Tallinna Test Apteek")
    h(cust, "telecom", {"use": "WP", "value": "tel:+3726000000"})
    ca = h(cust, "addr")
    h(ca, "city", text="Tallinn")
    h(ca, "country", text="EE")
    la = h(d, "legalAuthenticator", {"typeCode": "LA", "contextControlCode": "OP"})
    h(la, "time", {"value": ts})
    h(la, "signatureCode", {"code": "S"})
    pharmacist(h(la, "assignedEntity", {"classCode": "ASSIGNED"}), t)
    order = h(h(d, "inFulfillmentOf", {"typeCode": "FLFS"}), "order", {"classCode": "ACT", "moodCode": "RQO"})
    order.append(copy.deepcopy(prescription.find("hl7:id", NS)))
    if discard_of:
        parent = h(h(d, "relatedDocument", {"typeCode": "RPLC"}), "parentDocument",
                   {"classCode": "DOCCLIN", "moodCode": "EVN"})
        h(parent, "id", {"root": DOC_ROOT, "extension": discard_of})
        h(parent, "setId", {"root": DOC_ROOT, "extension": discard_of})

    section = h(h(h(d, "component"), "structuredBody", {"classCode": "DOCBODY"}), "component")
    section = h(section, "section", {"classCode": "DOCSECT", "moodCode": "EVN"})
    h(section, "templateId", {"root": "1.3.6.1.4.1.12559.11.10.1.3.1.2.2"})
    h(section, "id", {"root": DOC_ROOT, "extension": doc_ext + ".1"})
    h(section, "code", {"code": "60590-7", "codeSystem": LOINC, "codeSystemName": "LOINC",
                        "displayName": "Medication dispensed"})
    h(section, "title", text="Dispensed medication")
    text = h(section, "text")
    h(text, "paragraph", {"ID": "disp-1"}, "One package dispensed" + (", discarded" if discard_of else ""))
    supply = h(h(section, "entry", {"typeCode": "COMP"}), "supply", {"classCode": "SPLY", "moodCode": "EVN"})
    for root in ("1.3.6.1.4.1.12559.11.10.1.3.1.3.3", "1.3.6.1.4.1.19376.1.5.3.1.4.7.3",
                 "2.16.840.1.113883.10.20.1.34"):
        h(supply, "templateId", {"root": root})
    h(supply, "id", {"root": DOC_ROOT, "extension": doc_ext + ".1.1"})
    h(h(supply, "text"), "reference", {"value": "#disp-1"})
    h(supply, "statusCode", {"code": "nullified" if discard_of else "completed"})
    h(supply, "effectiveTime", {"value": ts})
    h(supply, "quantity", {"value": "1", "unit": "1"})
    h(supply, "product").append(copy.deepcopy(product))
    perf = h(supply, "performer", {"typeCode": "PRF"})
    h(perf, "time", {"value": ts})
    pharmacist(h(perf, "assignedEntity", {"classCode": "ASSIGNED"}), t)
    sa = h(h(supply, "entryRelationship", {"typeCode": "REFR"}), "substanceAdministration",
           {"classCode": "SBADM", "moodCode": "INT"})
    sa.append(copy.deepcopy(item_id))
    h(sa, "consumable").append(copy.deepcopy(product))
    # Narrative references of the copied product point into the prescription's text: drop them.
    for ref in d.iter("{%s}reference" % HL7):
        if ref.getparent().getparent() is not supply and ref.get("value", "").startswith("#"):
            ref.getparent().remove(ref)
    return etree.tostring(d, xml_declaration=True, encoding="UTF-8")


# --- XDR --------------------------------------------------------------------------------------


def classify(parent, scheme_key, obj, code, scheme, display):
    c = el(parent, "rim:Classification", {
        "classificationScheme": SCHEME[scheme_key], "classifiedObject": obj,
        "id": "urn:uuid:" + str(uuid.uuid4()), "nodeRepresentation": code,
        "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"})
    slot(c, "codingScheme", [scheme])
    el(el(c, "rim:Name"), "rim:LocalizedString", {"value": display})


def identify_as(parent, scheme_key, obj, value, name):
    e = el(parent, "rim:ExternalIdentifier", {
        "id": "urn:uuid:" + str(uuid.uuid4()), "identificationScheme": SCHEME[scheme_key],
        "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier",
        "registryObject": obj, "value": value})
    el(el(e, "rim:Name"), "rim:LocalizedString", {"value": name})


def author(parent, scheme_key, obj):
    c = el(parent, "rim:Classification", {
        "classificationScheme": SCHEME[scheme_key], "classifiedObject": obj,
        "id": "urn:uuid:" + str(uuid.uuid4()), "nodeRepresentation": "",
        "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"})
    slot(c, "authorPerson", ["PH-0042^Kask^Kadri^^^^^^&%s.2&ISO" % ORG_ROOT])
    slot(c, "authorInstitution", ["Tallinna Test Apteek^^^^^^^^^%s" % ORG_ROOT])
    slot(c, "authorRole", ["Pharmacists"])
    slot(c, "authorSpecialty", ["Pharmacists"])


def provide_and_register(patient_cx, unique_id, fmt, fmt_name, doc_content):
    """`doc_content(document_element)` fills xdsb:Document (xop:Include or base64 text)."""
    t = hl7_ts(now_utc())
    doc_id, ss_id = "urn:uuid:" + str(uuid.uuid4()), "urn:uuid:" + str(uuid.uuid4())
    r = el(None, "xdsb:ProvideAndRegisterDocumentSetRequest",
           nsmap={"xdsb": XDSB, "lcm": LCM, "rim": RIM, "xop": XOP})
    lst = el(el(r, "lcm:SubmitObjectsRequest"), "rim:RegistryObjectList")
    eo = el(lst, "rim:ExtrinsicObject", {"id": doc_id, "mimeType": "text/xml", "objectType": DOC_ENTRY_TYPE})
    slot(eo, "creationTime", [t])
    slot(eo, "languageCode", ["et-EE"])
    slot(eo, "sourcePatientId", [patient_cx])
    el(el(eo, "rim:Name"), "rim:LocalizedString", {"value": "eDispensation"})
    author(eo, "author", doc_id)
    classify(eo, "class", doc_id, CLASS_ED, LOINC, "eDispensation")
    classify(eo, "conf", doc_id, "N", "2.16.840.1.113883.5.25", "Normal")
    classify(eo, "format", doc_id, fmt, "eHDSI formatCodes", fmt_name)
    classify(eo, "facility", doc_id, "Pharmacy", "eHDSI Healthcare Facility Type", "Pharmacy")
    classify(eo, "practice", doc_id, "Pharmacy", "eHDSI Practice Setting", "Pharmacy")
    classify(eo, "type", doc_id, CLASS_ED, LOINC, "eDispensation")
    identify_as(eo, "patient", doc_id, patient_cx, "XDSDocumentEntry.patientId")
    identify_as(eo, "unique", doc_id, unique_id, "XDSDocumentEntry.uniqueId")
    ss = el(lst, "rim:RegistryPackage", {"id": ss_id,
                                          "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"})
    slot(ss, "submissionTime", [t])
    el(el(ss, "rim:Name"), "rim:LocalizedString", {"value": "eDispensation"})
    author(ss, "ss_author", ss_id)
    classify(ss, "ss_content", ss_id, CLASS_ED, LOINC, "eDispensation")
    identify_as(ss, "ss_unique", ss_id, new_oid(), "XDSSubmissionSet.uniqueId")
    identify_as(ss, "ss_source", ss_id, ORG_ROOT, "XDSSubmissionSet.sourceId")
    identify_as(ss, "ss_patient", ss_id, patient_cx, "XDSSubmissionSet.patientId")
    el(lst, "rim:Classification", {"classificationNode": SUBMISSION_SET_NODE, "classifiedObject": ss_id,
                                   "id": "urn:uuid:" + str(uuid.uuid4()),
                                   "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"})
    assoc = el(lst, "rim:Association", {
        "associationType": "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
        "id": "urn:uuid:" + str(uuid.uuid4()),
        "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
        "sourceObject": ss_id, "targetObject": doc_id})
    slot(assoc, "SubmissionSetStatus", ["Original"])
    doc_content(el(r, "xdsb:Document", {"id": doc_id}))
    return r


def submit(gw, what, patient_cx, unique_id, fmt, fmt_name, cda, mtom, hcp, trc):
    attachments = []
    if mtom:
        cid = "%s@client.test" % uuid.uuid4().hex

        def content(d):
            el(d, "xop:Include", {"href": "cid:" + urllib.parse.quote(cid, safe="")})
        attachments.append((cid, "text/xml", cda))
    else:
        def content(d):
            d.text = base64.b64encode(cda).decode()
    body = provide_and_register(patient_cx, unique_id, fmt, fmt_name, content)
    resp = gw.call("/ncp/xdr", "pnr", body, [hcp, trc], attachments=attachments)
    gw.expect_ok(resp, "pnr")
    r = resp.body
    check(r.tag == q("rs", "RegistryResponse"), "XDR %s: body is %s" % (what, r.tag))
    check(r.get("status") == SUCCESS,
          "XDR %s: status %s, errors %s" % (what, r.get("status"), registry_errors(r)))
    errs = [e for e in registry_errors(r) if not e[1].endswith("Warning")]
    check(not errs, "XDR %s: RegistryErrors %s with status Success" % (what, errs))
    ok("XDR %s: RegistryResponse Success (%s request, no errors)" % (what, "MTOM" if mtom else "inline base64"))


# --- the effect in Sweden (the sandbox's NLL simulator) --------------------------------------------

NLL_DISPENSE_ID = "http://electronichealth.se/identifier/nll-dispense-id"


def nll_dispensation(endpoints, rx_id, dispense_id, status, wait_s=15):
    """Waits until NLL holds the MedicationDispense `dispense_id` for `rx_id` in `status`, one
    package; returns how long that took. Sandbox only: a real country B cannot look into NLL."""
    nll = dict(endpoints["simulators"]).get("nll")
    check(nll, "endpoints.json names no NLL simulator")
    t0 = now_utc()
    seen = None
    while True:
        r = requests.get(nll.rstrip("/") + "/MedicationDispense", params={"prescription": rx_id},
                         headers={"X-Caller-HsaId": "SE2321000016-NCP1", "X-Purpose": "cross-border",
                                  "Accept": "application/fhir+json"}, timeout=15)
        check(r.status_code == 200, "NLL: MedicationDispense search answered HTTP %d" % r.status_code)
        mine = [e["resource"] for e in r.json().get("entry", [])
                if any(i.get("system") == NLL_DISPENSE_ID and i.get("value") == dispense_id
                       for i in e["resource"].get("identifier", []))]
        check(len(mine) <= 1, "NLL: %d dispensations under one dispense id" % len(mine))
        seen = mine[0].get("status") if mine else None
        waited = (now_utc() - t0).total_seconds()
        if seen == status:
            qty = mine[0].get("quantity", {}).get("value")
            check(qty == 1, "NLL: the dispensation's quantity is %r, we dispensed 1 package" % qty)
            return waited
        check(waited < wait_s, "NLL: after %d s the dispensation is %s, expected %s" % (wait_s, seen, status))
        time.sleep(0.2)


# --- negative calls -------------------------------------------------------------------------------


def expect_refusal(resp, code, what):
    """The eHDSI `code` as a SOAP fault (HTTP 4xx/5xx) or in a RegistryErrorList (status Failure)."""
    f = resp.fault()
    if f is not None:
        codes = fault_codes(f)
        check(resp.http.status_code >= 400, "%s: fault with HTTP %d" % (what, resp.http.status_code))
        check(code in codes, "%s: SOAP fault codes %s, expected %s" % (what, codes, code))
        return "SOAP fault, HTTP %d" % resp.http.status_code
    body = resp.body
    errs = registry_errors(body)
    status = body.get("status") or (body.find("rs:RegistryResponse", NS).get("status")
                                    if body.find("rs:RegistryResponse", NS) is not None else None)
    check(any(c == code for c, _ in errs), "%s: no %s, got status %s and errors %s" % (what, code, status, errs))
    check(status and status.endswith(":Failure"), "%s: %s reported with status %s" % (what, code, status))
    check(not body.findall(".//rim:ExtrinsicObject", NS) and not body.findall(".//xdsb:DocumentResponse", NS),
          "%s: documents disclosed alongside %s" % (what, code))
    return "RegistryErrorList, status Failure"


def negative_unsigned(gw, pnr, hcid):
    resp = gw.call("/ncp/xcpd", "xcpd", xcpd_request(pnr, hcid, uuid.uuid4().hex, uuid.uuid4().hex),
                   [hcp_assertion(gw.country)])
    b = resp.body
    check(b is None or not b.findall(".//{%s}patient" % HL7), "unsigned assertion: a patient was disclosed")
    where = expect_refusal(resp, "4704", "unsigned assertion")
    ok("negative: unsigned HCP assertion refused with 4704 (%s)" % where)


def negative_other_patient(gw, patient_cx, other_cx, hcid, hcp):
    trc = gw.signer.sign(trc_assertion(gw.country, hcp.get("ID"), other_cx))
    resp = gw.call("/ncp/xca", "query", find_documents_request(patient_cx, hcid), [hcp, trc])
    where = expect_refusal(resp, "4206", "TRC for another patient")
    ok("negative: TRC assertion for another patient refused with 4206 (%s)" % where)


def negative_tampered(gw, pnr, hcid, hcp):
    """A signed assertion whose permissions were changed afterwards (a PPD-046 turned PPD-033)."""
    forged = copy.deepcopy(hcp)
    values = [v for v in forged.iter(q("saml2", "AttributeValue")) if (v.text or "").endswith("PPD-046")]
    check(len(values) == 1, "the HCP assertion has no PPD-046 to tamper with")
    values[0].text = PERMISSION_PREFIX + "PPD-033"
    resp = gw.call("/ncp/xcpd", "xcpd", xcpd_request(pnr, hcid, uuid.uuid4().hex, uuid.uuid4().hex), [forged])
    b = resp.body
    check(b is None or not b.findall(".//{%s}patient" % HL7), "tampered assertion: a patient was disclosed")
    where = expect_refusal(resp, "4704", "tampered assertion")
    ok("negative: signed HCP assertion changed after signing refused with 4704 (%s)" % where)


def negative_other_peer(endpoints, country, pnr, hcid, hcp):
    """Assertions signed by `country`'s NCP, sent over another NCP's TLS connection."""
    others = [c["country"] for c in endpoints["clients"] if c["country"] != country]
    check(others, "endpoints.json has no second foreign NCP")
    gw = Gateway(endpoints, others[0])
    resp = gw.call("/ncp/xcpd", "xcpd", xcpd_request(pnr, hcid, uuid.uuid4().hex, uuid.uuid4().hex), [hcp])
    b = resp.body
    check(b is None or not b.findall(".//{%s}patient" % HL7), "assertions of another NCP: a patient was disclosed")
    where = expect_refusal(resp, "4703", "assertions of another NCP")
    ok("negative: %s-signed assertions over %s's TLS connection refused with 4703 (%s)"
       % (country, others[0], where))


# --- main ------------------------------------------------------------------------------------------


def run(args):
    endpoints = json.load(open(args.endpoints))
    out = args.out or tempfile.mkdtemp(prefix="country-a-client-")
    os.makedirs(out, exist_ok=True)
    gw = Gateway(endpoints, args.country)
    st = gw.status()
    hcid = st.get("home_community_id", "")
    check(st.get("country") == "SE" and hcid.startswith("urn:oid:"), "GET /status: not the Swedish NCP")
    check((st.get("caller") or {}).get("country") == args.country,
          "GET /status: the bridge sees caller %s, expected %s" % (st.get("caller"), args.country))
    ok("mutual TLS: the bridge (%s) knows us as %s" % (hcid, args.country))
    finding = gw.strict_x509_finding()
    if finding:
        print("WARNING strict X.509: the bridge's certificate chain fails OpenSSL's X509_STRICT "
              "profile (%s): clients on Python 3.13+ refuse it by default" % finding, flush=True)

    hcp = gw.signer.sign(hcp_assertion(args.country))
    patient_cx = identify(gw, args.patient, hcid, hcp)
    trc = gw.signer.sign(trc_assertion(args.country, hcp.get("ID"), patient_cx))

    entry = list_prescriptions(gw, patient_cx, hcid, hcp, trc)
    plain, form1, had_size, had_hash = retrieve(gw, entry, hcid, hcp, trc, mtom=False)
    mtom, form2, _, _ = retrieve(gw, entry, hcid, hcp, trc, mtom=True)
    check(plain == mtom, "XCA retrieve: the document differs between the plain and the MTOM request")
    check(form2 == "MTOM", "XCA retrieve: an MTOM request was answered %s" % form2)
    prescription = check_eprescription(plain, patient_cx)
    ok("XCA retrieve: L3 ePrescription, %d bytes, answered %s to a plain request and MTOM to an MTOM "
       "request, identical%s%s" % (len(plain), form1, ", size" if had_size else "",
                                   " and SHA-1 match metadata" if had_hash else ""))
    cda_path = os.path.join(out, "eprescription-l3.xml")
    with open(cda_path, "wb") as f:
        f.write(plain)
    if validate_cda(cda_path):
        ok("CDA conformance: validate-cda (eHDSI Wave 8 schematron) passes the retrieved ePrescription")

    ed_ext = "ED-" + uuid.uuid4().hex[:12]
    ed = edispensation(prescription, ed_ext)
    ed_path = os.path.join(out, "edispensation.xml")
    with open(ed_path, "wb") as f:
        f.write(ed)
    if validate_cda(ed_path):
        ok("CDA conformance: validate-cda passes our own eDispensation")
    submit(gw, "eDispensation submit", patient_cx, "%s^%s" % (DOC_ROOT, ed_ext), FORMAT_ED,
           "epSOS coded eDispensation", ed, True, hcp, trc)
    rx_id = prescription_items(prescription)[0].find("hl7:id", NS)
    rx_id = rx_id.get("extension") or rx_id.get("root")
    waited = nll_dispensation(endpoints, rx_id, "%s^%s" % (DOC_ROOT, ed_ext), "completed")
    ok("NLL: the dispensation is recorded against the prescription (completed, 1 package, %.1f s)" % waited)
    discard_ext = ed_ext + ".discard"
    discard = edispensation(prescription, discard_ext, discard_of=ed_ext)
    submit(gw, "eDispensation discard", patient_cx, "%s^%s" % (DOC_ROOT, discard_ext),
           FORMAT_ED_DISCARD, "eHDSI coded eDispensation Discard", discard, False, hcp, trc)
    waited = nll_dispensation(endpoints, rx_id, "%s^%s" % (DOC_ROOT, ed_ext), "entered-in-error")
    ok("NLL: the discard marks that dispensation entered-in-error (%.1f s)" % waited)

    negative_unsigned(gw, args.patient, hcid)
    negative_tampered(gw, args.patient, hcid, hcp)
    negative_other_peer(endpoints, args.country, args.patient, hcid, hcp)
    other_cx = cx(args.other_patient, person_root(args.other_patient))
    negative_other_patient(gw, patient_cx, other_cx, hcid, hcp)
    print("ALL CHECKS PASSED", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("endpoints", help="endpoints.json written by `ncp sandbox`")
    p.add_argument("--country", default="EE", help="which sandbox foreign NCP to be (EE or ES)")
    p.add_argument("--patient", default="191212121212", help="personnummer of the patient to look up")
    p.add_argument("--other-patient", default="195804232378", help="another patient, for the TRC test")
    p.add_argument("--out", help="where to save the retrieved and the built CDA documents")
    args = p.parse_args()
    try:
        run(args)
    except Failure as e:
        print("FAILED: %s" % e, flush=True)
        return 1
    except requests.RequestException as e:
        print("FAILED: HTTP: %s" % e.__class__.__name__, flush=True)
        print(str(e)[:500], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
