//! `funnel serve`: the receiving half. An HTTP server in the same binary
//! that hears contacts (one-click unsubscribe, tracked clicks, the open
//! pixel) and providers (email and SMS webhooks, a signed generic feed),
//! and writes what it hears into the state for the next `funnel run`.
//!
//! Serve writes only the `events` and `suppressions` tables, through one
//! writer thread ([`writer`]) that commits in groups before any request is
//! answered 2xx; it holds no run lock, so runs and serve share the state
//! (SQLite WAL, a busy timeout for a run's batch commit).

mod hooks;
mod limit;
mod page;
mod routes;
pub mod webhook;
mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Serve;
use crate::links::Links;
use crate::store::{Store, StoreError};

pub use writer::{Outcome, Record, Writer};

/// Largest request body accepted; larger ones get 413 and are not read.
pub const MAX_BODY: usize = 1024 * 1024;

/// What `funnel serve` was asked to do.
pub struct Options {
    pub state: PathBuf,
    pub serve: Serve,
    /// Provider and `/events` secrets, read from the environment.
    pub secrets: crate::serve::webhook::Secrets,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Links(String),
    #[error("cannot start the server: {0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// The process exit code: the table in the README.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::Links(_) => 2,
            ServeError::Store(StoreError::Locked { .. }) => 4,
            ServeError::Store(StoreError::NotAState { .. } | StoreError::TooNew { .. }) => 3,
            _ => 1,
        }
    }
}

/// What every handler shares.
pub(crate) struct App {
    pub links: Option<Links>,
    pub writer: Writer,
    pub limiter: limit::Limiter,
    pub serve: Serve,
    pub secrets: crate::serve::webhook::Secrets,
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
/// `ready` is called with the bound address once requests are accepted.
pub fn serve(options: Options, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let links = match &options.serve.base_url {
        Some(base) => Some(Links::from_env(base).map_err(ServeError::Links)?),
        None => None,
    };
    let store = Store::open_shared(&options.state)?;
    let writer = Writer::start(store)?;
    let app = Arc::new(App {
        links,
        writer,
        limiter: limit::Limiter::new(options.serve.rate_limit),
        serve: options.serve.clone(),
        secrets: options.secrets,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = app.serve.listen.clone();
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|source| ServeError::Bind {
                listen: listen.clone(),
                source,
            })?;
        ready(listener.local_addr()?);
        let router = routes::router(app);
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await?;
        Ok(())
    })
}

/// Resolves on SIGTERM (systemd's stop) or Ctrl-C.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
