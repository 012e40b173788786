//! The tray: an icon that shows idle / recording / transcribing / speaking / paused /
//! attention, a tooltip with the task counts, and a menu of recent tasks and actions.
//! The menu and the icons are plain data ([`menu`], [`icons`]) so they can be tested
//! without a display; [`spawn`] shows them through the StatusNotifierItem D-Bus protocol
//! (KDE, XFCE, GNOME with the AppIndicator extension, most panels).
//!
//! The icons are drawn here, at start, as ARGB32 pixmaps (the protocol's format), so the
//! tray never depends on an icon theme. IconName is capcom's own (`capcom-idle`, …): hosts
//! look a name up first and would show a stock theme's picture instead of capcom's; the
//! freedesktop names go with the tooltip, as hints.

use crate::store::{Task, TaskState};
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::mpsc;

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrayModel {
    pub status: TrayStatus,
    /// Newest first.
    pub recent: Vec<(i64, String, TaskState)>,
    pub listening_paused: bool,
    pub feed_url: Option<String>,
    pub has_changelog: bool,
    /// Tasks an agent works on (running or checking).
    pub running: usize,
    /// Tasks ready to merge.
    pub ready: usize,
    /// Tasks that need the user.
    pub attention: usize,
    /// The push-to-talk key as the hotkey path reports it ("Ctrl+Alt+Space"), once bound.
    pub hotkey: Option<String>,
    /// Agent sessions the user runs themselves that wait for them (a permission prompt, a question).
    pub sessions_waiting: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrayStatus {
    #[default]
    Idle,
    Recording,
    Thinking,
    Speaking,
}

/// Which icon is shown: the stage while something happens, else paused, else attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconKind {
    Idle,
    Recording,
    Transcribing,
    Speaking,
    Attention,
    Paused,
}

impl IconKind {
    pub const ALL: [IconKind; 6] =
        [IconKind::Idle, IconKind::Recording, IconKind::Transcribing, IconKind::Speaking, IconKind::Attention, IconKind::Paused];

    /// The disc's colour (RGB).
    pub fn colour(self) -> [u8; 3] {
        match self {
            IconKind::Idle => [0x2f, 0x6d, 0xb5],
            IconKind::Recording => [0xd6, 0x28, 0x28],
            IconKind::Transcribing => [0xe0, 0x9f, 0x00],
            IconKind::Speaking => [0x2a, 0x9d, 0x5c],
            IconKind::Attention => [0xe8, 0x59, 0x0c],
            IconKind::Paused => [0x6c, 0x75, 0x7d],
        }
    }

    /// The item's IconName: capcom's own name, which no stock theme has, so hosts draw the
    /// pixmap (a host finding a name in its theme prefers the theme's picture); a theme may
    /// still provide `capcom-*` icons to restyle them.
    pub fn name(self) -> &'static str {
        match self {
            IconKind::Idle => "capcom-idle",
            IconKind::Recording => "capcom-recording",
            IconKind::Transcribing => "capcom-transcribing",
            IconKind::Speaking => "capcom-speaking",
            IconKind::Attention => "capcom-attention",
            IconKind::Paused => "capcom-paused",
        }
    }

    /// The nearest freedesktop icon name: a hint (the tooltip's icon) for hosts that show one.
    pub fn theme_name(self) -> &'static str {
        match self {
            IconKind::Idle => "audio-input-microphone",
            IconKind::Recording => "media-record",
            IconKind::Transcribing => "view-refresh",
            IconKind::Speaking => "audio-volume-high",
            IconKind::Attention => "dialog-warning",
            IconKind::Paused => "media-playback-pause",
        }
    }
}

/// What a menu click asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    ShowTask(i64),
    PlayLatestChangelog,
    OpenFeedUrl,
    /// Open the page (the board, push-to-talk) in the desktop browser.
    OpenPage,
    /// Show a one-time pairing code for the phone page.
    PairPhone,
    TogglePause,
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Item { label: String, enabled: bool, action: Option<TrayAction> },
    Separator,
}

