-- migrate:up
-- Every accepted portal change, kept for audit; `change_id` is the dedupe key.
CREATE TABLE portal_change (
    change_id    text PRIMARY KEY,
    source       text        NOT NULL,
    authority_id text        NOT NULL,
    procedure_id text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('linked', 'unlinked')),
    occurred_at  timestamptz NOT NULL,
    procedure    jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Ingest's current view of each link: the latest change per authority and procedure.
CREATE TABLE link_state (
    authority_id text        NOT NULL,
    procedure_id text        NOT NULL,
    linked       boolean     NOT NULL,
    procedure    jsonb       NOT NULL,
    occurred_at  timestamptz NOT NULL,
    change_id    text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (authority_id, procedure_id)
);

-- migrate:down
