//! The pairing link as a QR code a terminal can show (Unicode half blocks).

/// The QR code for `text`, drawn with `▀▄█` and spaces, light on dark so it scans
/// on a dark terminal too (a quiet zone included).
pub fn terminal(text: &str) -> Result<String, String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

/// A small HTML page with the QR code (drawn with CSS, no image) and the link, for the tray's
/// "Pair a phone" item to open in the desktop browser.
pub fn html(url: &str, expires: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    let w = code.width();
    let cells: String = code
        .to_colors()
        .iter()
        .map(|c| if *c == qrcode::Color::Dark { "<i class=d></i>" } else { "<i></i>" })
        .collect();
    let esc = crate::report::feed::xml_escape;
    Ok(format!(
        "<!doctype html><meta charset=utf-8><title>Pair a phone with capcom</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#121826;color:#e8ecf4;text-align:center;padding:2rem}}\
         .q{{display:inline-grid;grid-template-columns:repeat({w},8px);padding:32px;background:#fff}}\
         .q i{{width:8px;height:8px;background:#fff}}.q i.d{{background:#000}}a{{color:#5ec8a0;word-break:break-all}}</style>\
         <h1>Scan with your phone</h1><div class=q>{cells}</div>\
         <p><a href=\"{u}\">{u}</a></p><p>The code works once, until {e}.</p>",
        u = esc(url),
        e = esc(expires),
    ))
}

/// The pairing page when the link opens on this computer only: no QR code (a phone that
/// scanned it would open its own loopback address), and what to set so a phone can reach it.
pub fn local_only_html(url: &str, why: &str, expires: &str) -> String {
    let esc = crate::report::feed::xml_escape;
    format!(
        "<!doctype html><meta charset=utf-8><title>Pair a phone with capcom</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#121826;color:#e8ecf4;padding:2rem;max-width:40rem;margin:auto}}\
         a{{color:#5ec8a0;word-break:break-all}}</style>\
         <main><h1>A phone cannot reach capcom yet</h1><p>{w}.</p>\
         <p>To pair this computer's browser instead, open <a href=\"{u}\">{u}</a>. The code works once, until {e}.</p></main>",
        w = esc(why),
        u = esc(url),
        e = esc(expires),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_local_only_link_gets_no_qr_code_and_says_why() {
        let why = super::super::local_only_hint("http://127.0.0.1:7471").unwrap();
        let page = super::local_only_html("http://127.0.0.1:7471/#pair=ABCD2345", &why, "10:00:00");
        assert!(!page.contains("class=q") && page.contains("public_url") && page.contains("#pair=ABCD2345"), "{page}");
    }

    #[test]
    fn a_link_becomes_a_block_drawing() {
        let q = super::terminal("https://192.168.1.20:7471/#pair=ABCD2345").unwrap();
        let lines: Vec<&str> = q.lines().collect();
        assert!(lines.len() > 10, "{q}");
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()));
        assert!(q.chars().all(|c| matches!(c, ' ' | '▀' | '▄' | '█' | '\n')));
    }

    #[test]
    fn the_desktop_page_draws_the_same_code() {
        let url = "https://192.168.1.20:7471/#pair=ABCD2345";
        let h = super::html(url, "12:05:00").unwrap();
        let n = qrcode::QrCode::new(url.as_bytes()).unwrap().width();
        assert_eq!(h.matches("<i").count(), n * n);
        assert!(h.contains(url) && h.contains("12:05:00"));
    }
}
