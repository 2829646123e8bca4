-- migrate:up
-- The last offset each consumer applied per partition, written in the same transaction as its state.
CREATE TABLE consumer_offset (
    consumer   text        NOT NULL,
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- migrate:down
