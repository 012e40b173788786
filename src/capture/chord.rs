//! The push-to-talk chord and the decision of what each key event means.
//!
//! Both are pure: [`Chord::parse`] reads `[voice] hotkey`, and
//! [`HotkeyLogic::step`] turns key presses and releases (with their times)
//! into [`Action`]s. The rdev listener only feeds it events.

use crate::config::HotkeyMode;
use rdev::Key;
use std::time::Duration;

/// A modifier, matching its left and right keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    Ctrl,
    Alt,
    Shift,
    Super,
}

impl Modifier {
    fn matches(self, k: Key) -> bool {
        match self {
            Modifier::Ctrl => matches!(k, Key::ControlLeft | Key::ControlRight),
            Modifier::Alt => matches!(k, Key::Alt | Key::AltGr),
            Modifier::Shift => matches!(k, Key::ShiftLeft | Key::ShiftRight),
            Modifier::Super => matches!(k, Key::MetaLeft | Key::MetaRight),
        }
    }
}

/// Modifiers plus one key, e.g. Ctrl+Alt+Space or F9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chord {
    pub modifiers: Vec<Modifier>,
    pub key: Key,
}

impl Chord {
    /// Parse "Ctrl+Alt+Space", "F9", "super+shift+m". Modifier names are
    /// case-insensitive; keys are rdev's names ("Space", "KeyM", "F9",
    /// "ScrollLock") or the obvious short forms ("M", "5", "Enter").
    pub fn parse(s: &str) -> Result<Chord, String> {
        let parts: Vec<&str> = s.split('+').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("hotkey `{s}`: empty part (write it like \"Ctrl+Alt+Space\")"));
        }
        let (key_name, mods) = parts.split_last().ok_or_else(|| format!("hotkey `{s}` is empty"))?;
        let mut modifiers = Vec::new();
        for m in mods {
            let m = match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" | "ctl" => Modifier::Ctrl,
                "alt" | "option" | "opt" => Modifier::Alt,
                "shift" => Modifier::Shift,
                "super" | "meta" | "win" | "windows" | "cmd" | "command" | "logo" => Modifier::Super,
                other => return Err(format!("hotkey `{s}`: `{other}` is not a modifier (Ctrl, Alt, Shift, Super)")),
            };
            if !modifiers.contains(&m) {
                modifiers.push(m);
            }
        }
        let key = key_by_name(key_name).ok_or_else(|| format!("hotkey `{s}`: unknown key `{key_name}`"))?;
        if key == Key::Escape {
            return Err(format!("hotkey `{s}`: Esc cancels a recording and cannot start one"));
        }
        Ok(Chord { modifiers, key })
    }

    /// Is every part of the chord held, given the keys that are down?
    pub fn is_held(&self, down: &[Key]) -> bool {
        down.contains(&self.key) && self.modifiers.iter().all(|m| down.iter().any(|k| m.matches(*k)))
    }

    /// Is `k` one of the keys that make up the chord?
    pub fn involves(&self, k: Key) -> bool {
        k == self.key || self.modifiers.iter().any(|m| m.matches(k))
    }
}

impl std::fmt::Display for Chord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in &self.modifiers {
            write!(f, "{m:?}+")?;
        }
        write!(f, "{:?}", self.key)
    }
}

