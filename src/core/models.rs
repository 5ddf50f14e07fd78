//! The wire models of the Job Scheduler API, parsed once from the response bytes.

use crate::core::timestamp;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Range;

/// `ErrorRelatedResource`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ErrorResponseDetails` (an entry of `moreDetails`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_resource: Option<RelatedResource>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ErrorResponse`: an error body, or a failed job's `failureReason`.
///
/// Read leniently: a field of the wrong type is kept in `extra` rather than failing, because
/// an error body is read while something already went wrong and must never hide that error.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_details: Option<Vec<ErrorDetail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_resource: Option<RelatedResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_retriable: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// serde's derived `Deserialize` also accepts a JSON array in field order (`["id", ...]`);
/// the API only ever sends objects, so anything else is refused up front.
fn require_object(text: &str, what: &str) -> Result<(), String> {
    if text.trim_start().starts_with('{') {
        Ok(())
    } else {
        Err(format!("{what} is not a JSON object"))
    }
}

/// Removes `key` from `map` if it holds a string; otherwise leaves it there (it stays in `extra`).
fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key) {
        Some(Value::String(_)) => match map.shift_remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        Some(Value::Null) => {
            map.shift_remove(key);
            None
        }
        _ => None,
    }
}

fn take_object(map: &mut Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
    match map.get(key) {
        Some(Value::Object(_)) => match map.shift_remove(key) {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        },
        Some(Value::Null) => {
            map.shift_remove(key);
            None
        }
        _ => None,
    }
}

impl RelatedResource {
    /// Reads a `relatedResource` object; fields of the wrong type stay in `extra`.
    pub fn from_map(mut map: Map<String, Value>) -> Self {
        Self {
            resource_id: take_string(&mut map, "resourceId"),
            resource_type: take_string(&mut map, "resourceType"),
            extra: map,
        }
    }
}

impl ErrorDetail {
    /// Reads a `moreDetails` entry; fields of the wrong type stay in `extra`.
    pub fn from_map(mut map: Map<String, Value>) -> Self {
        Self {
            error_code: take_string(&mut map, "errorCode"),
            message: take_string(&mut map, "message"),
            related_resource: take_object(&mut map, "relatedResource")
                .map(RelatedResource::from_map),
            extra: map,
        }
    }
}

impl ErrorResponse {
    /// Reads any JSON value as an error body. A non-object (a bare string, say) becomes the message.
    pub fn from_value(value: Value) -> Self {
        let mut map = match value {
            Value::Object(map) => map,
            Value::String(text) => {
                return Self {
                    message: Some(text),
                    ..Self::default()
                }
            }
            other => {
                let mut extra = Map::new();
                extra.insert("value".to_owned(), other);
                return Self {
                    extra,
                    ..Self::default()
                };
            }
        };
        let more_details = match map.get("moreDetails") {
            Some(Value::Array(_)) => match map.shift_remove("moreDetails") {
                Some(Value::Array(items)) => Some(
                    items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(o) => ErrorDetail::from_map(o),
                            other => ErrorDetail {
                                error_code: None,
                                message: Some(other.to_string()),
                                related_resource: None,
                                extra: Map::new(),
                            },
                        })
                        .collect(),
                ),
                _ => None,
            },
            Some(Value::Null) => {
                map.shift_remove("moreDetails");
                None
            }
            _ => None,
        };
        let is_retriable = match map.get("isRetriable") {
            Some(Value::Bool(b)) => {
                let b = *b;
                map.shift_remove("isRetriable");
                Some(b)
            }
            _ => None,
        };
        Self {
            request_id: take_string(&mut map, "requestId"),
            error_code: take_string(&mut map, "errorCode"),
            message: take_string(&mut map, "message"),
            more_details,
            related_resource: take_object(&mut map, "relatedResource")
                .map(RelatedResource::from_map),
            is_retriable,
            extra: map,
        }
    }

    /// Reads an error body; `None` when the bytes are not JSON at all.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        match serde_json::from_slice::<Value>(body) {
            Ok(value @ Value::Object(_)) => Some(Self::from_value(value)),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ErrorResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from_value)
    }
}

