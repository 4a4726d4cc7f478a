//! The JSON documents commands print. `schema_version` and the command's name are added in
//! one place, [`to_json`]. The documents themselves are typed structs in the libraries
//! (`perfkit_profilers::report`, `perfkit_zerocopy::CopyReport`, `perfkit_pool::RunSummary`,
//! `perfkit_sys::tune::PlanReport` and others), so that their names are checked by the
//! compiler; docs/formats.md describes them.

use anyhow::Result;
use serde::Serialize;

/// The version of every document here.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a, T> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'static str>,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` as a pretty-printed document of `command` (`None` for documents without the
/// name), ending in a newline.
pub(crate) fn to_json<T: Serialize>(command: Option<&'static str>, body: &T) -> Result<String> {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        command,
        body,
    };
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

/// `body` as a document of `command` when `json`, else as `text` makes it for people.
pub(crate) fn json_or<T: Serialize>(
    json: bool,
    command: Option<&'static str>,
    body: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<String> {
    if json {
        to_json(command, body)
    } else {
        Ok(text(body))
    }
}

/// Prints `body` on standard output as [`json_or`] makes it.
pub(crate) fn print<T: Serialize>(
    json: bool,
    command: Option<&'static str>,
    body: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<()> {
    crate::output::print(json_or(json, command, body, text)?)?;
    Ok(())
}
