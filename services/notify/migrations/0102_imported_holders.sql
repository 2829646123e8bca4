-- migrate:up
-- Holders imported from before the system (AwardImported) have no case of ours.
ALTER TABLE holder ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE holder ADD COLUMN imported boolean NOT NULL DEFAULT false;

-- migrate:down
