//! Signals `funnel serve` accepts per second on loopback, each committed
//! to the state before its answer: tracked clicks (one request, one event)
//! from several keep-alive clients at once, then a count of what the state
//! holds.
//!
//!   cargo bench --bench signals [-- SIGNALS CLIENTS]
//!
//! Defaults: 20,000 signals from 16 clients. Prints signals per second and
//! the median and 99th-percentile answer times.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use funnel::links::{Link, Links, Message};

const SECRET: &str = "bench-link-secret-0123456789";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let signals: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("funnel.toml"),
        format!(
            "[serve]\nlisten = \"127.0.0.1:{port}\"\nbase-url = \"http://127.0.0.1:{port}\"\nclick-grace = \"0s\"\nrate-limit = 1000000\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .arg("serve")
        .current_dir(dir.path())
        .env("FUNNEL_LINK_SECRET", SECRET)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    let links = Links::new(&base, SECRET).unwrap();

    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let links = links.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let mut times = Vec::new();
                for n in (c..signals).step_by(clients) {
                    let url = links.url(&Link::Click {
                        url: format!("https://shop.example.com/{n}"),
                        message: Message {
                            funnel: "bench".into(),
                            contact: format!("c{n}"),
                            step: "offer".into(),
                            key: format!("bench/c{n}/1/offer"),
                        },
                    });
                    let sent = Instant::now();
                    let answer = http
                        .get(&url)
                        .header("user-agent", "Mozilla/5.0 (bench)")
                        .send()
                        .unwrap();
                    assert_eq!(answer.status(), 302);
                    times.push(sent.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();

    let stored: i64 = rusqlite::Connection::open(dir.path().join(".funnel/state.db"))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE name = 'email.clicked'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "signals: {signals} from {clients} clients in {seconds:.2} s = {:.0} per second, each committed before its answer",
        signals as f64 / seconds
    );
    println!(
        "answer time: median {:.1} ms, p99 {:.1} ms; events in the state: {stored}",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0
    );
    assert_eq!(stored as usize, signals, "every answered signal is stored");
}
