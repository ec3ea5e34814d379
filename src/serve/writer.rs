//! The one writer of `funnel serve`: what the handlers hear is committed
//! here, in groups, before any handler answers 2xx.
//!
//! Each request hands its records over with a reply channel and waits.
//! The writer takes every request waiting at that moment, writes them in
//! one transaction and answers them all after the commit: at a burst,
//! hundreds of signals share one commit; alone, a signal is committed at
//! once. A run's batch commit holding the database is waited out (busy
//! timeout, then retries); when the state stays busy longer than
//! [`PATIENCE`], the requests are answered with an error (503), so a
//! provider retries, and nothing is acknowledged that was not stored.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::store::{self, Heard, Store, StoreError, StoredEvent, Suppression};

/// How long a group may wait for the state before its requests fail.
const PATIENCE: Duration = Duration::from_secs(30);

/// Requests committed together at most.
const GROUP: usize = 512;

/// One thing to store.
#[derive(Debug, Clone)]
pub enum Record {
    Event {
        event: StoredEvent,
        dedupe: String,
        source: &'static str,
        received_at: DateTime<Utc>,
    },
    Suppress(Suppression),
    /// A one-time signature token: when it was used before, the request
    /// is a replay and none of its records is written.
    Nonce(String),
}

/// What became of one request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written; this many events were new (the others were duplicates of
    /// events already stored).
    Stored(usize),
    /// Its one-time token was used before: nothing written.
    Replayed,
}

pub type Stored = Result<Outcome, String>;

type Lookup = Box<dyn FnOnce(&Store) + Send>;

enum Job {
    Store(Vec<Record>, oneshot::Sender<Stored>),
    Lookup(Lookup),
}

/// The handlers' side of the writer.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `store`.
    pub fn start(store: Store) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("funnel-serve-writer".into())
            .spawn(move || write_loop(store, &inbox))?;
        Ok(Self { jobs })
    }

    /// Stores `records` in one transaction with whatever else is waiting,
    /// and returns after the commit.
    pub async fn store(&self, records: Vec<Record>) -> Stored {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Store(records, reply))
            .map_err(|_| "the state writer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the state writer has stopped".to_string())?
    }

    /// Runs a query on the writer's connection, in line with the writes
    /// (serve reads what it writes, and where a reply's phone number was
    /// last written to).
    pub async fn lookup<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        let run: Lookup = Box::new(move |connection| {
            let _ = reply.send(query(connection).map_err(|e| e.to_string()));
        });
        self.jobs
            .send(Job::Lookup(run))
            .map_err(|_| "the state writer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the state writer has stopped".to_string())?
    }
}

fn write_loop(mut store: Store, inbox: &mpsc::Receiver<Job>) {
    while let Ok(first) = inbox.recv() {
        let mut group = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Store(records, reply) => group.push((records, reply)),
                Job::Lookup(run) => run(&store),
            }
            if group.len() < GROUP {
                next = inbox.try_recv().ok();
            }
        }
        let started = Instant::now();
        let outcome = loop {
            match commit(&mut store, &group) {
                Ok(counts) => break Ok(counts),
                Err(error) if error.is_busy() && started.elapsed() < PATIENCE => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(error) => break Err(error.to_string()),
            }
        };
        match outcome {
            Ok(counts) => {
                for ((_, reply), count) in group.into_iter().zip(counts) {
                    let _ = reply.send(Ok(count));
                }
            }
            Err(error) => {
                for (_, reply) in group {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Writes every job's records in one transaction; gives each job's count
/// of new events.
fn commit(
    store: &mut Store,
    group: &[(Vec<Record>, oneshot::Sender<Stored>)],
) -> Result<Vec<Outcome>, StoreError> {
    if group.is_empty() {
        return Ok(Vec::new());
    }
    let tx = store.transaction()?;
    let mut counts = Vec::with_capacity(group.len());
    let now = Utc::now();
    let forget = now - chrono::TimeDelta::hours(1);
    'jobs: for (records, _) in group {
        for record in records {
            if let Record::Nonce(key) = record
                && !store::first_use(&tx, key, now, forget)?
            {
                counts.push(Outcome::Replayed);
                continue 'jobs;
            }
        }
        let mut new = 0;
        for record in records {
            match record {
                Record::Event {
                    event,
                    dedupe,
                    source,
                    received_at,
                } => {
                    let heard = Heard {
                        event,
                        dedupe,
                        source,
                        received_at: *received_at,
                    };
                    new += usize::from(store::hear(&tx, &heard)?);
                }
                Record::Suppress(suppression) => {
                    store::suppress(&tx, suppression)?;
                }
                Record::Nonce(_) => {}
            }
        }
        counts.push(Outcome::Stored(new));
    }
    tx.commit()?;
    Ok(counts)
}
