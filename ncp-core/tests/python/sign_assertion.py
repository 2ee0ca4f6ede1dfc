"""Signs a SAML assertion with signxml: an XML-DSig implementation independent of this project
(Python, lxml + cryptography), for the security layer's interoperability test.

usage: sign_assertion.py UNSIGNED.xml KEY.pem CERT.pem OUT.xml

The enveloped signature is placed right after saml2:Issuer (as the SAML schema orders it) and
uses exclusive c14n, SHA-256 and RSA-SHA256 or ECDSA-SHA256 according to the key.
"""

import sys

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"


def main(unsigned_path, key_path, cert_path, out_path):
    root = etree.parse(unsigned_path).getroot()
    key_pem = open(key_path, "rb").read()
    cert_pem = open(cert_path, "r").read()
    key = load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        method = SignatureMethod.ECDSA_SHA256
    elif isinstance(key, rsa.RSAPrivateKey):
        method = SignatureMethod.RSA_SHA256
    else:
        raise SystemExit("unsupported key type")
    issuer = root.find("{%s}Issuer" % SAML)
    placeholder = etree.Element("{%s}Signature" % DS, Id="placeholder", nsmap={"ds": DS})
    issuer.addnext(placeholder)
    signer = XMLSigner(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(
        root,
        key=key_pem,
        cert=cert_pem,
        reference_uri="#" + root.get("ID"),
        id_attribute="ID",
    )
    with open(out_path, "wb") as out:
        out.write(etree.tostring(signed))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