/// A string field of a job instance. Usually a range of the instance's kept JSON (strings
/// without escapes: ids, enum words), so parsing a page allocates once per item, not once per
/// field; a string with escapes keeps its own unescaped copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Text {
    Absent,
    Span { start: u32, end: u32 },
    Owned(Box<str>),
}

impl Text {
    fn new(json: &str, value: Option<Cow<'_, str>>) -> Self {
        match value {
            None => Text::Absent,
            Some(Cow::Borrowed(text)) => {
                match span_of(json, text).and_then(|(start, end)| {
                    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
                }) {
                    Some((start, end)) => Text::Span { start, end },
                    None => Text::Owned(text.into()),
                }
            }
            Some(Cow::Owned(text)) => Text::Owned(text.into_boxed_str()),
        }
    }

    fn get<'a>(&'a self, json: &'a str) -> Option<&'a str> {
        match self {
            Text::Absent => None,
            Text::Span { start, end } => json.get(*start as usize..*end as usize),
            Text::Owned(text) => Some(text),
        }
    }
}

/// Where `inner` (a slice borrowed from `outer`) sits in `outer`, as byte offsets.
fn span_of(outer: &str, inner: &str) -> Option<(usize, usize)> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some((start, end))
}

/// A JSON string borrowed from the input when it has no escapes (serde's own `Cow` impl
/// always copies).
pub struct MaybeBorrowed<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeBorrowed<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = MaybeBorrowed<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

/// `ItemJobInstance`: typed fields for attribute access, and the exact wire JSON for `to_dict()`.
#[derive(Debug, Clone)]
pub struct JobInstance {
    /// This instance's JSON exactly as received (unknown fields, key order, 7-digit times kept).
    raw: Box<str>,
    id: Text,
    item_id: Text,
    job_type: Text,
    invoke_type: Text,
    status: Text,
    root_activity_id: Text,
    pub start_time_utc: Option<DateTime<Utc>>,
    pub end_time_utc: Option<DateTime<Utc>>,
    /// Boxed: most instances have none, and a small struct keeps each Python object small.
    pub failure_reason: Option<Box<ErrorResponse>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobInstanceFields<'a> {
    #[serde(default, borrow)]
    id: Option<MaybeBorrowed<'a>>,
    #[serde(default, borrow)]
    item_id: Option<MaybeBorrowed<'a>>,
    #[serde(default, borrow)]
    job_type: Option<MaybeBorrowed<'a>>,
    #[serde(default, borrow)]
    invoke_type: Option<MaybeBorrowed<'a>>,
    #[serde(default, borrow)]
    status: Option<MaybeBorrowed<'a>>,
    #[serde(default, borrow)]
    root_activity_id: Option<MaybeBorrowed<'a>>,
    #[serde(default, deserialize_with = "timestamp::deserialize_optional")]
    start_time_utc: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp::deserialize_optional")]
    end_time_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    failure_reason: Option<Box<ErrorResponse>>,
}

impl JobInstance {
    /// Parses one instance from its JSON text (a JSON object).
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        require_object(text, "a job instance").map_err(serde::de::Error::custom)?;
        let f: JobInstanceFields<'_> = serde_json::from_str(text)?;
        let field = |value: Option<MaybeBorrowed<'_>>| Text::new(text, value.map(|v| v.0));
        Ok(Self {
            id: field(f.id),
            item_id: field(f.item_id),
            job_type: field(f.job_type),
            invoke_type: field(f.invoke_type),
            status: field(f.status),
            root_activity_id: field(f.root_activity_id),
            start_time_utc: f.start_time_utc,
            end_time_utc: f.end_time_utc,
            failure_reason: f.failure_reason,
            // Same bytes as `text`, so the spans above index it too.
            raw: text.into(),
        })
    }

    pub fn id(&self) -> Option<&str> {
        self.id.get(&self.raw)
    }

    pub fn item_id(&self) -> Option<&str> {
        self.item_id.get(&self.raw)
    }

    pub fn job_type(&self) -> Option<&str> {
        self.job_type.get(&self.raw)
    }

    /// Open set: `Manual`, `Scheduled`, or anything the API adds later.
    pub fn invoke_type(&self) -> Option<&str> {
        self.invoke_type.get(&self.raw)
    }

    /// Open set: `NotStarted`, `InProgress`, `Completed`, `Failed`, `Cancelled`, `Deduped`, or new ones.
    pub fn status(&self) -> Option<&str> {
        self.status.get(&self.raw)
    }

    pub fn root_activity_id(&self) -> Option<&str> {
        self.root_activity_id.get(&self.raw)
    }

    /// The instance's JSON exactly as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The wire dict, parsed from the kept JSON.
    pub fn wire_value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(&self.raw)
    }
}

