//! Edits of the user's config file in place (`capcom repos add|remove`, `capcom init`),
//! through `toml_edit`: the user's comments, order and formatting stay as they were, and
//! only the table being added or removed changes.
//!
//! The functions here are pure (text in, text out); [`write_file`] replaces the file
//! atomically, keeping its permissions.

use std::collections::BTreeMap;
use std::path::Path;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

/// A repo to add: what `[[repos]]` gets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewRepo {
    pub name: String,
    pub path: String,
    pub base: String,
    /// `owner/name` on GitHub.
    pub github: Option<String>,
    /// Checks found in the repo (`[repos.checks]`), by name.
    pub checks: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("{file}: not valid TOML: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: `repos` is not a list of [[repos]] tables; fix it by hand")]
    Shape { file: String },
    #[error("a repo named `{name}` is already configured (path {path}); `capcom repos remove {name}` first")]
    Exists { name: String, path: String },
    #[error("the repo at {path} is already configured as `{name}`")]
    SamePath { name: String, path: String },
    #[error("no repo named `{name}` is configured{known}")]
    Missing { name: String, known: String },
    #[error("a repo name cannot be empty")]
    EmptyName,
}

fn parse(text: &str, file: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| EditError::Parse { file: file.to_string(), message: e.message().trim().to_string() })
}

fn repos_of<'a>(doc: &'a mut DocumentMut, file: &str) -> Result<Option<&'a mut ArrayOfTables>, EditError> {
    match doc.get_mut("repos") {
        None => Ok(None),
        Some(Item::ArrayOfTables(a)) => Ok(Some(a)),
        Some(_) => Err(EditError::Shape { file: file.to_string() }),
    }
}

fn str_of(t: &Table, key: &str) -> String {
    t.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string()
}

/// `text` with one more `[[repos]]` table, after the last one (or at the end).
pub fn add_repo(text: &str, file: &str, repo: &NewRepo) -> Result<String, EditError> {
    if repo.name.trim().is_empty() {
        return Err(EditError::EmptyName);
    }
    let mut doc = parse(text, file)?;
    let mut table = Table::new();
    table.insert("name", value(repo.name.as_str()));
    table.insert("path", value(repo.path.as_str()));
    table.insert("base", value(repo.base.as_str()));
    if let Some(gh) = &repo.github {
        table.insert("github", value(gh.as_str()));
    }
    if !repo.checks.is_empty() {
        let mut checks = Table::new();
        for (k, v) in &repo.checks {
            checks.insert(k, value(v.as_str()));
        }
        table.insert("checks", Item::Table(checks));
    }
    match repos_of(&mut doc, file)? {
        Some(list) => {
            for t in list.iter() {
                let (name, path) = (str_of(t, "name"), str_of(t, "path"));
                if !path.is_empty() && same_path(&path, &repo.path) {
                    return Err(EditError::SamePath { name, path });
                }
            }
            for t in list.iter() {
                let (name, path) = (str_of(t, "name"), str_of(t, "path"));
                if name.eq_ignore_ascii_case(&repo.name) {
                    return Err(EditError::Exists { name, path });
                }
            }
            list.push(table);
        }
        None => {
            // The first repo goes at the end of the file, after everything the user wrote
            // (comments included): a table may always follow whatever precedes it.
            let mut fresh = DocumentMut::new();
            let mut list = ArrayOfTables::new();
            list.push(table);
            fresh.insert("repos", Item::ArrayOfTables(list));
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.trim().is_empty() {
                out.push('\n');
            }
            out.push_str(&fresh.to_string());
            return Ok(out);
        }
    }
    Ok(doc.to_string())
}

fn same_path(a: &str, b: &str) -> bool {
    let canon = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| Path::new(p).to_path_buf());
    a.trim_end_matches('/') == b.trim_end_matches('/') || canon(a) == canon(b)
}

/// `text` without the `[[repos]]` table named `name` (case-insensitive); the other tables,
/// and every comment outside the removed table, stay.
pub fn remove_repo(text: &str, file: &str, name: &str) -> Result<String, EditError> {
    let mut doc = parse(text, file)?;
    let missing = |known: Vec<String>| EditError::Missing {
        name: name.to_string(),
        known: if known.is_empty() { String::new() } else { format!(" (configured: {})", known.join(", ")) },
    };
    let Some(list) = repos_of(&mut doc, file)? else { return Err(missing(Vec::new())) };
    let known: Vec<String> = list.iter().map(|t| str_of(t, "name")).collect();
    let Some(i) = known.iter().position(|n| n.eq_ignore_ascii_case(name)) else { return Err(missing(known)) };
    list.remove(i);
    if list.is_empty() {
        doc.remove("repos");
    }
    Ok(doc.to_string())
}

