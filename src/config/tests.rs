use super::*;

#[test]
fn durations_parse_like_people_write_them() {
    let cases: &[(&str, u64)] = &[
        ("250ms", 250),
        ("20s", 20_000),
        ("30m", 1_800_000),
        ("2h", 7_200_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("45", 45_000),
        ("1.5s", 1_500),
        (".5s", 500),
        ("1h 30m", 5_400_000),
        ("2 days", 172_800_000),
        ("90sec", 90_000),
    ];
    for (text, ms) in cases {
        assert_eq!(Dur::parse(text).unwrap().get().as_millis() as u64, *ms, "{text}");
    }
    for bad in ["", "ten", "5 parsecs", "-3s", "s", "100000000000d"] {
        assert!(Dur::parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn retention_is_a_duration_or_forever() {
    use super::Keep;
    let cases: &[(&str, Option<u64>)] = &[
        ("30d", Some(30 * 86400)),
        ("12h", Some(12 * 3600)),
        ("forever", None),
        ("Forever", None),
        ("0", None),
        ("never", None),
    ];
    for (text, secs) in cases {
        assert_eq!(Keep::parse(text).unwrap().period().map(|d| d.as_secs()), *secs, "{text}");
    }
    assert!(Keep::parse("a while").unwrap_err().contains("forever"));
    let (c, _) = super::from_str("[store]\nkeep_audio = 0\n", "t.toml").unwrap();
    assert_eq!(c.store.keep_audio, Keep::Forever);
    let (c, _) = super::from_str("", "t.toml").unwrap();
    assert_eq!(c.store.keep_audio.to_string(), "30d");
    let err = super::from_str("[store]\nkeep_audio = \"soon\"\n", "t.toml").unwrap_err().to_string();
    assert!(err.starts_with("t.toml:2: key store.keep_audio:"), "{err}");
}

#[test]
fn a_broken_file_names_the_file_and_line() {
    let text = "[voice]\nhotkey = \"F9\"\nmodel \"base.en\"\n";
    let err = from_str(text, "bad.toml").unwrap_err().to_string();
    assert!(err.starts_with("bad.toml:3: "), "{err}");
}

#[test]
fn unknown_keys_are_warnings() {
    let (cfg, warnings) = from_str("[voice]\nhotkye = \"F9\"\n[nonsense]\nx = 1\n", "u.toml").unwrap();
    assert_eq!(cfg.voice.hotkey, "Ctrl+Alt+Space");
    assert!(warnings.iter().any(|w| w.contains("voice.hotkye")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("nonsense")), "{warnings:?}");
}

#[test]
fn a_wrong_type_is_an_error_naming_the_file() {
    let err = from_str("[dispatch]\nmax_parallel = \"lots\"\n", "t.toml").unwrap_err().to_string();
    assert!(err.starts_with("t.toml"), "{err}");
    let err = from_str("[dispatch]\ntimeout = \"forever\"\n", "t.toml").unwrap_err().to_string();
    assert!(err.contains("forever"), "{err}");
}

#[test]
fn env_overrides_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "[api]\nlisten = \"127.0.0.1:9\"\n[dispatch]\nmax_parallel = 2\n").unwrap();
    let env = vec![
        ("CAPCOM__API__LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("CAPCOM__DISPATCH__TIMEOUT".to_string(), "5m".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let loaded = load(Some(&p), env).unwrap();
    assert_eq!(loaded.config.api.listen, "127.0.0.1:0");
    assert_eq!(loaded.config.dispatch.max_parallel, 2);
    assert_eq!(loaded.config.dispatch.timeout, Dur::from_secs(300));
}

#[test]
fn an_explicit_missing_file_is_an_error() {
    let err = load(Some(Path::new("/nonexistent/capcom.toml")), Vec::new()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/capcom.toml"), "{err}");
}

#[test]
fn the_shipped_default_file_parses_without_warnings() {
    let table: toml::Table = DEFAULT_TOML.parse().unwrap();
    let (cfg, warnings) = from_table(table, "config/default.toml", DEFAULT_TOML).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.api.listen, DEFAULT_LISTEN);
    assert!(cfg.agents.contains_key(&cfg.dispatch.default_agent));
    assert!(cfg.workflows.iter().any(|w| w.name == "morning routine"));
}

#[test]
fn a_user_file_layers_over_the_defaults() {
    let (cfg, _) = from_str("[agents.mine]\nkind = \"local\"\ncommand = [\"my-agent\", \"{prompt}\"]\n[[routes]]\nkind = \"css\"\nagent = \"mine\"\n", "u.toml").unwrap();
    assert!(cfg.agents.contains_key("mine"));
    assert!(cfg.agents.contains_key("claude"), "default agents stay");
    assert_eq!(cfg.routes.len(), 1, "arrays are replaced, not appended");
    assert_eq!(cfg.dispatch.max_parallel, 3);
}

#[test]
fn agent_nice_outside_the_kernels_range_is_named() {
    for (value, warned) in [("0", false), ("10", false), ("19", false), ("20", true), ("-5", true)] {
        let (cfg, warnings) = from_str(&format!("[dispatch]\nagent_nice = {value}\n"), "n.toml").unwrap();
        assert_eq!(cfg.dispatch.agent_nice, value.parse::<i32>().unwrap());
        assert_eq!(warnings.iter().any(|w| w.contains("dispatch.agent_nice")), warned, "{value}: {warnings:?}");
    }
    assert_eq!(from_str("", "d.toml").unwrap().0.dispatch.agent_nice, 10);
}
