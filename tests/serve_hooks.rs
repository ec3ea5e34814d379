//! Provider webhooks through a real `funnel serve`: each signed request
//! stored once and answered after the commit, a tampered or stale copy
//! refused with nothing stored, and what they say acted on by the next
//! `funnel run` (a STOP leaves every funnel, a hard bounce stops email).
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::Project;
use common::serve::{Server, client, events, free_port, stage_of};
use funnel::serve::webhook::{sendgrid, twilio};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};

const EVENTS_SECRET: &str = "events-secret-0123456789";
const TWILIO_TOKEN: &str = "twilio-token-0123456789";

const FUNNEL: &str = r#"
funnel: reminders
timezone: UTC
contact: { email: email, phone: phone, first_name: string, unsubscribed: bool }
enter:
  - { when: "contact.first_name != ''", stage: reminded }
exit:
  - { when: "contact.unsubscribed", to: opted-out }
  - { event: sms.stop, to: opted-out }
stages:
  reminded:
    goal: { event: order.placed, to: ordered }
    steps:
      - id: text
        sms: { template: text }
      - id: mail
        after: 1d
        email: { template: mail }
      - id: again
        after: 1d
        sms: { template: text }
    exhausted: done
  ordered: { terminal: true }
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

fn project() -> (Project, u16) {
    let port = free_port();
    let p = Project::new();
    p.write("funnels/reminders.yaml", FUNNEL)
        .write("funnels/templates/text.hbs", "Your order awaits. Reply STOP to opt out.")
        .write("funnels/templates/mail.hbs", "subject: Still there?\n---\nYour order awaits.\n")
        .write(
            "contacts.csv",
            "id,email,phone,first_name,unsubscribed\nann,ann@example.com,+14155550100,Ann,false\nbob,bob@example.com,+14155550111,Bob,false\n",
        )
        .write(
            "funnel.toml",
            &format!("[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\n"),
        );
    (p, port)
}

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("FUNNEL_EVENTS_SECRET", EVENTS_SECRET.to_string()),
        ("FUNNEL_TWILIO_AUTH_TOKEN", TWILIO_TOKEN.to_string()),
        ("FUNNEL_POSTMARK_USER", "pm-user".to_string()),
        ("FUNNEL_POSTMARK_PASSWORD", "pm-password-0123".to_string()),
        ("FUNNEL_SENDGRID_PUBLIC_KEY", sendgrid_key().0),
    ]
}

fn start(p: &Project) -> Server {
    let env = env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(p, &pairs)
}

