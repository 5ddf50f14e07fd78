//! Realistic, deterministic job instances.
//!
//! Output is a pure function of (item id, item type, count, seed, start bound): a small SplitMix64
//! generator is used instead of an external crate so that the data never changes with a
//! dependency upgrade.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Newest generated start times lie just before this instant (UTC, no zone), so output is fixed.
pub(crate) fn reference_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 30)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .unwrap_or_default()
}

/// Parses a Fabric timestamp (`2024-06-22T06:35:00.7812154`, 0 to 9 fractional digits, no zone).
pub(crate) fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// SplitMix64: tiny, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, item: Uuid) -> Rng {
        let (hi, lo) = item.as_u64_pair();
        let mut rng = Rng(seed ^ hi.rotate_left(17) ^ lo);
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1000 < per_mille
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A duration of `lo..=hi` seconds plus a random sub-second part.
    fn duration(&mut self, lo: u64, hi: u64) -> TimeDelta {
        let secs = i64::try_from(self.range(lo, hi)).unwrap_or(0);
        let nanos = i64::try_from(self.range(0, 999_999_999)).unwrap_or(0);
        TimeDelta::seconds(secs) + TimeDelta::nanoseconds(nanos)
    }

    /// Fractional digits in a timestamp: mostly 7 as Fabric does, sometimes 2 or none.
    fn fraction_digits(&mut self) -> u8 {
        match self.range(0, 99) {
            0..=3 => 0,
            4..=11 => 2,
            _ => 7,
        }
    }
}

/// `jobType` for an item type, as Fabric names them.
pub(crate) fn job_type_for(item_type: &str) -> &'static str {
    match item_type {
        "Notebook" => "RunNotebook",
        "DataPipeline" => "Pipeline",
        _ => "DefaultJob",
    }
}

/// Formats like Fabric: no zone designator, `digits` fractional digits (7, 2 or 0).
pub(crate) fn format_timestamp(t: NaiveDateTime, digits: u8) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    let nanos = t.nanosecond() % 1_000_000_000;
    match digits {
        0 => base.to_string(),
        2 => format!("{base}.{:02}", nanos / 10_000_000),
        _ => format!("{base}.{:07}", nanos / 100),
    }
}

fn failure_reason(rng: &mut Rng, job_type: &str) -> Value {
    let generic = (
        "JobInstanceStatusFailed",
        "Job instance failed without detail error",
    );
    let specific: &[(&str, &str)] = match job_type {
        "RunNotebook" => &[
            (
                "NotebookExecutionFailed",
                "Notebook execution failed at Notebook service with http status code - '200', please check the Run logs on Notebook, additional details - 'Error name - Py4JJavaError, Error value - An error occurred while calling o4187.save.'",
            ),
            (
                "JobExecutionFailed",
                "Livy session has failed. Session state: Dead. Error code: SparkCoreError/Other.",
            ),
        ],
        "Pipeline" => &[
            (
                "JobExecutionFailed",
                "Operation on target Copy data1 failed: ErrorCode=UserErrorSourceFileNotExist,'The required file does not exist.'",
            ),
            (
                "JobExecutionFailed",
                "Activity 'Run notebook' failed: Notebook execution failed with status Failed.",
            ),
        ],
        _ => &[("JobExecutionFailed", "The job failed during execution.")],
    };
    let (code, message) = if rng.chance(250) {
        generic
    } else {
        let idx = usize::try_from(rng.range(0, specific.len() as u64 - 1)).unwrap_or(0);
        specific.get(idx).copied().unwrap_or(generic)
    };
    json!({
        "requestId": rng.uuid().to_string(),
        "errorCode": code,
        "message": message,
    })
}