impl PartialEq for JobInstance {
    /// Equal when the wire JSON is equal (whitespace and key order aside).
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
            || matches!((self.wire_value(), other.wire_value()), (Ok(a), Ok(b)) if a == b)
    }
}

/// How one element of a page's `value` array becomes an item.
pub trait PageItem: Sized + Send + 'static {
    /// `text` is the element's JSON, already known to be well-formed.
    fn from_item_json(text: &str) -> serde_json::Result<Self>;
}

impl PageItem for JobInstance {
    fn from_item_json(text: &str) -> serde_json::Result<Self> {
        JobInstance::from_json(text)
    }
}

/// Dict mode: the element exactly as on the wire.
impl PageItem for Value {
    fn from_item_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// Dict mode: the element's JSON text, converted to Python data on the Python side in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireText(pub Box<str>);

impl PageItem for WireText {
    fn from_item_json(text: &str) -> serde_json::Result<Self> {
        // The page scan checked the syntax only. Reading every value here (without building
        // anything) finds what converting it later would trip on, while the error can still
        // name the response: numbers out of range, lone surrogate escapes, too deep nesting.
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde::de::Deserializer::deserialize_any(&mut deserializer, Validate)?;
        deserializer.end()?;
        Ok(WireText(text.into()))
    }
}

/// Visits every value of a JSON text as serde_json would when building it, keeping nothing.
struct Validate;

impl<'de> Deserialize<'de> for Validate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Validate)
    }
}

impl<'de> serde::de::Visitor<'de> for Validate {
    type Value = Validate;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self, E> {
        Ok(Validate)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Validate>()?.is_some() {}
        Ok(Validate)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<MaybeBorrowed<'de>>()?.is_some() {
            map.next_value::<Validate>()?;
        }
        Ok(Validate)
    }
}

/// An item of a workspace (`Item` of the Core "List Items" API), as far as fan-out needs it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub item_type: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
}

impl PageItem for Item {
    fn from_item_json(text: &str) -> serde_json::Result<Self> {
        require_object(text, "an item").map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// One page of a listing, with its continuation normalised (absent, null and "" all mean none).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub continuation_token: Option<String>,
    pub continuation_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePage<'a> {
    #[serde(borrow)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    continuation_token: Option<String>,
    #[serde(default)]
    continuation_uri: Option<String>,
}

/// A page's continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub continuation_token: Option<String>,
    pub continuation_uri: Option<String>,
}

/// A page body checked once for shape (an object with a `value` list, all of it well-formed
/// JSON): its continuation, and where each item's JSON is. Items are parsed from these ranges
/// later (on another task while the next request is out), without scanning the body again.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedPage {
    pub envelope: Envelope,
    items: Vec<Range<usize>>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

impl ScannedPage {
    /// Checks a page body. The error text says what was wrong, for `Error::InvalidResponse`.
    pub fn scan(body: &str) -> Result<Self, String> {
        require_object(body, "the body").map_err(|e| format!("{e}, so not a page of results"))?;
        let wire: WirePage<'_> = serde_json::from_str(body)
            .map_err(|e| format!("body is not a page of results: {e}"))?;
        let raw_items = wire
            .value
            .ok_or_else(|| "the page has no 'value' list".to_owned())?;
        let items = raw_items
            .iter()
            .map(|raw| span_of(body, raw.get()).map(|(start, end)| start..end))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| "an item of 'value' lies outside the body".to_owned())?;
        Ok(Self {
            envelope: Envelope {
                continuation_token: non_empty(wire.continuation_token),
                continuation_uri: non_empty(wire.continuation_uri),
            },
            items,
        })
    }

    /// The items, parsed from `body` (the text this was scanned from).
    fn items<T: PageItem>(&self, body: &str) -> Result<Vec<T>, String> {
        self.items
            .iter()
            .enumerate()
            .map(|(index, range)| {
                let text = body
                    .get(range.clone())
                    .ok_or_else(|| format!("item {index} of 'value' lies outside the body"))?;
                T::from_item_json(text)
                    .map_err(|e| format!("item {index} of 'value' is invalid: {e}"))
            })
            .collect()
    }

    /// The items (parsed from `body`, the text this was scanned from) and the continuation.
    pub fn page<T: PageItem>(&self, body: &str) -> Result<Page<T>, String> {
        Ok(Page {
            items: self.items(body)?,
            continuation_token: self.envelope.continuation_token.clone(),
            continuation_uri: self.envelope.continuation_uri.clone(),
        })
    }
}

