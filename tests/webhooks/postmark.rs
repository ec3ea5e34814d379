//! Postmark: Basic auth and one record per request.

use super::*;
use funnel::serve::webhook::postmark;

fn postmark_secrets() -> Secrets {
    Secrets {
        postmark: Some(postmark::Credentials::new("hooks", "s3cret:pw")),
        ..Secrets::default()
    }
}

fn postmark(body: serde_json::Value, user: &str, password: &str) -> Request {
    let auth = STANDARD.encode(format!("{user}:{password}"));
    Request::new("/webhooks/postmark", body.to_string())
        .header("Authorization", &format!("Basic {auth}"))
}

#[test]
fn postmark_records_become_signals() {
    // Shapes from postmarkapp.com/developer/webhooks/*-webhook, with our
    // contact id in Metadata.
    let secrets = postmark_secrets();
    let hard = postmark(
        json!({"RecordType": "Bounce", "MessageStream": "outbound", "ID": 4323372036854775807u64,
               "Type": "HardBounce", "TypeCode": 1, "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
               "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
               "Details": "Test bounce details", "Email": "john@example.com",
               "BouncedAt": "2019-11-05T16:33:54.9070259Z", "Metadata": {"contact": "c-42"}}),
        "hooks",
        "s3cret:pw",
    );
    let signals = hard.signals(Provider::Postmark, &secrets);
    assert_eq!(
        signals,
        vec![Signal {
            name: "email.bounced".into(),
            contact: Some("c-42".into()),
            provider_message_id: Some("883953f4-6105-42a2-a16a-77a8eac79483".into()),
            address: Some("john@example.com".into()),
            dedupe: "postmark:Bounce:4323372036854775807".into(),
            at: DateTime::parse_from_rfc3339("2019-11-05T16:33:54.9070259Z")
                .unwrap()
                .to_utc(),
            data: json!({"bounce_type": "HardBounce",
                         "reason": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
                         "details": "Test bounce details"}),
            suppress: Some(Suppress::Email),
        }]
    );

    let soft = postmark(
        json!({"RecordType": "Bounce", "ID": 43, "Type": "SoftBounce", "MessageID": "m-1",
               "Email": "ann@example.com", "BouncedAt": "2019-11-05T16:33:54Z"}),
        "hooks",
        "s3cret:pw",
    );
    let signal = &soft.signals(Provider::Postmark, &secrets)[0];
    assert_eq!(signal.name, "email.bounced");
    assert_eq!(signal.suppress, None);
    assert_eq!(signal.data, json!({"bounce_type": "SoftBounce"}));
    assert_eq!(signal.contact, None);

    let complaint = postmark(
        json!({"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "MessageID": "m-2",
               "Email": "john@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z"}),
        "hooks",
        "s3cret:pw",
    );
    let signal = &complaint.signals(Provider::Postmark, &secrets)[0];
    assert_eq!(
        (signal.name.as_str(), signal.suppress),
        ("email.complained", Some(Suppress::Email))
    );

    let delivery = postmark(
        json!({"RecordType": "Delivery", "ServerID": 23, "MessageID": "m-3", "Recipient": "john@example.com",
               "DeliveredAt": "2019-11-05T16:33:54.9070259Z", "Details": "Test delivery webhook details",
               "Metadata": {"contact": 17}}),
        "hooks",
        "s3cret:pw",
    );
    let signal = &delivery.signals(Provider::Postmark, &secrets)[0];
    assert_eq!(signal.name, "email.delivered");
    assert_eq!(signal.contact.as_deref(), Some("17"));
    assert_eq!(
        signal.dedupe,
        "postmark:Delivery:m-3:john@example.com:2019-11-05T16:33:54.9070259Z"
    );

    let click = postmark(
        json!({"RecordType": "Click", "ClickLocation": "HTML", "Platform": "Desktop",
               "UserAgent": "Mozilla/5.0", "OriginalLink": "https://example.com/offer",
               "MessageID": "m-4", "Recipient": "john@example.com", "ReceivedAt": "2017-10-25T15:21:11Z"}),
        "hooks",
        "s3cret:pw",
    );
    let signal = &click.signals(Provider::Postmark, &secrets)[0];
    assert_eq!(signal.name, "email.clicked");
    assert_eq!(
        signal.data,
        json!({"url": "https://example.com/offer", "user_agent": "Mozilla/5.0"})
    );
    assert_eq!(signal.at, at(1_508_944_871));

    let open = postmark(
        json!({"RecordType": "Open", "FirstOpen": true, "MessageID": "m-5",
               "Recipient": "john@example.com", "ReceivedAt": "2019-11-05T16:33:54Z"}),
        "hooks",
        "s3cret:pw",
    );
    let signals = open.signals(Provider::Postmark, &secrets);
    assert_eq!(names(&signals), ["email.opened"]);

    let unsubscribed = postmark(
        json!({"RecordType": "SubscriptionChange", "MessageID": "m-6", "Recipient": "john@example.com",
               "ChangedAt": "2020-02-01T10:53:34.416071Z", "SuppressSending": true,
               "SuppressionReason": "ManualSuppression"}),
        "hooks",
        "s3cret:pw",
    );
    let signal = &unsubscribed.signals(Provider::Postmark, &secrets)[0];
    assert_eq!(
        (signal.name.as_str(), signal.suppress),
        ("email.unsubscribed", Some(Suppress::Email))
    );
    assert_eq!(signal.data, json!({"reason": "ManualSuppression"}));
    let resubscribed = postmark(
        json!({"RecordType": "SubscriptionChange", "MessageID": "m-6", "SuppressSending": false}),
        "hooks",
        "s3cret:pw",
    );
    assert_eq!(resubscribed.signals(Provider::Postmark, &secrets), []);

    // Inbound mail is not ours to read: accepted, nothing to record.
    let inbound = postmark(json!({"RecordType": "Inbound"}), "hooks", "s3cret:pw");
    assert_eq!(inbound.signals(Provider::Postmark, &secrets), []);
}