/// How many recent tasks the menu lists.
pub const RECENT: usize = 8;

impl TrayModel {
    /// Fill the recent-task list and the counts from tasks (any order).
    pub fn with_tasks(mut self, tasks: &[Task]) -> TrayModel {
        let mut t: Vec<&Task> = tasks.iter().collect();
        t.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        self.recent = t.iter().take(RECENT).map(|t| (t.id, t.title.clone(), t.state)).collect();
        self.running = tasks.iter().filter(|t| t.state.is_active()).count();
        self.ready = tasks.iter().filter(|t| t.state == TaskState::Ready).count();
        self.attention = tasks.iter().filter(|t| t.state == TaskState::NeedsAttention).count();
        self
    }

    /// The icon: what is happening now, else paused, else a task needing attention, else idle.
    pub fn icon(&self) -> IconKind {
        match self.status {
            TrayStatus::Recording => IconKind::Recording,
            TrayStatus::Thinking => IconKind::Transcribing,
            TrayStatus::Speaking => IconKind::Speaking,
            TrayStatus::Idle if self.listening_paused => IconKind::Paused,
            TrayStatus::Idle if self.needs_attention() => IconKind::Attention,
            TrayStatus::Idle => IconKind::Idle,
        }
    }

    /// The StatusNotifierItem status: NeedsAttention while a task needs the user.
    pub fn needs_attention(&self) -> bool {
        self.attention > 0 || self.sessions_waiting > 0
    }

    /// The tooltip's title line.
    pub fn tooltip_title(&self) -> String {
        let mut t = status_label(self.status).to_string();
        if self.listening_paused {
            t.push_str(" (listening paused)");
        }
        t
    }

    /// Running, ready and attention counts.
    pub fn counts(&self) -> String {
        format!("{} running · {} ready · {} need attention", self.running, self.ready, self.attention)
    }

    /// The tooltip's body: running, ready and attention counts, and the key to hold.
    pub fn tooltip_body(&self) -> String {
        let counts = self.counts();
        match &self.hotkey {
            Some(k) => format!("{counts}\nHold {k} to talk"),
            None => counts,
        }
    }
}

/// The icon for a status (freedesktop icon names).
pub fn icon_name(status: TrayStatus) -> &'static str {
    match status {
        TrayStatus::Idle => IconKind::Idle.theme_name(),
        TrayStatus::Recording => IconKind::Recording.theme_name(),
        TrayStatus::Thinking => IconKind::Transcribing.theme_name(),
        TrayStatus::Speaking => IconKind::Speaking.theme_name(),
    }
}

pub fn status_label(status: TrayStatus) -> &'static str {
    match status {
        TrayStatus::Idle => "capcom: idle",
        TrayStatus::Recording => "capcom: recording",
        TrayStatus::Thinking => "capcom: transcribing",
        TrayStatus::Speaking => "capcom: speaking",
    }
}

/// The menu, top to bottom.
pub fn menu(m: &TrayModel) -> Vec<Entry> {
    let mut out = vec![Entry::Item { label: m.tooltip_title(), enabled: false, action: None }];
    out.push(Entry::Item { label: m.counts(), enabled: false, action: None });
    out.push(Entry::Separator);
    if m.recent.is_empty() {
        out.push(Entry::Item { label: "No tasks yet".into(), enabled: false, action: None });
    }
    for (id, title, state) in &m.recent {
        let title: String = title.chars().take(48).collect();
        out.push(Entry::Item {
            label: format!("#{id} {title} — {}", state.as_str().replace('_', " ")),
            enabled: true,
            action: Some(TrayAction::ShowTask(*id)),
        });
    }
    out.push(Entry::Separator);
    out.push(Entry::Item { label: "Open the capcom page".into(), enabled: true, action: Some(TrayAction::OpenPage) });
    out.push(Entry::Item {
        label: "Play latest changelog".into(),
        enabled: m.has_changelog,
        action: Some(TrayAction::PlayLatestChangelog),
    });
    out.push(Entry::Item {
        label: "Open feed URL".into(),
        enabled: m.feed_url.is_some(),
        action: Some(TrayAction::OpenFeedUrl),
    });
    out.push(Entry::Item { label: "Pair a phone…".into(), enabled: true, action: Some(TrayAction::PairPhone) });
    out.push(Entry::Item {
        label: if m.listening_paused { "Resume listening" } else { "Pause listening" }.into(),
        enabled: true,
        action: Some(TrayAction::TogglePause),
    });
    out.push(Entry::Separator);
    out.push(Entry::Item { label: "Quit".into(), enabled: true, action: Some(TrayAction::Quit) });
    out
}

