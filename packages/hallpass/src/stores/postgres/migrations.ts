/**
 * @module hallpass/stores/postgres
 *
 * The PostgreSQL schema of the session store, as versioned migrations. They live in a TypeScript
 * module (not `.sql` files) so the build ships them with the code that runs them. Each migration
 * runs once per schema, inside the transaction that holds the migration lock, and is recorded in
 * `<schema>.schema_migrations`. Never edit a released migration: append a new one.
 *
 * Column notes: times are epoch milliseconds in `bigint` (a JS number holds them exactly);
 * feed `exp` is epoch seconds. Text values are stored through a reversible escape for the few
 * code units PostgreSQL text cannot hold (NUL, lone surrogates), so ordinary values read as-is.
 *
 * @example
 * ```ts
 * import { postgresMigrations } from 'hallpass/stores/postgres'
 * for (const m of postgresMigrations('"hallpass"')) console.log(m.version, m.name)
 * ```
 */

/** One schema change: applied in `version` order, each at most once per schema. */
export interface PostgresMigration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

/**
 * The migrations for a schema, given its already-quoted identifier (`"hallpass"`). The caller
 * validates the schema name; the identifier is the only thing interpolated, never a value.
 *
 * @example
 * ```ts
 * const [first] = postgresMigrations('"hallpass"')
 * // first.version === 1
 * ```
 */
export function postgresMigrations(schemaIdent: string): readonly PostgresMigration[] {
  const s = schemaIdent
  return [
    {
      version: 1,
      name: 'sessions, audit, revocation feed, keyring',
      sql: `
CREATE TABLE ${s}.sessions (
  id              text    PRIMARY KEY,
  subject         text    NOT NULL,
  created_at      bigint  NOT NULL,
  expires_at      bigint  NOT NULL,
  idle_expires_at bigint  NOT NULL,
  last_seen_at    bigint  NOT NULL,
  generation      bigint  NOT NULL,
  refresh_hash    text    NOT NULL,
  previous_hash   text,
  rotated_at      bigint  NOT NULL,
  revoked_at      bigint,
  revoke_reason   text,
  device          jsonb   NOT NULL DEFAULT '{}'::jsonb,
  claims          jsonb   NOT NULL DEFAULT '{}'::jsonb,
  scope           text,
  audience        jsonb
);
-- listSessions / revokeSubjectSessions: one subject, newest first.
CREATE INDEX sessions_subject_idx ON ${s}.sessions (subject, created_at DESC);
-- purgeExpired: whichever deadline comes first.
CREATE INDEX sessions_deadline_idx ON ${s}.sessions ((LEAST(expires_at, idle_expires_at)));

CREATE TABLE ${s}.audit (
  id      bigserial PRIMARY KEY,
  subject text      NOT NULL,
  at      bigint    NOT NULL,
  event   jsonb     NOT NULL
);
CREATE INDEX audit_subject_idx ON ${s}.audit (subject, id DESC);

-- The revocation feed: seq is the cursor. Writers serialise on an advisory lock so that seq
-- order is commit order (see postgres.ts), which is what makes cursor catch-up lossless.
CREATE TABLE ${s}.revocations (
  seq        bigserial PRIMARY KEY,
  sid        text      NOT NULL,
  exp        bigint    NOT NULL,
  revoked_at bigint    NOT NULL,
  reason     text      NOT NULL
);
CREATE INDEX revocations_exp_idx ON ${s}.revocations (exp);

-- One row at most: the boolean key can only be true.
CREATE TABLE ${s}.keyring (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint  NOT NULL CHECK (version > 0),
  data    text    NOT NULL
);
`,
    },
    {
      version: 2,
      name: 'feed epoch, clock-made feed positions, sessions.max_access_exp',
      // - meta.feed_epoch names this schema's feed (src/session/feed-cursor.ts), drawn once here.
      // - Feed positions come from next_feed_position(): max(last + 1, now in µs) on the database
      //   server's clock, so a schema restored from an older dump (whose setval takes the sequence
      //   back) never gives out a position again. Feed writers hold the feed lock, so positions
      //   still follow commit order.
      // - max_access_exp: the least exp of a feed entry of the session (SessionRecord).
      sql: `
CREATE TABLE ${s}.meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO ${s}.meta (key, value)
VALUES ('feed_epoch', substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 16));

CREATE FUNCTION ${s}.next_feed_position() RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT setval('${s.replaceAll("'", "''")}.revocations_seq_seq',
    GREATEST(nextval('${s.replaceAll("'", "''")}.revocations_seq_seq'), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint))
$$;
ALTER TABLE ${s}.revocations ALTER COLUMN seq SET DEFAULT ${s}.next_feed_position();

ALTER TABLE ${s}.sessions ADD COLUMN max_access_exp bigint NOT NULL DEFAULT 0;
`,
    },
    {
      version: 3,
      name: 'sessions.undelivered_hash',
      // The current refresh token while its answer is known to be lost (SessionRecord; docs/
      // design.md, "A lost answer is not theft"). A nullable column without a default: adding it
      // rewrites nothing and holds the table's lock only for a moment.
      sql: `
ALTER TABLE ${s}.sessions ADD COLUMN undelivered_hash text;
`,
    },
  ]
}
