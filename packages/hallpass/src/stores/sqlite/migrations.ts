// The SQLite schema, as an ordered list of migrations kept in TypeScript so the build ships them.
// Migration i brings the database from `PRAGMA user_version` i to i + 1. Never edit a released
// migration: append a new one (a database at version N only ever runs migrations N, N+1, …).
//
// Design notes:
// - Times are epoch milliseconds in INTEGER columns (64-bit; a non-integral value would be kept
//   as REAL, so any finite JS number round-trips exactly). JSON members are TEXT.
// - Tables are ordinary rowid tables (not WITHOUT ROWID): session rows carry up to a few kB of
//   claims, which WITHOUT ROWID stores badly.
// - `seq INTEGER PRIMARY KEY AUTOINCREMENT` on the revocation feed: AUTOINCREMENT guarantees that
//   a sequence number is never handed out twice, even after `purgeExpired` deleted the newest
//   entries (a plain rowid may reuse max(rowid) + 1). Feed cursors are these numbers, so a
//   reused one would make a reconnecting verifier skip a revocation.
// - Text compares with the BINARY collation: subjects and ids match byte for byte (no case
//   folding, no LIKE anywhere, so `%` and `_` in a subject are ordinary characters).

export const sqliteMigrations: readonly string[] = [
  `
  CREATE TABLE hallpass_sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    subject         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    generation      INTEGER NOT NULL,
    refresh_hash    TEXT    NOT NULL,
    previous_hash   TEXT,
    rotated_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoke_reason   TEXT,
    device          TEXT    NOT NULL,
    claims          TEXT    NOT NULL,
    scope           TEXT,
    audience        TEXT
  );
  -- listSessions and revokeSubjectSessions: one subject's sessions, newest first.
  CREATE INDEX hallpass_sessions_subject ON hallpass_sessions (subject, created_at);
  -- purgeExpired: either deadline may have passed (SQLite combines both indexes for the OR).
  CREATE INDEX hallpass_sessions_expires ON hallpass_sessions (expires_at);
  CREATE INDEX hallpass_sessions_idle ON hallpass_sessions (idle_expires_at);

  CREATE TABLE hallpass_audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    event   TEXT    NOT NULL
  );
  -- listAudit: one subject's trail, newest first (seq breaks ties between equal times).
  CREATE INDEX hallpass_audit_subject_at ON hallpass_audit (subject, at, seq);

  CREATE TABLE hallpass_revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sid        TEXT    NOT NULL,
    exp        INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL,
    reason     TEXT    NOT NULL
  );
  -- readRevocations walks the rowid (seq) itself; purgeExpired needs exp.
  CREATE INDEX hallpass_revocations_exp ON hallpass_revocations (exp);

  CREATE TABLE hallpass_keyring (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL CHECK (version > 0),
    data    TEXT    NOT NULL
  );
  `,  // 2: fewer pages written per refresh (bench/README.md, "Where the SQLite refresh time goes").
  // - The idle-deadline index moved on every rotation (a delete in one leaf, an insert in
  //   another) and served only purgeExpired, which runs rarely and may scan the table.
  // - hallpass_audit.seq loses AUTOINCREMENT, which rewrote sqlite_sequence on every audit row.
  //   seq is only a tie-break between events of the same millisecond, never exposed: a plain
  //   rowid is still max + 1, so the order holds. (The feed keeps AUTOINCREMENT: its seq is a
  //   cursor, see above.)
  `
  DROP INDEX hallpass_sessions_idle;

  CREATE TABLE hallpass_audit_v2 (
    seq     INTEGER PRIMARY KEY,
    subject TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    event   TEXT    NOT NULL
  );
  INSERT INTO hallpass_audit_v2 (seq, subject, at, event) SELECT seq, subject, at, event FROM hallpass_audit;
  DROP TABLE hallpass_audit;
  ALTER TABLE hallpass_audit_v2 RENAME TO hallpass_audit;
  DELETE FROM sqlite_sequence WHERE name = 'hallpass_audit';
  CREATE INDEX hallpass_audit_subject_at ON hallpass_audit (subject, at, seq);
  `,
  // 3: revocation feeds that hold at every edge (src/session/feed-cursor.ts).
  // - hallpass_meta.feed_epoch names this database's feed, drawn when the schema is created: a
  //   cursor of another database is then recognised as foreign.
  // - max_access_exp: the least exp of a revocation entry of the session (SessionRecord). 0 for
  //   sessions from before it, whose entries take the lifetime of the revoking instance.
  // - Feed positions are made from the clock from now on (max(last + 1, now in µs)), so a file
  //   restored from an older copy never gives out a position again. Old positions are smaller.
  `
  CREATE TABLE hallpass_meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO hallpass_meta (key, value) VALUES ('feed_epoch', lower(hex(randomblob(8))));
  ALTER TABLE hallpass_sessions ADD COLUMN max_access_exp INTEGER NOT NULL DEFAULT 0;
  `,
  // 4: undelivered_hash, the current refresh token while its answer is known to be lost
  // (SessionRecord.undeliveredHash; docs/design.md, "A lost answer is not theft"). NULL
  // otherwise, which is what every session from before it is.
  `
  ALTER TABLE hallpass_sessions ADD COLUMN undelivered_hash TEXT;
  `,
]