// ---- icons ------------------------------------------------------------------------

/// The sizes each icon is drawn at (hosts pick the nearest).
pub const ICON_SIZES: [u32; 5] = [16, 22, 24, 32, 48];

/// An icon as drawn: `size`×`size` pixels, ARGB32 in network byte order (A, R, G, B per pixel).
#[derive(Debug, Clone, PartialEq)]
pub struct Pixmap {
    pub size: u32,
    pub argb: Vec<u8>,
}

/// Every icon at every size, drawn once.
pub fn icons(kind: IconKind) -> &'static [Pixmap] {
    static ALL: OnceLock<HashMap<IconKind, Vec<Pixmap>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        IconKind::ALL.into_iter().map(|k| (k, ICON_SIZES.iter().map(|&s| draw(k, s)).collect())).collect()
    });
    all.get(&kind).map(Vec::as_slice).unwrap_or(&[])
}

/// Distance from `p` to the segment `a`–`b`.
fn seg(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (pax, pay, bax, bay) = (p.0 - a.0, p.1 - a.1, b.0 - a.0, b.1 - a.1);
    let len2 = bax * bax + bay * bay;
    let h = if len2 == 0.0 { 0.0 } else { ((pax * bax + pay * bay) / len2).clamp(0.0, 1.0) };
    ((pax - bax * h).powi(2) + (pay - bay * h).powi(2)).sqrt()
}

/// Signed distance to the glyph of `kind` (negative inside), in units of the icon's size.
fn glyph(kind: IconKind, p: (f32, f32)) -> f32 {
    // strokes stay at least 1.4 px wide at 16 px
    const T: f32 = 0.045;
    let capsule = |a, b, r: f32| seg(p, a, b) - r;
    match kind {
        IconKind::Idle | IconKind::Recording => {
            // a microphone: head, holder (the lower half of a ring, with round ends), stem, base
            let head = capsule((0.5, 0.26), (0.5, 0.45), 0.12);
            let (dx, dy) = (p.0 - 0.5, p.1 - 0.45);
            let holder = if dy >= 0.0 {
                ((dx * dx + dy * dy).sqrt() - 0.2).abs() - T
            } else {
                capsule((0.3, 0.45), (0.3, 0.45), T).min(capsule((0.7, 0.45), (0.7, 0.45), T))
            };
            let stem = capsule((0.5, 0.65), (0.5, 0.75), T);
            let base = capsule((0.38, 0.76), (0.62, 0.76), T);
            head.min(holder).min(stem).min(base)
        }
        IconKind::Transcribing => {
            [0.27, 0.5, 0.73].iter().map(|&x| capsule((x, 0.5), (x, 0.5), 0.095)).fold(f32::MAX, f32::min)
        }
        IconKind::Speaking => {
            // a level meter: three bars
            let a = capsule((0.3, 0.42), (0.3, 0.58), 0.07);
            let b = capsule((0.5, 0.27), (0.5, 0.73), 0.07);
            let c = capsule((0.7, 0.37), (0.7, 0.63), 0.07);
            a.min(b).min(c)
        }
        IconKind::Attention => {
            let bar = capsule((0.5, 0.24), (0.5, 0.55), 0.08);
            let dot = capsule((0.5, 0.74), (0.5, 0.74), 0.085);
            bar.min(dot)
        }
        IconKind::Paused => {
            let a = capsule((0.38, 0.3), (0.38, 0.7), 0.075);
            let b = capsule((0.62, 0.3), (0.62, 0.7), 0.075);
            a.min(b)
        }
    }
}

