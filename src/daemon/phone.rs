//! The daemon behind the phone page (`web::Backend`): every action takes the
//! path its desktop twin takes. Merges and confirmations are the same coordinator
//! messages `/v1/merge` and `/v1/confirm` send; a spoken clip goes through the
//! voice loop's clip steps and then to the coordinator like a hotkey transcript.

use super::Services;
use super::api::AppState;
use super::coordinator::Msg;
use super::voice::ClipHandler;
use crate::web::{Backend, Heard};
use axum::http::StatusCode;
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct DaemonBackend {
    services: Services,
    coordinator: super::CoordinatorHandle,
    clips: ClipHandler,
}

fn unavailable(e: String) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, e)
}

impl DaemonBackend {
    pub fn new(services: Services, coordinator: super::CoordinatorHandle) -> Arc<DaemonBackend> {
        Arc::new(DaemonBackend { clips: ClipHandler::new(services.clone()), services, coordinator })
    }

    async fn ask(&self, make: impl FnOnce(oneshot::Sender<super::actions::Answer>) -> Msg) -> Result<serde_json::Value, String> {
        let (tx, rx) = oneshot::channel();
        if !self.coordinator.send(make(tx)).await {
            return Err("the coordinator is stopping".into());
        }
        let a = rx.await.map_err(|_| "the coordinator is stopping".to_string())?;
        serde_json::to_value(a).map_err(|e| e.to_string())
    }

    /// A clip stored, gated and transcribed, then acted on. With `key`, the key is linked to the
    /// clip's utterance before anything acts on it, so a repeat after a crash finds what it made.
    async fn heard_linked(&self, samples: Vec<f32>, key: Option<&str>) -> Result<Heard, String> {
        let started = chrono::Utc::now() - chrono::Duration::milliseconds((samples.len() / 16) as i64);
        let out = self.clips.handle(samples, started).await.map_err(|e| format!("{e:#}"))?;
        let Some(text) = out.transcript else {
            let say = match out.reason.as_deref() {
                Some(r) if r.starts_with("nothing heard") => "I didn't hear anything.".to_string(),
                Some(r) => format!("I kept the recording but could not transcribe it: {r}."),
                None => "I kept the recording.".to_string(),
            };
            return Ok(Heard { utterance_id: out.utterance_id, transcript: None, answer: serde_json::json!({ "ok": false, "say": say }), say });
        };
        if let (Some(key), Some(id)) = (key, out.utterance_id) {
            super::idem::link(&self.services.store, key, id).await.map_err(|e| e.1)?;
        }
        self.act_on(out.utterance_id, text).await
    }

    /// A transcribed clip to the coordinator, like a hotkey transcript.
    async fn act_on(&self, utterance: Option<i64>, text: String) -> Result<Heard, String> {
        let utterance_id = utterance.unwrap_or_default();
        let answer = self.ask(|reply| Msg::Heard { utterance_id, text: text.clone(), reply }).await?;
        let say = answer["say"].as_str().unwrap_or_default().to_string();
        Ok(Heard { utterance_id: utterance, transcript: Some(text), answer, say })
    }
}

#[async_trait::async_trait]
impl Backend for DaemonBackend {
    async fn snapshot(&self) -> serde_json::Value {
        self.coordinator.snapshot().await.and_then(|s| serde_json::to_value(s).ok()).unwrap_or_default()
    }

    async fn merge(&self, task: String) -> Result<serde_json::Value, String> {
        self.ask(|reply| Msg::Merge { task, reply }).await
    }

    async fn confirm(&self, code: Option<String>) -> Result<serde_json::Value, String> {
        // A tap is a plain confirmation; merging untested work takes the stronger one
        // (`capcom confirm --no-checks`, or saying "confirm without checks").
        self.ask(|reply| Msg::Confirm { code, no_checks: false, reply }).await
    }

    async fn brief(&self, text: String, key: Option<String>) -> Result<serde_json::Value, (StatusCode, String)> {
        match key {
            Some(key) => super::idem::brief(&self.services, &self.coordinator, key, text, None).await.map(|(a, _)| a).map_err(|e| (e.0, e.1)),
            None => self.ask(|reply| Msg::Brief { text, intent: None, utterance: None, reply }).await.map_err(unavailable),
        }
    }

