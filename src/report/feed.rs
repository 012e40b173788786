//! The podcast feed of audio changelogs: RSS 2.0 with the iTunes namespace.
//!
//! Pure: the caller passes the entries, the base URL and the feed token. The
//! token is a read-only secret separate from the API token; it sits in every
//! URL the feed hands out, so a podcast app can fetch the audio without headers.
//!
//! Routes the HTTP API should serve (see [`feed_path`] and [`audio_path`]):
//! - `GET /feed/{token}/podcast.xml` → [`render`]'s output, `application/rss+xml`;
//! - `GET /feed/{token}/audio/{file}` → the file from the changelog folder;
//! - `GET /feed/{token}/artwork.png` → the show's artwork ([`artwork_path`]).

use super::changelog::ChangelogEntry;
use chrono::{DateTime, FixedOffset};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use std::time::Duration;

/// The channel: the feed as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedChannel {
    pub title: String,
    pub description: String,
    /// Where the API is reachable from the phone, e.g. `http://192.168.1.20:7471`. No trailing slash needed.
    pub base_url: String,
    /// The read-only feed token.
    pub token: String,
    pub language: String,
    pub author: String,
    /// `itunes:owner` (name; the email is optional and left out when empty).
    pub owner_name: String,
    pub owner_email: String,
}

impl FeedChannel {
    pub fn new(base_url: &str, token: &str) -> FeedChannel {
        FeedChannel {
            title: "capcom changelog".to_string(),
            description: "Spoken summaries of what your coding agents finished and merged.".to_string(),
            base_url: base_url.to_string(),
            token: token.to_string(),
            language: "en".to_string(),
            author: "capcom".to_string(),
            owner_name: "capcom".to_string(),
            owner_email: String::new(),
        }
    }
}

/// One episode.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// Stable id (the file stem).
    pub guid: String,
    pub title: String,
    pub description: String,
    pub pub_date: DateTime<FixedOffset>,
    /// The audio file's name inside the changelog folder.
    pub file_name: String,
    /// Its size in bytes.
    pub length: u64,
    /// `audio/mpeg`, `audio/wav`, `audio/ogg`.
    pub mime: String,
    pub duration: Duration,
    /// The episode has chapters ([`chapters_path`]).
    pub chapters: bool,
}

impl FeedItem {
    /// An episode for a rendered changelog, pointing at its compressed file (the WAV when there is none).
    pub fn from_entry(e: &ChangelogEntry) -> FeedItem {
        let (file_name, length, mime) = match &e.mp3 {
            Some(f) => (f.clone(), e.mp3_bytes, "audio/mpeg"),
            None => (e.wav.clone(), e.wav_bytes, "audio/wav"),
        };
        FeedItem {
            guid: e.stem.clone(),
            title: e.title.clone(),
            description: e.text.clone(),
            pub_date: e.at,
            file_name,
            length,
            mime: mime.to_string(),
            duration: Duration::from_millis(e.duration_ms),
            chapters: !e.chapters.is_empty(),
        }
    }
}

/// The feed's path on the API: `/feed/{token}/podcast.xml`.
pub fn feed_path(token: &str) -> String {
    format!("/feed/{}/podcast.xml", encode_segment(token))
}

/// An audio file's path on the API: `/feed/{token}/audio/{file}`.
pub fn audio_path(token: &str, file_name: &str) -> String {
    format!("/feed/{}/audio/{}", encode_segment(token), encode_segment(file_name))
}

/// An episode's chapters (Podcasting 2.0 JSON chapters) on the API:
/// `/feed/{token}/episodes/{guid}/chapters.json`.
pub fn chapters_path(token: &str, guid: &str) -> String {
    format!("/feed/{}/episodes/{}/chapters.json", encode_segment(token), encode_segment(guid))
}

/// The media type the Podcasting 2.0 namespace gives JSON chapters.
pub const CHAPTERS_TYPE: &str = "application/json+chapters";

/// An episode's chapters in the Podcasting 2.0 JSON chapters format (version 1.2.0;
/// Podcastindex-org/podcast-namespace, chapters/jsonChapters.md): `startTime` in seconds.
pub fn chapters_json(e: &ChangelogEntry) -> serde_json::Value {
    let chapters: Vec<serde_json::Value> = e
        .chapters
        .iter()
        .map(|c| serde_json::json!({ "startTime": c.start_ms as f64 / 1000.0, "title": c.title }))
        .collect();
    serde_json::json!({ "version": "1.2.0", "title": e.title, "podcastName": "capcom changelog", "chapters": chapters })
}

/// The artwork's path on the API: `/feed/{token}/artwork.png`.
pub fn artwork_path(token: &str) -> String {
    format!("/feed/{}/artwork.png", encode_segment(token))
}

pub fn artwork_url(channel: &FeedChannel) -> String {
    format!("{}{}", channel.base_url.trim_end_matches('/'), artwork_path(&channel.token))
}

