//! `funnel schema`: the JSON Schema of the funnel format, for editors.

use std::io::Write;

use crate::command::CommandError;
use crate::language::document::Document;

/// The JSON Schema of the funnel format, generated from the document types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Document);
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .unwrap_or_default()
}

pub(super) fn schema(stdout: &mut dyn Write) -> Result<i32, CommandError> {
    stdout.write_all(json_schema().as_bytes())?;
    Ok(0)
}
