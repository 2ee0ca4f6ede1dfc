//! NLL simulator over real HTTP.

mod common;

use common::*;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn patient_search_accepts_every_system_spelling() {
    let s = sims().await;
    let p = patient("p01");
    for system in [
        "http://electronichealth.se/identifier/personnummer",
        "1.2.752.129.2.1.3.1",
        "urn:oid:1.2.752.129.2.1.3.1",
    ] {
        let q = format!("{system}|{}", p.id.as_str());
        let r = get_q(&s.nll, "Patient", &[("identifier", &q)], &cross_border()).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["type"], "searchset");
        let m = matches(&r.body);
        assert_eq!(m.len(), 1, "{system}");
        assert_eq!(m[0]["name"][0]["family"], "Tolvansson");
    }
    // A samordningsnummer under its own system.
    let r = get_q(
        &s.nll,
        "Patient",
        &[("identifier", &token("p09"))],
        &cross_border(),
    )
    .await;
    assert_eq!(matches(&r.body)[0]["name"][0]["family"], "Nyström");
    // Sent under the personnummer system it is refused.
    let wrong = format!("1.2.752.129.2.1.3.1|{}", patient("p09").id.as_str());
    assert_outcome(
        &get_q(
            &s.nll,
            "Patient",
            &[("identifier", &wrong)],
            &cross_border(),
        )
        .await,
        400,
    );
    // p07 has no data: an empty searchset, not an error.
    let r = get_q(
        &s.nll,
        "Patient",
        &[("identifier", &token("p07"))],
        &cross_border(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 0);
    assert!(
        r.body.get("entry").is_none(),
        "no empty arrays in FHIR JSON"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_operation_outcomes() {
    let s = sims().await;
    let h = cross_border();
    assert_outcome(
        &get_q(
            &s.nll,
            "Patient",
            &[("identifier", "1.2.752.129.2.1.3.1|191212121213")],
            &h,
        )
        .await,
        400,
    );
    assert_outcome(
        &get_q(&s.nll, "Patient", &[("name", "Tolvan")], &h).await,
        400,
    );
    assert_outcome(
        &get_q(&s.nll, "MedicationRequest", &[("status", "active")], &h).await,
        400,
    );
    assert_outcome(
        &prescriptions_of(&s, "p01", &[("_include", "MedicationRequest:bogus")], &h).await,
        400,
    );
    assert_outcome(
        &prescriptions_of(&s, "p01", &[("status", "dormant")], &h).await,
        400,
    );
    assert_outcome(
        &prescriptions_of(&s, "p01", &[("_count", "x")], &h).await,
        400,
    );
    assert_outcome(
        &get(&format!("{}/MedicationRequest/rx-none", s.nll), &h).await,
        404,
    );
    assert_outcome(&get(&format!("{}/Nothing", s.nll), &h).await, 404);
    // Caller headers are required.
    assert_outcome(
        &get_q(&s.nll, "Patient", &[("identifier", &token("p01"))], &[]).await,
        401,
    );
    let bad_purpose = nll_headers(BRIDGE, "curiosity", "normal");
    assert_outcome(
        &get_q(
            &s.nll,
            "Patient",
            &[("identifier", &token("p01"))],
            &bad_purpose,
        )
        .await,
        400,
    );
    s.shutdown().await;
}

#[tokio::test]
async fn prescriptions_page_with_next_links() {
    let s = sims().await;
    let h = cross_border();
    let r = prescriptions_of(&s, "p08", &[], &h).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 30);
    assert_eq!(matches(&r.body).len(), 20);
    let next = next_link(&r.body).expect("a next link");
    assert!(next.starts_with("http://127.0.0.1:"));
    let r2 = get(&next, &h).await;
    assert_eq!(matches(&r2.body).len(), 10);
    assert!(next_link(&r2.body).is_none());
    let mut ids: Vec<String> = matches(&r.body)
        .into_iter()
        .chain(matches(&r2.body))
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "pages do not overlap");

    // Small pages, and the cap at 100.
    let mut url = Some(format!(
        "{}/MedicationRequest?patient.identifier={}&_count=7",
        s.nll,
        urlencode(&token("p08"))
    ));
    let mut pages = 0;
    let mut seen = 0;
    while let Some(u) = url {
        let r = get(&u, &h).await;
        seen += matches(&r.body).len();
        pages += 1;
        url = next_link(&r.body);
    }
    assert_eq!((pages, seen), (5, 30));
    let r = prescriptions_of(&s, "p08", &[("_count", "1000")], &h).await;
    assert_eq!(matches(&r.body).len(), 30);
    let r = prescriptions_of(&s, "p08", &[("_getpagesoffset", "28")], &h).await;
    assert_eq!(matches(&r.body).len(), 2);
    s.shutdown().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn includes_bring_medication_requester_and_subject() {
    let s = sims().await;
    let r = prescriptions_of(
        &s,
        "p01",
        &[
            ("status", "active"),
            ("_include", "MedicationRequest:medication"),
            ("_include", "MedicationRequest:requester"),
            ("_include", "MedicationRequest:subject"),
        ],
        &cross_border(),
    )
    .await;
    assert_eq!(matches(&r.body).len(), 5);
    let inc = entries(&r.body, "include");
    let of = |t: &str| inc.iter().filter(|r| r["resourceType"] == t).count();
    assert_eq!(of("Medication"), 5);
    assert_eq!(of("PractitionerRole"), 2);
    assert_eq!(of("Practitioner"), 2);
    assert_eq!(of("Organization"), 2);
    assert_eq!(of("Patient"), 1);
    let citodon = inc.iter().find(|r| r["id"] == "med-citodon").unwrap();
    assert_eq!(citodon["ingredient"].as_array().unwrap().len(), 2);
    assert_eq!(citodon["form"]["coding"][0]["code"], "10219000");
    // Without _include, only matches.
    let r = prescriptions_of(&s, "p01", &[], &cross_border()).await;
    assert!(entries(&r.body, "include").is_empty());
    // _id search with includes.
    let r = get_q(
        &s.nll,
        "MedicationRequest",
        &[
            ("_id", "rx-p02-01"),
            ("_include", "MedicationRequest:medication"),
        ],
        &cross_border(),
    )
    .await;
    assert_eq!(matches(&r.body).len(), 1);
    let oxy = entries(&r.body, "include")[0];
    let narcotic = oxy["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"].as_str().unwrap().ends_with("nll-narcotic-class"))
        .unwrap();
    assert_eq!(narcotic["valueCode"], "II");
    s.shutdown().await;
}

