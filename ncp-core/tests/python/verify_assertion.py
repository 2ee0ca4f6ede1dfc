"""Verifies a signed SAML assertion with signxml against one given certificate, the way another
NCP's stack would check an assertion Sweden issues as Country B.

usage: verify_assertion.py SIGNED.xml CERT.pem

Prints the verified assertion's ID; exits non-zero when the signature does not verify.
"""

import sys

from lxml import etree
from signxml import XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.verifier import SignatureConfiguration


def main(signed_path, cert_path):
    root = etree.parse(signed_path).getroot()
    cert_pem = open(cert_path, "r").read()
    result = XMLVerifier().verify(
        root,
        x509_cert=cert_pem,
        id_attribute="ID",
        expect_config=SignatureConfiguration(
            expect_references=1,
            signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}),
            digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        ),
    )
    print(result.signed_xml.get("ID"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
