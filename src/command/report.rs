//! `funnel report`: the scorecard of the state's counters, as a table,
//! JSON, CSV or an HTML dashboard, on stdout or into `--out`.

use std::io::{self, Write};

use crate::command::CommandError;
use crate::command::cli::{ReportArgs, ReportFormat, TableFormat};
use crate::command::state::open_current;
use crate::config::Config;
use crate::language::model::Funnel;
use crate::language::source::SourceFile;
use crate::lint::linter::Linter;
use crate::measure::{Filter, Measurer, dashboard, scorecard};
use crate::store::Store;

pub(super) fn report(args: &ReportArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let store = open_current(&args.state)?;
    let definitions = definitions(&store, args)?;
    let filter = Filter {
        funnel: args.funnel.clone(),
        since: args.since,
        until: args.until,
        version: args.version.clone(),
        min_contacts: args.min_contacts,
    };
    let card = Measurer::new(&store, &definitions, &filter).measure()?;
    let mut file;
    let sink: &mut dyn Write = match &args.out {
        Some(path) => {
            let created = std::fs::File::create(path).map_err(|source| CommandError::Write {
                path: path.clone(),
                source,
            })?;
            file = io::BufWriter::new(created);
            &mut file
        }
        None => out,
    };
    match args.format {
        ReportFormat::Table => scorecard::render(&card, TableFormat::Table, sink)?,
        ReportFormat::Json => scorecard::render(&card, TableFormat::Json, sink)?,
        ReportFormat::Csv => scorecard::render(&card, TableFormat::Csv, sink)?,
        ReportFormat::Html => sink.write_all(dashboard::render(&card).as_bytes())?,
    }
    sink.flush()?;
    Ok(0)
}

/// The definitions order and name things. Each funnel's is the version
/// that ran last, as the state kept it, so the report is the same from
/// any directory; the files on disk stand in for states written before
/// versions' text was kept. Without either, the report still stands on
/// the state's counters.
fn definitions(store: &Store, args: &ReportArgs) -> Result<Vec<Funnel>, CommandError> {
    let mut definitions = store
        .latest_sources()?
        .into_iter()
        .filter_map(|(funnel, text)| {
            let file = SourceFile::new(format!("{funnel} (state)").into(), text);
            crate::language::compiler::compile_file(&file).ok()
        })
        .collect::<Vec<_>>();
    if args.funnels.exists() {
        let on_disk = Linter::new(&Config::default())
            .check(std::slice::from_ref(&args.funnels))
            .map(|checked| checked.funnels)
            .unwrap_or_default();
        for funnel in on_disk {
            if definitions.iter().all(|d| d.name != funnel.name) {
                definitions.push(funnel);
            }
        }
    }
    Ok(definitions)
}