#[tokio::test]
async fn status_filter_and_fully_dispensed() {
    let s = sims().await;
    let h = cross_border();
    let all = prescriptions_of(&s, "p02", &[], &h).await;
    assert_eq!(matches(&all.body).len(), 4);
    let active = prescriptions_of(&s, "p02", &[("status", "active")], &h).await;
    assert_eq!(matches(&active.body).len(), 3);
    let done = prescriptions_of(&s, "p02", &[("status", "completed")], &h).await;
    let done = matches(&done.body);
    assert_eq!(done.len(), 1);
    assert_eq!(remaining(done[0]), 0);
    s.shutdown().await;
}

#[tokio::test]
async fn integritetssparr_hides_the_blocked_providers_prescriptions() {
    let s = sims().await;
    let q = [("patient.identifier", token("p06"))];
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let count = |h: Vec<(&'static str, String)>| {
        let s = &s;
        let q = q.clone();
        async move { matches(&get_q(&s.nll, "MedicationRequest", &q, &h).await.body).len() }
    };
    assert_eq!(count(cross_border()).await, 1);
    assert_eq!(
        count(nll_headers(BRIDGE, "cross-border", "emergency")).await,
        1,
        "emergency does not override for cross-border"
    );
    assert_eq!(
        count(with_role(
            nll_headers(BRIDGE, "treatment", "emergency"),
            "physician"
        ))
        .await,
        3,
        "a physician's emergency access in Swedish care lifts the spärr"
    );
    assert_eq!(
        count(nll_headers(BRIDGE, "treatment", "emergency")).await,
        1,
        "not for the NCP's role"
    );
    assert_eq!(
        count(with_role(
            nll_headers(BRIDGE, "cross-border", "emergency"),
            "physician"
        ))
        .await,
        1,
        "never cross-border"
    );
    assert_eq!(count(nll_headers(BRIDGE, "treatment", "normal")).await, 1);
    assert_eq!(
        count(nll_headers("SE2321000131-7002", "treatment", "normal")).await,
        3,
        "the blocked provider sees its own"
    );
    // A hidden prescription cannot be read nor dispensed.
    assert_outcome(
        &get(
            &format!("{}/MedicationRequest/rx-p06-02", s.nll),
            &cross_border(),
        )
        .await,
        404,
    );
    let r = post(
        &format!("{}/MedicationDispense", s.nll),
        &dispense_body("rx-p06-02", "k-sparr"),
        &cross_border(),
    )
    .await;
    assert_outcome(&r, 409);
    // The lock itself is readable.
    let r = get_q(
        &s.nll,
        "Consent",
        &[("patient.identifier", &token("p06"))],
        &cross_border(),
    )
    .await;
    assert_eq!(
        matches(&r.body)[0]["category"][0]["coding"][0]["code"],
        "integritetsspärr"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn dispense_decrements_completes_and_discard_restores() {
    let s = sims().await;
    let h = nll_headers(PHARMACY, "dispensing", "normal");
    let url = format!("{}/MedicationDispense", s.nll);
    let r = post(&url, &dispense_body("rx-p01-03", "k-1"), &h).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(location.contains(&format!("/MedicationDispense/{id}")));
    let rx = get(&format!("{}/MedicationRequest/rx-p01-03", s.nll), &h)
        .await
        .body;
    assert_eq!(
        (remaining(&rx), rx["status"].as_str().unwrap()),
        (0, "completed")
    );
    // Nothing left.
    assert_outcome(
        &post(&url, &dispense_body("rx-p01-03", "k-2"), &h).await,
        409,
    );
    // The same identifier again: 200 with the same resource, nothing decremented.
    let again = post(&url, &dispense_body("rx-p01-03", "k-1"), &h).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], id.as_str());
    // Reused for another prescription: conflict.
    assert_outcome(
        &post(&url, &dispense_body("rx-p01-01", "k-1"), &h).await,
        409,
    );
    // Only the dispensing pharmacy may discard.
    let mut discard = get(&format!("{url}/{id}"), &h).await.body;
    discard["status"] = json!("entered-in-error");
    let other = nll_headers(OTHER_PHARMACY, "dispensing", "normal");
    assert_outcome(&put(&format!("{url}/{id}"), &discard, &other).await, 403);
    let mut wrong = discard.clone();
    wrong["status"] = json!("cancelled");
    assert_outcome(&put(&format!("{url}/{id}"), &wrong, &h).await, 400);
    let r = put(&format!("{url}/{id}"), &discard, &h).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "entered-in-error");
    let rx = get(&format!("{}/MedicationRequest/rx-p01-03", s.nll), &h)
        .await
        .body;
    assert_eq!(
        (remaining(&rx), rx["status"].as_str().unwrap()),
        (1, "active")
    );
    // Discarding twice gives back only one dispensation.
    assert_eq!(put(&format!("{url}/{id}"), &discard, &h).await.status, 200);
    let rx = get(&format!("{}/MedicationRequest/rx-p01-03", s.nll), &h)
        .await
        .body;
    assert_eq!(remaining(&rx), 1);
    let r = get_q(
        &s.nll,
        "MedicationDispense",
        &[("prescription", "rx-p01-03")],
        &h,
    )
    .await;
    assert_eq!(matches(&r.body).len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn dispense_refuses_invalid_prescriptions() {
    let s = sims().await;
    let h = nll_headers(PHARMACY, "dispensing", "normal");
    let url = format!("{}/MedicationDispense", s.nll);
    for (rx, why) in [
        ("rx-p02-03", "expired"),
        ("rx-p02-04", "completed"),
        ("rx-p10-01", "stopped"),
        ("rx-p14-02", "cancelled"),
        ("rx-p16-02", "not yet valid"),
    ] {
        let r = post(&url, &dispense_body(rx, &format!("k-{rx}")), &h).await;
        assert_outcome(&r, 409);
        assert!(
            r.body["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(why),
            "{rx}: {}",
            r.body
        );
    }
    assert_outcome(&post(&url, &dispense_body("rx-none", "k-x"), &h).await, 404);
    assert_outcome(
        &post(&url, &json!({"resourceType": "MedicationDispense"}), &h).await,
        400,
    );
    assert_outcome(
        &post(&url, &json!({"resourceType": "Patient"}), &h).await,
        400,
    );
    let r = send_raw(&url, "not json", &h).await;
    assert_eq!(r, 400);
    let mut wrong_patient = dispense_body("rx-p01-01", "k-wp");
    wrong_patient["subject"] = json!({"identifier": {"value": patient("p02").id.as_str()}});
    assert_outcome(&post(&url, &wrong_patient, &h).await, 400);
    s.shutdown().await;
}

async fn send_raw(url: &str, body: &str, headers: &[(&'static str, String)]) -> u16 {
    let mut rb = http().post(url).body(body.to_owned());
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    rb.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn lock_is_per_caller() {
    let s = sims().await;
    let a = nll_headers(PHARMACY, "dispensing", "normal");
    let b = nll_headers(OTHER_PHARMACY, "dispensing", "normal");
    let lock = format!("{}/MedicationRequest/rx-p01-05/$lock", s.nll);
    let unlock = format!("{}/MedicationRequest/rx-p01-05/$unlock", s.nll);
    assert_eq!(post(&lock, &json!({}), &a).await.status, 200);
    assert_eq!(
        post(&lock, &json!({}), &a).await.status,
        200,
        "the holder may renew"
    );
    assert_outcome(&post(&lock, &json!({}), &b).await, 409);
    assert_outcome(&post(&unlock, &json!({}), &b).await, 409);
    let url = format!("{}/MedicationDispense", s.nll);
    assert_outcome(
        &post(&url, &dispense_body("rx-p01-05", "b-1"), &b).await,
        409,
    );
    assert_eq!(
        post(&url, &dispense_body("rx-p01-05", "a-1"), &a)
            .await
            .status,
        201
    );
    // The holder's dispensation released the lock.
    assert_eq!(post(&lock, &json!({}), &b).await.status, 200);
    assert_eq!(post(&unlock, &json!({}), &b).await.status, 200);
    assert_eq!(
        post(&url, &dispense_body("rx-p01-05", "a-2"), &a)
            .await
            .status,
        201
    );
    assert_outcome(
        &post(
            &format!("{}/MedicationRequest/rx-p01-05/$frobnicate", s.nll),
            &json!({}),
            &a,
        )
        .await,
        400,
    );
    assert_outcome(
        &post(
            &format!("{}/MedicationRequest/rx-none/$lock", s.nll),
            &json!({}),
            &a,
        )
        .await,
        404,
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_dispensing_never_oversells() {
    let s = sims().await;
    let url = format!("{}/MedicationDispense", s.nll);
    // rx-p01-02 (metformin) has 4 dispensations left; 20 pharmacies race for it.
    let callers: Vec<String> = (0..20).map(|i| format!("SE2321000016-APO{i:02}")).collect();
    let tasks = callers.iter().enumerate().map(|(i, c)| {
        let url = url.clone();
        let h = nll_headers(c, "dispensing", "normal");
        async move {
            post(&url, &dispense_body("rx-p01-02", &format!("race-{i}")), &h)
                .await
                .status
                .as_u16()
        }
    });
    let statuses = join_all(tasks).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        16,
        "{statuses:?}"
    );
    let h = nll_headers(PHARMACY, "dispensing", "normal");
    let rx = get(&format!("{}/MedicationRequest/rx-p01-02", s.nll), &h)
        .await
        .body;
    assert_eq!(
        (remaining(&rx), rx["status"].as_str().unwrap()),
        (0, "completed")
    );

    // The same dispensation sent 10 times at once is recorded once.
    let tasks = (0..10).map(|_| {
        let url = url.clone();
        let h = h.clone();
        async move { post(&url, &dispense_body("rx-p01-01", "same-key"), &h).await }
    });
    let rs = join_all(tasks).await;
    assert_eq!(rs.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(rs.iter().filter(|r| r.status == 200).count(), 9);
    let ids: std::collections::HashSet<_> = rs
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    let rx = get(&format!("{}/MedicationRequest/rx-p01-01", s.nll), &h)
        .await
        .body;
    assert_eq!(remaining(&rx), 2);
    s.shutdown().await;
}

#[tokio::test]
async fn prescription_search_accepts_oid_spellings() {
    let s = sims().await;
    let n = patient("p09").id.as_str().to_owned();
    for system in [
        "http://electronichealth.se/identifier/samordningsnummer",
        "1.2.752.129.2.1.3.3",
        "urn:oid:1.2.752.129.2.1.3.3",
    ] {
        let q = format!("{system}|{n}");
        let r = get_q(
            &s.nll,
            "MedicationRequest",
            &[("patient.identifier", &q)],
            &cross_border(),
        )
        .await;
        assert_eq!(matches(&r.body).len(), 2, "{system}");
    }
    s.shutdown().await;
}
