-- The Inter-Hub tables ops-hub-bootstrap.sql writes to: THIS PROJECT'S
-- ASSUMPTION of the (non-public) Inter-Hub schema, documented in
-- wiki/Contract.md ("SQL fallback"). Check it against the real database
-- before applying the fallback; the tests create exactly these tables.
CREATE TABLE IF NOT EXISTS hubs (
    id          text PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS hub_manifests (
    id         text PRIMARY KEY,
    hub_slug   text NOT NULL REFERENCES hubs (slug),
    version    text NOT NULL,
    digest     text NOT NULL,
    status     text NOT NULL CHECK (status IN ('draft', 'active', 'superseded')),
    document   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (hub_slug, digest)
);
-- At most one active manifest per hub.
CREATE UNIQUE INDEX IF NOT EXISTS hub_manifests_one_active ON hub_manifests (hub_slug) WHERE status = 'active';
-- The registries (widget-types, event-types, annotation-categories; hub-registry
-- is the hubs with an active manifest).
CREATE TABLE IF NOT EXISTS widget_types (
    key       text PRIMARY KEY,
    owner_hub text NOT NULL REFERENCES hubs (slug),
    schema    jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS event_types (
    key       text PRIMARY KEY,
    owner_hub text NOT NULL REFERENCES hubs (slug),
    schema    jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_categories (
    key       text PRIMARY KEY,
    owner_hub text NOT NULL REFERENCES hubs (slug),
    label     text NOT NULL
);
CREATE TABLE IF NOT EXISTS api_consumers (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    hub_slug text NOT NULL REFERENCES hubs (slug),
    scopes   text[] NOT NULL,
    UNIQUE (name, hub_slug)
);
-- API keys live in their own table; the fallback never writes to it.
CREATE TABLE IF NOT EXISTS api_keys (
    id          text PRIMARY KEY,
    consumer_id text NOT NULL REFERENCES api_consumers (id),
    prefix      text NOT NULL,
    secret_hash text NOT NULL,
    status      text NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_widgets (
    id       text PRIMARY KEY,
    hub_slug text NOT NULL REFERENCES hubs (slug),
    key      text NOT NULL,
    type     text NOT NULL REFERENCES widget_types (key),
    title    text NOT NULL,
    config   jsonb NOT NULL,
    UNIQUE (hub_slug, key)
);
