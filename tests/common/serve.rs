//! A real `funnel serve` on loopback for the tests, and a client that does
//! not follow redirects (a tracked click's 302 is what they check).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::Project;

pub const LINK_SECRET: &str = "link-secret-for-tests-0123456789";

/// A free loopback port (bound and released: the server binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `funnel serve` in the project with the link secret and `env`,
    /// and waits until it listens.
    pub fn start(p: &Project, env: &[(&str, &str)]) -> Self {
        let mut command = p.command(&["serve"]);
        command
            .env("FUNNEL_LINK_SECRET", LINK_SECRET)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        // Serve says what it checked, then where it listens.
        let mut said = String::new();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let base = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("serve did not start: {said}");
            }
            if let Some(base) = line.trim().strip_prefix("funnel serve: listening on ") {
                break base.to_string();
            }
            said.push_str(&line);
        };
        // Keep reading, so that serve never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, base }
    }

    /// Stops with SIGTERM and gives the exit code.
    pub fn stop(mut self) -> i32 {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The events in the state, as `funnel events --format json` lists them.
pub fn events(p: &Project) -> Vec<Value> {
    let out = p.funnel(&["events", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Where `contact` is in `funnel`, per `funnel contacts`.
pub fn stage_of(p: &Project, funnel: &str, contact: &str) -> String {
    let out = p.funnel(&["contacts", "--funnel", funnel, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["contact"] == contact)
        .map(|r| r["stage"].as_str().unwrap().to_string())
        .unwrap_or_default()
}
