//! generic /events.

use super::*;
use funnel::run::channel::http;

const EVENTS_SECRET: &[u8] = b"whsec-events";

fn events_secrets() -> Secrets {
    Secrets {
        events: Some(Secret::new(EVENTS_SECRET)),
        ..Secrets::default()
    }
}

fn events(body: &str, timestamp: i64) -> Request {
    let signature = http::signature(EVENTS_SECRET, timestamp, body.as_bytes());
    Request::new("/events", body).header(http::SIGNATURE_HEADER, &signature)
}

#[test]
fn events_read_like_the_events_feed() {
    let secrets = events_secrets();
    let body = r#"[
      {"id": "ev-1", "contact": "c-1", "event": "paid", "at": "2023-11-14T22:00:00Z", "data": {"amount": 12}},
      {"contact": 42, "name": "survey.filled"}
    ]"#;
    let signals = events(body, NOW).signals(Provider::Generic, &secrets);
    assert_eq!(names(&signals), ["paid", "survey.filled"]);
    assert_eq!(signals[0].dedupe, "generic:ev-1");
    assert_eq!(signals[0].contact.as_deref(), Some("c-1"));
    assert_eq!(signals[0].at, at(1_699_999_200));
    assert_eq!(signals[0].data, json!({"amount": 12}));
    assert_eq!(signals[1].contact.as_deref(), Some("42"));
    assert_eq!(signals[1].at, at(NOW), "no `at`: when it arrived");
    assert!(signals[1].dedupe.starts_with("generic:sha256:"));
    // The same item sent again (a retry) gets the same key.
    let again = events(r#"{"contact": 42, "name": "survey.filled"}"#, NOW + 10);
    assert_eq!(
        again.signals(Provider::Generic, &secrets)[0].dedupe,
        signals[1].dedupe
    );
}

#[test]
fn events_accept_any_of_several_signatures() {
    let body = r#"{"contact": "c", "event": "e"}"#;
    let good = http::sign(EVENTS_SECRET, NOW, body.as_bytes());
    let header = format!("t={NOW},v1={},v1={good}", "0".repeat(64));
    let request = Request::new("/events", body).header("funnel-signature", &header);
    assert_eq!(
        names(&request.signals(Provider::Generic, &events_secrets())),
        ["e"]
    );
}

#[test]
fn events_refuse_tampered_stale_and_invalid_items() {
    let secrets = events_secrets();
    let body = r#"{"contact": "c-1", "event": "paid"}"#;
    let mut tampered = events(body, NOW);
    tampered.body[3] ^= 1;
    assert_eq!(
        tampered.send(Provider::Generic, &secrets),
        Err(Rejection::Unauthorized(
            "the signature does not match".into()
        ))
    );
    assert_eq!(
        events(body, NOW - 301).send(Provider::Generic, &secrets),
        Err(Rejection::Stale)
    );
    assert_eq!(
        events(body, NOW + 301).send(Provider::Generic, &secrets),
        Err(Rejection::Stale)
    );
    let no_t = Request::new("/events", body).header("Funnel-Signature", "v1=abc");
    assert_eq!(
        no_t.send(Provider::Generic, &secrets),
        Err(Rejection::Unauthorized(
            "Funnel-Signature has no `t=`".into()
        ))
    );

    let refused = |body: &str| malformed(events(body, NOW).send(Provider::Generic, &secrets));
    assert_eq!(
        refused(
            r#"[{"contact": "ok", "event": "e"}, {"contact": "a\r\nX-Evil: 1", "event": "e"}]"#
        ),
        "item 2: contact id contains a control character"
    );
    assert_eq!(refused(r#"{"contact": "c"}"#), "item 1: missing event name");
    assert_eq!(
        refused(r#"{"contact": "c", "event": "a", "name": "b"}"#),
        "item 1: `event` and `name` differ"
    );
    assert_eq!(
        refused(r#"{"contact": "c", "event": "e", "at": "yesterday"}"#),
        "item 1: field `at`: `yesterday` is not a timestamp (expected RFC 3339 like 2024-05-01T09:30:00Z, or 2024-05-01 09:30 in UTC)"
    );
    assert_eq!(
        refused(r#"{"contact": "c", "event": "e", "id": "a\u0000"}"#),
        "item 1: `id` contains a control character"
    );
    assert_eq!(refused("[1]"), "item 1: not a JSON object");
    assert_eq!(
        refused("\"text\""),
        "expected a JSON object or an array of objects"
    );
    assert!(refused("{").starts_with("body is not valid JSON"));
    let big = too_large("/events");
    assert_eq!(
        big.send(Provider::Generic, &secrets),
        Err(Rejection::TooLarge)
    );
}
