//! `funnel serve` on loopback, driven by a real HTTP client, beside real
//! `funnel run`s and a real SMTP server: one-click unsubscribe, tracked
//! clicks and their bot filter, a burst of signals during a run.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::Project;
use common::serve::{LINK_SECRET as SECRET, Server, client, events, free_port, stage_of};
use common::servers::SmtpServer;
use funnel::links::{Link, Links, Message};

const NEWS: &str = r#"
funnel: news
timezone: UTC
contact: { email: email, first_name: string, unsubscribed: bool }
enter:
  - { when: "contact.first_name != ''", stage: offered }
exit:
  - { when: "contact.unsubscribed", to: opted-out }
stages:
  offered:
    steps:
      - id: offer
        email: { template: offer }
        wait: { event: email.clicked, within: 7d, yes: interested, no: done }
  interested:
    steps:
      - id: thanks
        after: 1d
        email: { template: offer }
    exhausted: done
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

/// A second funnel the contact is in: an unsubscribe leaves both.
const TIPS: &str = r#"
funnel: tips
timezone: UTC
contact: { email: email, first_name: string, unsubscribed: bool }
enter:
  - { when: "contact.first_name != ''", stage: reading }
exit:
  - { when: "contact.unsubscribed", to: opted-out }
stages:
  reading:
    steps:
      - id: tip-1
        after: 1d
        email: { template: tip }
    exhausted: done
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";

/// A project with both funnels, its SMTP channel, and `[serve]` at `port`.
fn project(smtp: u16, port: u16, serve: &str) -> Project {
    let p = Project::new();
    p.write("funnels/news.yaml", NEWS)
        .write("funnels/tips.yaml", TIPS)
        .write(
            "funnels/templates/offer.hbs",
            "subject: Our offer\n---\nSee {{track \"https://shop.example.com/offer?a=1&b=2\"}}\nLeave: {{unsubscribe_url}}\n",
        )
        .write(
            "funnels/templates/tip.hbs",
            "subject: A tip\n---\nTip. Leave: {{unsubscribe_url}}\n",
        )
        .write(
            "contacts.csv",
            "id,email,first_name,unsubscribed\nann,ann@example.com,Ann,false\nbob,bob@example.com,Bob,false\n",
        )
        .write(
            "funnel.toml",
            &format!(
                "[channels.email]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\nfrom = \"Acme <hello@acme.test>\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\n{serve}"
            ),
        );
    p
}

fn run(p: &Project, now: Option<&str>) -> common::Run {
    let mut args = vec!["run", "--contacts", "contacts.csv"];
    if let Some(now) = now {
        args.extend(["--now", now]);
    }
    let run = p.funnel_env(&args, &[("FUNNEL_LINK_SECRET", SECRET)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

/// The first `http://…` URL in the mail `text` that contains `marker`,
/// after undoing quoted-printable (long lines are wrapped with `=`).
fn url_in(text: &str, marker: &str) -> String {
    let text = &text.replace("=\r\n", "").replace("=3D", "=");
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {text}"));
    let from = text[..start].rfind("http://").unwrap();
    text[from..]
        .split(|c: char| c.is_whitespace() || c == '>' || c == '"')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn one_click_unsubscribe_suppresses_the_contact_in_every_funnel_and_a_get_changes_nothing() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let p = project(smtp.port, port, "");
    run(&p, None);
    let mails = smtp.mails();
    let ann = mails.iter().find(|m| m.to == ["ann@example.com"]).unwrap();
    // RFC 8058: the header pair on a marketing email, the same URL as the
    // visible link.
    let header = ann.header("List-Unsubscribe").unwrap();
    assert_eq!(
        ann.header("List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    let url = header.trim_matches(|c| c == '<' || c == '>').to_string();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/u/")),
        "{url}"
    );
    assert!(ann.data.contains(&url), "{}", ann.data);

    let server = Server::start(&p, &[]);
    let http = client();
    // A mail scanner's GET shows a page and records nothing.
    let page = http.get(&url).header("user-agent", BROWSER).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<form method=\"post\""));
    assert!(events(&p).is_empty());
    // A forged token is refused.
    let forged = format!("{}x", &url[..url.len() - 1]);
    let refused = http
        .post(&forged)
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(refused.status(), 404);
    // The one-click POST, as Gmail sends it.
    let done = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    let heard = events(&p);
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0]["name"], "unsubscribed");
    assert_eq!(heard[0]["contact"], "ann");
    // A second POST changes nothing.
    http.post(&url)
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(events(&p).len(), 1);

    // The feed still says `unsubscribed: false`: the suppression wins, in
    // both funnels, and nothing more reaches Ann.
    let later = (chrono::Utc::now() + chrono::TimeDelta::days(2)).to_rfc3339();
    run(&p, Some(&later));
    assert_eq!(stage_of(&p, "news", "ann"), "opted-out");
    assert_eq!(
        stage_of(&p, "tips", "ann"),
        "opted-out",
        "{}",
        p.funnel(&["history", "ann"]).stdout
    );
    assert_eq!(stage_of(&p, "tips", "bob"), "done");
    let to_ann = smtp
        .mails()
        .iter()
        .filter(|m| m.to == ["ann@example.com"])
        .count();
    assert_eq!(to_ann, 1, "only the first offer reached Ann");
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_tracked_click_resolves_the_wait_and_a_scanner_does_not() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let p = project(smtp.port, port, "click-grace = \"0s\"\n");
    run(&p, None);
    let mails = smtp.mails();
    let ann = mails.iter().find(|m| m.to == ["ann@example.com"]).unwrap();
    let click = url_in(&ann.data, "/c/");
    let server = Server::start(&p, &[]);
    let http = client();
    assert_eq!(
        http.get(format!("{}/healthz", server.base))
            .send()
            .unwrap()
            .status(),
        200
    );

    // A scanner's HEAD and a link checker's user agent: stored as bot
    // clicks, redirected all the same, and no wait counts them.
    let head = http
        .head(&click)
        .header("user-agent", BROWSER)
        .send()
        .unwrap();
    assert_eq!(head.status(), 302);
    let bot = http
        .get(&click)
        .header("user-agent", "Mozilla/5.0 (compatible; Barracuda Sentinel)")
        .send()
        .unwrap();
    assert_eq!(bot.status(), 302);
    run(&p, None);
    assert_eq!(stage_of(&p, "news", "ann"), "offered");
    let names: Vec<String> = events(&p)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["email.clicked.bot"],
        "one bot click, however many hits"
    );

    // The contact's click goes to the signed URL and only there.
    for _ in 0..3 {
        let hit = http
            .get(&click)
            .header("user-agent", BROWSER)
            .send()
            .unwrap();
        assert_eq!(hit.status(), 302);
        assert_eq!(
            hit.headers()["location"],
            "https://shop.example.com/offer?a=1&b=2"
        );
    }
    let clicks = events(&p)
        .iter()
        .filter(|e| e["name"] == "email.clicked")
        .count();
    assert_eq!(clicks, 1, "the same click three times counts once");
    run(&p, None);
    assert_eq!(stage_of(&p, "news", "ann"), "interested");
    assert_eq!(stage_of(&p, "news", "bob"), "offered");
    drop(server);
}

