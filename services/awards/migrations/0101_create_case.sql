-- migrate:up
CREATE TABLE reviewer (
    name       text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
    token_hash text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- What awards knows of each authority's count, from the threshold events.
CREATE TABLE authority_standing (
    authority_id text PRIMARY KEY,
    count        integer     NOT NULL,
    threshold    integer     NOT NULL,
    eligible     boolean     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE review_case (
    case_id      uuid PRIMARY KEY,
    authority_id text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('award', 'revocation')),
    status       text        NOT NULL CHECK (status IN ('open', 'claimed', 'decided')),
    count        integer     NOT NULL,
    award_number text,
    opened_at    timestamptz NOT NULL,
    claimed_by   text REFERENCES reviewer (name),
    claimed_at   timestamptz,
    decision     text CHECK (decision IN ('approve', 'reject', 'revoke', 'keep')),
    reason       text,
    decided_by   text REFERENCES reviewer (name),
    decided_at   timestamptz,
    CHECK ((status = 'decided') = (decision IS NOT NULL)),
    CHECK (status = 'open' OR claimed_by IS NOT NULL)
);
-- At most one undecided case per authority: a second crossing cannot open a second case.
CREATE UNIQUE INDEX review_case_one_undecided ON review_case (authority_id) WHERE status <> 'decided';
CREATE INDEX review_case_queue ON review_case (status, kind, opened_at DESC);

-- Every action on a case: who, what, when, why.
CREATE TABLE case_action (
    id        bigserial PRIMARY KEY,
    case_id   uuid        NOT NULL REFERENCES review_case (case_id),
    action    text        NOT NULL,
    actor     text        NOT NULL,
    reason    text,
    count     integer,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_action_case ON case_action (case_id, id);

CREATE TABLE award (
    award_number    text PRIMARY KEY,
    authority_id    text        NOT NULL,
    case_id         uuid        NOT NULL REFERENCES review_case (case_id),
    awarded_at      date        NOT NULL,
    revoked_at      timestamptz,
    revoked_case_id uuid REFERENCES review_case (case_id)
);
CREATE UNIQUE INDEX award_one_current ON award (authority_id) WHERE revoked_at IS NULL;

-- Award numbers are gapless within a year: the counter moves in the approving transaction.
CREATE TABLE award_counter (
    year integer PRIMARY KEY,
    last integer NOT NULL
);

-- migrate:down
