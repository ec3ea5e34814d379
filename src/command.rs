//! The subcommands: `cli` holds the flags as clap parses them; the other
//! modules turn them into calls on the layers below and render the answer.
//! Nothing here decides funnel semantics.

pub mod cli;
pub mod compare;
pub mod listing;
pub mod operate;