fn run_at(p: &Project, now: &str) {
    let run = p.funnel_env(
        &["run", "--contacts", "contacts.csv", "--now", now],
        &[("FUNNEL_LINK_SECRET", common::serve::LINK_SECRET)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn statuses(p: &Project, contact: &str) -> Vec<(String, String)> {
    let out = p.funnel(&["actions", "--format", "json"]);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["contact"] == contact)
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn now_plus(days: i64) -> String {
    later(chrono::TimeDelta::days(days))
}

fn later(by: chrono::TimeDelta) -> String {
    (chrono::Utc::now() + by).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn signed_events(base: &str, body: &str, t: i64) -> reqwest::blocking::RequestBuilder {
    let signature =
        funnel::run::channel::http::signature(EVENTS_SECRET.as_bytes(), t, body.as_bytes());
    client()
        .post(format!("{base}/events"))
        .header("Funnel-Signature", signature)
        .header("content-type", "application/json")
        .body(body.to_string())
}

#[test]
fn a_signed_event_counts_once_however_often_it_comes_and_a_tampered_one_never() {
    let (p, _) = project();
    run_at(&p, &now_plus(0));
    let server = start(&p);
    let now = chrono::Utc::now();
    let body = json!({ "contact": "ann", "event": "order.placed", "at": now.to_rfc3339(), "id": "order-1001" }).to_string();
    for _ in 0..3 {
        let answer = signed_events(&server.base, &body, now.timestamp())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // Bob's name over Ann's signature.
    let tampered = body.replace("ann", "bob");
    let refused = client()
        .post(format!("{}/events", server.base))
        .header(
            "Funnel-Signature",
            funnel::run::channel::http::signature(
                EVENTS_SECRET.as_bytes(),
                now.timestamp(),
                body.as_bytes(),
            ),
        )
        .body(tampered)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let stale = signed_events(
        &server.base,
        &body.replace("1001", "1002"),
        now.timestamp() - 600,
    )
    .send()
    .unwrap();
    assert_eq!(stale.status(), 401);
    // An oversized body is refused unread: the client gets the 413, or,
    // when the server closed the connection before the client had sent it
    // all, a failed write. Either way nothing is heard, and serve goes on.
    match signed_events(&server.base, &" ".repeat(2 * 1024 * 1024), now.timestamp()).send() {
        Ok(huge) => assert_eq!(huge.status(), 413),
        Err(error) => assert!(
            error.is_request() && format!("{error:?}").contains("BodyWrite"),
            "{error:?}"
        ),
    }
    let again = signed_events(&server.base, &body, now.timestamp())
        .send()
        .unwrap();
    assert_eq!(again.status(), 200);
    let heard = events(&p);
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0]["name"], "order.placed");
    assert_eq!(heard[0]["source"], "generic");
    run_at(&p, &now_plus(3));
    assert_eq!(stage_of(&p, "reminders", "ann"), "ordered");
    assert_eq!(stage_of(&p, "reminders", "bob"), "done");
}

#[test]
fn a_stop_by_sms_leaves_every_automation_and_no_more_texts_go() {
    let (p, port) = project();
    run_at(&p, &now_plus(0));
    let _server = start(&p);
    // Twilio posts the inbound text to the public URL it was given, and
    // signs that URL with the form.
    let url = format!("http://127.0.0.1:{port}/webhooks/twilio");
    let body = "Body=Stop&From=%2B14155550100&To=%2B15550001&MessageSid=SM42";
    let params = twilio::form(body.as_bytes()).unwrap();
    let signature = twilio::sign(TWILIO_TOKEN.as_bytes(), &url, &params);
    let post = |signature: &str| {
        client()
            .post(&url)
            .header(twilio::SIGNATURE_HEADER, signature)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap()
    };
    assert_eq!(post("AAAAAAAAAAAAAAAAAAAAAAAAAAA=").status(), 401);
    assert!(events(&p).is_empty());
    assert_eq!(post(&signature).status(), 200);
    let heard = events(&p);
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0]["name"], "sms.stop");
    assert_eq!(
        heard[0]["contact"], "ann",
        "found by the number the text went to"
    );
    run_at(&p, &now_plus(3));
    assert_eq!(stage_of(&p, "reminders", "ann"), "opted-out");
    assert_eq!(stage_of(&p, "reminders", "bob"), "done");
    let ann = statuses(&p, "ann");
    assert_eq!(
        ann,
        [("text".to_string(), "delivered".to_string())],
        "{ann:?}"
    );
}

#[test]
fn a_hard_bounce_stops_email_to_the_address_but_not_texts() {
    let (p, _) = project();
    run_at(&p, &now_plus(0));
    let server = start(&p);
    let bounce = json!({
        "RecordType": "Bounce", "ID": 4323372036854775807_i64, "Type": "HardBounce", "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "Ann@Example.com",
        "BouncedAt": chrono::Utc::now().to_rfc3339(), "Description": "The server was unable to deliver your message",
    })
    .to_string();
    let send = |password: &str| {
        client()
            .post(format!("{}/webhooks/postmark", server.base))
            .basic_auth("pm-user", Some(password))
            .header("content-type", "application/json")
            .body(bounce.clone())
            .send()
            .unwrap()
    };
    assert_eq!(send("wrong-password").status(), 401);
    let answer = send("pm-password-0123");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().unwrap()["unmatched"],
        1,
        "no email went to Ann yet"
    );
    let listed: Value =
        serde_json::from_str(&p.funnel(&["suppressions", "--format", "json"]).stdout).unwrap();
    assert_eq!(listed[0]["scope"], "email", "{listed}");
    assert_eq!(
        listed[0]["address"], "ann@example.com",
        "compared without case"
    );
    assert_eq!(listed[0]["reason"], "email.bounced from postmark");
    // The suppression holds by address: the email a day later is held
    // back, the texts still go.
    run_at(&p, &later(chrono::TimeDelta::hours(25)));
    run_at(&p, &later(chrono::TimeDelta::hours(49)));
    let ann = statuses(&p, "ann");
    assert!(
        ann.contains(&("mail".into(), "suppressed".into())),
        "{ann:?}"
    );
    assert!(
        ann.contains(&("again".into(), "delivered".into())),
        "{ann:?}"
    );
    assert!(statuses(&p, "bob").contains(&("mail".into(), "delivered".into())));
}

/// A key pair for SendGrid: the public key as SendGrid shows it (base64
/// SubjectPublicKeyInfo DER), and the signer.
fn sendgrid_key() -> (String, SigningKey) {
    let signer = SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
    let point = signer.verifying_key().to_encoded_point(false);
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(point.as_bytes());
    (STANDARD.encode(der), signer)
}

