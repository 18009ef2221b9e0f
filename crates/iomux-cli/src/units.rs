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

/// `Duration`s in records are seconds, as a number.
pub mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

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

    pub fn serialize<T: Display, S: Serializer>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(|i| i.to_string()))
    }

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

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_parse_or_say_why() {
        assert_eq!(
            super::parse_seconds("0.25"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert!(super::parse_seconds("-1")
            .unwrap_err()
            .contains("non-negative"));
        assert!(super::parse_seconds("soon")
            .unwrap_err()
            .contains("not a number"));
    }
}
