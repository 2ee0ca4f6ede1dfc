#!/usr/bin/env python3
"""A Swedish pharmacy system and a doctor's system driving the bridge's Country B FHIR API with
software this project did not write: fhirpy (FHIR client, over requests with mutual TLS) and
PyJWT (the user tokens, signed ES256 with the identity issuer's key).

    country_b_fhirpy.py keygen DIR        # writes DIR/idp-private.pem and DIR/idp-public.pem
    country_b_fhirpy.py run SETTINGS.json # the flow; prints OK lines and ALL CHECKS PASSED

SETTINGS: {"base": "https://localhost:PORT/fhir", "ca": ..., "cert": ..., "key": ...,
"issuer_key": ..., "issuer": ..., "audience": ..., "patient_system": "urn:oid:...",
"patient_value": "..."}. Nothing printed names a patient.
"""
import json
import sys
import time

import jwt
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome


def fail(msg):
    print(f"FAILED: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def keygen(out_dir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    with open(f"{out_dir}/idp-private.pem", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(f"{out_dir}/idp-public.pem", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def token(s, role, sub, name, org, org_id):
    now = int(time.time())
    claims = {"iss": s["issuer"], "aud": s["audience"], "iat": now, "exp": now + 600,
              "sub": sub, "name": name, "role": role, "organisation": org,
              "organisation_hsa_id": org_id, "purpose": "TREATMENT"}
    with open(s["issuer_key"]) as f:
        return jwt.encode(claims, f.read(), algorithm="ES256")


def client(s, tok):
    return SyncFHIRClient(
        s["base"], authorization=f"Bearer {tok}",
        requests_config={"cert": (s["cert"], s["key"]), "verify": s["ca"], "timeout": 60})


def entries(bundle, rtype):
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype]


def run(settings_file):
    with open(settings_file) as f:
        s = json.load(f)
    tls = {"cert": (s["cert"], s["key"]), "verify": s["ca"], "timeout": 60}
    # Wait for the bridge.
    deadline = time.time() + 60
    while True:
        try:
            r = requests.get(f"{s['base']}/metadata", **tls)
            break
        except requests.exceptions.ConnectionError:
            if time.time() > deadline:
                fail("the bridge did not answer within 60 s")
            time.sleep(0.3)
    check(r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement",
          f"metadata: {r.status_code}")
    print("OK metadata: CapabilityStatement, FHIR", r.json()["fhirVersion"])

    r = requests.get(f"{s['base']}/MedicationRequest", params={"patient": "Patient/x"}, **tls)
    check(r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome",
          f"no token: {r.status_code}")
    print("OK refused without a user token: 401 OperationOutcome")

    ph = client(s, token(s, "pharmacist", "SE2321000016-PH01", "Anna Apotekare",
                         "Apoteket Kronan Kalmar", "SE2321000016-APK1"))
    patients = ph.resources("Patient").search(
        identifier=f"{s['patient_system']}|{s['patient_value']}", country="EE").fetch()
    check(len(patients) == 1, f"patient search found {len(patients)}")
    patient = patients[0]
    print("OK find patient: 1 Patient from EE (XCPD)")

    matched = ph.execute("Patient/$match", method="post", data={
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": s["patient_system"], "value": s["patient_value"]}],
            "address": [{"country": "EE"}]}}]})
    check(len(matched.get("entry", [])) == 1 and matched["entry"][0]["resource"]["id"] == patient.id
          and matched["entry"][0]["search"]["score"] == 1, "$match")
    print("OK $match: the same Patient, graded certain")

    bundle = ph.resources("MedicationRequest").search(patient=f"Patient/{patient.id}").fetch_raw()
    requests_ = entries(bundle, "MedicationRequest")
    check(bundle["type"] == "searchset" and len(requests_) >= 1, "no MedicationRequest")
    pdfs = [b for b in entries(bundle, "Binary") if b["contentType"] == "application/pdf"]
    check(len(pdfs) == 1, "no L1 PDF Binary")
    print(f"OK list prescriptions: {len(requests_)} MedicationRequest, 1 PDF Binary (XCA)")

    mr = ph.reference("MedicationRequest", requests_[0]["id"]).to_resource()
    check(mr.id == requests_[0]["id"] and mr["status"] == "active", "read MedicationRequest")
    r = requests.get(f"{s['base']}/Binary/{pdfs[0]['id']}",
                     headers={"Authorization": ph.authorization, "Accept": "application/pdf"}, **tls)
    check(r.status_code == 200 and r.content.startswith(b"%PDF"), "PDF bytes")
    print("OK read one prescription and its PDF")

    md = ph.resource("MedicationDispense", status="completed",
                     authorizingPrescription=[{"reference": f"MedicationRequest/{mr.id}"}],
                     quantity={"value": 1, "unit": "förpackning"},
                     dosageInstruction=[{"text": "Enligt ordination"}])
    md.save()
    check(md.id and md["status"] == "completed", "dispense")
    print("OK dispense: 201 MedicationDispense (eDispensation acknowledged by EE)")

    cancelled = ph.execute(f"MedicationDispense/{md.id}/$cancel", method="post", data={})
    check(cancelled["status"] == "entered-in-error", f"cancel: {cancelled}")
    print("OK discard: MedicationDispense entered-in-error (discard acknowledged by EE)")

    try:
        ph.execute(f"Patient/{patient.id}/$summary", method="get")
        fail("a pharmacist read a Patient Summary")
    except OperationOutcome as e:
        check("pharmacist may not" in str(e), f"refusal text: {e}")
    print("OK a pharmacist may not read a Patient Summary: OperationOutcome")

    dr = client(s, token(s, "doctor", "SE2321000016-DR01", "Bertil Doktor",
                         "Vårdcentralen Kalmar", "SE2321000016-VC01"))
    summary = dr.execute(f"Patient/{patient.id}/$summary", method="get")
    refs = entries(summary, "DocumentReference")
    types = {b["contentType"] for b in entries(summary, "Binary")}
    check(len(refs) >= 1 and "application/hl7-v3+xml" in types and "application/pdf" in types,
          f"summary: {len(refs)} DocumentReference, {types}")
    check(len(entries(summary, "Composition")) == 1 and entries(summary, "Condition"),
          "summary: no Composition or Condition converted")
    print("OK a doctor reads the Patient Summary: Composition and clinical resources, "
          "DocumentReference, original CDA and PDF")
    print("ALL CHECKS PASSED")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "keygen":
        keygen(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