#[test]
fn a_click_within_the_grace_after_delivery_is_a_scanners() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let p = project(smtp.port, port, "click-grace = \"1h\"\n");
    run(&p, None);
    let ann = smtp
        .mails()
        .into_iter()
        .find(|m| m.to == ["ann@example.com"])
        .unwrap();
    let click = url_in(&ann.data, "/c/");
    let _server = Server::start(&p, &[]);
    let hit = client()
        .get(&click)
        .header("user-agent", BROWSER)
        .send()
        .unwrap();
    assert_eq!(hit.status(), 302);
    let heard = events(&p);
    assert_eq!(heard[0]["name"], "email.clicked.bot");
    assert_eq!(heard[0]["data"]["bot"], "within click-grace of delivery");
}

#[test]
fn a_burst_of_signals_during_a_run_loses_none() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let p = project(smtp.port, port, "click-grace = \"0s\"\n");
    // A feed big enough that the run is writing while the burst arrives.
    let mut feed = String::from("id,email,first_name,unsubscribed\n");
    for i in 0..3000 {
        feed.push_str(&format!("c{i},c{i}@example.com,C{i},false\n"));
    }
    p.write("contacts.csv", &feed);
    p.write(
        "funnel.toml",
        &format!("[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\nclick-grace = \"0s\"\n"),
    );
    let server = Server::start(&p, &[]);
    let links = Links::new(&server.base, SECRET).unwrap();
    let tick = p
        .command(&["run", "--contacts", "contacts.csv"])
        .env("FUNNEL_LINK_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut tick = tick;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let links = links.clone();
            std::thread::spawn(move || {
                let http = client();
                let mut ok = 0;
                for i in 0..125 {
                    let n = t * 125 + i;
                    let url = links.url(&Link::Click {
                        url: format!("https://shop.example.com/{n}"),
                        message: Message {
                            funnel: "news".into(),
                            contact: format!("c{n}"),
                            step: "offer".into(),
                            key: format!("news/c{n}/1/offer"),
                        },
                    });
                    let hit = http.get(&url).header("user-agent", BROWSER).send().unwrap();
                    ok += usize::from(hit.status() == 302);
                }
                ok
            })
        })
        .collect();
    let answered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(tick.wait().unwrap().success());
    assert_eq!(answered, 1000, "every signal answered 2xx/302");
    let clicks = events(&p)
        .iter()
        .filter(|e| e["name"] == "email.clicked")
        .count();
    assert_eq!(
        clicks,
        1000,
        "every answered signal is in the state: {:?}",
        events(&p).len()
    );
    drop(server);
}

#[test]
fn the_open_pixel_records_an_open_only_when_turned_on() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let p = project(smtp.port, port, "open-pixel = true\n");
    p.write(
        "funnels/templates/offer.html.hbs",
        "<p>See our offer.</p><img src=\"{{open_pixel_url}}\" alt=\"\"><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>\n",
    );
    run(&p, None);
    let ann = smtp
        .mails()
        .into_iter()
        .find(|m| m.to == ["ann@example.com"])
        .unwrap();
    let pixel = url_in(&ann.data, "/o/");
    let server = Server::start(&p, &[]);
    let hit = client().get(&pixel).send().unwrap();
    assert_eq!(hit.status(), 200);
    assert_eq!(hit.headers()["content-type"], "image/gif");
    assert_eq!(events(&p)[0]["name"], "email.opened");
    drop(server);

    // Turned off, the same link records nothing.
    p.write(
        "funnel.toml",
        &std::fs::read_to_string(p.path("funnel.toml"))
            .unwrap()
            .replace("open-pixel = true", "open-pixel = false"),
    );
    let _server = Server::start(&p, &[]);
    assert_eq!(client().get(&pixel).send().unwrap().status(), 404);
    assert_eq!(events(&p).len(), 1);
}

#[test]
fn serve_refuses_to_start_with_a_broken_funnel() {
    let p = Project::new();
    p.write("funnels/broken.yaml", "funnel: broken\nstages: {}\n");
    let out = p.funnel_env(&["serve"], &[("FUNNEL_LINK_SECRET", SECRET)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("the funnels have errors"),
        "{}",
        out.stderr
    );
}
