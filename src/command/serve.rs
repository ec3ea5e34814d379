//! `funnel serve`: starts the receiving half once the funnels check clean
//! and the webhook secrets are read. `funnel events` and `funnel
//! suppressions` list what it recorded.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::ServeArgs;
use crate::config::Config;
use crate::lint::render::{self, Format};
use crate::run::tick::{self, TickError};
use crate::serve::Options;
use crate::serve::webhook::Secrets;

pub(super) fn serve(args: &ServeArgs, err: &mut dyn Write) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir()?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    // The funnels are checked as `run` checks them: serve hears for them,
    // and a funnel that cannot run is better found now than at the next
    // tick.
    let default = args.funnels == [std::path::PathBuf::from("funnels")];
    if !default || args.funnels[0].exists() {
        match tick::load(&args.funnels, &config) {
            Ok(funnels) => writeln!(err, "funnel serve: {} funnels check clean", funnels.len())?,
            Err(TickError::Funnels(checked)) => {
                render::render(Format::Human, &checked, false, err)?;
                return Err(CommandError::Funnels {
                    then: "fix them before serving",
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut settings = config.serve.clone();
    if let Some(listen) = &args.listen {
        settings.listen = listen.clone();
    }
    let secrets = Secrets::load(|name| std::env::var(name).ok()).map_err(CommandError::usage)?;
    let options = Options {
        state: args.state.clone(),
        serve: settings,
        secrets,
    };
    crate::serve::serve(options, |address| {
        // Told at once (a supervisor or a test waits for it).
        let _ = writeln!(err, "funnel serve: listening on http://{address}");
        let _ = err.flush();
    })?;
    writeln!(err, "funnel serve: stopped")?;
    Ok(0)
}
