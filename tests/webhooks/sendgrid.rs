//! SendGrid.

use super::*;
use funnel::serve::webhook::sendgrid;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};

// sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js.
const SENDGRID_DOC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
const SENDGRID_DOC_SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
const SENDGRID_DOC_TIMESTAMP: i64 = 1_588_788_367;
const SENDGRID_DOC_PAYLOAD: &str =
    r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;

fn sendgrid_doc_request(payload: &str, signature: &str, received: i64) -> Request {
    let mut request = Request::new("/webhooks/sendgrid", payload)
        .header(sendgrid::SIGNATURE_HEADER, signature)
        .header(
            sendgrid::TIMESTAMP_HEADER,
            &SENDGRID_DOC_TIMESTAMP.to_string(),
        );
    request.received_at = at(received);
    request
}

fn sendgrid_doc_secrets() -> Secrets {
    Secrets {
        sendgrid: Some(sendgrid::PublicKey::parse(SENDGRID_DOC_KEY).unwrap()),
        ..Secrets::default()
    }
}

#[test]
fn sendgrid_verifies_its_documented_example() {
    let secrets = sendgrid_doc_secrets();
    let ok = sendgrid_doc_request(
        SENDGRID_DOC_PAYLOAD,
        SENDGRID_DOC_SIGNATURE,
        SENDGRID_DOC_TIMESTAMP + 60,
    );
    // The signature holds; the example payload is one object where the
    // webhook always posts an array, so reading it fails after verifying.
    assert_eq!(
        malformed(ok.send(Provider::SendGrid, &secrets)),
        "expected a JSON array of events"
    );

    let tampered = SENDGRID_DOC_PAYLOAD.replace("test_event", "test_evenT");
    let refused = sendgrid_doc_request(&tampered, SENDGRID_DOC_SIGNATURE, SENDGRID_DOC_TIMESTAMP);
    assert_eq!(
        refused.send(Provider::SendGrid, &secrets),
        Err(Rejection::Unauthorized(
            "the signature does not match".into()
        ))
    );
    // The spec's "bad signature": one base64 character changed.
    let bad = SENDGRID_DOC_SIGNATURE.replace("NH2j", "NH3j");
    let refused = sendgrid_doc_request(SENDGRID_DOC_PAYLOAD, &bad, SENDGRID_DOC_TIMESTAMP);
    assert_eq!(
        refused
            .send(Provider::SendGrid, &secrets)
            .unwrap_err()
            .status(),
        401
    );

    let late = sendgrid_doc_request(
        SENDGRID_DOC_PAYLOAD,
        SENDGRID_DOC_SIGNATURE,
        SENDGRID_DOC_TIMESTAMP + 301,
    );
    assert_eq!(
        late.send(Provider::SendGrid, &secrets),
        Err(Rejection::Stale)
    );
}

/// A key pair of our own: SendGrid's key as it shows it, and a signer.
fn sendgrid_pair() -> (Secrets, SigningKey) {
    let signer = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let point = signer.verifying_key().to_encoded_point(false);
    // SubjectPublicKeyInfo DER for id-ecPublicKey on prime256v1.
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(point.as_bytes());
    let key = sendgrid::PublicKey::parse(&STANDARD.encode(der)).unwrap();
    let secrets = Secrets {
        sendgrid: Some(key),
        ..Secrets::default()
    };
    (secrets, signer)
}

fn sendgrid_signed(signer: &SigningKey, timestamp: i64, body: &str) -> Request {
    let signature: Signature = signer.sign(format!("{timestamp}{body}").as_bytes());
    Request::new("/webhooks/sendgrid", body)
        .header(
            sendgrid::SIGNATURE_HEADER,
            &STANDARD.encode(signature.to_der().as_bytes()),
        )
        .header(sendgrid::TIMESTAMP_HEADER, &timestamp.to_string())
}

// A batch after SendGrid's Event Webhook reference, with our custom arg.
const SENDGRID_BATCH: &str = r#"[
  {"email":"a@example.com","timestamp":1699999990,"event":"processed","sg_event_id":"e0","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
  {"email":"a@example.com","timestamp":1699999991,"event":"delivered","response":"250 OK","sg_event_id":"e1","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","contact":"c-1"},
  {"email":"b@example.com","timestamp":1699999992,"event":"bounce","type":"bounce","reason":"500 unknown recipient","status":"5.0.0","sg_event_id":"e2","sg_message_id":"m2.filter1"},
  {"email":"c@example.com","timestamp":1699999993,"event":"bounce","type":"blocked","reason":"try later","sg_event_id":"e3","sg_message_id":"m3.filter1"},
  {"email":"d@example.com","timestamp":1699999994,"event":"dropped","reason":"Bounced Address","sg_event_id":"e4"},
  {"email":"e@example.com","timestamp":1699999995,"event":"spamreport","sg_event_id":"e5"},
  {"email":"f@example.com","timestamp":1699999996,"event":"open","useragent":"Mozilla/4.0","sg_machine_open":false,"sg_event_id":"e6"},
  {"email":"f@example.com","timestamp":1699999997,"event":"click","url":"https://example.com/pay","useragent":"Mozilla/4.0","sg_event_id":"e7"},
  {"email":"g@example.com","timestamp":1699999998,"event":"group_unsubscribe","asm_group_id":10,"sg_event_id":"e8"}
]"#;

