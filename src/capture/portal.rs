//! Push-to-talk through the XDG desktop portal's `GlobalShortcuts` (GNOME 48+, KDE Plasma 6):
//! the desktop owns the key, capcom gets `Activated` (press) and `Deactivated` (release).
//!
//! The exchange, as `data/org.freedesktop.portal.GlobalShortcuts.xml`,
//! `org.freedesktop.portal.Request.xml` and `org.freedesktop.host.portal.Registry.xml` in
//! flatpak/xdg-desktop-portal specify it:
//!
//! 1. `org.freedesktop.host.portal.Registry.Register(app_id, {})`: a program that is not a
//!    Flatpak names its app id first; it must match an installed `.desktop` file's basename
//!    (`capcom.desktop`), or the desktop delivers no shortcut events (cjpais/Handy #1236).
//! 2. `CreateSession({handle_token, session_handle_token})` returns a Request object path;
//!    its `Response(u response, a{sv} results)` signal carries `session_handle` (a string).
//! 3. `BindShortcuts(session, [(id, {description, preferred_trigger})], parent_window,
//!    {handle_token})`: the desktop may show a dialog where the user confirms or picks the
//!    key; the Response's `shortcuts` carry each bound shortcut's `trigger_description`.
//! 4. `Activated(o session, s id, t timestamp, a{sv})` and `Deactivated(…)`: press and release.
//!
//! Request paths are `/org/freedesktop/portal/desktop/request/SENDER/TOKEN` (SENDER is the
//! unique bus name without the `:` and with `.` as `_`); the Response signal is subscribed
//! to before the call, so it cannot be missed.

use super::HotkeyMsg;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Instant;
use zbus::zvariant::{OwnedValue, Value};

const DEST: &str = "org.freedesktop.portal.Desktop";
const PATH: &str = "/org/freedesktop/portal/desktop";
const SHORTCUTS: &str = "org.freedesktop.portal.GlobalShortcuts";
const REGISTRY: &str = "org.freedesktop.host.portal.Registry";
/// The one shortcut capcom binds.
pub const SHORTCUT_ID: &str = "push-to-talk";
/// capcom's app id: the basename of its desktop file (`config/capcom.desktop`).
pub const APP_ID: &str = "capcom";

/// `Ctrl+Alt+Space` in the XDG shortcuts specification's form (`CTRL+ALT+space`): modifier
/// names upper-case, the key as its xkb keysym name.
pub fn preferred_trigger(chord: &str) -> String {
    let parts: Vec<&str> = chord.split('+').map(str::trim).filter(|p| !p.is_empty()).collect();
    let Some((key, mods)) = parts.split_last() else { return String::new() };
    let mut out: Vec<String> = mods
        .iter()
        .map(|m| match m.to_ascii_lowercase().as_str() {
            "ctrl" | "control" | "ctl" => "CTRL".to_string(),
            "alt" | "option" | "opt" => "ALT".to_string(),
            "shift" => "SHIFT".to_string(),
            "super" | "meta" | "win" | "windows" | "cmd" | "command" | "logo" => "LOGO".to_string(),
            other => other.to_ascii_uppercase(),
        })
        .collect();
    let k = key.strip_prefix("Key").filter(|k| k.len() == 1).unwrap_or(key);
    let keysym = match k.to_ascii_lowercase().as_str() {
        "space" => "space".to_string(),
        "enter" | "return" => "Return".to_string(),
        "esc" | "escape" => "Escape".to_string(),
        "tab" => "Tab".to_string(),
        "scrolllock" => "Scroll_Lock".to_string(),
        "pause" => "Pause".to_string(),
        "insert" => "Insert".to_string(),
        f if f.len() <= 3 && f.starts_with('f') && f[1..].chars().all(|c| c.is_ascii_digit()) && f.len() > 1 => f.to_ascii_uppercase(),
        one if one.chars().count() == 1 => one.to_string(),
        _ => k.to_string(),
    };
    out.push(keysym);
    out.join("+")
}

