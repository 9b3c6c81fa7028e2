-- Files kept with an incident (the sampled traces its investigation
-- read), so that what its thread cites outlives the source's retention.
-- data is zstd-compressed; size is its length before compression.
CREATE TABLE incident_evidence (
    incident_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    summary      TEXT NOT NULL DEFAULT '',
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (incident_id, name)
);
