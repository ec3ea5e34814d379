//! `funnel deliver`: one delivery pass without a tick, for a channel that
//! was down during the last run. Also the delivery lines `funnel run`
//! writes after its own pass.

use std::io::{self, Write};

use crate::command::cli::DeliverArgs;
use crate::command::{CommandError, parse_now};
use crate::config::Config;
use crate::lint::render::{self, Format};
use crate::run::dispatcher::{Delivered, Dispatcher};
use crate::run::tick::{self, TickError};
use crate::store::Store;

pub(super) fn deliver(args: &DeliverArgs, err: &mut dyn Write) -> Result<i32, CommandError> {
    let now = parse_now("--now", args.now.as_deref())?;
    let cwd = std::env::current_dir()?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    let funnels = match tick::load(&args.funnels, &config) {
        Ok(funnels) => funnels,
        Err(TickError::Funnels(checked)) => {
            render::render(Format::Human, &checked, false, err)?;
            return Err(CommandError::Funnels {
                then: "nothing was delivered",
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut store = Store::open(&args.state)?;
    let delivered = Dispatcher::new(&config.delivery, &args.outbox, now)
        .funnels(funnels.iter().map(|l| &l.funnel))
        .deliver(&mut store)?;
    if delivered == Delivered::default() {
        writeln!(err, "delivery: nothing due")?;
    } else {
        report_delivery(&delivered, err)?;
    }
    Ok(0)
}

/// One line of counts, then why rows were held or dead; silent when the
/// pass had nothing to do.
pub(super) fn report_delivery(delivered: &Delivered, err: &mut dyn Write) -> io::Result<()> {
    let d = delivered;
    if *d == Delivered::default() {
        return Ok(());
    }
    writeln!(
        err,
        "delivery: delivered {} / retrying {} / dead {} / suppressed {} / held {} / left for the next pass {}",
        d.delivered, d.retrying, d.dead, d.suppressed, d.held, d.deferred
    )?;
    for reason in &d.reasons {
        writeln!(err, "  {reason}")?;
    }
    if d.dead > 0 {
        writeln!(
            err,
            "  see `funnel retry --list`; `funnel retry` re-queues dead letters"
        )?;
    }
    Ok(())
}
