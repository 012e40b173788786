//! The pairing link as a QR code a terminal can show (Unicode half blocks).

/// The QR code for `text`, drawn with `▀▄█` and spaces, light on dark so it scans
/// on a dark terminal too (a quiet zone included).
pub fn terminal(text: &str) -> Result<String, String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_becomes_a_block_drawing() {
        let q = super::terminal("https://192.168.1.20:7471/#pair=ABCD2345").unwrap();
        let lines: Vec<&str> = q.lines().collect();
        assert!(lines.len() > 10, "{q}");
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()));
        assert!(q.chars().all(|c| matches!(c, ' ' | '▀' | '▄' | '█' | '\n')));
    }
}