/// Draw one icon: a coloured disc with a white glyph, anti-aliased.
pub fn draw(kind: IconKind, size: u32) -> Pixmap {
    let n = size as f32;
    let [r, g, b] = kind.colour();
    let mut argb = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let p = ((x as f32 + 0.5) / n, (y as f32 + 0.5) / n);
            let disc = seg(p, (0.5, 0.5), (0.5, 0.5)) - 0.47;
            // coverage: one pixel wide edges
            let a_disc = (0.5 - disc * n).clamp(0.0, 1.0);
            let a_glyph = (0.5 - glyph(kind, p) * n).clamp(0.0, 1.0);
            let mix = |c: u8| (c as f32 * (1.0 - a_glyph) + 255.0 * a_glyph).round() as u8;
            argb.extend_from_slice(&[(a_disc * 255.0).round() as u8, mix(r), mix(g), mix(b)]);
        }
    }
    Pixmap { size, argb }
}

fn ksni_icons(kind: IconKind) -> Vec<ksni::Icon> {
    icons(kind).iter().map(|p| ksni::Icon { width: p.size as i32, height: p.size as i32, data: p.argb.clone() }).collect()
}

// ---- the StatusNotifierItem -----------------------------------------------------

struct SniTray {
    model: TrayModel,
    actions: mpsc::UnboundedSender<TrayAction>,
}

impl ksni::Tray for SniTray {
    fn id(&self) -> String {
        "capcom".into()
    }
    fn category(&self) -> ksni::Category {
        ksni::Category::ApplicationStatus
    }
    fn title(&self) -> String {
        self.model.tooltip_title()
    }
    fn status(&self) -> ksni::Status {
        if self.model.needs_attention() { ksni::Status::NeedsAttention } else { ksni::Status::Active }
    }
    fn icon_name(&self) -> String {
        self.model.icon().name().into()
    }
    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        ksni_icons(self.model.icon())
    }
    fn attention_icon_name(&self) -> String {
        IconKind::Attention.name().into()
    }
    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        ksni_icons(IconKind::Attention)
    }
    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            icon_name: self.model.icon().theme_name().into(),
            icon_pixmap: Vec::new(),
            title: self.model.tooltip_title(),
            description: self.model.tooltip_body(),
        }
    }
    /// A left click opens the page (the board and push-to-talk) in the browser.
    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.actions.send(TrayAction::OpenPage);
    }
    fn watcher_online(&self) {
        tracing::info!("a tray host appeared; the capcom icon is registered with it");
    }
    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::info!(?reason, "no tray host on the session bus yet; the icon appears when one starts");
        // keep serving: ksni registers again when a StatusNotifierWatcher takes the name
        true
    }
    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        menu(&self.model)
            .into_iter()
            .map(|e| match e {
                Entry::Separator => ksni::MenuItem::Separator,
                Entry::Item { label, enabled, action } => {
                    let item = ksni::menu::StandardItem {
                        label,
                        enabled,
                        activate: Box::new(move |t: &mut SniTray| {
                            if let Some(a) = action.clone() {
                                let _ = t.actions.send(a);
                            }
                        }),
                        ..Default::default()
                    };
                    ksni::MenuItem::Standard(item)
                }
            })
            .collect()
    }
}

/// A running tray; update it as the daemon's state changes.
pub struct Tray {
    handle: ksni::Handle<SniTray>,
}

impl Tray {
    pub async fn set(&self, model: TrayModel) {
        self.handle
            .update(move |t| {
                if t.model != model {
                    t.model = model;
                }
            })
            .await;
    }
    pub async fn shutdown(&self) {
        self.handle.shutdown().await;
    }
}