    async fn heard(&self, samples: Vec<f32>, key: Option<String>) -> Result<Heard, (StatusCode, String)> {
        let Some(key) = key else { return self.heard_linked(samples, None).await.map_err(unavailable) };
        use super::idem::{self, Step};
        let store = self.services.store.clone();
        let mut digest = <sha2::Sha256 as sha2::Digest>::new();
        for s in &samples {
            sha2::Digest::update(&mut digest, s.to_le_bytes());
        }
        let fp = idem::fingerprint(&["talk", &hex::encode(sha2::Digest::finalize(digest))]);
        let api = |e: super::api::ApiError| (e.0, e.1);
        let (utterance, transcript) = match idem::claim(&store, &key, "talk", fp, None).await.map_err(api)? {
            Step::Replay(v) => return serde_json::from_value(v).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
            Step::Made { answer, utterance_id, transcript } => {
                let say = answer.say.clone();
                let heard = Heard { utterance_id, transcript, answer: serde_json::to_value(answer).unwrap_or_default(), say };
                idem::finish(&store, &key, &serde_json::to_value(&heard).unwrap_or_default()).await;
                return Ok(heard);
            }
            Step::Act { utterance_id, transcript } => (utterance_id, transcript),
        };
        // Handled on its own task, so a page that hangs up does not leave the key held.
        let me = DaemonBackend { services: self.services.clone(), coordinator: self.coordinator.clone(), clips: self.clips.clone() };
        let done = tokio::spawn(async move {
            let heard = match (utterance, transcript) {
                // Stored and heard before the process that took it ended: not transcribed again.
                (Some(utterance_id), Some(text)) => me.act_on(Some(utterance_id), text).await,
                _ => me.heard_linked(samples, Some(&key)).await,
            };
            match &heard {
                Ok(h) => idem::finish(&store, &key, &serde_json::to_value(h).unwrap_or_default()).await,
                Err(_) => idem::release(&store, &key).await,
            }
            heard
        });
        done.await.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?.map_err(unavailable)
    }

    async fn speak(&self, text: String) -> Option<Vec<u8>> {
        let speaker = self.services.speaker.clone()?;
        tokio::task::spawn_blocking(move || {
            let pcm = speaker.synthesize(&text).map_err(|e| tracing::warn!(error = %e, "cannot speak the answer")).ok()?;
            wav_bytes(&pcm.samples, pcm.sample_rate)
        })
        .await
        .ok()
        .flatten()
    }

