//! The tray: an icon that shows idle / recording / thinking, and a menu of recent
//! tasks and actions. The menu is a plain model ([`menu`]) so it can be tested
//! without a display; [`spawn`] shows it through the StatusNotifierItem D-Bus
//! protocol (KDE, GNOME with the AppIndicator extension, most panels).

use crate::store::{Task, TaskState};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrayStatus {
    #[default]
    Idle,
    Recording,
    Thinking,
    Speaking,
}

/// What a menu click asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    ShowTask(i64),
    PlayLatestChangelog,
    OpenFeedUrl,
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
    /// Fill the recent-task list from tasks (any order).
    pub fn with_tasks(mut self, tasks: &[Task]) -> TrayModel {
        let mut t: Vec<&Task> = tasks.iter().collect();
        t.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        self.recent = t.into_iter().take(RECENT).map(|t| (t.id, t.title.clone(), t.state)).collect();
        self
    }
}

/// The icon for a status (freedesktop icon names).
pub fn icon_name(status: TrayStatus) -> &'static str {
    match status {
        TrayStatus::Idle => "audio-input-microphone",
        TrayStatus::Recording => "media-record",
        TrayStatus::Thinking => "view-refresh",
        TrayStatus::Speaking => "audio-volume-high",
    }
}

pub fn status_label(status: TrayStatus) -> &'static str {
    match status {
        TrayStatus::Idle => "capcom: idle",
        TrayStatus::Recording => "capcom: recording",
        TrayStatus::Thinking => "capcom: thinking",
        TrayStatus::Speaking => "capcom: speaking",
    }
}

/// The menu, top to bottom.
pub fn menu(m: &TrayModel) -> Vec<Entry> {
    let mut out = vec![Entry::Item { label: status_label(m.status).to_string(), enabled: false, action: None }];
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

struct SniTray {
    model: TrayModel,
    actions: mpsc::UnboundedSender<TrayAction>,
}

impl ksni::Tray for SniTray {
    fn id(&self) -> String {
        "capcom".into()
    }
    fn title(&self) -> String {
        status_label(self.model.status).into()
    }
    fn icon_name(&self) -> String {
        icon_name(self.model.status).into()
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
        self.handle.update(move |t| t.model = model).await;
    }
    pub async fn shutdown(&self) {
        self.handle.shutdown().await;
    }
}

/// Show the tray. Fails (and the daemon goes on without it) when there is no session bus.
pub async fn spawn(model: TrayModel, actions: mpsc::UnboundedSender<TrayAction>) -> Result<Tray, String> {
    use ksni::TrayMethods;
    SniTray { model, actions }
        .spawn()
        .await
        .map(|handle| Tray { handle })
        .map_err(|e| format!("no tray: {e} (needs a D-Bus session and a StatusNotifier host)"))
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
        assert_eq!(l[1], "#4 Upgrade Tailwind — ready");
        assert_eq!(l[2], "#3 Fix footer — needs attention");
        assert_eq!(&l[3..], ["Play latest changelog", "Open feed URL", "Pair a phone…", "Pause listening", "Quit"]);
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
            .map(|i| Task {
                id: i,
                title: format!("t{i}"),
                state: TaskState::Running,
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
                updated_at: format!("2026-11-21T10:{i:02}:00Z"),
                spec: Default::default(),
            })
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
}
