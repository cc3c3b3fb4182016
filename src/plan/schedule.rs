//! Scheduled capacity: windows from `spec.schedules`, raising the replicas from `leadTime`
//! before each start until its end, for events a forecast cannot see coming.

use std::str::FromStr;

use chrono::TimeZone;
use croner::Cron;

use crate::policy::ScheduleSpec;

/// Longest window: a week; longer is a new minReplicas, not an event.
pub const MAX_DURATION_S: u64 = 7 * 86_400;

/// What a window asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Floor {
    /// At least this many replicas.
    Replicas(i32),
    /// This factor times what the load and forecast ask for.
    LoadFactor(f64),
}

/// One parsed `spec.schedules` entry.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// `name`, or `schedules[i]`.
    pub name: String,
    cron: Cron,
    zone: chrono_tz::Tz,
    duration_s: i64,
    /// What it asks for while active.
    pub floor: Floor,
}

/// Why a schedule entry cannot be used: the field (relative to the entry) and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    /// `start`, `timeZone`, `duration`, `minReplicas` or `loadFactor`.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Schedule {
    /// Parses entry `index` of `spec.schedules`.
    pub fn parse(spec: &ScheduleSpec, index: usize) -> Result<Self, ScheduleError> {
        let err = |field, message: String| ScheduleError { field, message };
        let fields = spec.start.split_whitespace().count();
        let cron = Cron::from_str(spec.start.trim())
            .ok()
            .filter(|_| fields == 5)
            .ok_or_else(|| {
                err(
                    "start",
                    format!(
                        "{:?} is not a five-field cron expression (minute hour day-of-month month day-of-week); e.g. \"0 9 * * 1-5\" for 09:00 on weekdays",
                        spec.start
                    ),
                )
            })?;
        let zone_name = spec.time_zone.as_deref().unwrap_or("UTC");
        let zone = chrono_tz::Tz::from_str(zone_name).map_err(|_| {
            err(
                "timeZone",
                format!(
                    "{zone_name:?} is not a time zone; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
                ),
            )
        })?;
        let duration_s = spec
            .duration
            .seconds()
            .ok()
            .filter(|s| *s > 0 && *s <= MAX_DURATION_S)
            .ok_or_else(|| {
                err(
                    "duration",
                    format!(
                        "must be a duration between 1s and 7d, e.g. \"2h\" (got {})",
                        spec.duration
                    ),
                )
            })?;
        let floor = match (spec.min_replicas, spec.load_factor) {
            (Some(n), None) if n >= 1 => Floor::Replicas(n),
            (Some(n), None) => return Err(err("minReplicas", format!("must be >= 1 (got {n})"))),
            (None, Some(f)) if (1.0..=100.0).contains(&f) => Floor::LoadFactor(f),
            (None, Some(f)) => {
                return Err(err(
                    "loadFactor",
                    format!(
                        "must be between 1 and 100 (got {f}), e.g. 3 for three times the usual load"
                    ),
                ));
            }
            _ => {
                return Err(err(
                    "minReplicas",
                    "set exactly one of minReplicas (a floor) and loadFactor (expected load, e.g. 3)"
                        .into(),
                ));
            }
        };
        Ok(Self {
            name: spec
                .name
                .clone()
                .unwrap_or_else(|| format!("schedules[{index}]")),
            cron,
            zone,
            duration_s: duration_s as i64,
            floor,
        })
    }

    /// The start of the window that covers `now`, counting capacity `lead_s` seconds
    /// early: the latest start at or before `now + lead_s`, if its window has not ended.
    pub fn active_start(&self, now: i64, lead_s: u64) -> Option<i64> {
        let probe = self
            .zone
            .timestamp_opt(now.saturating_add(lead_s as i64), 0)
            .single()?;
        let start = self
            .cron
            .find_previous_occurrence(&probe, true)
            .ok()?
            .timestamp();
        (now < start + self.duration_s).then_some(start)
    }
}

/// Parses every entry; the ones that do not parse are left out (validation reports them).
pub fn parse_all(specs: &[ScheduleSpec]) -> Vec<Schedule> {
    specs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Schedule::parse(s, i).ok())
        .collect()
}

