//! `funnel serve`, `funnel events` and `funnel suppressions`: starting the
//! receiving half, and listing what it (and `funnel task done`) recorded.

use std::io::{self, Write};

use crate::cli::{EventsArgs, ServeArgs, SuppressionsArgs};
use crate::config::Config;
use crate::operate::{Outcome, open_current, parse_now, store_failure, table};
use crate::serve::{Options, ServeError};

pub fn serve(args: &ServeArgs, err: &mut dyn Write) -> io::Result<Outcome> {
    let cwd = std::env::current_dir()?;
    let config = match Config::discover(args.config.as_deref(), &cwd) {
        Ok(config) => config,
        Err(e) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
    };
    // The funnels are checked as `run` checks them: serve hears for them,
    // and a funnel that cannot run is better found now than at the next
    // tick.
    let default = args.funnels == [std::path::PathBuf::from("funnels")];
    if !default || args.funnels[0].exists() {
        match crate::tick::load(&args.funnels, &config) {
            Ok(funnels) => writeln!(err, "funnel serve: {} funnels check clean", funnels.len())?,
            Err(crate::tick::TickError::Funnels(checked)) => {
                crate::lint::render::render(
                    crate::lint::render::Format::Human,
                    &checked,
                    false,
                    err,
                )?;
                return Ok(Err((
                    "error: the funnels have errors; fix them before serving".to_string(),
                    1,
                )));
            }
            Err(crate::tick::TickError::Check(e)) => {
                return Ok(Err((format!("error: {e}"), e.exit_code())));
            }
            Err(e) => return Ok(Err((format!("error: {e}"), 3))),
        }
    }
    let mut settings = config.serve.clone();
    if let Some(listen) = &args.listen {
        settings.listen = listen.clone();
    }
    let secrets = match crate::webhook::Secrets::load(|name| std::env::var(name).ok()) {
        Ok(secrets) => secrets,
        Err(message) => return Ok(Err((format!("error: {message}"), 2))),
    };
    let options = Options {
        state: args.state.clone(),
        serve: settings,
        secrets,
    };
    let result = crate::serve::serve(options, |address| {
        // Told at once (a supervisor or a test waits for it).
        let _ = writeln!(err, "funnel serve: listening on http://{address}");
        let _ = err.flush();
    });
    match result {
        Ok(()) => {
            writeln!(err, "funnel serve: stopped")?;
            Ok(Ok(0))
        }
        Err(error) => {
            let code = error.exit_code();
            let message = match error {
                ServeError::Store(e) => store_failure(e).0,
                other => format!("error: {other}"),
            };
            Ok(Err((message, code)))
        }
    }
}

pub fn events(args: &EventsArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let since = match args.since.as_deref() {
        None => None,
        Some(text) => match parse_now("--since", Some(text)) {
            Ok(at) => Some(at),
            Err(failure) => return Ok(Err(failure)),
        },
    };
    let store = match open_current(&args.state.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    match store.list_events(args.contact.as_deref(), since) {
        Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}

pub fn suppressions(args: &SuppressionsArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open_current(&args.state.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    match store.list_suppressions(args.contact.as_deref()) {
        Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}
