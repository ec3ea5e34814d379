//! The language: what a funnel file means, from YAML text to a compiled
//! [`model::Funnel`], one stage per file. `parser` (YAML -> `document`,
//! through the `builder` fast path where it applies), `compiler` (document
//! -> `model`, resolving `condition`s, `template`s, `schedule`s,
//! `duration`s and `timing`), `graph` (funnel -> petgraph), `diagram`
//! (`funnel graph`) and `diff` (two compiled versions of one funnel).
//! `source` keeps the files a check read; `contact` holds the values
//! conditions read (a typed contact, an event). Nothing here reads the
//! state, the feeds or the clock: the operator's side is `run`.

pub mod builder;
pub mod compiler;
pub mod condition;
pub mod contact;
pub mod diagram;
pub mod diff;
pub mod document;
pub mod duration;
pub mod graph;
pub mod model;
pub mod parser;
pub mod schedule;
pub mod source;
pub mod template;
pub mod timing;
