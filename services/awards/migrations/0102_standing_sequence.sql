-- migrate:up
-- The number (`sequence`) and time of the threshold event a standing comes from: an older event, re-published or
-- re-driven after a newer one, must not overwrite it.
ALTER TABLE authority_standing ADD COLUMN sequence integer;
ALTER TABLE authority_standing ADD COLUMN as_of timestamptz NOT NULL DEFAULT '-infinity';

-- migrate:down