/// An rdev key by (case-insensitive) name.
pub fn key_by_name(name: &str) -> Option<Key> {
    let n = name.to_ascii_lowercase();
    let letter = |c: char| -> Option<Key> {
        Some(match c {
            'a' => Key::KeyA, 'b' => Key::KeyB, 'c' => Key::KeyC, 'd' => Key::KeyD, 'e' => Key::KeyE,
            'f' => Key::KeyF, 'g' => Key::KeyG, 'h' => Key::KeyH, 'i' => Key::KeyI, 'j' => Key::KeyJ,
            'k' => Key::KeyK, 'l' => Key::KeyL, 'm' => Key::KeyM, 'n' => Key::KeyN, 'o' => Key::KeyO,
            'p' => Key::KeyP, 'q' => Key::KeyQ, 'r' => Key::KeyR, 's' => Key::KeyS, 't' => Key::KeyT,
            'u' => Key::KeyU, 'v' => Key::KeyV, 'w' => Key::KeyW, 'x' => Key::KeyX, 'y' => Key::KeyY,
            'z' => Key::KeyZ,
            _ => return None,
        })
    };
    let digit = |c: char| -> Option<Key> {
        Some(match c {
            '0' => Key::Num0, '1' => Key::Num1, '2' => Key::Num2, '3' => Key::Num3, '4' => Key::Num4,
            '5' => Key::Num5, '6' => Key::Num6, '7' => Key::Num7, '8' => Key::Num8, '9' => Key::Num9,
            _ => return None,
        })
    };
    let mut chars = n.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return letter(c).or_else(|| digit(c));
    }
    if let Some(rest) = n.strip_prefix("key") {
        let mut cs = rest.chars();
        if let (Some(c), None) = (cs.next(), cs.next()) {
            return letter(c);
        }
    }
    if let Some(rest) = n.strip_prefix("num") {
        let mut cs = rest.chars();
        if let (Some(c), None) = (cs.next(), cs.next()) {
            return digit(c);
        }
    }
    Some(match n.as_str() {
        "f1" => Key::F1, "f2" => Key::F2, "f3" => Key::F3, "f4" => Key::F4, "f5" => Key::F5, "f6" => Key::F6,
        "f7" => Key::F7, "f8" => Key::F8, "f9" => Key::F9, "f10" => Key::F10, "f11" => Key::F11, "f12" => Key::F12,
        "space" => Key::Space,
        "return" | "enter" => Key::Return,
        "tab" => Key::Tab,
        "escape" | "esc" => Key::Escape,
        "backspace" => Key::Backspace,
        "capslock" => Key::CapsLock,
        "delete" | "del" => Key::Delete,
        "insert" | "ins" => Key::Insert,
        "home" => Key::Home,
        "end" => Key::End,
        "pageup" => Key::PageUp,
        "pagedown" => Key::PageDown,
        "up" | "uparrow" => Key::UpArrow,
        "down" | "downarrow" => Key::DownArrow,
        "left" | "leftarrow" => Key::LeftArrow,
        "right" | "rightarrow" => Key::RightArrow,
        "printscreen" | "print" => Key::PrintScreen,
        "scrolllock" => Key::ScrollLock,
        "pause" => Key::Pause,
        "numlock" => Key::NumLock,
        "backquote" | "`" => Key::BackQuote,
        "minus" => Key::Minus,
        "equal" => Key::Equal,
        "comma" => Key::Comma,
        "dot" | "period" => Key::Dot,
        "slash" => Key::Slash,
        "semicolon" => Key::SemiColon,
        "quote" => Key::Quote,
        "backslash" => Key::BackSlash,
        "leftbracket" => Key::LeftBracket,
        "rightbracket" => Key::RightBracket,
        "controlleft" => Key::ControlLeft,
        "controlright" => Key::ControlRight,
        "altgr" => Key::AltGr,
        "shiftleft" => Key::ShiftLeft,
        "shiftright" => Key::ShiftRight,
        "metaleft" => Key::MetaLeft,
        "metaright" => Key::MetaRight,
        "kp0" => Key::Kp0, "kp1" => Key::Kp1, "kp2" => Key::Kp2, "kp3" => Key::Kp3, "kp4" => Key::Kp4,
        "kp5" => Key::Kp5, "kp6" => Key::Kp6, "kp7" => Key::Kp7, "kp8" => Key::Kp8, "kp9" => Key::Kp9,
        "kpreturn" => Key::KpReturn, "kpplus" => Key::KpPlus, "kpminus" => Key::KpMinus,
        _ => return None,
    })
}