    async fn task(&self, id: i64) -> Result<serde_json::Value, (StatusCode, String)> {
        let store = self.services.store.clone();
        let config = self.services.config.clone();
        tokio::task::spawn_blocking(move || -> Result<serde_json::Value, (StatusCode, String)> {
            let t = store.task(id).map_err(|e| match e {
                crate::store::StoreError::NoTask(_) => (StatusCode::NOT_FOUND, format!("no task {id}")),
                other => (StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
            })?;
            let internal = |e: crate::store::StoreError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            let runs = store.runs(id).map_err(internal)?;
            let events = store.events(id).map_err(internal)?;
            let log_tail = runs
                .iter()
                .rev()
                .find_map(|r| r.log_path.as_deref())
                .map(|p| crate::dispatch::local::read_tail(std::path::Path::new(p)));
            let view = crate::report::TaskView::from_store(&t, &runs, &events);
            let (files, diff) = diff_of(&config, &t, &events).unwrap_or_default();
            Ok(serde_json::json!({
                "task": t, "runs": runs, "events": events, "log_tail": log_tail, "view": view,
                "files": files, "diff": diff,
            }))
        })
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    }
}

/// The largest diff the page is sent (it says where it was cut).
const MAX_DIFF: usize = 256 * 1024;

/// The task's changed files (with insertions and deletions) and its diff, read with git
/// (argv, no shell): against the repo's base from its worktree while it is open, and once
/// merged (its worktree and branch are gone then) the change the merge made to the base,
/// `old..new` from the merge's recorded intent, read in the repo itself.
fn diff_of(config: &crate::config::Config, t: &crate::store::Task, events: &[crate::store::Event]) -> Option<(Vec<serde_json::Value>, String)> {
    use crate::dispatch::worktree::{Git, GitCli};
    let repo = t.repo.as_deref().and_then(|name| config.repos.iter().find(|r| r.name == name));
    let git = GitCli;
    let (dir, range) = match merged_range(t, events) {
        Some((old, new)) => (std::path::PathBuf::from(&repo?.path), format!("{old}..{new}")),
        None => {
            let wt = std::path::PathBuf::from(t.worktree.as_deref()?);
            let head = t.head_sha.as_deref()?;
            let base = repo.map(|r| r.base.clone()).unwrap_or_else(|| "main".into());
            (wt, format!("{base}...{head}"))
        }
    };
    if !dir.is_dir() {
        return None;
    }
    let numstat = git.ok(&dir, &["diff", "--numstat", "--no-renames", "--no-color", &range]).ok()?;
    let files = numstat
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            let (ins, del, path) = (p.next()?, p.next()?, p.next()?);
            Some(serde_json::json!({ "path": path, "insertions": ins.parse::<u64>().ok(), "deletions": del.parse::<u64>().ok() }))
        })
        .collect();
    let mut diff = git.ok(&dir, &["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", &range]).unwrap_or_default();
    if diff.len() > MAX_DIFF {
        let mut cut = MAX_DIFF;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        diff.truncate(cut);
        diff.push_str("\n… (the diff is longer; the rest is on the branch)\n");
    }
    Some((files, diff))
}

/// A merged task's base before and after its merge (the last `merge_intent` event the
/// gate records before it moves the base), as hex object names only.
fn merged_range(t: &crate::store::Task, events: &[crate::store::Event]) -> Option<(String, String)> {
    if t.state != crate::store::TaskState::Merged {
        return None;
    }
    let data = events.iter().rev().find(|e| e.kind == crate::review::merge::INTENT)?.data.as_ref()?;
    let sha = |k: &str| data[k].as_str().filter(|s| (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())).map(str::to_string);
    Some((sha("old")?, sha("new")?))
}

/// 16-bit PCM WAV bytes.
fn wav_bytes(samples: &[f32], rate: u32) -> Option<Vec<u8>> {
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut buf, spec).ok()?;
    for s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).ok()?;
    }
    w.finalize().ok()?;
    Some(buf.into_inner())
}

/// `POST /v1/pair` (master token): a one-time pairing code and the link that carries it.
pub async fn post_pair(axum::extract::State(st): axum::extract::State<AppState>) -> Result<axum::Json<crate::web::Pairing>, super::api::ApiError> {
    let web = st.web.clone();
    tokio::task::spawn_blocking(move || web.start_pairing())
        .await
        .map_err(|e| super::api::ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map(axum::Json)
        .map_err(|e| super::api::ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// `GET /v1/devices` (master token): the paired devices.
pub async fn get_devices(axum::extract::State(st): axum::extract::State<AppState>) -> super::api::ApiResult<Vec<crate::store::Device>> {
    let store = st.services.store.clone();
    let d = tokio::task::spawn_blocking(move || store.devices())
        .await
        .map_err(|e| super::api::ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(axum::Json(d))
}

/// `POST /v1/devices/{name}/revoke` (master token).
pub async fn post_revoke(
    axum::extract::State(st): axum::extract::State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> super::api::ApiResult<serde_json::Value> {
    let store = st.services.store.clone();
    let n = name.clone();
    let done = tokio::task::spawn_blocking(move || store.revoke_device(&n))
        .await
        .map_err(|e| super::api::ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    if !done {
        return Err(super::api::ApiError(StatusCode::NOT_FOUND, format!("no paired device called {name} (see `capcom devices`)")));
    }
    tracing::info!(device = %name, "device revoked");
    Ok(axum::Json(serde_json::json!({ "revoked": name })))
}
