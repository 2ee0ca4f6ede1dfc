#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET (not committed) from the project's own test fixtures and, when it is
# there, ../shared/ehdsi/samples (read in place, copied only into the ignored corpus dir).
# Existing corpus files are kept: libFuzzer adds what it finds to the same directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ihe=../ncp-core/tests/fixtures/ihe
saml=../ncp-core/tests/fixtures/saml
cda=../cda-fhir-transform/tests/fixtures/cda
fhir=../cda-fhir-transform/tests/fixtures/fhir
samples=../../shared/ehdsi/samples

for t in soap_request xdr_mtom saml_verify cda_to_fhir fhir_to_cda; do mkdir -p "corpus/$t"; done

cp "$ihe"/*.xml corpus/soap_request/

# MTOM: the XDR envelope and an eDispensation as its XOP attachment, in the multipart/related
# form the target's fixed Content-Type announces (boundary MIMEBoundary).
cp "$ihe"/xdr*.xml corpus/xdr_mtom/
{
  printf -- '--MIMEBoundary\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\nContent-ID: <root.message@cxf.apache.org>\r\n\r\n'
  cat "$ihe/xdr_edispensation_envelope.xml"
  printf -- '\r\n--MIMEBoundary\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <1.edisp@countryB.example>\r\n\r\n'
  cat "$ihe/edispensation_l3.xml"
  printf -- '\r\n--MIMEBoundary--\r\n'
} > corpus/xdr_mtom/mtom_edispensation.bin

# SAML: the OpenNCP-style templates, alone and as an HCP + TRC pair (see the target).
cp "$saml"/*.xml corpus/saml_verify/
{ cat "$saml/hcp-openncp-style.xml"; echo '<!--TRC-->'; cat "$saml/trc-openncp-style.xml"; } \
  > corpus/saml_verify/hcp_trc.xml

cp "$cda"/*.xml "$ihe/edispensation_l3.xml" corpus/cda_to_fhir/
if [[ -d $samples ]]; then
  find "$samples" -name '*.xml' -exec cp {} corpus/cda_to_fhir/ \;
fi

cp "$fhir"/*.json corpus/fhir_to_cda/
