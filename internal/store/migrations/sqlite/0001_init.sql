-- Conversations: the working memory of a thread or chat session, as
-- zstd-compressed JSON of its messages.
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    messages    BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Runs: one row per agent run, with its transcript (zstd-compressed JSON).
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    mode            TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    question        TEXT NOT NULL DEFAULT '',
    answer          TEXT NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    steps           INTEGER NOT NULL,
    tool_calls      INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    cost_usd        REAL,
    transcript      BLOB
);
CREATE INDEX runs_conversation ON runs (conversation_id, started_at);
CREATE INDEX runs_started ON runs (started_at);

-- Proposals: changes awaiting or past a human decision. Survive restarts.
CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL DEFAULT '',
    tool            TEXT NOT NULL,
    summary         TEXT NOT NULL,
    details         TEXT NOT NULL DEFAULT '',
    risk            TEXT NOT NULL DEFAULT '',
    args            BLOB,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    decided_by      TEXT NOT NULL DEFAULT '',
    result          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX proposals_status ON proposals (status, created_at);

-- Audit: append-only record of who did what.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit (time);

-- Incidents: alert groups and their threads.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    group_key   TEXT NOT NULL,
    status      TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL DEFAULT '',
    thread_ts   TEXT NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    updated_at  INTEGER NOT NULL,
    data        BLOB
);
CREATE INDEX incidents_group ON incidents (group_key, status);
