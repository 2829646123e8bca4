-- migrate:up
-- What ingest knows of the PVOG feed: services, procedures (Leistungen), their regional ties, and the cursor.
CREATE TABLE pvog_service (
    agency     text NOT NULL,
    id         text NOT NULL,
    name       text,
    url        text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency, id)
);

CREATE TABLE pvog_leistung (
    agency     text NOT NULL,
    id         text NOT NULL,
    name       text,
    leika_key  text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency, id)
);

-- One row per Zustaendigkeit and region; `authority_id` is null where the region names no authority.
CREATE TABLE pvog_tie (
    agency          text    NOT NULL,
    id              text    NOT NULL,
    region          text    NOT NULL,
    service_agency  text    NOT NULL,
    service_id      text    NOT NULL,
    leistung_agency text,
    leistung_id     text,
    authority_id    text,
    procedure_id    text    NOT NULL,
    active          boolean NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency, id, region)
);
CREATE INDEX pvog_tie_service ON pvog_tie (service_agency, service_id);
CREATE INDEX pvog_tie_leistung ON pvog_tie (leistung_agency, leistung_id);
CREATE INDEX pvog_tie_link ON pvog_tie (authority_id, procedure_id) WHERE active;

CREATE TABLE pvog_cursor (
    feed       text PRIMARY KEY,
    next_url   text        NOT NULL,
    pages      bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