/// What the portal said when the shortcut was bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// How to trigger it, in the desktop's words ("Ctrl+Alt+Space"), when it says.
    pub trigger: Option<String>,
}

/// Why the portal path did not work, with what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalError(pub String);

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> PortalError {
    PortalError(format!("{what}: {e}"))
}

fn token() -> String {
    format!("capcom{}", rand::random::<u32>())
}

/// The Request object path a call with `token` will get.
pub fn request_path(unique_name: &str, token: &str) -> String {
    let sender = unique_name.trim_start_matches(':').replace('.', "_");
    format!("{PATH}/request/{sender}/{token}")
}

/// Call `method` on the GlobalShortcuts interface and wait for its Request's Response.
async fn request<B>(conn: &zbus::Connection, method: &str, body: &B, token: &str) -> Result<HashMap<String, OwnedValue>, PortalError>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    let unique = conn.unique_name().map(|n| n.to_string()).ok_or_else(|| PortalError("no unique name on the session bus".into()))?;
    let path = request_path(&unique, token);
    let req = zbus::Proxy::new(conn, DEST, path.as_str(), "org.freedesktop.portal.Request").await.map_err(|e| err("portal request", e))?;
    let mut responses = req.receive_signal("Response").await.map_err(|e| err("portal request", e))?;
    let shortcuts = zbus::Proxy::new(conn, DEST, PATH, SHORTCUTS).await.map_err(|e| err("portal", e))?;
    let handle: zbus::zvariant::OwnedObjectPath =
        shortcuts.call(method, body).await.map_err(|e| err(&format!("GlobalShortcuts.{method}"), e))?;
    if handle.as_str() != path {
        // An old portal returns a different path: follow that one instead.
        let req = zbus::Proxy::new(conn, DEST, handle.as_str(), "org.freedesktop.portal.Request").await.map_err(|e| err("portal request", e))?;
        responses = req.receive_signal("Response").await.map_err(|e| err("portal request", e))?;
    }
    let msg = responses.next().await.ok_or_else(|| PortalError(format!("GlobalShortcuts.{method}: the portal went away")))?;
    let (code, results): (u32, HashMap<String, OwnedValue>) =
        msg.body().deserialize().map_err(|e| err(&format!("GlobalShortcuts.{method} response"), e))?;
    match code {
        0 => Ok(results),
        1 => Err(PortalError(format!("GlobalShortcuts.{method}: cancelled in the desktop's dialog; start the daemon again to be asked again"))),
        _ => Err(PortalError(format!("GlobalShortcuts.{method}: the portal refused (response {code})"))),
    }
}

