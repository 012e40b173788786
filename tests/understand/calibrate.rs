//! Fitting and judging the confidence calibration (`capcom::understand::calibrate`): each
//! case's signals and whether its parse is wholly right, the isotonic fit that is used and
//! the logistic reweighting that was tried, cross-validation on the training split, and how
//! a threshold separates right from wrong. Shared by the corpus tests and
//! `cargo bench --bench understand`.

use super::briefs::{self, PendingCase};
use super::score::{self, Case};
use capcom::understand::calibrate::Signals;
use capcom::understand::{Context, parse_raw};

/// Where the grace window doubles and the read-back asks "did I get that right?".
pub const THRESHOLD: f32 = 0.75;

/// One parse: its signals, and whether every field came out right (confidence bounds aside).
#[derive(Clone, Copy)]
pub struct Labelled {
    pub signals: Signals,
    pub right: bool,
    pub unknown: bool,
}

pub fn label(world: &briefs::Corpus<Case>, cases: &[Case]) -> Vec<Labelled> {
    cases
        .iter()
        .map(|case| {
            let pending = case.pending.as_ref().map(PendingCase::to_pending);
            let ctx = Context { config: &world.config, tasks: &world.tasks, pending: pending.as_ref(), now: world.now };
            let (got, signals) = parse_raw(&case.text, &ctx);
            let right = score::differences(case, &got).iter().all(|d| d.starts_with("confidence"));
            Labelled { signals, right, unknown: got.intent == capcom::understand::IntentKind::Unknown }
        })
        .collect()
}

/// The isotonic fit with 7-fold cross-validation: each case's calibrated confidence from a
/// fit that did not see it.
pub fn isotonic_cross_validated(data: &[Labelled], folds: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for k in 0..folds {
        let train: Vec<Labelled> = data.iter().enumerate().filter(|(i, _)| i % folds != k).map(|(_, l)| *l).collect();
        let steps = isotonic(&train);
        for (i, l) in data.iter().enumerate().filter(|(i, _)| i % folds == k) {
            out[i] = if l.unknown { l.signals.raw } else { capcom::understand::calibrate::by_steps(&steps, l.signals.raw) };
        }
    }
    out
}

/// Logistic regression by plain gradient descent (deterministic: same data, same weights),
/// with a little L2 so that a feature seen rarely cannot run off. Unknowns are left out:
/// their confidence is not calibrated.
pub fn fit(data: &[Labelled]) -> [f32; 11] {
    let rows: Vec<([f64; 11], f64)> = data
        .iter()
        .filter(|l| !l.unknown)
        .map(|l| {
            let mut x = [1.0f64; 11];
            for (i, f) in l.signals.features().iter().enumerate() {
                x[i + 1] = f64::from(*f);
            }
            (x, if l.right { 1.0 } else { 0.0 })
        })
        .collect();
    let n = rows.len() as f64;
    let mut w = [0.0f64; 11];
    let (rate, l2) = (0.5, 0.01);
    for _ in 0..20_000 {
        let mut g = [0.0f64; 11];
        for (x, y) in &rows {
            let z: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for i in 0..11 {
                g[i] += (p - y) * x[i] / n;
            }
        }
        for i in 0..11 {
            let reg = if i == 0 { 0.0 } else { l2 * w[i] };
            w[i] -= rate * (g[i] + reg);
        }
    }
    let mut out = [0.0f32; 11];
    for i in 0..11 {
        out[i] = ((w[i] * 100.0).round() / 100.0) as f32;
    }
    out
}

/// How a threshold separates right from wrong: wrong parses below it, right ones at or above.
pub struct Separation {
    pub wrong: usize,
    pub wrong_below: usize,
    pub right: usize,
    pub right_above: usize,
    /// Mean squared error of the confidence as a probability of being right.
    pub brier: f64,
    /// The chance that a right parse scores above a wrong one (ties count half): how well the
    /// confidence separates them at any threshold.
    pub auc: f64,
}

