//! The live board the page watches: built when the store changed (not on a timer), sent
//! whole once when a stream opens, then as patches (the tasks that changed, the ones that
//! left), so a watching phone costs nothing while nothing happens.
//!
//! The board holds every task but the merged and cancelled ones last changed more than
//! [`WINDOW`] ago; those are counted in `hidden` and paged by `GET /app/v1/board?all=1`.
//!
//! [`diff`] is pure and table-tested; [`super::Web`] carries it out.

use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a merged or cancelled task stays on the board.
pub const WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// The board as last built: each task's view as JSON text, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub rev: u64,
    pub tasks: BTreeMap<i64, Arc<str>>,
    pub needs_you: Arc<str>,
    pub coordinator: Arc<str>,
    pub hidden: usize,
}

/// What changed from one board to the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub rev: u64,
    pub upsert: Vec<Arc<str>>,
    pub remove: Vec<i64>,
    pub needs_you: Option<Arc<str>>,
    pub coordinator: Option<Arc<str>>,
    pub hidden: Option<usize>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty() && self.needs_you.is_none() && self.coordinator.is_none() && self.hidden.is_none()
    }

    /// `{"rev":N,"upsert":[…],"remove":[…],"now":…}`, plus `needs_you`, `coordinator` and
    /// `hidden` when they changed.
    pub fn json(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut s = format!("{{\"rev\":{},\"upsert\":[", self.rev);
        join_into(&mut s, self.upsert.iter().map(|t| &**t));
        s.push_str("],\"remove\":");
        s.push_str(&serde_json::to_string(&self.remove).unwrap_or_else(|_| "[]".into()));
        if let Some(n) = &self.needs_you {
            s.push_str(",\"needs_you\":");
            s.push_str(n);
        }
        if let Some(c) = &self.coordinator {
            s.push_str(",\"coordinator\":");
            s.push_str(c);
        }
        if let Some(h) = self.hidden {
            s.push_str(&format!(",\"hidden\":{h}"));
        }
        s.push_str(&format!(",\"now\":{}}}", serde_json::json!(now)));
        s
    }
}

impl Board {
    /// `{"tasks":[…],"needs_you":…,"coordinator":…,"now":…,"rev":N,"hidden":K}`, tasks by id.
    pub fn json(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut s = String::with_capacity(self.tasks.values().map(|t| t.len() + 1).sum::<usize>() + 256);
        s.push_str("{\"tasks\":[");
        join_into(&mut s, self.tasks.values().map(|t| &**t));
        s.push_str("],\"needs_you\":");
        s.push_str(or_null(&self.needs_you));
        s.push_str(",\"coordinator\":");
        s.push_str(or_null(&self.coordinator));
        s.push_str(&format!(",\"now\":{},\"rev\":{},\"hidden\":{}}}", serde_json::json!(now), self.rev, self.hidden));
        s
    }
}

fn or_null(s: &str) -> &str {
    if s.is_empty() { "null" } else { s }
}

fn join_into<'a>(s: &mut String, parts: impl Iterator<Item = &'a str>) {
    for (i, p) in parts.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(p);
    }
}

/// The patch that takes `old` to `new` (numbered `old.rev + 1`): the tasks whose JSON
/// changed or that are new, the ids that left, and the other parts when they changed.
pub fn diff(old: &Board, new: &Board) -> Patch {
    let upsert = new.tasks.iter().filter(|(id, t)| old.tasks.get(id) != Some(t)).map(|(_, t)| t.clone()).collect();
    let remove = old.tasks.keys().filter(|id| !new.tasks.contains_key(id)).copied().collect();
    Patch {
        rev: old.rev + 1,
        upsert,
        remove,
        needs_you: (old.needs_you != new.needs_you).then(|| new.needs_you.clone()),
        coordinator: (old.coordinator != new.coordinator).then(|| new.coordinator.clone()),
        hidden: (old.hidden != new.hidden).then_some(new.hidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(tasks: &[(i64, &str)], needs: &str, coord: &str, hidden: usize) -> Board {
        Board {
            rev: 7,
            tasks: tasks.iter().map(|(id, t)| (*id, Arc::from(*t))).collect(),
            needs_you: Arc::from(needs),
            coordinator: Arc::from(coord),
            hidden,
        }
    }

    #[test]
    fn a_patch_carries_only_what_changed() {
        let a = board(&[(1, r#"{"id":1,"state":"running"}"#), (2, r#"{"id":2,"state":"ready"}"#)], "[]", r#"{"stage":"idle"}"#, 0);
        let cases: Vec<(&str, Board, Vec<&str>, Vec<i64>, bool, bool, Option<usize>)> = vec![
            ("nothing", a.clone(), vec![], vec![], false, false, None),
            (
                "one task changed",
                board(&[(1, r#"{"id":1,"state":"ready"}"#), (2, r#"{"id":2,"state":"ready"}"#)], "[]", r#"{"stage":"idle"}"#, 0),
                vec![r#"{"id":1,"state":"ready"}"#],
                vec![],
                false,
                false,
                None,
            ),
            (
                "one new, one aged off",
                board(&[(1, r#"{"id":1,"state":"running"}"#), (3, r#"{"id":3}"#)], "[]", r#"{"stage":"idle"}"#, 1),
                vec![r#"{"id":3}"#],
                vec![2],
                false,
                false,
                Some(1),
            ),
            ("the question", board(&[(1, r#"{"id":1,"state":"running"}"#), (2, r#"{"id":2,"state":"ready"}"#)], "[]", r#"{"stage":"awaiting"}"#, 0), vec![], vec![], false, true, None),
            ("a session waits", board(&[(1, r#"{"id":1,"state":"running"}"#), (2, r#"{"id":2,"state":"ready"}"#)], r#"[{"agent":"claude"}]"#, r#"{"stage":"idle"}"#, 0), vec![], vec![], true, false, None),
        ];
        for (what, b, upsert, remove, needs, coord, hidden) in cases {
            let p = diff(&a, &b);
            assert_eq!(p.rev, 8, "{what}");
            assert_eq!(p.upsert.iter().map(|t| &**t).collect::<Vec<_>>(), upsert, "{what}");
            assert_eq!(p.remove, remove, "{what}");
            assert_eq!(p.needs_you.is_some(), needs, "{what}");
            assert_eq!(p.coordinator.is_some(), coord, "{what}");
            assert_eq!(p.hidden, hidden, "{what}");
            assert_eq!(p.is_empty(), what == "nothing", "{what}");
            // what is sent parses, and says only what changed
            let v: serde_json::Value = serde_json::from_str(&p.json(chrono::Utc::now())).unwrap();
            assert_eq!(v.get("coordinator").is_some(), coord, "{what}: {v}");
            assert_eq!(v["upsert"].as_array().unwrap().len(), upsert.len());
        }
        let full: serde_json::Value = serde_json::from_str(&a.json(chrono::Utc::now())).unwrap();
        assert_eq!(full["tasks"].as_array().unwrap().len(), 2);
        assert_eq!((full["rev"].as_u64(), full["hidden"].as_u64()), (Some(7), Some(0)));
        let empty: serde_json::Value = serde_json::from_str(&Board::default().json(chrono::Utc::now())).unwrap();
        assert!(empty["coordinator"].is_null() && empty["tasks"].as_array().unwrap().is_empty());
    }
}
