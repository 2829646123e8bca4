-- migrate:up
-- Whether an authority is under review now, from the case events (for its public page): notify's own read model.
CREATE TABLE open_review (
    authority_id text PRIMARY KEY,
    case_id      uuid        NOT NULL,
    kind         text        NOT NULL,
    opened_at    timestamptz NOT NULL
);

-- migrate:down
