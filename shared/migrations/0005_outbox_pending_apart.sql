-- migrate:up
-- What the relay has still to publish is a small table of its own: an outbox row is written once and never
-- updated. Before, publishing set `published_at`, a column in the predicate of the index of unpublished rows, so
-- every row was written twice (never a HOT update) and the outbox, the largest table, doubled along with its
-- vacuum work. The relay deletes a pending id once it has published the row; re-publishing after a broker lost
-- its log inserts the ids again.
CREATE TABLE outbox_pending (id bigint PRIMARY KEY);
INSERT INTO outbox_pending (id) SELECT id FROM outbox WHERE published_at IS NULL;
DROP INDEX outbox_unpublished;
-- An instance still running the previous code fails loudly on this column instead of publishing everything again.
ALTER TABLE outbox DROP COLUMN published_at;

-- Every row written to the outbox is pending, whatever code writes it (also an instance of the previous version
-- during a rolling deploy): one statement-level trigger, one INSERT per statement, bound to this schema.
CREATE FUNCTION outbox_pend() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO outbox_pending (id) SELECT id FROM written;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_pend AFTER INSERT ON outbox REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_pend();

-- migrate:down
