//! Fabric timestamps: `2024-06-22T06:35:00.7812154` (no zone, 0-7 fractional digits, UTC),
//! sometimes with `Z` or an offset. chrono's RFC 3339 parser rejects the zone-less form.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Deserializer};

/// Parses any timestamp form Fabric sends; a missing zone means UTC. Times outside the years
/// 1-9999 in UTC are refused: Python's `datetime` cannot hold them.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = match parse_zoneless(text) {
        Some(fast) => fast,
        None => parse_general(text)?,
    };
    (1..=9999).contains(&parsed.year()).then_some(parsed)
}

/// chrono's parsers: RFC 3339 with a zone, else the zone-less layout.
fn parse_general(text: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(with_zone) => Some(with_zone.with_timezone(&Utc)),
        // `%.f` takes any number of fractional digits (including none) and keeps nanoseconds.
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|naive| naive.and_utc()),
    }
}

/// The layout Fabric sends almost always, `YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z]`, read by position.
/// Two timestamps per job made chrono's format-string parser ~10% of a listing's CPU time.
/// Anything else (offsets, other spellings) returns `None` and goes to [`parse_general`].
fn parse_zoneless(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let body = bytes.strip_suffix(b"Z").unwrap_or(bytes);
    if body.len() < 19 || body[4] != b'-' || body[7] != b'-' || body[10] != b'T' {
        return None;
    }
    if body[13] != b':' || body[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        body.get(range)?.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let nanos = match body.get(19..) {
        None | Some([]) => 0,
        Some([b'.', digits @ ..]) if (1..=9).contains(&digits.len()) => {
            let value = digits.iter().try_fold(0u32, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
            })?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        Some(_) => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time =
        NaiveTime::from_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// serde helper for optional timestamp fields: null/absent -> None, unreadable -> error.
pub fn deserialize_optional<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(deserializer)?;
    match text {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => parse(&t).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format_args!("unreadable timestamp {:?}", t.as_ref()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};
    use proptest::prelude::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .and_then(|t| t.with_nanosecond(nanos))
            .unwrap_or_default()
    }

    #[test]
    fn every_fabric_form() {
        let cases = [
            (
                "2024-06-22T06:35:00.7812154",
                utc(2024, 6, 22, 6, 35, 0, 781_215_400),
            ),
            (
                "2024-06-22T06:35:00.781215",
                utc(2024, 6, 22, 6, 35, 0, 781_215_000),
            ),
            (
                "2026-04-22T13:24:32.45",
                utc(2026, 4, 22, 13, 24, 32, 450_000_000),
            ),
            (
                "2026-04-22T13:24:32.4",
                utc(2026, 4, 22, 13, 24, 32, 400_000_000),
            ),
            ("2026-04-22T13:24:32", utc(2026, 4, 22, 13, 24, 32, 0)),
            ("2026-04-22T13:24:32Z", utc(2026, 4, 22, 13, 24, 32, 0)),
            (
                "2026-04-22T13:24:32.1234567Z",
                utc(2026, 4, 22, 13, 24, 32, 123_456_700),
            ),
            (
                "2025-03-25T06:43:12.3457658+00:00",
                utc(2025, 3, 25, 6, 43, 12, 345_765_800),
            ),
            ("2025-03-25T08:43:12+02:00", utc(2025, 3, 25, 6, 43, 12, 0)),
            ("0001-01-01T00:00:00", utc(1, 1, 1, 0, 0, 0, 0)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "yesterday",
            "2024-13-01T00:00:00",
            "2024-06-22 06:35:00x",
            "2024-06-22",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn serde_null_and_empty_are_none() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "deserialize_optional")]
            t: Option<DateTime<Utc>>,
        }
        let null: T = serde_json::from_str(r#"{"t":null}"#).unwrap_or(T {
            t: Some(Utc::now()),
        });
        assert_eq!(null.t, None);
        let absent: T = serde_json::from_str("{}").unwrap_or(T {
            t: Some(Utc::now()),
        });
        assert_eq!(absent.t, None);
        assert!(serde_json::from_str::<T>(r#"{"t":"soon"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"t":17}"#).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = parse(&text);
        }

        /// The positional fast path agrees with chrono wherever it answers at all.
        #[test]
        fn fast_path_agrees_with_chrono(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?Z?") {
            if let Some(fast) = parse_zoneless(&text) {
                prop_assert_eq!(Some(fast), parse_general(&text));
            }
            let general_ok = parse_general(&text).is_some_and(|t| (1..=9999).contains(&t.year()));
            prop_assert_eq!(parse(&text).is_some(), general_ok, "{}", text);
        }

        #[test]
        fn round_trips_every_precision(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000, digits in 0usize..=7) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap_or_default();
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let frac = format!("{:09}", t.nanosecond());
            let text = if digits == 0 { base.clone() } else { format!("{base}.{}", &frac[..digits]) };
            let parsed = parse(&text);
            prop_assert!(parsed.is_some(), "{}", text);
            let parsed = parsed.unwrap_or_default();
            let kept: u32 = if digits == 0 { 0 } else { frac[..digits].parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits as u32) };
            prop_assert_eq!(parsed.timestamp(), secs);
            prop_assert_eq!(parsed.nanosecond(), kept);
        }
    }
}
