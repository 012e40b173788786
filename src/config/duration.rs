//! Human durations in config: "250ms", "20s", "30m", "2h", "1d" (read by `humantime`), or a bare
//! number of seconds; and retention periods (`Keep`), which may also be "forever".

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

    /// Parse "250ms", "20s", "30m", "2h", "1d", "1h30m", "1.5s", "2 days" (`humantime`) or
    /// a bare number of seconds.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(secs) = t.parse::<f64>() {
            return secs_to_dur(secs, text);
        }
        // ".5s" is a number too.
        let t = if t.starts_with('.') { format!("0{t}") } else { t.to_string() };
        let d = humantime::parse_duration(&t)
            .map_err(|e| format!("bad duration `{text}`: {e}; write it like \"20s\", \"30m\" or \"1h30m\""))?;
        secs_to_dur(d.as_secs_f64(), text)
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

/// A retention period: a duration, or "forever" (also written "0", "never", "off"):
/// keep everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    For(Dur),
    Forever,
}

impl Keep {
    pub fn parse(text: &str) -> Result<Keep, String> {
        let t = text.trim();
        if matches!(t.to_ascii_lowercase().as_str(), "forever" | "never" | "off" | "0" | "0s" | "0d") {
            return Ok(Keep::Forever);
        }
        Dur::parse(t).map(Keep::For).map_err(|e| format!("{e}, or \"forever\""))
    }

    /// The duration, when anything is ever deleted.
    pub fn period(self) -> Option<std::time::Duration> {
        match self {
            Keep::For(d) => Some(d.get()),
            Keep::Forever => None,
        }
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keep::Forever => write!(f, "forever"),
            Keep::For(d) if d.get().as_secs() >= 86400 && d.get().as_secs().is_multiple_of(86400) => write!(f, "{}d", d.get().as_secs() / 86400),
            Keep::For(d) => write!(f, "{d}"),
        }
    }
}

impl Serialize for Keep {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keep, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Keep::parse(&t).map_err(serde::de::Error::custom),
            Raw::Int(0) => Ok(Keep::Forever),
            Raw::Int(n) => Ok(Keep::For(Dur::from_secs(n))),
        }
    }
}