impl Separation {
    pub fn of(data: &[Labelled], conf: impl Fn(&Labelled) -> f32) -> Separation {
        let mut s = Separation { wrong: 0, wrong_below: 0, right: 0, right_above: 0, brier: 0.0, auc: 0.0 };
        let (rights, wrongs): (Vec<f32>, Vec<f32>) = (
            data.iter().filter(|l| l.right).map(&conf).collect(),
            data.iter().filter(|l| !l.right).map(&conf).collect(),
        );
        for r in &rights {
            for w in &wrongs {
                s.auc += if r > w { 1.0 } else if r == w { 0.5 } else { 0.0 };
            }
        }
        s.auc /= (rights.len() * wrongs.len()).max(1) as f64;
        for l in data {
            let c = conf(l);
            if l.right {
                s.right += 1;
                s.right_above += usize::from(c >= THRESHOLD);
            } else {
                s.wrong += 1;
                s.wrong_below += usize::from(c < THRESHOLD);
            }
            let y = if l.right { 1.0 } else { 0.0 };
            s.brier += (f64::from(c) - y).powi(2);
        }
        s.brier /= data.len().max(1) as f64;
        s
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: {} of {} wrong parses below {THRESHOLD}, {} of {} right ones at or above it (Brier {:.3}, AUC {:.2})",
            self.wrong_below, self.wrong, self.right_above, self.right, self.brier, self.auc
        )
    }
}

/// The rules' own score, as the confidence was before calibration.
pub fn raw(l: &Labelled) -> f32 {
    l.signals.raw
}

/// The calibrated confidence, as `parse` gives it (unknowns keep the raw score).
pub fn calibrated(l: &Labelled) -> f32 {
    if l.unknown { l.signals.raw } else { capcom::understand::calibrate::by_steps(&capcom::understand::calibrate::STEPS, l.signals.raw) }
}

/// Cross-validation on the training split (`folds` folds, cases dealt round-robin): each
/// case's confidence from a fit that did not see it. What says whether a fit beats the raw
/// score before the held-out split is looked at.
pub fn logistic_cross_validated(data: &[Labelled], folds: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for k in 0..folds {
        let train: Vec<Labelled> = data.iter().enumerate().filter(|(i, _)| i % folds != k).map(|(_, l)| *l).collect();
        let w = fit(&train);
        for (i, l) in data.iter().enumerate().filter(|(i, _)| i % folds == k) {
            out[i] = if l.unknown { l.signals.raw } else { l.signals.score(&w) };
        }
    }
    out
}

/// Isotonic regression of "wholly right" on the raw score (pool adjacent violators), each
/// step's rate smoothed by one right and one wrong pseudo-parse so that a step of a few parses
/// cannot claim certainty. Steps as (highest raw score in the step, chance right), raw
/// ascending; unknowns left out.
pub fn isotonic(data: &[Labelled]) -> Vec<(f32, f32)> {
    let mut pts: Vec<(f32, f64)> = data.iter().filter(|l| !l.unknown).map(|l| (l.signals.raw, if l.right { 1.0 } else { 0.0 })).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Blocks of (highest raw, rights, count); equal raw scores share a block.
    let mut blocks: Vec<(f32, f64, f64)> = Vec::new();
    for (x, y) in pts {
        match blocks.last_mut() {
            Some(b) if b.0 == x => {
                b.1 += y;
                b.2 += 1.0;
            }
            _ => blocks.push((x, y, 1.0)),
        }
        while blocks.len() > 1 {
            let n = blocks.len();
            let rate = |b: &(f32, f64, f64)| (b.1 + 1.0) / (b.2 + 2.0);
            if rate(&blocks[n - 2]) <= rate(&blocks[n - 1]) {
                break;
            }
            let last = blocks.pop().expect("two blocks");
            let prev = blocks.last_mut().expect("two blocks");
            *prev = (last.0, prev.1 + last.1, prev.2 + last.2);
        }
    }
    blocks.iter().map(|b| (b.0, (((b.1 + 1.0) / (b.2 + 2.0)) * 100.0).round() as f32 / 100.0)).collect()
}

/// Separation with confidences given per case (in `data`'s order).
pub fn separation_of(data: &[Labelled], conf: &[f32]) -> Separation {
    let index = |l: &Labelled| data.iter().position(|x| std::ptr::eq(x, l)).expect("a case of data");
    Separation::of(data, |l| conf[index(l)])
}

/// Every figure the bench prints about confidence, one line each: the training split's
/// cross-validation (raw, isotonic, logistic), then the held-out split before and after.
pub fn report(world: &briefs::Corpus<Case>) -> Vec<String> {
    let train = label(world, &score::calibration());
    let held = label(world, &score::held_out());
    vec![
        Separation::of(&train, raw).line("calibration split, raw score"),
        separation_of(&train, &isotonic_cross_validated(&train, 7)).line("calibration split, isotonic (7-fold cross-validated)"),
        separation_of(&train, &logistic_cross_validated(&train, 7)).line("calibration split, signals reweighted (7-fold cross-validated, not used)"),
        Separation::of(&held, raw).line("held-out, before (raw score)"),
        Separation::of(&held, calibrated).line("held-out, after (calibrated)"),
    ]
}
