-- One row whose update serialises every change to incidents across
-- replicas (UpdateIncidents): read-modify-write of an incident, and the
-- storm decision that reads a channel's open incidents, are one
-- transaction each, one at a time.
CREATE TABLE incident_lock (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO incident_lock (id, n) VALUES (1, 0);