/// What a key event means for the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start recording (the pre-roll already holds the moment before).
    Start,
    /// Stop and keep the recording.
    Stop,
    /// The press was shorter than `min_press`: drop what was recorded.
    TooShort,
    /// Esc while recording: drop it.
    Cancel,
}

/// One key event, at a monotonic time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    pub key: Key,
    pub down: bool,
    pub at: Duration,
}

/// The pure hotkey state machine.
#[derive(Debug, Clone)]
pub struct HotkeyLogic {
    chord: Chord,
    mode: HotkeyMode,
    min_press: Duration,
    down: Vec<Key>,
    /// The chord is fully held (edge detection; key auto-repeat is ignored).
    chord_held: bool,
    recording_since: Option<Duration>,
    /// After a cancel or an automatic stop, ignore the chord until it is released.
    wait_release: bool,
}

impl HotkeyLogic {
    pub fn new(chord: Chord, mode: HotkeyMode, min_press: Duration) -> HotkeyLogic {
        HotkeyLogic { chord, mode, min_press, down: Vec::new(), chord_held: false, recording_since: None, wait_release: false }
    }

    pub fn is_recording(&self) -> bool {
        self.recording_since.is_some()
    }

    /// The recording ended without a key (max length, device loss).
    pub fn recording_ended(&mut self) {
        self.recording_since = None;
        if self.chord_held {
            self.wait_release = true;
        }
    }

    /// A remote toggle (a signal from a desktop shortcut): start or stop.
    pub fn toggle(&mut self, at: Duration) -> Action {
        match self.recording_since.take() {
            None => {
                self.recording_since = Some(at);
                Action::Start
            }
            Some(since) if at.saturating_sub(since) < self.min_press => Action::TooShort,
            Some(_) => Action::Stop,
        }
    }

    /// `capcom listen --start`: start recording unless it is recording already.
    pub fn start(&mut self, at: Duration) -> Option<Action> {
        if self.recording_since.is_some() {
            return None;
        }
        self.recording_since = Some(at);
        Some(Action::Start)
    }

    /// `capcom listen --stop`: stop recording if it is recording (a stop sooner than
    /// `min_press` after the start drops the clip, as a short key press does).
    pub fn stop(&mut self, at: Duration) -> Option<Action> {
        let since = self.recording_since.take()?;
        Some(if at.saturating_sub(since) < self.min_press { Action::TooShort } else { Action::Stop })
    }

    /// The whole chord went down (`down`) or up, as a desktop reports a bound shortcut
    /// (the portal's Activated and Deactivated): hold mode records while it is down,
    /// toggle mode starts or stops on each press.
    pub fn edge(&mut self, down: bool, at: Duration) -> Option<Action> {
        match (self.mode, down) {
            (HotkeyMode::Hold, true) => self.start(at),
            (HotkeyMode::Hold, false) => self.stop(at),
            (HotkeyMode::Toggle, true) => Some(self.toggle(at)),
            (HotkeyMode::Toggle, false) => None,
        }
    }