/// Generates `count` instances, newest first, every start strictly before `start_before`.
/// With `include_active`, the newest one or two are NotStarted/InProgress with a null end time.
pub(crate) fn generate(
    item: Uuid,
    item_type: &str,
    count: usize,
    seed: u64,
    start_before: NaiveDateTime,
    include_active: bool,
) -> Vec<Value> {
    let mut rng = Rng::new(seed, item);
    let job_type = job_type_for(item_type);
    let item_id = item.to_string();
    let active = if include_active && count > 0 {
        usize::try_from(rng.range(1, 2)).unwrap_or(1).min(count)
    } else {
        0
    };
    let mut cursor = start_before;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let gap = if i == 0 {
            rng.duration(5, 240)
        } else {
            rng.duration(90, 1500)
        };
        cursor = cursor.checked_sub_signed(gap).unwrap_or(cursor);
        let start = cursor;
        let status = if i < active {
            if active == 2 && i == 0 {
                "NotStarted"
            } else {
                "InProgress"
            }
        } else {
            match rng.range(0, 999) {
                0..=809 => "Completed",
                810..=929 => "Failed",
                930..=979 => "Cancelled",
                _ => "Deduped",
            }
        };
        let invoke_type = if rng.chance(750) {
            "Scheduled"
        } else {
            "Manual"
        };
        let run_time = match status {
            "Completed" => Some(rng.duration(20, 900)),
            "Failed" => Some(rng.duration(3, 600)),
            "Cancelled" => Some(rng.duration(10, 1200)),
            "Deduped" => Some(rng.duration(0, 1)),
            _ => None,
        };
        let end = run_time.and_then(|d| start.checked_add_signed(d));
        let failure = if status == "Failed" {
            failure_reason(&mut rng, job_type)
        } else {
            Value::Null
        };
        let mut obj = Map::new();
        obj.insert("id".into(), Value::String(rng.uuid().to_string()));
        obj.insert("itemId".into(), Value::String(item_id.clone()));
        obj.insert("jobType".into(), Value::String(job_type.into()));
        obj.insert("invokeType".into(), Value::String(invoke_type.into()));
        obj.insert("status".into(), Value::String(status.into()));
        obj.insert(
            "rootActivityId".into(),
            Value::String(rng.uuid().to_string()),
        );
        let start_digits = rng.fraction_digits();
        obj.insert(
            "startTimeUtc".into(),
            Value::String(format_timestamp(start, start_digits)),
        );
        let end_value = match end {
            Some(end) => Value::String(format_timestamp(end, rng.fraction_digits())),
            None => Value::Null,
        };
        obj.insert("endTimeUtc".into(), end_value);
        obj.insert("failureReason".into(), failure);
        out.push(Value::Object(obj));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 9] = [
        "id",
        "itemId",
        "jobType",
        "invokeType",
        "status",
        "rootActivityId",
        "startTimeUtc",
        "endTimeUtc",
        "failureReason",
    ];

    fn item() -> Uuid {
        Uuid::parse_str("431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7").unwrap()
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate(item(), "Notebook", 300, 42, reference_time(), true);
        let b = generate(item(), "Notebook", 300, 42, reference_time(), true);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let c = generate(item(), "Notebook", 300, 43, reference_time(), true);
        assert_ne!(a, c);
    }

    #[test]
    fn shape_order_and_content() {
        let list = generate(item(), "Notebook", 500, 7, reference_time(), true);
        assert_eq!(list.len(), 500);
        let mut previous_start: Option<NaiveDateTime> = None;
        let mut statuses = std::collections::HashMap::new();
        let mut digit_counts = std::collections::HashSet::new();
        for (i, v) in list.iter().enumerate() {
            let obj = v.as_object().unwrap();
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            assert_eq!(keys, KEYS);
            assert_eq!(obj["itemId"], item().to_string());
            assert_eq!(obj["jobType"], "RunNotebook");
            let id = Uuid::parse_str(obj["id"].as_str().unwrap()).unwrap();
            assert_eq!(id.get_version_num(), 4);
            let status = obj["status"].as_str().unwrap();
            *statuses.entry(status.to_string()).or_insert(0) += 1;
            let start_s = obj["startTimeUtc"].as_str().unwrap();
            assert!(!start_s.ends_with('Z'));
            digit_counts.insert(start_s.split('.').nth(1).map_or(0, str::len));
            let start = parse_timestamp(start_s).unwrap();
            assert!(start < reference_time());
            if let Some(p) = previous_start {
                assert!(start < p, "newest first");
            }
            previous_start = Some(start);
            match status {
                "InProgress" | "NotStarted" => {
                    assert!(i < 2);
                    assert!(obj["endTimeUtc"].is_null());
                }
                _ => {
                    let end = parse_timestamp(obj["endTimeUtc"].as_str().unwrap()).unwrap();
                    assert!(end >= start - TimeDelta::seconds(1));
                }
            }
            if status == "Failed" {
                let reason = obj["failureReason"].as_object().unwrap();
                let keys: Vec<&str> = reason.keys().map(String::as_str).collect();
                assert_eq!(keys, ["requestId", "errorCode", "message"]);
            } else {
                assert!(obj["failureReason"].is_null());
            }
        }
        assert!(statuses["Completed"] > 300);
        assert!(statuses["Failed"] > 10);
        assert!(statuses.contains_key("Cancelled"));
        assert!(statuses.contains_key("Deduped"));
        assert!(digit_counts.contains(&7));
        assert!(digit_counts.contains(&2));
        assert!(digit_counts.contains(&0));
        let first = list[0]["status"].as_str().unwrap();
        assert!(first == "InProgress" || first == "NotStarted");
    }

    #[test]
    fn job_types_and_format() {
        assert_eq!(job_type_for("DataPipeline"), "Pipeline");
        assert_eq!(job_type_for("Lakehouse"), "DefaultJob");
        let t = parse_timestamp("2024-06-22T06:35:00.7812154").unwrap();
        assert_eq!(format_timestamp(t, 7), "2024-06-22T06:35:00.7812154");
        assert_eq!(format_timestamp(t, 2), "2024-06-22T06:35:00.78");
        assert_eq!(format_timestamp(t, 0), "2024-06-22T06:35:00");
        let none = generate(item(), "DataPipeline", 5, 1, reference_time(), false);
        assert!(none.iter().all(|v| v["endTimeUtc"].is_string()));
        assert!(none.iter().all(|v| v["jobType"] == "Pipeline"));
    }
}
