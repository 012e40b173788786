//! `capcom status` and `capcom changelog`: the daemon writes the words; the CLI
//! prints them, speaks them on this machine's speaker, or writes a WAV.

use super::client::{Client, ClientError};
use super::{exit, print_json};
use crate::config::Config;
use crate::daemon::spoken::{ChangelogAnswer, StatusAnswer};
use crate::report::{self, Speaker};
use std::path::Path;
use std::sync::Arc;

fn speaker(config: &Config) -> Result<Arc<dyn Speaker>, ClientError> {
    report::tts::from_config(&config.speech).map_err(|e| ClientError::Api(format!("cannot speak: {e}")))
}

/// Synthesize `text` and write it to `out` as a 16-bit WAV.
pub fn write_wav(config: &Config, text: &str, out: &Path) -> Result<std::time::Duration, ClientError> {
    let sp = speaker(config)?;
    let pcm = report::changelog::synthesize_narrative(sp.as_ref(), text).map_err(|e| ClientError::Api(e.to_string()))?;
    report::tts::write_wav(out, &pcm).map_err(|e| ClientError::Api(format!("cannot write {}: {e}", out.display())))?;
    Ok(pcm.duration())
}

/// Speak `text` on the default output, sentence by sentence, and wait until it is done.
pub fn speak(config: &Config, text: &str) -> Result<(), ClientError> {
    let sp = speaker(config)?;
    let output = report::open_output();
    let queue = report::SpeechQueue::new(Some(sp), output, None);
    queue.speak(text);
    queue.wait_idle(None);
    Ok(())
}

pub async fn status(c: Client, config: &Config, filter: Option<String>, speak_it: bool, out: Option<&Path>, json: bool) -> Result<u8, ClientError> {
    let path = match filter {
        Some(f) => format!("/v1/status?filter={}", report::feed::encode_segment(&f)),
        None => "/v1/status".to_string(),
    };
    let answer: StatusAnswer = c.get(&path).await?;
    if json {
        print_json(&answer);
    } else {
        println!("{}", answer.say);
    }
    if let Some(out) = out {
        let d = write_wav(config, &answer.say, out)?;
        eprintln!("wrote {} ({:.1} s)", out.display(), d.as_secs_f64());
    }
    if speak_it {
        let cfg = config.clone();
        let say = answer.say.clone();
        tokio::task::spawn_blocking(move || speak(&cfg, &say))
            .await
            .map_err(|e| ClientError::Api(e.to_string()))??;
    }
    Ok(exit::OK)
}

pub async fn changelog(c: Client, config: &Config, since: &str, text_only: bool, out: Option<&Path>, json: bool) -> Result<u8, ClientError> {
    let q = format!("/v1/changelog?since={}", report::feed::encode_segment(since));
    if text_only || out.is_some() {
        let answer: ChangelogAnswer = c.get(&q).await?;
        let wrote = match out {
            Some(out) => Some((out, write_wav(config, &answer.text, out)?)),
            None => None,
        };
        if json {
            let mut v = serde_json::to_value(&answer).unwrap_or_default();
            if let Some((out, d)) = wrote {
                v["out"] = serde_json::json!({ "path": out.display().to_string(), "duration_ms": d.as_millis() as u64 });
            }
            print_json(&v);
            return Ok(exit::OK);
        }
        println!("{}", answer.text);
        if let Some((out, d)) = wrote {
            eprintln!("wrote {} ({:.1} s)", out.display(), d.as_secs_f64());
        }
        return Ok(exit::OK);
    }
    let answer: ChangelogAnswer = c.post(&q, &serde_json::json!({})).await?;
    let feed = c.get::<crate::daemon::spoken::FeedInfo>("/v1/feed").await.ok();
    if json {
        let mut v = serde_json::to_value(&answer).unwrap_or_default();
        v["feed"] = feed.as_ref().map(|f| serde_json::json!(f.url)).unwrap_or(serde_json::Value::Null);
        print_json(&v);
        return Ok(exit::OK);
    }
    println!("{}", answer.text);
    if let (Some(e), Some(dir)) = (&answer.entry, &answer.dir) {
        println!();
        println!("audio: {}/{}", dir, e.wav);
        if let Some(mp3) = &e.mp3 {
            println!("audio: {dir}/{mp3}");
        }
        println!("length: {:.1} s", e.duration_ms as f64 / 1000.0);
    }
    if let Some(feed) = feed {
        println!("podcast feed: {}", feed.url);
    }
    Ok(exit::OK)
}