/// Show the tray. Fails (and the daemon goes on without it) when there is no session bus.
/// Without a tray host yet (a panel that starts after capcom, as at login) it waits: the icon
/// is registered when a StatusNotifierWatcher appears on the bus.
pub async fn spawn(model: TrayModel, actions: mpsc::UnboundedSender<TrayAction>) -> Result<Tray, String> {
    use ksni::TrayMethods;
    SniTray { model, actions }
        .assume_sni_available(true)
        .spawn()
        .await
        .map(|handle| Tray { handle })
        .map_err(|e| format!("no tray: {e} (needs a D-Bus session bus)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(m: &TrayModel) -> Vec<String> {
        menu(m)
            .into_iter()
            .filter_map(|e| match e {
                Entry::Item { label, .. } => Some(label),
                Entry::Separator => None,
            })
            .collect()
    }

    #[test]
    fn the_menu_lists_recent_tasks_and_the_fixed_actions() {
        let m = TrayModel {
            status: TrayStatus::Recording,
            recent: vec![(4, "Upgrade Tailwind".into(), TaskState::Ready), (3, "Fix footer".into(), TaskState::NeedsAttention)],
            ..TrayModel::default()
        };
        let l = labels(&m);
        assert_eq!(l[0], "capcom: recording");
        assert_eq!(l[1], "0 running · 0 ready · 0 need attention");
        assert_eq!(l[2], "#4 Upgrade Tailwind — ready");
        assert_eq!(l[3], "#3 Fix footer — needs attention");
        assert_eq!(
            &l[4..],
            ["Open the capcom page", "Play latest changelog", "Open feed URL", "Pair a phone…", "Pause listening", "Quit"]
        );
    }

    #[test]
    fn actions_are_enabled_only_when_they_can_work() {
        let cases = [
            (TrayModel::default(), false, false, "Pause listening"),
            (
                TrayModel { has_changelog: true, feed_url: Some("http://x".into()), listening_paused: true, ..Default::default() },
                true,
                true,
                "Resume listening",
            ),
        ];
        for (m, changelog, feed, pause) in cases {
            let entries = menu(&m);
            let find = |name: &str| {
                entries.iter().find_map(|e| match e {
                    Entry::Item { label, enabled, action } if label == name => Some((*enabled, action.clone())),
                    _ => None,
                })
            };
            assert_eq!(find("Play latest changelog").unwrap().0, changelog);
            assert_eq!(find("Open feed URL").unwrap().0, feed);
            assert_eq!(find(pause).unwrap().1, Some(TrayAction::TogglePause));
            assert_eq!(find("Quit").unwrap().1, Some(TrayAction::Quit));
        }
    }

    #[test]
    fn recent_tasks_are_newest_first_and_capped() {
        let tasks: Vec<Task> = (1..=12)
            .map(|i| Task { updated_at: format!("2026-11-21T10:{i:02}:00Z"), ..task(i, TaskState::Running) })
            .collect();
        let m = TrayModel::default().with_tasks(&tasks);
        assert_eq!(m.recent.len(), RECENT);
        assert_eq!(m.recent[0].0, 12);
    }

    #[test]
    fn each_status_has_an_icon() {
        for s in [TrayStatus::Idle, TrayStatus::Recording, TrayStatus::Thinking, TrayStatus::Speaking] {
            assert!(!icon_name(s).is_empty());
        }
    }

    fn task(id: i64, state: TaskState) -> Task {
        Task {
            id,
            title: format!("t{id}"),
            state,
            reason: None,
            agent: None,
            repo: None,
            branch: None,
            worktree: None,
            pr: None,
            head_sha: None,
            utterance_id: None,
            scheduled_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            spec: Default::default(),
        }
    }

    #[test]
    fn the_icon_shows_the_stage_then_pause_then_attention() {
        use TaskState::*;
        // (stage, paused, task states, icon, NeedsAttention)
        let cases = [
            (TrayStatus::Idle, false, vec![], IconKind::Idle, false),
            (TrayStatus::Idle, false, vec![Running, Ready], IconKind::Idle, false),
            (TrayStatus::Idle, false, vec![NeedsAttention], IconKind::Attention, true),
            (TrayStatus::Idle, true, vec![NeedsAttention], IconKind::Paused, true),
            (TrayStatus::Idle, true, vec![], IconKind::Paused, false),
            (TrayStatus::Recording, false, vec![NeedsAttention], IconKind::Recording, true),
            (TrayStatus::Thinking, true, vec![], IconKind::Transcribing, false),
            (TrayStatus::Speaking, false, vec![Failed, Merged], IconKind::Speaking, false),
        ];
        for (status, paused, states, icon, attention) in cases {
            let tasks: Vec<Task> = states.iter().enumerate().map(|(i, s)| task(i as i64 + 1, *s)).collect();
            let m = TrayModel { status, listening_paused: paused, ..TrayModel::default() }.with_tasks(&tasks);
            assert_eq!(m.icon(), icon, "{status:?} paused={paused} {states:?}");
            assert_eq!(m.needs_attention(), attention, "{status:?} {states:?}");
        }
    }

    #[test]
    fn a_session_waiting_for_the_user_needs_attention() {
        let m = TrayModel { sessions_waiting: 1, ..TrayModel::default() };
        assert!(m.needs_attention());
        assert_eq!(m.icon(), IconKind::Attention);
        let m = TrayModel { sessions_waiting: 1, status: TrayStatus::Recording, ..TrayModel::default() };
        assert_eq!(m.icon(), IconKind::Recording, "what happens now comes first");
        assert!(!TrayModel::default().needs_attention());
    }

    #[test]
    fn the_tooltip_counts_running_ready_and_attention() {
        use TaskState::*;
        let tasks: Vec<Task> = [Running, Checking, Queued, Ready, NeedsAttention, NeedsAttention, Ready, Ready, Merged]
            .iter()
            .enumerate()
            .map(|(i, s)| task(i as i64 + 1, *s))
            .collect();
        let m = TrayModel { listening_paused: true, ..TrayModel::default() }.with_tasks(&tasks);
        assert_eq!(m.tooltip_body(), "2 running · 3 ready · 2 need attention");
        assert_eq!(m.tooltip_title(), "capcom: idle (listening paused)");
        let bound = TrayModel { hotkey: Some("Ctrl+Alt+Space".into()), ..m };
        assert_eq!(bound.tooltip_body(), "2 running · 3 ready · 2 need attention\nHold Ctrl+Alt+Space to talk");
    }

    #[test]
    fn every_icon_is_drawn_at_every_size_as_a_disc_with_a_white_glyph() {
        let mut centres = Vec::new();
        for kind in IconKind::ALL {
            let drawn = icons(kind);
            assert_eq!(drawn.iter().map(|p| p.size).collect::<Vec<_>>(), ICON_SIZES);
            for p in drawn {
                let n = p.size as usize;
                assert_eq!(p.argb.len(), n * n * 4);
                let px = |x: usize, y: usize| &p.argb[(y * n + x) * 4..(y * n + x) * 4 + 4];
                // corners are transparent, the disc is opaque
                assert_eq!(px(0, 0)[0], 0, "{kind:?} {n}");
                assert_eq!(px(n - 1, n - 1)[0], 0, "{kind:?} {n}");
                let [r, g, b] = kind.colour();
                let opaque: Vec<&[u8]> = p.argb.chunks(4).filter(|c| c[0] == 255).collect();
                assert!(opaque.len() > n * n / 2, "{kind:?} {n}: the disc covers most of the square");
                let colour = opaque.iter().filter(|c| c[1..] == [r, g, b]).count();
                let white = opaque.iter().filter(|c| c[1..] == [255, 255, 255]).count();
                assert!(colour > n * n / 4, "{kind:?} {n}: the state's colour shows ({colour})");
                assert!(white >= n / 2, "{kind:?} {n}: the glyph shows ({white} white pixels)");
            }
            centres.push(draw(kind, 32).argb);
        }
        // six different pictures
        for i in 0..centres.len() {
            for j in i + 1..centres.len() {
                assert_ne!(centres[i], centres[j], "{:?} and {:?} look the same", IconKind::ALL[i], IconKind::ALL[j]);
            }
        }
    }
}