pub fn feed_url(channel: &FeedChannel) -> String {
    format!("{}{}", channel.base_url.trim_end_matches('/'), feed_path(&channel.token))
}

pub fn audio_url(channel: &FeedChannel, file_name: &str) -> String {
    format!("{}{}", channel.base_url.trim_end_matches('/'), audio_path(&channel.token, file_name))
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode one URL path segment (or query value): everything but RFC 3986 unreserved characters.
pub fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// Drop the characters XML 1.0 forbids (controls but tab and newlines, U+FFFE, U+FFFF).
fn xml_chars(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}';
    if s.chars().any(bad) { s.chars().filter(|c| !bad(*c)).collect::<String>().into() } else { s.into() }
}

/// Escape text for XML content and attribute values; drop characters XML 1.0 forbids.
pub fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(&*xml_chars(s)).into_owned()
}

/// `HH:MM:SS`, as iTunes expects.
pub fn itunes_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The RSS 2.0 document, written with `quick-xml`. Items newest first; `lastBuildDate` is
/// the newest item's date.
pub fn render(channel: &FeedChannel, items: &[FeedItem]) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = write_feed(&mut w, channel, items);
    let mut xml = String::from_utf8(w.into_inner()).unwrap_or_default();
    xml.push('\n');
    xml
}

/// `<name>text</name>`, the text escaped and cleaned of characters XML forbids.
fn text_el(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(&xml_chars(text)))?;
    Ok(())
}

