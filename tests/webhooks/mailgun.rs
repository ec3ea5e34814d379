//! Mailgun.

use super::*;

const MAILGUN_KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const MAILGUN_TOKEN: &str = "b7e1f6a1c0d94e2a8f3c5d7e9a1b3c5d7e9f1a3b5c7d9e1f30";
// python3 -c 'import hmac,hashlib; print(hmac.new(b"key-3ax6...", b"1700000000" + b"b7e1...", hashlib.sha256).hexdigest())'
const MAILGUN_SIGNATURE: &str = "90af0c83ad93936804d1f808b7ceec923ad9b7c4a94e53bdf075045a55d5f141";

fn mailgun_secrets() -> Secrets {
    Secrets {
        mailgun: Some(Secret::new(MAILGUN_KEY)),
        ..Secrets::default()
    }
}

/// A body signed with the known answer above, after the "failed" example
/// of Mailgun's webhook payload documentation.
fn mailgun(event: serde_json::Value, signature: &str) -> Request {
    let body = json!({
        "signature": {"timestamp": "1700000000", "token": MAILGUN_TOKEN, "signature": signature},
        "event-data": event,
    });
    Request::new("/webhooks/mailgun", body.to_string())
}

fn mailgun_failed(severity: &str) -> serde_json::Value {
    json!({
        "event": "failed", "id": "G9Bn5sl1TC6nu79C8C0bwg", "timestamp": 1699999999.5,
        "severity": severity, "reason": "bounce", "recipient": "alice@example.com",
        "delivery-status": {"code": 550, "description": "No such mailbox"},
        "message": {"headers": {"message-id": "<20130503182626.18666.16540@sandbox.mailgun.org>"}},
        "user-variables": {"contact": "c-7"}
    })
}

#[test]
fn mailgun_signs_the_timestamp_and_token() {
    assert_eq!(
        webhook::mailgun::sign(MAILGUN_KEY.as_bytes(), "1700000000", MAILGUN_TOKEN),
        MAILGUN_SIGNATURE
    );
}

#[test]
fn mailgun_events_become_signals_with_a_replay_key() {
    let secrets = mailgun_secrets();
    let accepted = mailgun(mailgun_failed("permanent"), MAILGUN_SIGNATURE)
        .send(Provider::Mailgun, &secrets)
        .unwrap();
    assert_eq!(
        accepted.replay_key.as_deref(),
        Some(format!("mailgun:{MAILGUN_TOKEN}").as_str())
    );
    assert_eq!(
        accepted.signals,
        vec![Signal {
            name: "email.bounced".into(),
            contact: Some("c-7".into()),
            provider_message_id: Some("20130503182626.18666.16540@sandbox.mailgun.org".into()),
            address: Some("alice@example.com".into()),
            dedupe: "mailgun:G9Bn5sl1TC6nu79C8C0bwg".into(),
            at: DateTime::from_timestamp_millis(1_699_999_999_500).unwrap(),
            data: json!({"bounce_type": "permanent", "reason": "bounce", "status": 550,
                         "details": "No such mailbox"}),
            suppress: Some(Suppress::Email),
        }]
    );
    let temporary = mailgun(mailgun_failed("temporary"), MAILGUN_SIGNATURE);
    let signal = &temporary.signals(Provider::Mailgun, &secrets)[0];
    assert_eq!(
        (signal.name.as_str(), signal.suppress),
        ("email.bounced", None)
    );

    let cases = [
        ("delivered", "email.delivered", None),
        ("complained", "email.complained", Some(Suppress::Email)),
        ("opened", "email.opened", None),
        ("clicked", "email.clicked", None),
    ];
    for (event, name, suppress) in cases {
        let data = json!({"event": event, "id": "x", "timestamp": 1699999999,
                          "url": "https://example.com/a", "recipient": "a@example.com"});
        let signals = mailgun(data, MAILGUN_SIGNATURE).signals(Provider::Mailgun, &secrets);
        assert_eq!(signals.len(), 1, "{event}");
        assert_eq!(
            (signals[0].name.as_str(), signals[0].suppress),
            (name, suppress)
        );
    }
    let accepted = json!({"event": "accepted", "id": "x"});
    assert_eq!(
        mailgun(accepted, MAILGUN_SIGNATURE).signals(Provider::Mailgun, &secrets),
        []
    );
}

#[test]
fn mailgun_refuses_tampered_stale_and_malformed_posts() {
    let secrets = mailgun_secrets();
    let wrong = MAILGUN_SIGNATURE.replace("90af", "90ae");
    assert_eq!(
        mailgun(mailgun_failed("permanent"), &wrong).send(Provider::Mailgun, &secrets),
        Err(Rejection::Unauthorized(
            "the signature does not match".into()
        ))
    );
    // One byte of the signed token changed in the body.
    let mut tampered = mailgun(mailgun_failed("permanent"), MAILGUN_SIGNATURE);
    let text = String::from_utf8(tampered.body).unwrap();
    tampered.body = text.replace("b7e1f6", "b7e1f7").into_bytes();
    assert_eq!(
        tampered
            .send(Provider::Mailgun, &secrets)
            .unwrap_err()
            .status(),
        401
    );

    let mut late = mailgun(mailgun_failed("permanent"), MAILGUN_SIGNATURE);
    late.received_at = at(NOW + 301);
    assert_eq!(
        late.send(Provider::Mailgun, &secrets),
        Err(Rejection::Stale)
    );
    let mut early = mailgun(mailgun_failed("permanent"), MAILGUN_SIGNATURE);
    early.received_at = at(NOW - 301);
    assert_eq!(
        early.send(Provider::Mailgun, &secrets),
        Err(Rejection::Stale)
    );

    let unsigned = Request::new("/webhooks/mailgun", json!({"event-data": {}}).to_string());
    assert_eq!(
        unsigned
            .send(Provider::Mailgun, &secrets)
            .unwrap_err()
            .status(),
        401
    );
    let broken = Request::new("/webhooks/mailgun", "{\"signature\": [");
    assert!(
        malformed(broken.send(Provider::Mailgun, &secrets)).starts_with("body is not valid JSON")
    );
    let no_event = mailgun(json!({"id": "x"}), MAILGUN_SIGNATURE);
    assert_eq!(
        malformed(no_event.send(Provider::Mailgun, &secrets)),
        "missing `event-data.event`"
    );
    let big = too_large("/webhooks/mailgun");
    assert_eq!(
        big.send(Provider::Mailgun, &secrets),
        Err(Rejection::TooLarge)
    );
}
