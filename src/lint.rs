//! The lint half: `linter` runs the `rules` over compiled funnels and
//! collects `diagnostic`s, which `render` writes as text, JSON, SARIF or
//! GitHub annotations. ("Report" is only `funnel report`, the measuring.)

pub mod diagnostic;
pub mod linter;
pub mod render;
pub mod rules;