fn write_feed(w: &mut Writer<Vec<u8>>, channel: &FeedChannel, items: &[FeedItem]) -> std::io::Result<()> {
    let mut items: Vec<&FeedItem> = items.iter().collect();
    items.sort_by(|a, b| b.pub_date.cmp(&a.pub_date).then(b.guid.cmp(&a.guid)));
    let self_url = feed_url(channel);
    let art = artwork_url(channel);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("rss")
        .with_attribute(("version", "2.0"))
        .with_attribute(("xmlns:itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd"))
        .with_attribute(("xmlns:atom", "http://www.w3.org/2005/Atom"))
        .with_attribute(("xmlns:podcast", "https://podcastindex.org/namespace/1.0"))
        .write_inner_content(|w| {
            w.create_element("channel").write_inner_content(|w| {
                text_el(w, "title", &channel.title)?;
                text_el(w, "link", &self_url)?;
                w.create_element("atom:link")
                    .with_attribute(("href", &*xml_chars(&self_url)))
                    .with_attribute(("rel", "self"))
                    .with_attribute(("type", "application/rss+xml"))
                    .write_empty()?;
                text_el(w, "description", &channel.description)?;
                text_el(w, "language", &channel.language)?;
                if let Some(newest) = items.first() {
                    text_el(w, "lastBuildDate", &newest.pub_date.to_rfc2822())?;
                }
                text_el(w, "itunes:author", &channel.author)?;
                text_el(w, "itunes:summary", &channel.description)?;
                text_el(w, "itunes:explicit", "false")?;
                w.create_element("itunes:category").with_attribute(("text", "Technology")).write_empty()?;
                text_el(w, "itunes:type", "episodic")?;
                w.create_element("itunes:image").with_attribute(("href", &*xml_chars(&art))).write_empty()?;
                w.create_element("image").write_inner_content(|w| {
                    text_el(w, "url", &art)?;
                    text_el(w, "title", &channel.title)?;
                    text_el(w, "link", &self_url)
                })?;
                w.create_element("itunes:owner").write_inner_content(|w| {
                    text_el(w, "itunes:name", &channel.owner_name)?;
                    if !channel.owner_email.trim().is_empty() {
                        text_el(w, "itunes:email", &channel.owner_email)?;
                    }
                    Ok(())
                })?;
                for it in &items {
                    let url = audio_url(channel, &it.file_name);
                    w.create_element("item").write_inner_content(|w| {
                        text_el(w, "title", &it.title)?;
                        text_el(w, "description", &it.description)?;
                        text_el(w, "pubDate", &it.pub_date.to_rfc2822())?;
                        w.create_element("guid")
                            .with_attribute(("isPermaLink", "false"))
                            .write_text_content(BytesText::new(&xml_chars(&it.guid)))?;
                        w.create_element("enclosure")
                            .with_attribute(("url", &*xml_chars(&url)))
                            .with_attribute(("length", it.length.to_string().as_str()))
                            .with_attribute(("type", &*xml_chars(&it.mime)))
                            .write_empty()?;
                        text_el(w, "itunes:duration", &itunes_duration(it.duration))?;
                        if it.chapters {
                            let url = format!("{}{}", channel.base_url.trim_end_matches('/'), chapters_path(&channel.token, &it.guid));
                            w.create_element("podcast:chapters")
                                .with_attribute(("url", &*xml_chars(&url)))
                                .with_attribute(("type", CHAPTERS_TYPE))
                                .write_empty()?;
                        }
                        text_el(w, "itunes:summary", &it.description)
                    })?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

// ---- conditional requests (RFC 9110, section 13) -----------------------------------

/// An HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), to whole seconds.
pub fn http_date(t: DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<DateTime<chrono::Utc>> {
    DateTime::parse_from_rfc2822(s.trim()).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// Whether a GET may be answered 304 Not Modified: `If-None-Match` names the current
/// entity tag (weak comparison, or `*`); without `If-None-Match`, `If-Modified-Since` is
/// at or after the last modification (to whole seconds). RFC 9110 13.1.2, 13.1.3, 13.2.2.
pub fn not_modified(if_none_match: Option<&str>, if_modified_since: Option<&str>, etag: &str, last_modified: Option<DateTime<chrono::Utc>>) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if let Some(inm) = if_none_match {
        return inm.split(',').any(|t| t.trim() == "*" || weak(t) == weak(etag));
    }
    match (if_modified_since.and_then(parse_http_date), last_modified) {
        (Some(since), Some(modified)) => modified.timestamp() <= since.timestamp(),
        _ => false,
    }
}

/// Whether a `Range` request's `If-Range` still holds, so the range may be sent (206);
/// when it does not, the whole file is sent (200). An entity tag must match strongly (a
/// weak one never does); a date must equal the last modification exactly. RFC 9110 13.1.5.
pub fn if_range_holds(if_range: Option<&str>, etag: &str, last_modified: Option<DateTime<chrono::Utc>>) -> bool {
    let Some(v) = if_range.map(str::trim) else { return true };
    if v.starts_with('"') || v.starts_with("W/") {
        return !v.starts_with("W/") && !etag.starts_with("W/") && v == etag;
    }
    match (parse_http_date(v), last_modified) {
        (Some(d), Some(m)) => d.timestamp() == m.timestamp(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_requests_follow_rfc_9110() {
        use chrono::TimeZone;
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 21, 7, 30, 0).unwrap();
        let date = http_date(at);
        assert_eq!(date, "Sat, 21 Nov 2026 07:30:00 GMT");
        let before = http_date(at - chrono::Duration::seconds(1));
        let tag = "\"abc\"";
        // (If-None-Match, If-Modified-Since, 304?)
        let cases: [(Option<&str>, Option<&str>, bool); 9] = [
            (Some(tag), None, true),
            (Some("W/\"abc\""), None, true),
            (Some("\"x\", \"abc\""), None, true),
            (Some("*"), None, true),
            (Some("\"other\""), Some(&date), false), // If-None-Match wins over the date
            (None, Some(&date), true),
            (None, Some(&before), false),
            (None, Some("not a date"), false),
            (None, None, false),
        ];
        for (inm, ims, want) in cases {
            assert_eq!(not_modified(inm, ims, tag, Some(at)), want, "{inm:?} {ims:?}");
        }
        // (If-Range, range sent?)
        let cases: [(Option<&str>, bool); 7] = [
            (None, true),
            (Some(tag), true),
            (Some("\"old\""), false),
            (Some("W/\"abc\""), false),
            (Some(&date), true),
            (Some(&before), false),
            (Some("garbage"), false),
        ];
        for (ir, want) in cases {
            assert_eq!(if_range_holds(ir, tag, Some(at)), want, "{ir:?}");
        }
    }

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(xml_escape("a & <b> \"c\" 'd'\u{1}"), "a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;");
        assert_eq!(encode_segment("ab c/d?"), "ab%20c%2Fd%3F");
        assert_eq!(itunes_duration(Duration::from_secs(3725)), "01:02:05");
        assert_eq!(audio_path("tok en", "x.mp3"), "/feed/tok%20en/audio/x.mp3");
    }

    #[test]
    fn the_channel_has_artwork_owner_and_type() {
        let ch = FeedChannel::new("https://box.example.ts.net/", "t0k");
        let xml = render(&ch, &[]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let itunes = "http://www.itunes.com/dtds/podcast-1.0.dtd";
        let channel = doc.descendants().find(|n| n.has_tag_name("channel")).unwrap();
        let child = |ns: Option<&str>, name: &str| {
            channel.children().find(|n| n.tag_name().name() == name && n.tag_name().namespace() == ns)
        };
        assert_eq!(child(Some(itunes), "image").unwrap().attribute("href"), Some("https://box.example.ts.net/feed/t0k/artwork.png"));
        assert_eq!(child(Some(itunes), "type").unwrap().text(), Some("episodic"));
        let owner = child(Some(itunes), "owner").unwrap();
        assert!(owner.children().any(|n| n.tag_name().name() == "name" && n.text() == Some("capcom")));
        let image = child(None, "image").unwrap();
        assert!(image.children().any(|n| n.has_tag_name("url") && n.text() == Some("https://box.example.ts.net/feed/t0k/artwork.png")));
        assert!(image.children().any(|n| n.has_tag_name("title")));
        assert!(image.children().any(|n| n.has_tag_name("link")));
    }
}