/// Register, create a session and bind the push-to-talk shortcut; then forward presses and
/// releases to `tx` as [`HotkeyMsg::Edge`] until the bus or the receiver goes away.
pub async fn run(conn: zbus::Connection, chord: String, tx: tokio::sync::mpsc::UnboundedSender<HotkeyMsg>) -> Result<(), PortalError> {
    // 1. the app id (an error here is not fatal: an older portal has no Registry, and a
    // second Register in the same connection is refused)
    match zbus::Proxy::new(&conn, DEST, PATH, REGISTRY).await {
        Ok(registry) => {
            let options: HashMap<&str, Value> = HashMap::new();
            if let Err(e) = registry.call_method("Register", &(APP_ID, options)).await {
                tracing::debug!(error = %e, "portal Registry.Register");
            }
        }
        Err(e) => tracing::debug!(error = %e, "no portal Registry"),
    }
    // 2. the session
    let (req_token, session_token) = (token(), token());
    let mut options: HashMap<&str, Value> = HashMap::new();
    options.insert("handle_token", Value::from(req_token.as_str()));
    options.insert("session_handle_token", Value::from(session_token.as_str()));
    let results = request(&conn, "CreateSession", &(options,), &req_token).await?;
    let session = results
        .get("session_handle")
        .and_then(|v| String::try_from(v.clone()).ok().or_else(|| zbus::zvariant::OwnedObjectPath::try_from(v.clone()).ok().map(|p| p.to_string())))
        .ok_or_else(|| PortalError("GlobalShortcuts.CreateSession: no session_handle in the response".into()))?;
    let session_path = zbus::zvariant::OwnedObjectPath::try_from(session.clone()).map_err(|e| err("session handle", e))?;

    // signals first, so a press right after binding is not lost
    let shortcuts = zbus::Proxy::new(&conn, DEST, PATH, SHORTCUTS).await.map_err(|e| err("portal", e))?;
    let mut activated = shortcuts.receive_signal("Activated").await.map_err(|e| err("portal", e))?;
    let mut deactivated = shortcuts.receive_signal("Deactivated").await.map_err(|e| err("portal", e))?;

    // 3. the shortcut
    let bind_token = token();
    let mut info: HashMap<&str, Value> = HashMap::new();
    info.insert("description", Value::from("Hold to talk to capcom"));
    let trigger = preferred_trigger(&chord);
    if !trigger.is_empty() {
        info.insert("preferred_trigger", Value::from(trigger.as_str()));
    }
    let list = vec![(SHORTCUT_ID, info)];
    let mut options: HashMap<&str, Value> = HashMap::new();
    options.insert("handle_token", Value::from(bind_token.as_str()));
    let results = request(&conn, "BindShortcuts", &(&session_path, list, "", options), &bind_token).await?;
    let bound = bound_trigger(&results);
    let Some(bound) = bound else {
        return Err(PortalError("GlobalShortcuts.BindShortcuts: the desktop bound no shortcut (declined in its dialog?)".into()));
    };
    let _ = tx.send(HotkeyMsg::Bound { path: "portal".into(), trigger: bound.trigger.clone().unwrap_or_else(|| chord.clone()) });

    // 4. press and release
    let origin = Instant::now();
    loop {
        let (msg, down) = tokio::select! {
            m = activated.next() => (m, true),
            m = deactivated.next() => (m, false),
        };
        let Some(msg) = msg else { return Err(PortalError("the portal went away".into())) };
        let Ok((s, id, _timestamp, _opts)) =
            msg.body().deserialize::<(zbus::zvariant::OwnedObjectPath, String, u64, HashMap<String, OwnedValue>)>()
        else {
            continue;
        };
        if s.as_str() != session_path.as_str() || id != SHORTCUT_ID {
            continue;
        }
        // The portal's timestamp has an undefined base: capcom's own clock orders the edges.
        if tx.send(HotkeyMsg::Edge { down, at: origin.elapsed() }).is_err() {
            return Ok(());
        }
    }
}

/// The bound push-to-talk shortcut in BindShortcuts' results, with its trigger description.
fn bound_trigger(results: &HashMap<String, OwnedValue>) -> Option<Bound> {
    let list = results.get("shortcuts")?;
    let list: Vec<(String, HashMap<String, OwnedValue>)> = Vec::try_from(list.try_clone().ok()?).ok()?;
    let (_, props) = list.into_iter().find(|(id, _)| id == SHORTCUT_ID)?;
    let trigger = props.get("trigger_description").and_then(|v| String::try_from(v.clone()).ok()).filter(|t| !t.trim().is_empty());
    Some(Bound { trigger })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_become_xdg_shortcut_triggers() {
        for (chord, want) in [
            ("Ctrl+Alt+Space", "CTRL+ALT+space"),
            ("F9", "F9"),
            ("super+shift+m", "LOGO+SHIFT+m"),
            ("Ctrl+KeyM", "CTRL+m"),
            ("ScrollLock", "Scroll_Lock"),
        ] {
            assert_eq!(preferred_trigger(chord), want, "{chord}");
        }
    }

    #[test]
    fn request_paths_follow_the_portal_rule() {
        assert_eq!(request_path(":1.42", "capcom7"), "/org/freedesktop/portal/desktop/request/1_42/capcom7");
    }
}
