#![allow(clippy::unwrap_used)]
//! Delivery against real servers on loopback: an SMTP server (aiosmtpd)
//! and an HTTP server started inside each test. The real binary runs
//! `funnel run` / `funnel deliver` / `funnel retry` with `--now` stepping
//! through retry times; the tests assert what the servers received.

mod common;

use std::time::{Duration, Instant};

use common::Project;
use common::servers::{HttpServer, Reply, SmtpServer, closed_port};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const T0: &str = "2026-05-04T09:00:00Z";
const SECRET: &str = "whsec_test_3c9d1f0e8b7a";
const TOKEN: &str = "tok-5f2e9a77c1";

const FUNNEL: &str = r#"
funnel: news
timezone: UTC
contact: { email: email, phone: phone, first_name: string, unsubscribed: bool }
enter:
  - { when: "contact.first_name != ''", stage: welcome }
exit:
  - { when: "contact.unsubscribed", to: opted-out }
stages:
  welcome:
    steps:
      - id: hello
        email: { template: hello }
      - id: text
        sms: { template: text }
      - id: crm
        webhook: { endpoint: crm, template: crm }
      # Keeps the journey open, so an opt-out still finds the contact here.
      - id: later
        after: 7d
        email: { template: hello }
    exhausted: done
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

const HEADER: &str = "id,email,phone,first_name,unsubscribed\n";

/// A project with the `news` funnel, its templates and a funnel.toml whose
/// channels point at the given servers; `extra` is appended to `[delivery]`.
fn project(smtp_port: u16, http_port: u16, delivery: &str, contacts: &str) -> Project {
    let p = Project::new();
    p.write("funnels/news.yaml", FUNNEL)
        .write(
            "funnels/templates/hello.hbs",
            "subject: Hello {{contact.first_name}}\n---\nHi {{contact.first_name}} & welcome <3\n",
        )
        .write(
            "funnels/templates/text.hbs",
            "Hi {{contact.first_name}}, 50% off today. Reply STOP to opt out",
        )
        .write(
            "funnels/templates/crm.hbs",
            r#"{"event": "welcomed", "name": "{{contact.first_name}}"}"#,
        )
        .write("contacts.csv", &format!("{HEADER}{contacts}"))
        .write(
            "funnel.toml",
            &format!(
                r#"
[delivery]
timeout = "1s"
backoff = "1m"
max-backoff = "10m"
max-attempts = 3
{delivery}

[channels.email]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Acme <hello@acme.test>"
unsubscribe = "https://acme.test/unsubscribe?c={{{{contact}}}}"

[channels.sms]
kind = "http"
url = "http://127.0.0.1:{http_port}/sms/${{SMS_ACCOUNT}}"
headers = {{ Authorization = "Bearer ${{SMS_TOKEN}}" }}
form = {{ To = "{{{{to}}}}", From = "+15550001", Body = "{{{{body}}}}" }}

[channels.crm]
kind = "http"
url = "http://127.0.0.1:{http_port}/hooks/crm"
secret = "${{CRM_SECRET}}"
"#
            ),
        );
    p
}

const ENV: &[(&str, &str)] = &[
    ("SMS_ACCOUNT", "AC123"),
    ("SMS_TOKEN", TOKEN),
    ("CRM_SECRET", SECRET),
];