    pub fn step(&mut self, ev: KeyEvent) -> Option<Action> {
        if ev.down {
            if !self.down.contains(&ev.key) {
                self.down.push(ev.key);
            }
        } else {
            self.down.retain(|k| *k != ev.key);
        }
        if ev.down && ev.key == Key::Escape {
            if self.recording_since.take().is_some() {
                self.wait_release = self.chord.is_held(&self.down);
                return Some(Action::Cancel);
            }
            return None;
        }
        let held = self.chord.is_held(&self.down);
        let pressed = held && !self.chord_held;
        let released = !held && self.chord_held;
        self.chord_held = held;
        if released && self.wait_release {
            self.wait_release = false;
            return None;
        }
        if self.wait_release {
            return None;
        }
        match self.mode {
            HotkeyMode::Hold => {
                if pressed {
                    self.recording_since = Some(ev.at);
                    return Some(Action::Start);
                }
                if released && self.chord.involves(ev.key) {
                    let since = self.recording_since.take()?;
                    return Some(if ev.at.saturating_sub(since) < self.min_press { Action::TooShort } else { Action::Stop });
                }
                None
            }
            HotkeyMode::Toggle => {
                if pressed {
                    return Some(self.toggle(ev.at));
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HotkeyMode::{Hold, Toggle};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn d(key: Key, at: u64) -> KeyEvent {
        KeyEvent { key, down: true, at: ms(at) }
    }
    fn u(key: Key, at: u64) -> KeyEvent {
        KeyEvent { key, down: false, at: ms(at) }
    }

    #[test]
    fn parses_chords() {
        let c = Chord::parse("Ctrl+Alt+Space").unwrap();
        assert_eq!(c.modifiers, vec![Modifier::Ctrl, Modifier::Alt]);
        assert_eq!(c.key, Key::Space);
        assert_eq!(Chord::parse("F9").unwrap(), Chord { modifiers: vec![], key: Key::F9 });
        assert_eq!(Chord::parse("ctrl + ALT + space").unwrap(), c);
        assert_eq!(Chord::parse("Super+Shift+M").unwrap().key, Key::KeyM);
        assert_eq!(Chord::parse("control+KeyM").unwrap().key, Key::KeyM);
        assert_eq!(Chord::parse("ScrollLock").unwrap().key, Key::ScrollLock);
        assert_eq!(Chord::parse("Ctrl+5").unwrap().key, Key::Num5);
        for bad in ["", "Ctrl+", "Hyper+Space", "Ctrl+Wat", "Esc", "Ctrl++Space"] {
            assert!(Chord::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn either_side_of_a_modifier_counts() {
        let c = Chord::parse("Ctrl+Alt+Space").unwrap();
        assert!(c.is_held(&[Key::ControlRight, Key::Alt, Key::Space]));
        assert!(c.is_held(&[Key::ControlLeft, Key::AltGr, Key::Space, Key::ShiftLeft]));
        assert!(!c.is_held(&[Key::ControlLeft, Key::Space]));
    }

    /// (mode, events, expected actions in order)
    #[test]
    fn decision_table() {
        use Action::*;
        use Key::*;
        let cases: Vec<(&str, HotkeyMode, Vec<KeyEvent>, Vec<Action>)> = vec![
            ("hold: long press records", Hold,
             vec![d(ControlLeft, 0), d(Alt, 10), d(Space, 20), u(Space, 1500), u(Alt, 1510), u(ControlLeft, 1520)],
             vec![Start, Stop]),
            ("hold: a tap is too short", Hold,
             vec![d(ControlLeft, 0), d(Alt, 10), d(Space, 20), u(Space, 200)],
             vec![Start, TooShort]),
            ("hold: exactly min_press counts", Hold,
             vec![d(ControlLeft, 0), d(Alt, 0), d(Space, 100), u(Space, 350)],
             vec![Start, Stop]),
            ("hold: releasing a modifier first also stops", Hold,
             vec![d(ControlLeft, 0), d(Alt, 0), d(Space, 0), u(ControlLeft, 900), u(Space, 950)],
             vec![Start, Stop]),
            ("hold: key auto-repeat does not restart", Hold,
             vec![d(ControlLeft, 0), d(Alt, 0), d(Space, 0), d(Space, 500), d(Space, 530), u(Space, 1000)],
             vec![Start, Stop]),
            ("hold: partial chord does nothing", Hold,
             vec![d(ControlLeft, 0), d(Space, 10), u(Space, 900), u(ControlLeft, 950)],
             vec![]),
            ("hold: Esc cancels, release afterwards is ignored", Hold,
             vec![d(ControlLeft, 0), d(Alt, 0), d(Space, 0), d(Escape, 700), u(Escape, 750), u(Space, 900)],
             vec![Start, Cancel]),
            ("hold: Esc when idle does nothing", Hold,
             vec![d(Escape, 0), u(Escape, 50)],
             vec![]),
            ("hold: press again after a cancel records again", Hold,
             vec![d(ControlLeft, 0), d(Alt, 0), d(Space, 0), d(Escape, 300), u(Space, 400), d(Space, 1000), u(Space, 2000)],
             vec![Start, Cancel, Start, Stop]),
            ("toggle: press starts, next press stops", Toggle,
             vec![d(F9, 0), u(F9, 80), d(F9, 3000), u(F9, 3050)],
             vec![Start, Stop]),
            ("toggle: a quick double tap is too short", Toggle,
             vec![d(F9, 0), u(F9, 50), d(F9, 120), u(F9, 160)],
             vec![Start, TooShort]),
            ("toggle: Esc cancels", Toggle,
             vec![d(F9, 0), u(F9, 50), d(Escape, 2000), d(F9, 4000), u(F9, 4050), d(F9, 6000)],
             vec![Start, Cancel, Start, Stop]),
        ];
        for (name, mode, events, want) in cases {
            let chord = if mode == Toggle { Chord::parse("F9").unwrap() } else { Chord::parse("Ctrl+Alt+Space").unwrap() };
            let mut logic = HotkeyLogic::new(chord, mode, ms(250));
            let got: Vec<Action> = events.into_iter().filter_map(|e| logic.step(e)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn an_automatic_stop_waits_for_the_release() {
        let mut l = HotkeyLogic::new(Chord::parse("F9").unwrap(), Hold, ms(250));
        assert_eq!(l.step(d(Key::F9, 0)), Some(Action::Start));
        l.recording_ended(); // max_utterance reached while still held
        assert!(!l.is_recording());
        assert_eq!(l.step(u(Key::F9, 130_000)), None);
        assert_eq!(l.step(d(Key::F9, 131_000)), Some(Action::Start));
    }

    #[test]
    fn remote_toggle() {
        let mut l = HotkeyLogic::new(Chord::parse("F9").unwrap(), Hold, ms(250));
        assert_eq!(l.toggle(ms(0)), Action::Start);
        assert_eq!(l.toggle(ms(100)), Action::TooShort);
        assert_eq!(l.toggle(ms(1000)), Action::Start);
        assert_eq!(l.toggle(ms(4000)), Action::Stop);
    }

    #[test]
    fn remote_start_and_stop_are_idempotent() {
        let mut l = HotkeyLogic::new(Chord::parse("F9").unwrap(), Hold, ms(250));
        assert_eq!(l.stop(ms(0)), None, "nothing to stop");
        assert_eq!(l.start(ms(0)), Some(Action::Start));
        assert_eq!(l.start(ms(50)), None, "a second start changes nothing");
        assert_eq!(l.stop(ms(100)), Some(Action::TooShort));
        assert_eq!(l.stop(ms(120)), None);
        assert_eq!(l.start(ms(1000)), Some(Action::Start));
        assert_eq!(l.stop(ms(3000)), Some(Action::Stop));
        assert!(!l.is_recording());
    }

    #[test]
    fn shortcut_edges_follow_the_mode() {
        // (mode, edges as (down, ms)) → actions
        let cases: &[(HotkeyMode, &[(bool, u64)], &[Option<Action>])] = &[
            (Hold, &[(true, 0), (false, 2000)], &[Some(Action::Start), Some(Action::Stop)]),
            (Hold, &[(true, 0), (false, 100)], &[Some(Action::Start), Some(Action::TooShort)]),
            (Hold, &[(false, 0), (true, 10), (true, 20), (false, 900)], &[None, Some(Action::Start), None, Some(Action::Stop)]),
            (Toggle, &[(true, 0), (false, 10), (true, 2000), (false, 2010)], &[Some(Action::Start), None, Some(Action::Stop), None]),
        ];
        for (mode, edges, want) in cases {
            let mut l = HotkeyLogic::new(Chord::parse("F9").unwrap(), *mode, ms(250));
            let got: Vec<Option<Action>> = edges.iter().map(|(down, at)| l.edge(*down, ms(*at))).collect();
            assert_eq!(got, *want, "{mode:?} {edges:?}");
        }
    }
}