#[test]
fn sendgrid_batches_become_signals_in_order() {
    let (secrets, signer) = sendgrid_pair();
    let signals =
        sendgrid_signed(&signer, NOW, SENDGRID_BATCH).signals(Provider::SendGrid, &secrets);
    assert_eq!(
        names(&signals),
        [
            "email.delivered",
            "email.bounced",
            "email.bounced",
            "email.bounced",
            "email.complained",
            "email.opened",
            "email.clicked",
            "email.unsubscribed"
        ]
    );
    let suppressed: Vec<_> = signals.iter().map(|s| s.suppress).collect();
    let email = Some(Suppress::Email);
    assert_eq!(
        suppressed,
        [None, email, None, None, email, None, None, email]
    );
    let delivered = &signals[0];
    assert_eq!(delivered.dedupe, "sendgrid:e1");
    assert_eq!(delivered.contact.as_deref(), Some("c-1"));
    assert_eq!(
        delivered.provider_message_id.as_deref(),
        Some("14c5d75ce93.dfd.64b469")
    );
    assert_eq!(delivered.address.as_deref(), Some("a@example.com"));
    assert_eq!(delivered.at, at(1_699_999_991));
    assert_eq!(
        signals[1].data,
        json!({"bounce_type": "bounce", "reason": "500 unknown recipient", "status": "5.0.0"})
    );
    assert_eq!(
        signals[3].data,
        json!({"bounce_type": "dropped", "reason": "Bounced Address"})
    );
    assert_eq!(
        signals[6].data,
        json!({"url": "https://example.com/pay", "user_agent": "Mozilla/4.0"})
    );
}

#[test]
fn sendgrid_refuses_tampered_stale_and_malformed_batches() {
    let (secrets, signer) = sendgrid_pair();
    let mut tampered = sendgrid_signed(&signer, NOW, SENDGRID_BATCH);
    tampered.body[40] ^= 1;
    assert_eq!(
        tampered.send(Provider::SendGrid, &secrets),
        Err(Rejection::Unauthorized(
            "the signature does not match".into()
        ))
    );
    let stale = sendgrid_signed(&signer, NOW - 301, SENDGRID_BATCH);
    assert_eq!(
        stale.send(Provider::SendGrid, &secrets),
        Err(Rejection::Stale)
    );
    let future = sendgrid_signed(&signer, NOW + 301, SENDGRID_BATCH);
    assert_eq!(
        future.send(Provider::SendGrid, &secrets),
        Err(Rejection::Stale)
    );
    let unsigned = Request::new("/webhooks/sendgrid", SENDGRID_BATCH);
    assert_eq!(
        unsigned
            .send(Provider::SendGrid, &secrets)
            .unwrap_err()
            .status(),
        401
    );

    let no_id = r#"[{"event":"open","sg_event_id":"e1"},{"event":"delivered"}]"#;
    let refused = sendgrid_signed(&signer, NOW, no_id).send(Provider::SendGrid, &secrets);
    assert_eq!(malformed(refused), "event 2: missing `sg_event_id`");
    let not_object = sendgrid_signed(&signer, NOW, "[1]").send(Provider::SendGrid, &secrets);
    assert_eq!(malformed(not_object), "event 1: not a JSON object");
    let control = r#"[{"event":"open","sg_event_id":"e1","contact":"a\nb"}]"#;
    let refused = sendgrid_signed(&signer, NOW, control).send(Provider::SendGrid, &secrets);
    assert_eq!(
        malformed(refused),
        "event 1: `contact` contains a control character"
    );
    let broken = sendgrid_signed(&signer, NOW, "[{").send(Provider::SendGrid, &secrets);
    assert!(malformed(broken).starts_with("body is not valid JSON"));
    let big = too_large("/webhooks/sendgrid");
    assert_eq!(
        big.send(Provider::SendGrid, &secrets).unwrap_err().status(),
        413
    );
}
