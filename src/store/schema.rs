//! Versioned migrations. Each entry runs once, in order, inside a transaction,
//! and bumps `PRAGMA user_version`. Never edit a shipped migration: add one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE utterances (
        id          INTEGER PRIMARY KEY,
        created_at  TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        audio_path  TEXT,
        source      TEXT NOT NULL DEFAULT 'voice',
        transcript  TEXT,
        timings     TEXT,
        intent      TEXT
    );
    CREATE TABLE tasks (
        id           INTEGER PRIMARY KEY,
        spec         TEXT NOT NULL,
        title        TEXT NOT NULL,
        state        TEXT NOT NULL,
        reason       TEXT,
        agent        TEXT,
        repo         TEXT,
        branch       TEXT,
        worktree     TEXT,
        pr           INTEGER,
        head_sha     TEXT,
        utterance_id INTEGER REFERENCES utterances(id),
        scheduled_at TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE INDEX tasks_state ON tasks(state);
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        task_id     INTEGER NOT NULL REFERENCES tasks(id),
        agent       TEXT NOT NULL,
        branch      TEXT,
        worktree    TEXT,
        pid         INTEGER,
        pid_start   INTEGER,
        session_id  TEXT,
        remote_id   TEXT,
        started_at  TEXT NOT NULL,
        ended_at    TEXT,
        exit_code   INTEGER,
        log_path    TEXT,
        cost_usd    REAL,
        summary     TEXT
    );
    CREATE INDEX runs_task ON runs(task_id);
    CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        task_id  INTEGER REFERENCES tasks(id),
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        message  TEXT NOT NULL DEFAULT '',
        data     TEXT
    );
    CREATE INDEX events_task ON events(task_id, id);
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        action  TEXT NOT NULL,
        task_id INTEGER,
        actor   TEXT NOT NULL,
        detail  TEXT
    );
    "#,
    // 2: paired devices (the phone page) and one-time pairing codes. Only SHA-256 hashes are kept.
    r#"
    CREATE TABLE devices (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        token_hash  TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        last_seen   TEXT,
        revoked_at  TEXT
    );
    CREATE TABLE pairing_codes (
        id          INTEGER PRIMARY KEY,
        code_hash   TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_at     TEXT
    );
    "#,
    // 3: what each run cost. `kind` (start | retry | follow_up), the tokens the agent reported
    // (`usage`, JSON), wall time and CPU time (user + sys of the agent's whole process tree).
    // Existing runs keep their rows: wall time is filled in from their start and end, and
    // `kind` from their order and the task's `follow_up` events. Their CPU time stays unknown.
    r#"
    ALTER TABLE runs ADD COLUMN kind TEXT;
    ALTER TABLE runs ADD COLUMN usage TEXT;
    ALTER TABLE runs ADD COLUMN wall_ms INTEGER;
    ALTER TABLE runs ADD COLUMN cpu_ms INTEGER;
    UPDATE runs SET wall_ms = MAX(0, CAST(ROUND((julianday(ended_at) - julianday(started_at)) * 86400000.0) AS INTEGER))
        WHERE ended_at IS NOT NULL AND julianday(ended_at) IS NOT NULL AND julianday(started_at) IS NOT NULL;
    UPDATE runs SET kind = CASE
        WHEN NOT EXISTS (SELECT 1 FROM runs p WHERE p.task_id = runs.task_id AND p.id < runs.id) THEN 'start'
        WHEN EXISTS (
            SELECT 1 FROM events e
            WHERE e.task_id = runs.task_id AND e.kind = 'follow_up' AND e.at <= runs.started_at
              AND e.at >= (SELECT MAX(p.started_at) FROM runs p WHERE p.task_id = runs.task_id AND p.id < runs.id)
        ) THEN 'follow_up'
        ELSE 'retry'
    END;
    "#,
    // 4: outside sessions, heard through the hooks of agents the user runs themselves
    // (`store::sessions`). Only these fields; at most 200 rows are kept.
    r#"
    CREATE TABLE outside_sessions (
        id           INTEGER PRIMARY KEY,
        agent        TEXT NOT NULL,
        session_id   TEXT NOT NULL,
        folder       TEXT,
        repo         TEXT,
        last_event   TEXT NOT NULL,
        last_message TEXT,
        waiting      INTEGER NOT NULL DEFAULT 0,
        finished_at  TEXT,
        told         INTEGER NOT NULL DEFAULT 1,
        events       INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (agent, session_id)
    );
    CREATE INDEX outside_sessions_updated ON outside_sessions(updated_at);
    "#,
    // 5: idempotency keys of briefs (`store::idempotency`): a brief sent again with the key of
    // one already acted on gets that first answer, never a second task. `utterance_id` links the
    // key to what was heard (and so to the tasks it made) before anything acts; `answer` is the
    // JSON answer once there is one; `boot` names the daemon process handling it. Swept after 24 h.
    r#"
    CREATE TABLE idempotency_keys (
        key          TEXT PRIMARY KEY,
        scope        TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        utterance_id INTEGER,
        answer       TEXT,
        boot         TEXT,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
    "#,
    // 6: Web Push subscriptions (`store::push`), one per browser, owned by a paired device and
    // deleted with it.
    r#"
    CREATE TABLE push_subscriptions (
        id         INTEGER PRIMARY KEY,
        device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        endpoint   TEXT NOT NULL UNIQUE,
        p256dh     TEXT NOT NULL,
        auth       TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    "#,
];
