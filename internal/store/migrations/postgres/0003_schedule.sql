-- PostgreSQL form of sqlite/0003_schedule.sql.
-- When an applied change is due to be checked (Unix ms); NULL once checked
-- or when it is not checked. Kept in the store so that a restart, or another
-- replica taking over, still checks it.
ALTER TABLE proposals ADD COLUMN verify_at BIGINT;
CREATE INDEX proposals_verify ON proposals (verify_at);
