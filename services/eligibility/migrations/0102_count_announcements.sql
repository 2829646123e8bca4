-- migrate:up
-- How many threshold events were announced per authority; each event carries its number (`sequence`).
ALTER TABLE authority_count ADD COLUMN announced integer NOT NULL DEFAULT 0;

-- migrate:down