/// A response body as text, or why it is not.
pub fn body_text(body: Vec<u8>) -> Result<String, String> {
    String::from_utf8(body).map_err(|e| format!("body is not UTF-8: {}", e.utf8_error()))
}

impl<T> Page<T> {
    pub fn envelope(&self) -> Envelope {
        Envelope {
            continuation_token: self.continuation_token.clone(),
            continuation_uri: self.continuation_uri.clone(),
        }
    }
}

impl<T: PageItem> Page<T> {
    /// Parses a page body. The error text says what was wrong, for `Error::InvalidResponse`.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
        ScannedPage::scan(text)?.page(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
        "value": [
            {"id": "f2d65699-dd22-4889-980c-15226deb0e1b", "itemId": "431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7",
             "jobType": "DefaultJob", "invokeType": "Manual", "status": "Completed",
             "rootActivityId": "8c2ee553-53a4-7edb-1042-0d8189a9e0ca",
             "startTimeUtc": "2024-06-22T06:35:00.7812154", "endTimeUtc": "2024-06-22T06:35:00.8033333",
             "failureReason": null}
        ],
        "continuationToken": "LDEsMTAwMDAwLDA%3D",
        "continuationUri": "https://api.fabric.microsoft.com/v1/workspaces/4b218778-e7a5-4d73-8187-f10824047715/items/431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7/jobs/instances?continuationToken=LDEsMTAwMDAwLDA%3D"
    }"#;

    #[test]
    fn parses_microsofts_example() {
        let page = Page::<JobInstance>::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(page.items.len(), 1);
        let job = &page.items[0];
        assert_eq!(job.status(), Some("Completed"));
        assert_eq!(job.failure_reason, None);
        assert_eq!(
            job.start_time_utc.map(|t| t.to_rfc3339()),
            Some("2024-06-22T06:35:00.781215400+00:00".to_owned())
        );
        assert!(job.raw().contains("\"2024-06-22T06:35:00.7812154\""));
        assert_eq!(
            page.continuation_token.as_deref(),
            Some("LDEsMTAwMDAwLDA%3D")
        );
    }

    #[test]
    fn dict_mode_keeps_the_wire_exactly() {
        let body = br#"{"value":[{"status":"Exploded","id":"x","startTimeUtc":"2024-06-22T06:35:00.7812154","endTimeUtc":null,"properties":{"a":[1,2]}}]}"#;
        let page = Page::<Value>::parse(body).unwrap();
        assert_eq!(
            serde_json::to_string(&page.items[0]).unwrap(),
            r#"{"status":"Exploded","id":"x","startTimeUtc":"2024-06-22T06:35:00.7812154","endTimeUtc":null,"properties":{"a":[1,2]}}"#
        );
        assert_eq!(page.continuation_token, None);
    }

    #[test]
    fn unknown_status_and_fields_are_accepted() {
        let body = br#"{"value":[{"status":"Paused","invokeType":"Triggered","newField":1}]}"#;
        let page = Page::<JobInstance>::parse(body).unwrap();
        assert_eq!(page.items[0].status(), Some("Paused"));
        assert_eq!(page.items[0].invoke_type(), Some("Triggered"));
    }

