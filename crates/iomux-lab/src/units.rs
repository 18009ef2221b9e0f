//! Typed command-line values, parsed at the edge, and their record form.
use std::time::Duration;

/// Parses a number of seconds (`0.3`, `2`) into a `Duration`, refusing negative or absurd ones.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{text:?} must be a non-negative number of seconds"))
}

/// Parses a number of seconds that must be more than zero (a measured window, a timeout).
pub fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    let seconds = parse_seconds(text)?;
    if seconds.is_zero() {
        return Err(format!("{text:?} must be more than 0 seconds"));
    }
    Ok(seconds)
}

/// `Duration`s in records are seconds, as a number.
pub mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes a `Duration` as seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Reads seconds back into a `Duration`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = f64::deserialize(d)?;
        Duration::try_from_secs_f64(value).map_err(serde::de::Error::custom)
    }
}

/// Lists of named things (backends, models, servers) are their names in records.
pub mod names {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt::Display;
    use std::str::FromStr;

    /// Writes the items as a list of their names.
    pub fn serialize<T: Display, S: Serializer>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(|i| i.to_string()))
    }

    /// Reads a list of names back into the items they name.
    pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|n| n.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A moment in UTC, as a calendar shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// The year (e.g. 2024).
    pub year: i64,
    /// The month, 1 to 12.
    pub month: i64,
    /// The day of the month, from 1.
    pub day: i64,
    /// The hour, 0 to 23.
    pub hour: i64,
    /// The minute, 0 to 59.
    pub minute: i64,
    /// The second, 0 to 59.
    pub second: i64,
}

impl Utc {
    /// The calendar date and time of `secs` since the Unix epoch.
    pub fn of(secs: f64) -> Utc {
        let secs = secs.floor() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Utc {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// Seconds since the Unix epoch (the inverse of [`Utc::of`]).
    pub fn unix(&self) -> f64 {
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (self.month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + self.day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days * 86_400 + self.hour * 3600 + self.minute * 60 + self.second) as f64
    }

    /// `YYYYMMDD-HHMMSS`.
    pub fn stamp(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `YYYY-MM-DD HH:MM`.
    pub fn minutes(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

/// A moment given on the command line: a date (`2026-11-28`), a date and time
/// (`2026-11-28T14:30` or with a space), or an age back from `now` (`90m`, `12h`, `7d`).
/// Returns seconds since the Unix epoch.
pub fn parse_since(text: &str, now: f64) -> Result<f64, String> {
    let text = text.trim();
    let bad = || {
        format!("{text:?} is not a moment: write a date (2026-11-28), a date and time (2026-11-28T14:30), or an age (90m, 12h, 7d)")
    };
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(amount) = text[..text.len() - 1]
            .parse::<f64>()
            .map_err(drop)
            .and_then(|a| {
                if a.is_finite() && a >= 0.0 {
                    Ok(a)
                } else {
                    Err(())
                }
            })
        {
            let scale = match unit {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3600.0,
                _ => 86_400.0,
            };
            return Ok(now - amount * scale);
        }
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let numbers = |part: &str, sep: char| -> Option<Vec<i64>> {
        part.split(sep).map(|n| n.parse().ok()).collect()
    };
    let [year, month, day] = numbers(date, '-').ok_or_else(bad)?[..] else {
        return Err(bad());
    };
    let (hour, minute) = match time.map(|t| numbers(t, ':')) {
        None => (0, 0),
        Some(Some(hm)) if hm.len() == 2 => (hm[0], hm[1]),
        _ => return Err(bad()),
    };
    // Years outside 1..=9999 are refused before any arithmetic could overflow.
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
    {
        return Err(bad());
    }
    Ok(Utc {
        year,
        month,
        day,
        hour,
        minute,
        second: 0,
    }
    .unix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_out_of_range_are_refused_not_overflowed() {
        for text in [
            "9999999999999-01-01",
            "0-01-01",
            "2026-11-28T-1:00",
            "-5d",
            "infd",
            "nand",
        ] {
            assert!(parse_since(text, 0.0).is_err(), "{text}");
        }
        assert!(parse_since("9999-12-31T23:59", 0.0).is_ok());
    }

    #[test]
    fn seconds_parse_or_say_why() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").unwrap_err().contains("non-negative"));
        assert!(parse_seconds("soon").unwrap_err().contains("not a number"));
    }

    #[test]
    fn dates_round_trip_through_unix_seconds() {
        for secs in [0.0, 951_782_400.0, 1_795_914_640.0, 4_102_444_799.0] {
            let utc = Utc::of(secs);
            assert_eq!(utc.unix(), secs.floor(), "{utc:?}");
        }
        assert_eq!(Utc::of(1_795_914_640.0).stamp(), "20261129-011040");
    }

    #[test]
    fn since_takes_dates_times_and_ages() {
        assert_eq!(parse_since("1970-01-02", 0.0), Ok(86_400.0));
        assert_eq!(parse_since("1970-01-01T01:30", 0.0), Ok(5_400.0));
        assert_eq!(parse_since("2d", 200_000.0), Ok(200_000.0 - 172_800.0));
        assert_eq!(parse_since("90m", 6_000.0), Ok(600.0));
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-11",
            "5x",
            "2026-11-28T25:00",
        ] {
            assert!(parse_since(bad, 0.0).is_err(), "{bad}");
        }
    }
}