fn run(p: &Project, now: &str) -> common::Run {
    let run = p.funnel_env(&["run", "--contacts", "contacts.csv", "--now", now], ENV);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn deliver(p: &Project, now: &str) -> common::Run {
    let run = p.funnel_env(&["deliver", "--now", now], ENV);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn at(base: &str, seconds: i64) -> String {
    let t =
        chrono::DateTime::parse_from_rfc3339(base).unwrap() + chrono::TimeDelta::seconds(seconds);
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Verifies a `Funnel-Signature` the way the README tells receivers to.
fn verify(header: &str, body: &str, secret: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    expected == v1 && (0..300).contains(&age)
}

#[test]
fn email_sms_and_a_signed_webhook_reach_real_servers() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = run(&p, T0);
    assert!(
        out.stderr
            .contains("delivery: delivered 3 / retrying 0 / dead 0"),
        "{}",
        out.stderr
    );

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, ["ann@example.com"]);
    assert_eq!(mail.from, "hello@acme.test");
    assert_eq!(mail.header("Subject").unwrap(), "Hello Ann");
    assert_eq!(mail.header("X-Funnel-Key").unwrap(), "news/ann/1/hello");
    assert_eq!(
        mail.header("List-Unsubscribe").unwrap(),
        "<https://acme.test/unsubscribe?c=ann>"
    );
    assert!(mail.data.contains("Hi Ann & welcome <3"), "{}", mail.data);

    let requests = http.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let sms = requests
        .iter()
        .find(|r| r.path.starts_with("/sms"))
        .unwrap();
    assert_eq!(sms.path, "/sms/AC123");
    assert_eq!(
        sms.header("authorization").unwrap(),
        format!("Bearer {TOKEN}")
    );
    assert_eq!(
        sms.header("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        sms.body,
        "To=%2B3612345678&From=%2B15550001&Body=Hi%20Ann%2C%2050%25%20off%20today.%20Reply%20STOP%20to%20opt%20out"
    );
    assert_eq!(sms.header("idempotency-key").unwrap(), "news/ann/1/text");

    let hook = requests.iter().find(|r| r.path == "/hooks/crm").unwrap();
    assert_eq!(hook.header("idempotency-key").unwrap(), "news/ann/1/crm");
    assert!(
        verify(hook.header("funnel-signature").unwrap(), &hook.body, SECRET),
        "signature does not verify: {:?}",
        hook
    );
    assert!(!verify(
        hook.header("funnel-signature").unwrap(),
        &hook.body,
        "wrong"
    ));
    let body: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(body["id"], "news/ann/1/crm");
    assert_eq!(body["action"], "webhook");
    assert_eq!(body["funnel"], "news");
    assert_eq!(body["stage"], "welcome");
    assert_eq!(body["step"], "crm");
    assert_eq!(body["contact"]["id"], "ann");
    assert_eq!(body["contact"]["email"], "ann@example.com");
    assert_eq!(body["fields"]["event"], "welcomed");

    let counts = p.outbox_counts();
    assert_eq!(counts.get("delivered"), Some(&3), "{counts:?}");
    // Secrets never reach the state, the file outbox or the output.
    let state = std::fs::read(p.path(".funnel/state.db")).unwrap();
    for secret in [SECRET, TOKEN] {
        assert!(!String::from_utf8_lossy(&state).contains(secret));
        assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    }
    // A second pass sends nothing again.
    assert!(deliver(&p, T0).stderr.contains("nothing due"));
    assert_eq!(http.requests().len(), 2);
    assert_eq!(smtp.mails().len(), 1);
}

#[test]
fn server_errors_are_retried_with_backoff_then_dead_lettered_and_retry_requeues() {
    let smtp = SmtpServer::start();
    // The CRM fails three times, then recovers; SMS always works.
    let crm_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = crm_calls.clone();
    let http = HttpServer::start(move |r, _| {
        if r.path != "/hooks/crm" {
            return Reply::status(200);
        }
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < 3 {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = run(&p, T0);
    assert!(
        out.stderr.contains("delivered 2 / retrying 1 / dead 0"),
        "{}",
        out.stderr
    );
    // Not due before its backoff (at least half of the 1m base)...
    assert!(deliver(&p, &at(T0, 29)).stderr.contains("nothing due"));
    // ...due once the full minute has passed: attempt 2 fails, backoff 1-2m.
    let second = deliver(&p, &at(T0, 60));
    assert!(second.stderr.contains("retrying 1"), "{}", second.stderr);
    assert!(deliver(&p, &at(T0, 60 + 59)).stderr.contains("nothing due"));
    // Attempt 3 is the last allowed: dead, shown by status and retry --list.
    let third = deliver(&p, &at(T0, 60 + 120));
    assert!(third.stderr.contains("dead 1"), "{}", third.stderr);
    assert!(
        third.stderr.contains("gave up after 3 attempts: HTTP 500"),
        "{}",
        third.stderr
    );
    assert_eq!(p.outbox_counts().get("dead"), Some(&1));
    let list = p.funnel(&["retry", "--list"]);
    assert!(list.stdout.contains("news/ann/1/crm"), "{}", list.stdout);
    // The same key every time: the receiver can drop duplicates.
    let keys: Vec<String> = http
        .requests()
        .iter()
        .filter(|r| r.path == "/hooks/crm")
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(keys, ["news/ann/1/crm"; 3]);
    // `funnel retry` re-queues it; the recovered server takes it.
    let retried = p.funnel(&["retry"]);
    assert!(
        retried.stdout.contains("re-queued 1 dead letter"),
        "{}",
        retried.stdout
    );
    let last = deliver(&p, &at(T0, 600));
    assert!(last.stderr.contains("delivered 1"), "{}", last.stderr);
    assert_eq!(p.outbox_counts().get("dead"), None);
    assert_eq!(p.outbox_counts().get("delivered"), Some(&3));
}

#[test]
fn client_errors_fail_at_once() {
    let smtp = SmtpServer::start();
    let http = HttpServer::start(|r, _| {
        if r.path == "/hooks/crm" {
            Reply::status(422)
        } else {
            Reply::status(200)
        }
    });
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = run(&p, T0);
    assert!(out.stderr.contains("dead 1"), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 422"), "{}", out.stderr);
    assert_eq!(
        http.requests()
            .iter()
            .filter(|r| r.path == "/hooks/crm")
            .count(),
        1
    );
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let smtp = SmtpServer::start();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let http = HttpServer::start(move |r, _| {
        if r.path == "/hooks/crm" && counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            Reply::status(429).header("Retry-After", "600")
        } else {
            Reply::status(200)
        }
    });
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    assert!(run(&p, T0).stderr.contains("retrying 1"));
    // The backoff alone would allow 60s; the server asked for 600.
    assert!(deliver(&p, &at(T0, 599)).stderr.contains("nothing due"));
    assert!(deliver(&p, &at(T0, 600)).stderr.contains("delivered 1"));
}

/// `Retry-After: 9000000000000` overflowed the retry time: the pass
/// panicked after the webhook went out and before it committed, so every
/// later run sent it again. A provider's wait is capped at a day.
#[test]
fn a_huge_retry_after_is_capped_at_a_day_and_sends_once() {
    let smtp = SmtpServer::start();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let http = HttpServer::start(move |r, _| {
        if r.path == "/hooks/crm" && counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            Reply::status(429).header("Retry-After", "9000000000000")
        } else {
            Reply::status(200)
        }
    });
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let first = run(&p, T0);
    assert!(first.stderr.contains("retrying 1"), "{}", first.stderr);
    let day = 24 * 60 * 60;
    assert!(deliver(&p, &at(T0, day - 1)).stderr.contains("nothing due"));
    let crm = || {
        http.requests()
            .iter()
            .filter(|r| r.path == "/hooks/crm")
            .count()
    };
    assert_eq!(crm(), 1, "the 429 was recorded, not sent again");
    assert!(deliver(&p, &at(T0, day)).stderr.contains("delivered 1"));
    assert_eq!(crm(), 2);
    assert_eq!(p.outbox_counts().get("delivered"), Some(&3));
}

/// A provider whose 400 reply echoed the request's headers put
/// `Authorization: Basic base64(account:token)` into the state, `status`,
/// `retry --list` and stderr.
#[test]
fn a_provider_echoing_the_authorization_header_leaks_no_secret() {
    let smtp = SmtpServer::start();
    let http = HttpServer::start(|r, _| {
        if !r.path.starts_with("/sms") {
            return Reply::status(200);
        }
        let echo = format!(
            "bad request; you sent:\nAuthorization: {}\nbody: {}\n{{\"headers\": {{\"authorization\": \"{}\"}}}}",
            r.header("authorization").unwrap_or(""),
            r.body,
            r.header("authorization").unwrap_or(""),
        );
        Reply::status(400).body(&echo)
    });
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let toml = std::fs::read_to_string(p.path("funnel.toml")).unwrap();
    let basic = toml.replace(
        r#"headers = { Authorization = "Bearer ${SMS_TOKEN}" }"#,
        "username = \"${SMS_ACCOUNT}\"\npassword = \"${SMS_TOKEN}\"",
    );
    assert_ne!(toml, basic);
    p.write("funnel.toml", &basic);
    let out = run(&p, T0);
    assert!(out.stderr.contains("dead 1"), "{}", out.stderr);
    let sent = http.requests();
    let sms = sent.iter().find(|r| r.path.starts_with("/sms")).unwrap();
    // python3 -c 'import base64; print(base64.b64encode(b"AC123:tok-5f2e9a77c1"))'
    let base64 = "QUMxMjM6dG9rLTVmMmU5YTc3YzE=";
    assert_eq!(
        sms.header("authorization").unwrap(),
        format!("Basic {base64}")
    );
    let status = p.funnel(&["status"]);
    let list = p.funnel(&["retry", "--list"]);
    assert!(list.stdout.contains("news/ann/1/text"), "{}", list.stdout);
    assert!(list.stdout.contains("HTTP 400"), "{}", list.stdout);
    let state =
        String::from_utf8_lossy(&std::fs::read(p.path(".funnel/state.db")).unwrap()).into_owned();
    for (what, text) in [
        ("stderr", &out.stderr),
        ("stdout", &out.stdout),
        ("status", &status.stdout),
        ("status stderr", &status.stderr),
        ("retry --list", &list.stdout),
        ("state", &state),
    ] {
        for secret in [TOKEN, base64, "dG9rLTVmMmU5YTc3YzE"] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
}

/// An SMTP server that never answered was reported as "network error:
/// Resource temporarily unavailable (os error 11)".
#[test]
fn a_silent_smtp_server_is_reported_as_timed_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds each connection, never sending a greeting.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let http = HttpServer::ok();
    let p = project(
        port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = run(&p, T0);
    assert!(out.stderr.contains("retrying 1"), "{}", out.stderr);
    assert!(out.stderr.contains("SMTP: timed out"), "{}", out.stderr);
    assert!(!out.stderr.contains("os error"), "{}", out.stderr);
}

#[test]
fn a_hanging_provider_times_out_and_the_run_still_finishes_in_its_budget() {
    let smtp = SmtpServer::start();
    let http = HttpServer::start(|_, _| Reply::status(200).delay(Duration::from_secs(4)));
    let contacts: String = (0..8)
        .map(|i| format!("c{i},c{i}@example.com,+361234567{i},C{i},no\n"))
        .collect();
    let p = project(
        smtp.port,
        http.port,
        "concurrency = 2\nbudget = \"1s\"",
        &contacts,
    );
    let started = Instant::now();
    let out = run(&p, T0);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}: {}",
        out.stderr
    );
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    // The tick committed: every contact entered, whatever the provider did.
    assert!(out.stderr.contains("entered 8"), "{}", out.stderr);
    assert!(
        out.stderr.contains("left for the next pass"),
        "{}",
        out.stderr
    );
    // What did not go out is still queued, for the next pass.
    let counts = p.outbox_counts();
    let queued = counts.get("queued").copied().unwrap_or(0);
    assert!(queued >= 16, "{counts:?}");
    assert_eq!(queued + counts.get("delivered").copied().unwrap_or(0), 24);
}

#[test]
fn refused_connections_are_retried_and_an_smtp_server_down_too() {
    let p = project(
        closed_port(),
        closed_port(),
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = run(&p, T0);
    assert!(out.stderr.contains("retrying 3"), "{}", out.stderr);
    assert_eq!(p.outbox_counts().get("queued"), Some(&3));
}

#[test]
fn a_rejected_recipient_is_dead_at_once_and_others_still_go() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\nrex,reject@example.com,+3612345679,Rex,no\n",
    );
    let out = run(&p, T0);
    assert!(
        out.stderr.contains("delivered 5 / retrying 0 / dead 1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("550"), "{}", out.stderr);
    assert_eq!(smtp.mails().len(), 1);
}

#[test]
fn a_contact_who_opts_out_between_queue_and_dispatch_gets_nothing() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\nbob,bob@example.com,+3612345679,Bob,no\n",
    );
    let queued = p.funnel_env(
        &[
            "run",
            "--contacts",
            "contacts.csv",
            "--now",
            T0,
            "--no-deliver",
        ],
        ENV,
    );
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    assert_eq!(p.outbox_counts().get("queued"), Some(&6));
    // Bob says stop before anything went out.
    p.write(
        "contacts.csv",
        &format!("{HEADER}ann,ann@example.com,+3612345678,Ann,no\nbob,bob@example.com,+3612345679,Bob,yes\n"),
    );
    let out = run(&p, &at(T0, 300));
    assert!(out.stderr.contains("exited 1"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("delivered 3 / retrying 0 / dead 0 / suppressed 3"),
        "{}",
        out.stderr
    );
    assert!(smtp.mails().iter().all(|m| m.to == ["ann@example.com"]));
    assert!(
        http.requests().iter().all(|r| r
            .header("idempotency-key")
            .unwrap()
            .starts_with("news/ann/")),
        "{:?}",
        http.requests()
    );
    assert_eq!(p.outbox_counts().get("suppressed"), Some(&3));
}

#[test]
fn per_channel_rate_limits_are_respected() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let contacts: String = (0..6)
        .map(|i| format!("c{i},c{i}@example.com,+361234567{i},C{i},no\n"))
        .collect();
    let p = project(smtp.port, http.port, "concurrency = 4", &contacts);
    let toml = std::fs::read_to_string(p.path("funnel.toml")).unwrap();
    p.write(
        "funnel.toml",
        &toml.replace("[channels.crm]", "[channels.crm]\nrate = 4"),
    );
    let started = Instant::now();
    let out = run(&p, T0);
    assert!(out.stderr.contains("delivered 18"), "{}", out.stderr);
    // Six webhooks at four a second: the last no sooner than 1.25s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(1_250),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn smtp_auth_uses_the_password_from_the_environment() {
    let smtp = SmtpServer::with_auth("funnel", "s3cret-pw");
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let toml = std::fs::read_to_string(p.path("funnel.toml")).unwrap();
    p.write(
        "funnel.toml",
        &toml.replace(
            "tls = \"none\"",
            "tls = \"none\"\nusername = \"funnel\"\npassword = \"${SMTP_PASSWORD}\"",
        ),
    );
    let mut env = ENV.to_vec();
    env.push(("SMTP_PASSWORD", "s3cret-pw"));
    let out = p.funnel_env(&["run", "--contacts", "contacts.csv", "--now", T0], &env);
    assert!(out.stderr.contains("delivered 3"), "{}", out.stderr);
    assert_eq!(smtp.mails().len(), 1);
}

#[test]
fn a_missing_secret_holds_the_channel_and_names_the_variable() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345678,Ann,no\n",
    );
    let out = p.funnel_env(
        &["run", "--contacts", "contacts.csv", "--now", T0],
        &[("SMS_ACCOUNT", "AC123"), ("SMS_TOKEN", TOKEN)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("held 1"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("channel `crm`: environment variable CRM_SECRET is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(p.outbox_counts().get("queued"), Some(&1));
}

#[test]
fn the_file_channel_pages_through_a_large_queue_in_bounded_memory() {
    // 1,000,000 rows measured by hand: 21 MB peak RSS (debug build); here
    // 50,000 keep the suite quick. The old dispatcher held every key.
    const ROWS: usize = 50_000;
    let p = Project::new();
    p.write("funnels/news.yaml", FUNNEL)
        .write("funnels/templates/hello.hbs", "subject: Hi\n---\nHi\n")
        .write("funnels/templates/text.hbs", "Hi")
        .write("funnels/templates/crm.hbs", "{}")
        .write("contacts.csv", HEADER);
    run(&p, T0);
    let db = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    db.execute_batch("BEGIN").unwrap();
    // The payload of an email as the runner queues it, 347 bytes as
    // before it had to be one (SQLite's page cache is part of the peak).
    let payload = serde_json::json!({ "to": "x@example.com", "subject": "Hi", "body": "b".repeat(259), "template": "hello", "transactional": false })
        .to_string();
    for i in 0..ROWS {
        db.execute(
            "INSERT INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at) VALUES (?1, 'news', ?2, 'hello', 'email', ?3, ?4, 'queued', ?4)",
            rusqlite::params![format!("news/c{i}/1/hello"), format!("c{i}"), payload, T0],
        )
        .unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
    drop(db);
    let measure = "import resource, subprocess, sys\nr = subprocess.run(sys.argv[1:], capture_output=True)\nsys.stderr.write(r.stderr.decode())\nprint(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            measure,
            env!("CARGO_BIN_EXE_funnel"),
            "deliver",
            "--now",
            T0,
        ])
        .current_dir(p.dir.path())
        .output()
        .expect("python3 measures the peak memory");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (code, kib) = stdout.trim().split_once(' ').unwrap();
    assert_eq!(code, "0", "{stderr}");
    assert!(stderr.contains(&format!("delivered {ROWS}")), "{stderr}");
    let peak_mb = kib.parse::<u64>().unwrap() / 1024;
    // Paging, the peak is about 60 MB (59-61 over runs): the binary and
    // SQLite's page cache, which holds most of this state by the end.
    // Holding the 50,000 rows as well would add about 35 MB (some 700
    // bytes a row: nine strings, the 259-byte body among them).
    assert!(peak_mb < 75, "peak RSS {peak_mb} MB");
    let text = std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap();
    assert_eq!(text.lines().count(), ROWS);
}

#[test]
fn the_shipped_channel_examples_parse_and_check_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/channels");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let config = funnel::config::Config::load(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!config.delivery.channels.is_empty(), "{}", path.display());
        // No literal secrets in what we tell people to copy.
        let p = Project::with_examples(&["quote-follow-up"]);
        p.write("funnel.toml", &std::fs::read_to_string(&path).unwrap());
        let check = p.funnel(&["check"]);
        assert!(!check.stdout.contains("literal-secret"), "{}", check.stdout);
    }
}

#[test]
fn check_warns_about_a_literal_password_in_funnel_toml_and_errors_on_unknown_endpoints() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "funnel.toml",
        "[channels.email]\nkind = \"smtp\"\nhost = \"localhost\"\nfrom = \"a@b.example\"\nusername = \"me\"\npassword = \"hunter22\"\n\n[channels.sms]\nkind = \"file\"\n",
    );
    let check = p.funnel(&["check", "--color", "never"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("`password` is written literally in funnel.toml"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("funnel.toml:6:12"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("sends to channel `crm`, which funnel.toml does not define"),
        "{}",
        check.stdout
    );
}

#[test]
fn the_quote_example_delivers_its_emails_and_its_crm_webhook() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "funnel.toml",
        &format!(
            "[rules]\nunused-template = \"off\"\n\n[channels.email]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Sales <sales@shop.test>\"\n\n[channels.sms]\nkind = \"http\"\nurl = \"{}\"\nform = {{ To = \"{{{{to}}}}\", Body = \"{{{{body}}}}\" }}\n\n[channels.crm]\nkind = \"http\"\nurl = \"{}\"\nsecret = \"${{CRM_SECRET}}\"\n",
            smtp.port,
            http.url("/sms"),
            http.url("/crm")
        ),
    );
    // Monday: the request (thanks), the quote, the meeting (confirmation),
    // the order (the CRM hears of the deal), an hour apart.
    let header = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";
    let env = [("CRM_SECRET", SECRET)];
    let tick = |hour: i64, quote_sent: &str, events: &str| {
        p.write(
            "contacts.csv",
            &format!("{header}ann,ann@example.com,+3612345678,Ann,assistant,2026-05-04 08:00,{quote_sent},no,no,no\n"),
        );
        p.write("events.jsonl", events);
        let now = at(T0, hour * 3600);
        let run = p.funnel_env(
            &[
                "run",
                "--contacts",
                "contacts.csv",
                "--events",
                "events.jsonl",
                "--now",
                &now,
            ],
            &env,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    let booked =
        "{\"contact\":\"ann\",\"event\":\"meeting.booked\",\"at\":\"2026-05-04T10:30:00Z\"}\n";
    let ordered =
        "{\"contact\":\"ann\",\"event\":\"order.placed\",\"at\":\"2026-05-04T11:30:00Z\"}\n";
    tick(0, "", "");
    tick(1, "2026-05-04 09:30", "");
    tick(2, "2026-05-04 09:30", booked);
    tick(3, "2026-05-04 09:30", &format!("{booked}{ordered}"));
    let subjects: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[0].contains("Ann"), "{subjects:?}");
    let hooks = http.requests();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook = &hooks[0];
    assert_eq!(hook.path, "/crm");
    assert!(verify(
        hook.header("funnel-signature").unwrap(),
        &hook.body,
        SECRET
    ));
    let body: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(body["step"], "deal-won-crm");
    assert_eq!(body["stage"], "customer");
    assert_eq!(body["fields"]["event"], "deal-won");
    assert_eq!(body["fields"]["contact_id"], "ann");
}

#[test]
fn an_email_with_an_html_template_goes_out_as_multipart_alternative() {
    // `hello.html.hbs` is the HTML body of the email `hello`: values are
    // HTML-escaped there and left raw in the text part and subject.
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(
        smtp.port,
        http.port,
        "",
        "ann,ann@example.com,+3612345670,Tom & <Jerry>,no\n",
    );
    p.write(
        "funnels/templates/hello.html.hbs",
        "<p>Hi <b>{{contact.first_name}}</b> &amp; welcome</p>\n",
    );
    assert!(run(&p, T0).stderr.contains("delivered 3"));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        mail.data
    );
    assert_eq!(mail.header("Subject").unwrap(), "Hello Tom & <Jerry>");
    assert!(
        mail.data.contains("Hi Tom & <Jerry> & welcome <3"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("<p>Hi <b>Tom &amp; &lt;Jerry&gt;</b> &amp; welcome</p>"),
        "{}",
        mail.data
    );
    // The SMS shares the contact but has no HTML part.
    let text = &http.requests()[0];
    assert!(!text.body.contains("&lt;"), "{}", text.body);
}

#[test]
fn an_html_template_that_fails_to_render_fails_that_email_alone() {
    let smtp = SmtpServer::start();
    let http = HttpServer::ok();
    let p = project(smtp.port, http.port, "", "ann,ann@example.com,,Ann,no\n");
    // Strict mode: a field this contact has no value for is an error,
    // recorded on the action, not a blank in the email.
    p.write(
        "funnels/news.yaml",
        &FUNNEL.replace("phone: phone,", "phone: phone?,"),
    )
    .write(
        "funnels/templates/hello.html.hbs",
        "<p>Call us back on {{contact.phone}}</p>",
    );
    let out = run(&p, T0);
    // The email fails on its HTML part; the SMS, with no phone to go to,
    // fails when it is queued instead of being "delivered" to no one.
    assert!(out.stderr.contains("failed 2"), "{}", out.stderr);
    assert!(smtp.mails().is_empty());
    let status = p.funnel(&["status"]);
    assert!(
        status.stdout.contains("hello.html") && status.stdout.contains("phone"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("no sms address"),
        "{}",
        status.stdout
    );
}

#[test]
fn no_more_sends_are_in_flight_than_the_configured_concurrency() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let smtp = SmtpServer::start();
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (in_flight, peak) = (now.clone(), most.clone());
    let http = HttpServer::start(move |_, _| {
        let current = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(current, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        in_flight.fetch_sub(1, Ordering::SeqCst);
        Reply::status(200)
    });
    let contacts: String = (0..6)
        .map(|i| format!("c{i},c{i}@example.com,+361234567{i},C{i},no\n"))
        .collect();
    let p = project(smtp.port, http.port, "concurrency = 2", &contacts);
    assert!(run(&p, T0).stderr.contains("delivered 18"));
    assert_eq!(most.load(Ordering::SeqCst), 2);
}
