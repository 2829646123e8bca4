-- migrate:up
-- The plaque of an award: a personal link (only its hash is kept) to a form for the shipping address and a
-- contact; the request can be changed until it is shipped.
CREATE TABLE plaque_request (
    award_number  text PRIMARY KEY,
    authority_id  text        NOT NULL,
    token_hash    text        NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    requested_at  timestamptz,
    updated_at    timestamptz,
    recipient     text,
    street        text,
    postal_code   text,
    city          text,
    contact_name  text,
    contact_email text,
    contact_phone text,
    shipped_on    date,
    shipped_by    text
);
CREATE INDEX plaque_request_open ON plaque_request (requested_at) WHERE requested_at IS NOT NULL AND shipped_on IS NULL;

-- migrate:down
