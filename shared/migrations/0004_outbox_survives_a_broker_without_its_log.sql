-- migrate:up
-- Dead letters go out through the outbox too (with their dlq_* headers), so that they commit with the consumer's
-- offset and survive a broker that loses its log; a dead letter may have no key.
ALTER TABLE outbox ADD COLUMN headers jsonb;
ALTER TABLE outbox ALTER COLUMN key DROP NOT NULL;
CREATE INDEX outbox_created ON outbox (created_at);

-- Where the relay's own publishes ended on the broker, per partition: `next_offset` is one past the last record it
-- published (the next one must get at least this), `round_start` the first offset of its latest round. A log
-- whose end lies below `round_start + 1` has lost what the relay published (a broker restarted empty, a topic
-- deleted and recreated), and so has one that hands out offsets below `next_offset`: the relay then publishes
-- the retained outbox rows of that topic again. (`round_start`, not `next_offset`, because some brokers report
-- the start of the last record batch + 1 as a log's end.)
CREATE TABLE relay_position (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    round_start bigint      NOT NULL,
    cluster_id  text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- The relay's leadership: a lease renewed every round. Another instance takes over when the lease runs out (the
-- leader froze or lost its network) or at once when the leader's connection is gone (the process died).
CREATE TABLE relay_lease (
    name        text PRIMARY KEY,
    holder      uuid        NOT NULL,
    backend_pid integer     NOT NULL,
    until       timestamptz NOT NULL
);

-- migrate:down
