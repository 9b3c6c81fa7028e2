-- Why a change was proposed, in the requester's (usually the model's) words,
-- kept apart from the tool's own details so surfaces can show the details
-- first and the reason capped and labelled.
ALTER TABLE proposals ADD COLUMN reason TEXT NOT NULL DEFAULT '';
-- Every alert group an incident holds (a storm merges several), so that a
-- notification finds its incident by index instead of reading every open
-- incident.
CREATE TABLE incident_groups (
    group_key   TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    PRIMARY KEY (group_key, incident_id)
);
CREATE INDEX incident_groups_incident ON incident_groups (incident_id);
INSERT OR IGNORE INTO incident_groups (group_key, incident_id) SELECT group_key, id FROM incidents;
INSERT OR IGNORE INTO incident_groups (group_key, incident_id)
    SELECT j.value, i.id FROM incidents i, json_each(CAST(i.data AS TEXT), '$.groupKeys') j
    WHERE i.data IS NOT NULL AND json_valid(CAST(i.data AS TEXT)) AND json_type(CAST(i.data AS TEXT), '$.groupKeys') = 'array';
-- Storm merging looks for open incidents of one channel by start time; a
-- click in a thread looks for the incident by its thread.
CREATE INDEX incidents_open_channel ON incidents (status, channel, started_at);
CREATE INDEX incidents_thread ON incidents (channel, thread_ts);