/// The replicas the active windows ask for, given what the load and forecast ask for
/// (`base`), and the name of the window asking most. `None` when no window is active.
/// Without `base` (metrics unavailable) only `minReplicas` windows count: a factor of an
/// unknown load is unknown.
pub fn floor(
    schedules: &[Schedule],
    now: i64,
    lead_s: u64,
    base: Option<i32>,
) -> Option<(i32, &str)> {
    schedules
        .iter()
        .filter(|s| s.active_start(now, lead_s).is_some())
        .filter_map(|s| {
            let n = match (s.floor, base) {
                (Floor::Replicas(n), _) => n,
                (Floor::LoadFactor(f), Some(base)) => {
                    (f64::from(base.max(1)) * f).ceil().min(f64::from(i32::MAX)) as i32
                }
                (Floor::LoadFactor(_), None) => return None,
            };
            Some((n, s.name.as_str()))
        })
        .max_by_key(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        start: &str,
        zone: Option<&str>,
        duration: &str,
        min: Option<i32>,
        factor: Option<f64>,
    ) -> ScheduleSpec {
        ScheduleSpec {
            name: None,
            start: start.into(),
            time_zone: zone.map(str::to_string),
            duration: crate::policy::Duration::new(duration),
            min_replicas: min,
            load_factor: factor,
        }
    }

    /// 2026-11-27 (a Friday) 09:00 UTC.
    const FRIDAY_9_UTC: i64 = 1_795_770_000;

    #[test]
    fn a_window_is_active_from_lead_time_before_its_start_until_its_end() {
        let s = Schedule::parse(&spec("0 9 * * *", None, "2h", Some(30), None), 0).unwrap();
        let lead = 120;
        assert_eq!(s.active_start(FRIDAY_9_UTC - 121, lead), None, "too early");
        assert_eq!(
            s.active_start(FRIDAY_9_UTC - 120, lead),
            Some(FRIDAY_9_UTC),
            "capacity arrives leadTime early"
        );
        assert_eq!(
            s.active_start(FRIDAY_9_UTC + 7_199, lead),
            Some(FRIDAY_9_UTC)
        );
        assert_eq!(s.active_start(FRIDAY_9_UTC + 7_200, lead), None, "ended");
        assert_eq!(
            floor(&[s], FRIDAY_9_UTC, lead, Some(4)),
            Some((30, "schedules[0]"))
        );
    }

    #[test]
    fn the_start_is_read_in_its_time_zone() {
        // 09:00 in Berlin is 08:00 UTC in November.
        let s = Schedule::parse(
            &spec("0 9 * * 5", Some("Europe/Berlin"), "1h", Some(5), None),
            0,
        )
        .unwrap();
        assert_eq!(
            s.active_start(FRIDAY_9_UTC - 3_600, 0),
            Some(FRIDAY_9_UTC - 3_600)
        );
        assert_eq!(s.active_start(FRIDAY_9_UTC, 0), None);
        // Weekdays only: not on Saturday.
        assert_eq!(s.active_start(FRIDAY_9_UTC - 3_600 + 86_400, 0), None);
    }

    #[test]
    fn overlapping_windows_take_the_highest_and_a_factor_scales_the_load() {
        let all = parse_all(&[
            spec("0 8 * * *", None, "4h", Some(10), None),
            ScheduleSpec {
                name: Some("launch".into()),
                ..spec("0 9 * * *", None, "1h", None, Some(3.0))
            },
        ]);
        assert_eq!(
            floor(&all, FRIDAY_9_UTC, 0, Some(2)),
            Some((10, "schedules[0]"))
        );
        assert_eq!(floor(&all, FRIDAY_9_UTC, 0, Some(5)), Some((15, "launch")));
        assert_eq!(
            floor(&all, FRIDAY_9_UTC + 3_600, 0, Some(5)),
            Some((10, "schedules[0]"))
        );
        assert_eq!(floor(&all, FRIDAY_9_UTC + 4 * 3_600, 0, Some(5)), None);
        // Without metrics only the floor counts.
        assert_eq!(floor(&all[1..], FRIDAY_9_UTC, 0, None), None);
    }

    #[test]
    fn bad_entries_name_the_field_and_the_fix() {
        for (s, field, words) in [
            (
                spec("0 9 * *", None, "1h", Some(2), None),
                "start",
                "five-field cron",
            ),
            (
                spec("every day", None, "1h", Some(2), None),
                "start",
                "0 9 * * 1-5",
            ),
            (
                spec("0 9 * * *", Some("Mars/Olympus"), "1h", Some(2), None),
                "timeZone",
                "IANA",
            ),
            (
                spec("0 9 * * *", None, "8d", Some(2), None),
                "duration",
                "7d",
            ),
            (
                spec("0 9 * * *", None, "1h", None, None),
                "minReplicas",
                "exactly one",
            ),
            (
                spec("0 9 * * *", None, "1h", Some(2), Some(2.0)),
                "minReplicas",
                "exactly one",
            ),
            (
                spec("0 9 * * *", None, "1h", None, Some(0.5)),
                "loadFactor",
                "between 1 and 100",
            ),
        ] {
            let e = Schedule::parse(&s, 0).unwrap_err();
            assert_eq!(e.field, field, "{e:?}");
            assert!(e.message.contains(words), "{e:?}");
        }
    }
}
