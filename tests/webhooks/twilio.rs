//! Twilio.

use super::*;
use funnel::serve::webhook::twilio;

const TWILIO_TOKEN: &str = "twilio-auth-token";

fn twilio_secrets() -> Secrets {
    Secrets {
        twilio: Some(Secret::new(TWILIO_TOKEN)),
        ..Secrets::default()
    }
}

/// A form post signed by the library (its recipe is checked against
/// Twilio's documented example in `webhook::twilio`).
fn twilio(body: &str) -> Request {
    let request = Request::new("/webhooks/twilio", body);
    let params = twilio::form(body.as_bytes()).unwrap();
    let signature = twilio::sign(TWILIO_TOKEN.as_bytes(), &request.url, &params);
    request.header(twilio::SIGNATURE_HEADER, &signature)
}

const TWILIO_REPLY: &str = "ToCountry=US&SmsStatus=received&Body=Is+it+here%3F+Yes%21&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&From=%2B14155550100&To=%2B14155550199&NumMedia=0&AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01";

#[test]
fn twilio_incoming_messages_are_replies() {
    // Signature from python3's hmac/hashlib/base64 over the URL and the
    // sorted parameters, independent of the library.
    let request = Request::new("/webhooks/twilio", TWILIO_REPLY)
        .header("X-Twilio-Signature", "bI6FLF+4L/J7HU0gZdqlTYczlyo=");
    assert_eq!(
        request.signals(Provider::Twilio, &twilio_secrets()),
        vec![Signal {
            name: "sms.replied".into(),
            contact: None,
            provider_message_id: Some("SM1f0e8ae6ade43cb3c0ce4525424e404f".into()),
            address: Some("+14155550100".into()),
            dedupe: "twilio:SM1f0e8ae6ade43cb3c0ce4525424e404f".into(),
            at: at(NOW),
            data: json!({"text": "Is it here? Yes!", "to": "+14155550199"}),
            suppress: None,
        }]
    );
}

#[test]
fn twilio_stop_words_suppress_the_number() {
    let secrets = twilio_secrets();
    let reply = |text: &str| {
        let body = format!("Body={text}&From=%2B14155550100&MessageSid=SM1");
        twilio(&body).signals(Provider::Twilio, &secrets).remove(0)
    };
    for stop in [
        "STOP",
        "stop",
        "+Stop+",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit%0A",
        "OPTOUT",
        "revoke",
    ] {
        let signal = reply(stop);
        assert_eq!(signal.name, "sms.stop", "{stop}");
        assert_eq!(signal.suppress, Some(Suppress::Sms), "{stop}");
        assert_eq!(signal.address.as_deref(), Some("+14155550100"));
    }
    for start in ["START", "unstop"] {
        let signal = reply(start);
        assert_eq!((signal.name.as_str(), signal.suppress), ("sms.start", None));
    }
    for other in ["please+stop", "yes", "STOP+IT"] {
        let signal = reply(other);
        assert_eq!(
            (signal.name.as_str(), signal.suppress),
            ("sms.replied", None),
            "{other}"
        );
    }
    let advanced = "Body=Arr%C3%AAte&From=%2B1555&MessageSid=SM2&OptOutType=STOP";
    let signals = twilio(advanced).signals(Provider::Twilio, &secrets);
    assert_eq!(names(&signals), ["sms.stop"]);
}

#[test]
fn twilio_status_callbacks_report_delivery() {
    let secrets = twilio_secrets();
    let status = |status: &str| {
        let body = format!("MessageSid=SM9&MessageStatus={status}&To=%2B1555&ErrorCode=30003");
        twilio(&body).signals(Provider::Twilio, &secrets)
    };
    let delivered = status("delivered");
    assert_eq!(names(&delivered), ["sms.delivered"]);
    assert_eq!(delivered[0].dedupe, "twilio:SM9:delivered");
    assert_eq!(delivered[0].address.as_deref(), Some("+1555"));
    assert_eq!(names(&status("failed")), ["sms.failed"]);
    let undelivered = status("undelivered");
    assert_eq!(
        undelivered[0].data,
        json!({"status": "undelivered", "error_code": "30003"})
    );
    assert_eq!(status("sent"), []);
    assert_eq!(status("queued"), []);
}

#[test]
fn twilio_refuses_tampered_malformed_and_oversized_posts() {
    let secrets = twilio_secrets();
    let mut tampered = twilio(TWILIO_REPLY);
    let at_body = tampered.body.iter().position(|b| *b == b'I').unwrap();
    tampered.body[at_body] = b'i';
    assert_eq!(
        tampered
            .send(Provider::Twilio, &secrets)
            .unwrap_err()
            .status(),
        401
    );
    let mut moved = twilio(TWILIO_REPLY);
    moved.url = "https://funnel.example.com/webhooks/twilio?x=1".into();
    assert_eq!(
        moved.send(Provider::Twilio, &secrets).unwrap_err().status(),
        401
    );
    let unsigned = Request::new("/webhooks/twilio", TWILIO_REPLY);
    assert_eq!(
        unsigned.send(Provider::Twilio, &secrets),
        Err(Rejection::Unauthorized("missing X-Twilio-Signature".into()))
    );
    let bad_escape = Request::new("/webhooks/twilio", "Body=100%&From=x");
    assert_eq!(
        malformed(bad_escape.send(Provider::Twilio, &secrets)),
        "form body: a `%` not followed by two hex digits"
    );
    let no_sid = twilio("Body=hi&From=%2B1555");
    assert_eq!(
        malformed(no_sid.send(Provider::Twilio, &secrets)),
        "missing `MessageSid`"
    );
    let big = too_large("/webhooks/twilio");
    assert_eq!(
        big.send(Provider::Twilio, &secrets),
        Err(Rejection::TooLarge)
    );
}