#[test]
fn sendgrid_delivering_the_same_batch_three_times_counts_each_event_once() {
    let (p, _) = project();
    run_at(&p, &now_plus(0));
    let server = start(&p);
    let (_, signer) = sendgrid_key();
    let t = chrono::Utc::now().timestamp();
    let batch = json!([
        { "email": "ann@example.com", "timestamp": t, "event": "open", "sg_event_id": "ev-1", "sg_message_id": "m1.filter0001", "contact": "ann" },
        { "email": "bob@example.com", "timestamp": t, "event": "click", "url": "https://shop.example.com", "sg_event_id": "ev-2", "sg_message_id": "m2.filter0001", "contact": "bob" },
    ])
    .to_string();
    let signature: Signature = signer.sign(format!("{t}{batch}").as_bytes());
    let mut stored = Vec::new();
    for _ in 0..3 {
        let answer = client()
            .post(format!("{}/webhooks/sendgrid", server.base))
            .header(
                sendgrid::SIGNATURE_HEADER,
                STANDARD.encode(signature.to_der().as_bytes()),
            )
            .header(sendgrid::TIMESTAMP_HEADER, t.to_string())
            .body(batch.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
        stored.push(answer.json::<Value>().unwrap()["stored"].as_u64().unwrap());
    }
    assert_eq!(stored, [2, 0, 0]);
    let names: Vec<String> = events(&p)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["email.opened", "email.clicked"]);
}

#[test]
fn a_mailgun_signature_cannot_carry_a_second_body() {
    let (p, _) = project();
    run_at(&p, &now_plus(0));
    let key = "mailgun-signing-key-0123";
    let server = Server::start(&p, &[("FUNNEL_MAILGUN_SIGNING_KEY", key)]);
    let t = chrono::Utc::now().timestamp().to_string();
    let token = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5";
    let signature = funnel::serve::webhook::mailgun::sign(key.as_bytes(), &t, token);
    let body = |event: &str, id: &str| {
        json!({
            "signature": { "timestamp": t, "token": token, "signature": signature },
            "event-data": { "event": event, "id": id, "timestamp": chrono::Utc::now().timestamp(),
                "recipient": "ann@example.com", "user-variables": { "contact": "ann" } },
        })
        .to_string()
    };
    let post = |body: String| {
        client()
            .post(format!("{}/webhooks/mailgun", server.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(post(body("opened", "ev-1")), 200);
    // The same signature over another event: a captured request replayed
    // with a forged body.
    assert_eq!(post(body("complained", "ev-2")), 401);
    let names: Vec<String> = events(&p)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["email.opened"]);
}

#[test]
fn a_client_past_its_rate_is_told_to_wait_and_nothing_of_it_is_stored() {
    let (p, port) = project();
    p.write(
        "funnel.toml",
        &format!("[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\nrate-limit = 1\n"),
    );
    run_at(&p, &now_plus(0));
    let server = start(&p);
    let now = chrono::Utc::now();
    let statuses: Vec<u16> = (0..15)
        .map(|i| {
            let body = json!({ "contact": "ann", "event": "page.viewed", "at": now.to_rfc3339(), "id": format!("v{i}") }).to_string();
            signed_events(&server.base, &body, now.timestamp())
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    // A burst of ten seconds' worth at one per second, give or take the
    // one that drips in while the requests are made.
    assert!((10..=12).contains(&accepted), "{statuses:?}");
    assert_eq!(accepted + limited, 15, "{statuses:?}");
    assert_eq!(events(&p).len(), accepted);
}

/// A keyword texted after a talk, from a number nobody has: the funnel
/// that creates contacts from `sms.replied` takes the sender in.
const GUIDE: &str = r#"
funnel: guide
timezone: UTC
contact: { phone: phone, unsubscribed: bool }
enter:
  - event: sms.replied
    when: "event.data.text.trim().lowerAscii() == 'guide'"
    create: { phone: event.data.from, unsubscribed: "false" }
    stage: welcome
exit:
  - { event: sms.stop, to: out }
stages:
  welcome:
    steps:
      - id: send-guide
        sms: { template: guide, transactional: true }
    exhausted: done
  done: { terminal: true }
  out: { terminal: true }
"#;

#[test]
fn a_keyword_texted_from_an_unknown_number_creates_the_contact() {
    let port = free_port();
    let p = Project::new();
    p.write("funnels/guide.yaml", GUIDE)
        .write(
            "funnels/templates/guide.hbs",
            "Here is the guide: https://example.com/guide",
        )
        .write("contacts.csv", "id,phone,unsubscribed\n")
        .write(
            "funnel.toml",
            &format!(
                "[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\n"
            ),
        );
    let _server = start(&p);
    let url = format!("http://127.0.0.1:{port}/webhooks/twilio");
    let body = "Body=+Guide+&From=%2B36302222222&To=%2B15550001&MessageSid=SM77";
    let params = twilio::form(body.as_bytes()).unwrap();
    let answer = client()
        .post(&url)
        .header(
            twilio::SIGNATURE_HEADER,
            twilio::sign(TWILIO_TOKEN.as_bytes(), &url, &params),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().unwrap()["unmatched"], 0);
    run_at(&p, &later(chrono::TimeDelta::minutes(1)));
    let sent = p.delivered();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["contact"], "+36302222222");
    assert_eq!(sent[0]["payload"]["to"], "+36302222222");
}
