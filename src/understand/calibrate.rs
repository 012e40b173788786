//! Confidence that means something: the chance that every field of a parse is right.
//!
//! The rules give a raw score (which rule fired, how much of a brief they found). [`STEPS`]
//! maps it, monotonically, to how often parses with that score came out wholly right on the
//! calibration split (`tests/understand/calibration.toml`: utterances written for it, never
//! used to write a rule): isotonic regression, each step smoothed by one right and one wrong
//! pseudo-parse. The corpus is left out of the fit: its rules were tuned until every case is
//! right, so it would say that every parse is. `tests/understand.rs` fits the table again
//! and fails if the one here differs; `cargo bench --bench understand` reports, on both
//! splits, how many wrong parses fall below 0.75 (where the grace window doubles and asks
//! "did I get that right?") and how many right ones reach it, before and after.
//!
//! A reweighting of the rule signals ([`Signals`]: several tasks, a held task, run-on
//! speech, a mid-sentence correction, …) by a logistic fit was tried too: it did not beat
//! the raw score in cross-validation on the training split, so it is only reported, not used.
//!
//! Pure: words and the parse in, a number out.

use super::{Intent, IntentKind, normalize::Normalized};

/// What the calibration looks at, besides the raw score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    /// The rules' own score.
    pub raw: f32,
    /// A brief (new work), not a command.
    pub dispatch: bool,
    /// More than one task.
    pub several: bool,
    /// A task is held, or the parse asks a question.
    pub asks: bool,
    /// A brief whose first task has no repo.
    pub no_repo: bool,
    /// How many words were said.
    pub words: usize,
    /// Many words and no punctuation: run-on speech.
    pub run_on: bool,
    /// Words corrected or dropped on the way in (names, mishearings, fillers, false starts).
    pub repaired: u32,
    /// The speaker corrected themself mid-utterance ("actually", "no wait", "make that").
    pub self_corrected: bool,
}

/// The features, in the order of [`WEIGHTS`] (after its intercept).
pub const FEATURES: [&str; 10] = ["raw", "dispatch", "several", "asks", "no_repo", "long", "run_on", "repaired", "self_corrected", "long_command"];

/// The calibration: (highest raw score of the step, how often such parses were wholly
/// right), raw ascending. A raw score above the last step takes the last.
pub const STEPS: [(f32, f32); 4] = [(0.47, 0.33), (0.6, 0.57), (0.7, 0.67), (0.95, 0.95)];

impl Signals {
    /// The signals of a parse of `text`.
    pub fn of(text: &str, norm: &Normalized, intent: &Intent) -> Signals {
        let words = text.split_whitespace().count();
        let lower = norm.lower.as_str();
        let padded = format!(" {} ", lower.replace(|c: char| !c.is_alphanumeric() && c != '\'', " "));
        let self_corrected = [" actually ", " no wait ", " wait no ", " make that ", " i mean ", " or rather ", " scratch that "].iter().any(|w| padded.contains(w));
        Signals {
            raw: intent.confidence,
            dispatch: intent.intent == IntentKind::Dispatch,
            several: intent.tasks.len() > 1,
            asks: intent.question.is_some() || intent.tasks.iter().any(|t| !t.readiness.ready),
            no_repo: intent.intent == IntentKind::Dispatch && intent.tasks.first().is_some_and(|t| t.repo.is_none()),
            words,
            run_on: words >= 12 && !text.contains([',', '.', ';', ':', '!', '?']),
            repaired: norm.corrections + norm.fillers,
            self_corrected,
        }
    }

    /// The features the model weighs, each about 0 to 1.
    pub fn features(&self) -> [f32; 10] {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        [
            self.raw,
            b(self.dispatch),
            b(self.several),
            b(self.asks),
            b(self.no_repo),
            (self.words as f32 / 20.0).min(2.0),
            b(self.run_on),
            (self.repaired as f32 / 3.0).min(1.0),
            b(self.self_corrected),
            b(!self.dispatch && self.words > 5),
        ]
    }

    /// The chance, by a logistic model's `weights` (an intercept, then one per feature of
    /// [`FEATURES`]), that the whole parse is right.
    pub fn score(&self, weights: &[f32; 11]) -> f32 {
        let z = weights[0] + self.features().iter().zip(&weights[1..]).map(|(x, w)| x * w).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// The chance right for a raw score by `steps`.
pub fn by_steps(steps: &[(f32, f32)], raw: f32) -> f32 {
    steps.iter().find(|(upto, _)| raw <= *upto).or(steps.last()).map_or(raw, |s| s.1)
}

/// The calibrated confidence of a parse. Nothing understood stays as the rules scored it.
pub fn confidence(s: &Signals, intent: &Intent) -> f32 {
    if intent.intent == IntentKind::Unknown {
        return s.raw;
    }
    by_steps(&STEPS, s.raw)
}
