-- migrate:up
CREATE TABLE contact (
    authority_id text PRIMARY KEY,
    email        text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One email per event that concerns an authority; it waits (pending) until a contact exists and it is due.
CREATE TABLE notification (
    event_id        uuid PRIMARY KEY,
    authority_id    text        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_to         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notification_due ON notification (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_authority ON notification (authority_id);

-- The public listing: every award, current or revoked.
CREATE TABLE holder (
    award_number text PRIMARY KEY,
    authority_id text        NOT NULL,
    case_id      uuid        NOT NULL,
    awarded_at   date        NOT NULL,
    revoked_at   timestamptz,
    revoke_reason text
);
CREATE UNIQUE INDEX holder_one_current ON holder (authority_id) WHERE revoked_at IS NULL;

-- migrate:down
