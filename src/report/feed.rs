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
use std::fmt::Write;
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

/// Percent-encode one URL path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escape text for XML content and attribute values; drop characters XML 1.0 forbids.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `HH:MM:SS`, as iTunes expects.
pub fn itunes_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The RSS 2.0 document. Items newest first; `lastBuildDate` is the newest item's date.
pub fn render(channel: &FeedChannel, items: &[FeedItem]) -> String {
    let mut items: Vec<&FeedItem> = items.iter().collect();
    items.sort_by(|a, b| b.pub_date.cmp(&a.pub_date).then(b.guid.cmp(&a.guid)));
    let e = xml_escape;
    let self_url = feed_url(channel);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(
        "<rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\" \
         xmlns:atom=\"http://www.w3.org/2005/Atom\">\n",
    );
    x.push_str("<channel>\n");
    let _ = writeln!(x, "  <title>{}</title>", e(&channel.title));
    let _ = writeln!(x, "  <link>{}</link>", e(&self_url));
    let _ = writeln!(x, "  <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>", e(&self_url));
    let _ = writeln!(x, "  <description>{}</description>", e(&channel.description));
    let _ = writeln!(x, "  <language>{}</language>", e(&channel.language));
    if let Some(newest) = items.first() {
        let _ = writeln!(x, "  <lastBuildDate>{}</lastBuildDate>", newest.pub_date.to_rfc2822());
    }
    let _ = writeln!(x, "  <itunes:author>{}</itunes:author>", e(&channel.author));
    let _ = writeln!(x, "  <itunes:summary>{}</itunes:summary>", e(&channel.description));
    x.push_str("  <itunes:explicit>false</itunes:explicit>\n");
    x.push_str("  <itunes:category text=\"Technology\"/>\n");
    x.push_str("  <itunes:type>episodic</itunes:type>\n");
    let art = artwork_url(channel);
    let _ = writeln!(x, "  <itunes:image href=\"{}\"/>", e(&art));
    let _ = writeln!(x, "  <image>\n    <url>{}</url>\n    <title>{}</title>\n    <link>{}</link>\n  </image>", e(&art), e(&channel.title), e(&self_url));
    x.push_str("  <itunes:owner>\n");
    let _ = writeln!(x, "    <itunes:name>{}</itunes:name>", e(&channel.owner_name));
    if !channel.owner_email.trim().is_empty() {
        let _ = writeln!(x, "    <itunes:email>{}</itunes:email>", e(&channel.owner_email));
    }
    x.push_str("  </itunes:owner>\n");
    for it in items {
        let url = audio_url(channel, &it.file_name);
        x.push_str("  <item>\n");
        let _ = writeln!(x, "    <title>{}</title>", e(&it.title));
        let _ = writeln!(x, "    <description>{}</description>", e(&it.description));
        let _ = writeln!(x, "    <pubDate>{}</pubDate>", it.pub_date.to_rfc2822());
        let _ = writeln!(x, "    <guid isPermaLink=\"false\">{}</guid>", e(&it.guid));
        let _ = writeln!(
            x,
            "    <enclosure url=\"{}\" length=\"{}\" type=\"{}\"/>",
            e(&url),
            it.length,
            e(&it.mime)
        );
        let _ = writeln!(x, "    <itunes:duration>{}</itunes:duration>", itunes_duration(it.duration));
        let _ = writeln!(x, "    <itunes:summary>{}</itunes:summary>", e(&it.description));
        x.push_str("  </item>\n");
    }
    x.push_str("</channel>\n</rss>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

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
