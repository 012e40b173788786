//! Which of a run's progress lines become task events.

use super::*;

/// At most one progress event per this long, per run.
pub(super) const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Which of a run's progress lines become task events: at most one per `every`, at
/// most `max` in all. A chatty agent's thousands of lines stay in its log, not the store.
#[derive(Debug)]
pub struct ProgressSampler {
    max: usize,
    every: Duration,
    kept: usize,
    last_kept: Option<std::time::Instant>,
    skipped: u64,
    last_skipped: Option<String>,
}

impl ProgressSampler {
    pub fn new(max: usize, every: Duration) -> ProgressSampler {
        ProgressSampler { max, every, kept: 0, last_kept: None, skipped: 0, last_skipped: None }
    }

    /// The line, if it is to be recorded now.
    pub fn offer(&mut self, line: String, now: std::time::Instant) -> Option<String> {
        let due = self.last_kept.is_none_or(|t| now.saturating_duration_since(t) >= self.every);
        if self.kept < self.max && due {
            self.kept += 1;
            self.last_kept = Some(now);
            self.last_skipped = None;
            return Some(line);
        }
        self.skipped += 1;
        self.last_skipped = Some(line);
        None
    }

    /// How many lines were left out, and the latest of them if it was not recorded.
    pub fn finish(&mut self) -> Option<(u64, String)> {
        let last = self.last_skipped.take()?;
        (self.skipped > 0).then_some((self.skipped, last))
    }
}

#[cfg(test)]
mod sampler_tests {
    use super::*;

    #[test]
    fn progress_is_bounded_and_spaced() {
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut s = ProgressSampler::new(3, Duration::from_millis(500));
        // (time, line, recorded?)
        let table = [(0, "a", true), (10, "b", false), (499, "c", false), (500, "d", true), (900, "e", false), (1000, "f", true), (5000, "g", false)];
        for (t, line, want) in table {
            assert_eq!(s.offer(line.into(), ms(t)).is_some(), want, "{line} at {t} ms");
        }
        assert_eq!(s.finish(), Some((4, "g".to_string())));

        // 100,000 lines in a burst: at most `max` kept.
        let mut s = ProgressSampler::new(200, Duration::from_millis(500));
        let kept = (0..100_000u64).filter(|i| s.offer(format!("{i}"), ms(i / 10)).is_some()).count();
        assert!(kept <= 200, "{kept}");
        // Nothing skipped, nothing to add.
        let mut s = ProgressSampler::new(10, Duration::ZERO);
        assert!(s.offer("x".into(), ms(0)).is_some());
        assert_eq!(s.finish(), None);
    }
}
