-- PostgreSQL form of sqlite/0004_security.sql.
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
INSERT INTO incident_groups (group_key, incident_id) SELECT group_key, id FROM incidents ON CONFLICT DO NOTHING;
-- PostgreSQL's JSON functions refuse \u0000, which Go writes for a NUL in
-- any string (an annotation, a note): it is dropped from the text read here
-- (only the group keys are used), so such a row cannot stop the upgrade.
INSERT INTO incident_groups (group_key, incident_id)
    SELECT k, d.id FROM
        (SELECT id, replace(convert_from(data, 'UTF8'), '\u0000', '')::json AS doc FROM incidents
            WHERE data IS NOT NULL AND length(data) > 0) d,
        json_array_elements_text(CASE WHEN json_typeof(d.doc -> 'groupKeys') = 'array' THEN d.doc -> 'groupKeys' ELSE '[]'::json END) AS k
    ON CONFLICT DO NOTHING;
-- Storm merging looks for open incidents of one channel by start time; a
-- click in a thread looks for the incident by its thread.
CREATE INDEX incidents_open_channel ON incidents (status, channel, started_at);
CREATE INDEX incidents_thread ON incidents (channel, thread_ts);
