//! Workspace / item / job ids: GUIDs, validated before any request is made.

use crate::core::error::{Error, Result};
use uuid::Uuid;

/// Parses a GUID in any common spelling (hyphenated, simple, braced, urn) and returns
/// it in the canonical lower-case hyphenated form used in URLs.
pub fn parse_guid(what: &str, value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what} must be a GUID like '4b218778-e7a5-4d73-8187-f10824047715', got {value:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_spellings() {
        for s in [
            "4b218778-e7a5-4d73-8187-f10824047715",
            "4B218778-E7A5-4D73-8187-F10824047715",
            "{4b218778-e7a5-4d73-8187-f10824047715}",
            "4b218778e7a54d738187f10824047715",
        ] {
            let id = parse_guid("workspace_id", s).map(|u| u.to_string());
            assert_eq!(
                id.ok().as_deref(),
                Some("4b218778-e7a5-4d73-8187-f10824047715")
            );
        }
    }

    #[test]
    fn rejects_non_guids_with_a_clear_message() {
        for s in ["", "my-workspace", "4b218778-e7a5-4d73-8187", "../../admin"] {
            match parse_guid("item_id", s) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("item_id must be a GUID")),
                other => panic!("expected InvalidArgument for {s:?}, got {other:?}"),
            }
        }
    }
}
