-- migrate:up
-- Partitions shared out in the database instead of by a Kafka consumer group (KAFKA_ASSIGNMENT=leases, see
-- shared/leases.py). `consumer` is the consumer's group id; one group may read several topics. A member lives while its process's dedicated
-- connection (`backend_pid`) does and it renews `until`; a partition's lease is its member's while that member
-- lives, and every batch's transaction locks its partitions' lease rows and checks that they are still its own.
CREATE TABLE consumer_member (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    member      uuid        NOT NULL,
    backend_pid integer     NOT NULL,
    until       timestamptz NOT NULL,
    PRIMARY KEY (consumer, topic, member)
);

CREATE TABLE partition_lease (
    consumer  text    NOT NULL,
    topic     text    NOT NULL,
    partition integer NOT NULL,
    member    uuid    NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- migrate:down
