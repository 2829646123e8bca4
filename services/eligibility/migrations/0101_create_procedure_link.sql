-- migrate:up
-- The latest known state of every procedure link, counted or not.
CREATE TABLE procedure_link (
    authority_id text        NOT NULL,
    procedure_id text        NOT NULL,
    linked       boolean     NOT NULL,
    counted      boolean     NOT NULL,
    name         text,
    scope        text,
    kind         text,
    occurred_at  timestamptz NOT NULL,
    change_id    text        NOT NULL,
    linked_at    timestamptz,
    PRIMARY KEY (authority_id, procedure_id)
);

-- Each authority's running count and the eligibility last announced in an event.
CREATE TABLE authority_count (
    authority_id text PRIMARY KEY,
    count        integer     NOT NULL CHECK (count >= 0),
    threshold    integer     NOT NULL,
    eligible     boolean     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