#[test]
fn postmark_refuses_wrong_or_missing_credentials() {
    let secrets = postmark_secrets();
    let body = json!({"RecordType": "Delivery", "MessageID": "m"});
    for (user, password) in [
        ("hooks", "s3cret:pX"),
        ("hookz", "s3cret:pw"),
        ("hooks", ""),
    ] {
        let refused = postmark(body.clone(), user, password).send(Provider::Postmark, &secrets);
        assert_eq!(
            refused,
            Err(Rejection::Unauthorized("wrong user or password".into()))
        );
    }
    let bare = Request::new("/webhooks/postmark", body.to_string());
    let refused = bare.send(Provider::Postmark, &secrets).unwrap_err();
    assert_eq!(refused.status(), 401);
    assert!(!refused.to_string().contains("s3cret"));
    let bearer = bare.header("Authorization", "Bearer abc");
    assert_eq!(
        bearer.send(Provider::Postmark, &secrets),
        Err(Rejection::Unauthorized(
            "the Authorization header is not Basic".into()
        ))
    );
}

#[test]
fn postmark_refuses_malformed_and_oversized_bodies() {
    let secrets = postmark_secrets();
    let auth = format!("Basic {}", STANDARD.encode("hooks:s3cret:pw"));
    let broken =
        Request::new("/webhooks/postmark", "{\"RecordType\": ").header("authorization", &auth);
    let why = malformed(broken.send(Provider::Postmark, &secrets));
    assert!(why.starts_with("body is not valid JSON: EOF"), "{why}");
    let untyped = postmark(json!({"MessageID": "m"}), "hooks", "s3cret:pw");
    assert_eq!(
        malformed(untyped.send(Provider::Postmark, &secrets)),
        "missing `RecordType`"
    );
    // Size comes first: no credentials needed to be told.
    let big = too_large("/webhooks/postmark");
    assert_eq!(
        big.send(Provider::Postmark, &secrets),
        Err(Rejection::TooLarge)
    );
}
