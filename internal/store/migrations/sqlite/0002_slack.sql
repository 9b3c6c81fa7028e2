-- Who asked for a proposal (the requester may not approve it unless
-- allowed), and where it was shown, so its message can be updated.
ALTER TABLE proposals ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE proposals ADD COLUMN location TEXT NOT NULL DEFAULT '';

-- Outbox: messages accepted for delivery to Slack, kept until delivered so
-- that a restart loses nothing. Of pending rows with one key (updates of one
-- message) only the newest is delivered.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',
    payload     BLOB NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    result      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (status, next_at, id);
CREATE INDEX outbox_key ON outbox (key, status);

-- Claims: keys of work already taken (a Slack event_id, a replayed
-- signature), so a retried delivery is handled once, across replicas.
CREATE TABLE claims (
    key         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX claims_expiry ON claims (expires_at);

-- Approvals given to a proposal (a two-person rule needs two distinct people).
CREATE TABLE proposal_approvals (
    proposal_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, actor)
);
