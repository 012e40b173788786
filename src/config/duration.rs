//! Human durations in config: "250ms", "20s", "30m", "2h", "1d", or a bare number of seconds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn from_secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parse "250ms", "20s", "30m", "2h", "1d", "1h30m" or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(secs) = t.parse::<f64>() {
            return secs_to_dur(secs, text);
        }
        let mut total = 0f64;
        let mut rest = t;
        while !rest.is_empty() {
            let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if num_len == 0 {
                return Err(format!("bad duration `{text}`: expected a number, e.g. \"20s\" or \"30m\""));
            }
            let n: f64 = rest[..num_len].parse().map_err(|_| format!("bad duration `{text}`"))?;
            rest = rest[num_len..].trim_start();
            let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let mult = match unit {
                "ms" => 0.001,
                "s" | "sec" | "secs" => 1.0,
                "m" | "min" | "mins" => 60.0,
                "h" | "hr" | "hrs" => 3600.0,
                "d" | "day" | "days" => 86400.0,
                _ => return Err(format!("bad duration `{text}`: unknown unit `{unit}` (use ms, s, m, h or d)")),
            };
            total += n * mult;
            rest = rest[unit_len..].trim_start();
        }
        secs_to_dur(total, text)
    }
}

fn secs_to_dur(secs: f64, text: &str) -> Result<Dur, String> {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("bad duration `{text}`: out of range"));
    }
    Ok(Dur(Duration::from_secs_f64(secs)))
}

impl std::fmt::Display for Dur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            let s = ms / 1000;
            if s != 0 && s.is_multiple_of(3600) {
                write!(f, "{}h", s / 3600)
            } else if s != 0 && s.is_multiple_of(60) {
                write!(f, "{}m", s / 60)
            } else {
                write!(f, "{s}s")
            }
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Dur::parse(&t).map_err(serde::de::Error::custom),
            Raw::Int(n) => Ok(Dur::from_secs(n)),
            Raw::Float(f) => secs_to_dur(f, &f.to_string()).map_err(serde::de::Error::custom),
        }
    }
}