/// Replace `path` with `text`, atomically, keeping the file's permissions (a new file is 0600:
/// a config may name token variables and local paths).
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "config.toml".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "# my capcom config\n\n[dispatch]\n# I like two at a time\nmax_parallel = 2\n\n[[repos]]\nname = \"site\"   # the website\npath = \"/src/site\"\nbase = \"main\"\n\n# the backend\n[[repos]]\nname = \"api\"\npath = \"/src/api\"\nbase = \"develop\"\n[repos.checks]\ntest = \"cargo test\"\n";

    fn repo(name: &str, path: &str) -> NewRepo {
        NewRepo { name: name.into(), path: path.into(), base: "main".into(), ..NewRepo::default() }
    }

    #[test]
    fn adding_a_repo_keeps_every_comment_and_the_order() {
        let mut r = repo("docs", "/src/docs");
        r.github = Some("me/docs".into());
        r.checks.insert("build".into(), "npm run build".into());
        let out = add_repo(USER, "c.toml", &r).unwrap();
        assert!(out.starts_with(USER), "the user's text is unchanged before the new table:\n{out}");
        for comment in ["# my capcom config", "# I like two at a time", "# the website", "# the backend"] {
            assert!(out.contains(comment), "{comment} kept");
        }
        let (cfg, warnings) = crate::config::from_str(&out, "c.toml").unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<&str> = cfg.repos.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["site", "api", "docs"]);
        let docs = cfg.repo("docs").unwrap();
        assert_eq!((docs.path.as_str(), docs.base.as_str(), docs.github.as_deref()), ("/src/docs", "main", Some("me/docs")));
        assert_eq!(docs.checks["build"].argv().unwrap(), ["npm", "run", "build"]);
        assert_eq!(cfg.repo("api").unwrap().checks["test"].argv().unwrap(), ["cargo", "test"], "the other repo's checks stay its own");
        assert_eq!(cfg.dispatch.max_parallel, 2);
    }

    #[test]
    fn adding_to_an_empty_or_missing_file_makes_the_first_table() {
        for text in ["", "# nothing yet\n", "[dispatch]\nmax_parallel = 1\n"] {
            let out = add_repo(text, "c.toml", &repo("site", "/src/site")).unwrap();
            assert!(out.starts_with(text), "{out}");
            let (cfg, _) = crate::config::from_str(&out, "c.toml").unwrap();
            assert_eq!(cfg.repos.len(), 1, "{out}");
        }
    }

    #[test]
    fn a_name_or_path_already_configured_is_refused_and_nothing_changes() {
        let cases = [
            (repo("SITE", "/elsewhere"), "already configured (path /src/site)"),
            (repo("web", "/src/site/"), "already configured as `site`"),
            (repo("  ", "/x"), "cannot be empty"),
        ];
        for (r, want) in cases {
            let err = add_repo(USER, "c.toml", &r).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn removing_a_repo_leaves_the_rest_alone() {
        let out = remove_repo(USER, "c.toml", "Site").unwrap();
        let (cfg, _) = crate::config::from_str(&out, "c.toml").unwrap();
        assert_eq!(cfg.repos.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["api"]);
        assert!(out.contains("# I like two at a time") && out.contains("# my capcom config"));
        assert!(!out.contains("/src/site"));
        let out = remove_repo(&out, "c.toml", "api").unwrap();
        assert!(!out.contains("[[repos]]"), "{out}");
        let err = remove_repo(USER, "c.toml", "nope").unwrap_err().to_string();
        assert_eq!(err, "no repo named `nope` is configured (configured: site, api)");
        assert!(remove_repo("", "c.toml", "x").unwrap_err().to_string().ends_with("is configured"));
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_rewrite() {
        let err = add_repo("[dispatch\nmax = 1", "c.toml", &repo("a", "/a")).unwrap_err();
        assert!(matches!(err, EditError::Parse { .. }), "{err}");
        let err = add_repo("repos = 3\n", "c.toml", &repo("a", "/a")).unwrap_err();
        assert_eq!(err, EditError::Shape { file: "c.toml".into() });
    }

    #[test]
    fn writing_keeps_the_mode_and_a_new_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/config.toml");
        write_file(&p, "a = 1\n").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&p, "a = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a = 2\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1, "no temp file left");
    }
}