    #[test]
    fn dict_items_are_checked_like_values() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
        for item in [
            r#"[1e999]"#,
            r#""\ud800""#,
            deep.as_str(),
            shallow.as_str(),
            r#"{"a":[1,{"b":null}],"c":1.5e300,"d":"\ud83d\ude00"}"#,
            r#"{"x":18446744073709551616,"y":-9223372036854775808}"#,
        ] {
            assert_eq!(
                WireText::from_item_json(item).is_ok(),
                serde_json::from_str::<Value>(item).is_ok(),
                "{item}"
            );
        }
        // One deliberate difference: with the `raw_value` feature, `Value` treats this key as
        // serde_json's private RawValue marker and refuses the object; it is valid JSON, and
        // dict mode hands it over as an ordinary key.
        let marker = r#"{"$serde_json::private::RawValue":1}"#;
        assert!(serde_json::from_str::<Value>(marker).is_err());
        assert!(WireText::from_item_json(marker).is_ok());
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let body = br#"{"value":[{"id":"a\"b","status":"Fa\u0069led","jobType":"Pipeline","itemId":null}]}"#;
        let page = Page::<JobInstance>::parse(body).unwrap();
        let job = &page.items[0];
        assert_eq!(job.id(), Some("a\"b"));
        assert_eq!(job.status(), Some("Failed"));
        assert_eq!(job.job_type(), Some("Pipeline"));
        assert_eq!(job.item_id(), None);
        assert_eq!(job.root_activity_id(), None);
        assert!(job.raw().contains(r#""Fa\u0069led""#));
    }

    #[test]
    fn a_string_field_of_another_type_is_an_error() {
        let err = Page::<JobInstance>::parse(br#"{"value":[{"status":7}]}"#).unwrap_err();
        assert!(err.contains("item 0"), "{err}");
    }

    #[test]
    fn empty_or_null_continuation_means_none() {
        for body in [
            r#"{"value":[],"continuationToken":"","continuationUri":null}"#,
            r#"{"value":[],"continuationToken":null}"#,
            r#"{"value":[]}"#,
        ] {
            let page = Page::<Value>::parse(body.as_bytes()).unwrap();
            assert_eq!(
                (page.continuation_token, page.continuation_uri),
                (None, None),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_pages_are_errors_not_panics() {
        for (body, expected) in [
            (&b"<html>proxy</html>"[..], "not a page"),
            (b"{\"value\": {\"id\": 1}}", "not a page"),
            (b"{\"items\": []}", "no 'value' list"),
            (b"{\"value\": null}", "no 'value' list"),
            (b"{\"value\": [{\"id\": 7}]}", "item 0"),
            (
                b"{\"value\": [{\"startTimeUtc\": \"tomorrow\"}]}",
                "unreadable timestamp",
            ),
            (b"{\"value\": [], \"continuationToken\": 5}", "not a page"),
            (b"{\"value\": [", "not a page"),
            (b"\xff\xfe", "UTF-8"),
            // serde would read these as {value, continuationToken} in field order.
            (b"[[{\"id\": \"x\"}]]", "not a JSON object"),
            (b"[[], \"LDAyLDIsMA%3D%3D\"]", "not a JSON object"),
            (b"{\"value\": [[\"id\", \"itemId\"]]}", "item 0"),
        ] {
            let err = Page::<JobInstance>::parse(body).unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn failure_reason_is_read() {
        let body = br#"{"value":[{"status":"Failed","failureReason":{"requestId":"r1","errorCode":"JobFailed","message":"boom","moreDetails":[{"errorCode":"Inner","message":"m","relatedResource":{"resourceId":"i","resourceType":"Notebook"}}],"isRetriable":false}}]}"#;
        let page = Page::<JobInstance>::parse(body).unwrap();
        let reason = *page.items[0].failure_reason.clone().unwrap();
        assert_eq!(reason.error_code.as_deref(), Some("JobFailed"));
        assert_eq!(reason.is_retriable, Some(false));
        let details = reason.more_details.unwrap();
        assert_eq!(
            details[0]
                .related_resource
                .as_ref()
                .unwrap()
                .resource_type
                .as_deref(),
            Some("Notebook")
        );
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let full = ErrorResponse::from_body(
            br#"{"requestId":"e7d4be9d","errorCode":"BadRequest","moreDetails":[{"errorCode":"RetentionDaysReductionNotAllowed ","message":"","relatedResource":{"resourceId":"4a0a","resourceType":"Workspace"}}],"message":"The request could not be processed","relatedResource":{"resourceId":"4a0a","resourceType":"Workspace"},"isRetriable":false}"#,
        )
        .unwrap();
        assert_eq!(full.error_code.as_deref(), Some("BadRequest"));
        assert_eq!(full.more_details.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            full.related_resource.unwrap().resource_id.as_deref(),
            Some("4a0a")
        );

        // Wrong types are kept aside instead of failing.
        let odd = ErrorResponse::from_body(
            br#"{"errorCode":404,"message":"gone","isRetriable":"yes","moreDetails":"none"}"#,
        )
        .unwrap();
        assert_eq!(odd.error_code, None);
        assert_eq!(odd.message.as_deref(), Some("gone"));
        assert_eq!(odd.extra.get("errorCode"), Some(&Value::from(404)));
        assert_eq!(odd.extra.get("isRetriable"), Some(&Value::from("yes")));

        for junk in [
            &b"<html>Bad gateway</html>"[..],
            b"",
            b"[1,2]",
            b"\"text\"",
            b"{\"a\":",
        ] {
            assert_eq!(ErrorResponse::from_body(junk), None);
        }
    }

    #[test]
    fn error_response_serialises_wire_names() {
        let e = ErrorResponse::from_body(
            br#"{"errorCode":"X","message":"m","isRetriable":true,"custom":1}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"errorCode":"X","message":"m","isRetriable":true,"custom":1}"#
        );
    }

    mod properties {
        //! The page parser reads untrusted bytes: it must answer every input with a page or an
        //! error message, never a panic.
        use super::super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                ".{0,12}".prop_map(Value::from),
                Just(Value::from("2024-06-22T06:35:00.7812154")),
                Just(Value::from("Completed")),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::vec(
                        (
                            prop_oneof![
                                Just("id".to_owned()),
                                Just("status".to_owned()),
                                Just("startTimeUtc".to_owned()),
                                Just("endTimeUtc".to_owned()),
                                Just("failureReason".to_owned()),
                                Just("moreDetails".to_owned()),
                                Just("relatedResource".to_owned()),
                                Just("value".to_owned()),
                                Just("continuationToken".to_owned()),
                                Just("continuationUri".to_owned()),
                                "[a-zA-Z]{1,8}",
                            ],
                            inner
                        ),
                        0..6
                    )
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
                let _ = Page::<JobInstance>::parse(&body);
                let _ = Page::<Value>::parse(&body);
                let _ = ErrorResponse::from_body(&body);
            }

            #[test]
            fn arbitrary_json_never_panics(value in json_value(), items in prop::collection::vec(json_value(), 0..4)) {
                let page = serde_json::json!({ "value": items, "continuationToken": value.clone() });
                let body = serde_json::to_vec(&page).unwrap_or_default();
                let _ = Page::<JobInstance>::parse(&body);
                let parsed = Page::<Value>::parse(&body);
                if let Ok(parsed) = parsed {
                    // Dict mode is faithful: what came in is what goes out.
                    prop_assert_eq!(Value::from(parsed.items), page["value"].clone());
                }
                let _ = ErrorResponse::from_value(value);
            }

            #[test]
            fn string_fields_read_back_exactly(
                id in any::<String>(),
                status in any::<String>(),
                job_type in "[A-Za-z]{0,12}",
                pretty in any::<bool>(),
            ) {
                // Escaped strings are unescaped copies, plain ones ranges of the kept JSON:
                // either way the accessor returns what the JSON string says.
                let item = serde_json::json!({ "id": id, "status": status, "jobType": job_type });
                let page = serde_json::json!({ "value": [item] });
                let body = if pretty {
                    serde_json::to_vec_pretty(&page).unwrap_or_default()
                } else {
                    serde_json::to_vec(&page).unwrap_or_default()
                };
                let parsed = Page::<JobInstance>::parse(&body);
                prop_assert!(parsed.is_ok(), "{:?}", parsed);
                let parsed = parsed.unwrap();
                let job = &parsed.items[0];
                prop_assert_eq!(job.id(), Some(id.as_str()));
                prop_assert_eq!(job.status(), Some(status.as_str()));
                prop_assert_eq!(job.job_type(), Some(job_type.as_str()));
                prop_assert_eq!(job.item_id(), None);
                prop_assert_eq!(job.wire_value().ok(), Some(item));
            }
        }
    }
}
