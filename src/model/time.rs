//! Calendar arithmetic shared by the pool-log parser (dates to day numbers)
//! and its renderer (day numbers back to dates), and durations as the JSON and
//! the Prometheus exposition write them (seconds to the millisecond). Pure.

use std::time::Duration;

use serde::{Serialize, Serializer};

/// A duration as seconds to the millisecond (`4.5`, `12.345`): how the JSON
/// (`eta_s`, `oldest_idle_s`, ...) and the Prometheus exposition have always
/// written durations. Exact for a whole number of milliseconds (the same number
/// as `ms as f64 / 1000.0`).
pub fn secs_to_the_milli(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Serde: an optional duration as [`secs_to_the_milli`], `null` for none.
pub fn opt_secs_to_the_milli<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(secs_to_the_milli).serialize(s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: u32, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1000..=9999).contains(&y) {
        return None;
    }
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_milliseconds_are_written_as_they_always_were() {
        // Idle ages are u32 milliseconds, which the JSON and Prometheus wrote as
        // `ms as f64 / 1000.0` before they were durations.
        let big = (0..64).map(|i| u32::MAX - i * 999_983);
        for ms in (0..200_000).chain(big) {
            let d = Duration::from_millis(u64::from(ms));
            assert_eq!(secs_to_the_milli(d), f64::from(ms) / 1000.0, "{ms} ms");
        }
        assert_eq!(secs_to_the_milli(Duration::from_nanos(4_499_600_000)), 4.5);
    }
}
