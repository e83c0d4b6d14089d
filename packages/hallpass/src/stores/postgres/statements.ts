// The statements of the PostgreSQL session store, one per operation: each is one autocommit
// statement, so one round trip and one atomic step. Revocations append to the feed and NOTIFY
// in the same statement (feed.ts). Text and JSON parameters arrive escaped (text-escape.ts).
import { revocationSelect, SESSION_SELECT } from './codec.ts'
import { feedLock, notifyFeed } from './feed.ts'

/**
 * listRecentAudit's statement for the filters given (parameters: subject, before, types, in
 * that order when present, then the limit). Newest first is the order written: `id` is a
 * bigserial, so without a subject the primary key is walked backwards and the walk stops after
 * `limit` rows; with one, audit_subject_idx (subject, id DESC) serves the order directly. No
 * index on `at`: it would cost every refresh's audit insert another index entry, and a plain
 * CREATE INDEX in a migration would hold up audit inserts (so refreshes) while it is built on a
 * large table. Deep pages pay instead (`at < before` skips the newer rows). Subjects are stored
 * escaped (text-escape.ts): the caller passes `encodeText(subject)`.
 */
export function recentAuditStatement(S: string, filters: { subject: boolean; before: boolean; types: boolean }): string {
  const where: string[] = []
  let n = 0
  if (filters.subject) where.push(`subject = $${++n}`)
  if (filters.before) where.push(`at < $${++n}::bigint`)
  if (filters.types) where.push(`event->>'type' = ANY($${++n}::text[])`)
  return `SELECT event::text AS event FROM ${S}.audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${++n}`
}

/** The statements on the tables of the schema `S` (a quoted identifier). */
export function sessionStatements(S: string) {
  return {
    getSession: `SELECT ${SESSION_SELECT} FROM ${S}.sessions WHERE id = $1`,
    createSession: `WITH s AS (
        INSERT INTO ${S}.sessions (id, subject, created_at, expires_at, idle_expires_at, last_seen_at, generation,
          refresh_hash, previous_hash, rotated_at, revoked_at, revoke_reason, device, claims, scope, audience, max_access_exp,
          undelivered_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16::jsonb, $20, $21)
      )
      INSERT INTO ${S}.audit (subject, at, event) VALUES ($17, $18, $19::jsonb)`,
    // Compare-and-set in one statement. Under READ COMMITTED, concurrent UPDATEs of one row
    // queue on its row lock, and each re-checks the WHERE clause against the row as the winner
    // left it (EvalPlanQual): exactly one of N identical attempts matches. The audit insert runs
    // only for the updated row. When nothing was updated, `cur` returns the row as it is now:
    // FOR SHARE makes it wait for and read the latest committed version, not the version in the
    // statement's snapshot. Without it, a loser of the race would get the pre-rotation row back
    // (same generation, same hash) and could not tell that it lost to a concurrent refresh.
    rotate: `WITH upd AS (
        UPDATE ${S}.sessions SET
          generation = generation + 1,
          previous_hash = refresh_hash,
          refresh_hash = $4,
          rotated_at = $5,
          last_seen_at = $5,
          idle_expires_at = $6,
          device = device || $7::jsonb,
          max_access_exp = GREATEST(max_access_exp, $10),
          undelivered_hash = NULL
        WHERE id = $1 AND generation = $2 AND refresh_hash = $3 AND revoked_at IS NULL
          AND expires_at > $5 AND idle_expires_at > $5
        RETURNING *
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event)
        SELECT upd.subject, $8, $9::jsonb || jsonb_build_object('subject', upd.subject) FROM upd
      ), cur AS (
        SELECT * FROM ${S}.sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd) FOR SHARE
      )
      SELECT true AS rotated, ${SESSION_SELECT} FROM upd
      UNION ALL
      SELECT false AS rotated, ${SESSION_SELECT} FROM cur`,
    markUndelivered: `UPDATE ${S}.sessions SET undelivered_hash = refresh_hash
      WHERE id = $1 AND generation = $2 AND refresh_hash = $3 AND revoked_at IS NULL AND ($4::bigint IS NULL OR rotated_at = $4::bigint)`,
    // The rotation's compare-and-set (see there), plus the mark: of concurrent callers, one clears it.
    redeliver: `WITH upd AS (
        UPDATE ${S}.sessions SET
          undelivered_hash = NULL,
          rotated_at = $4,
          last_seen_at = $4,
          idle_expires_at = $5,
          max_access_exp = GREATEST(max_access_exp, $6)
        WHERE id = $1 AND generation = $2 AND refresh_hash = $3 AND undelivered_hash = $3 AND revoked_at IS NULL
          AND expires_at > $4 AND idle_expires_at > $4
        RETURNING *
      ), cur AS (
        SELECT * FROM ${S}.sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd) FOR SHARE
      )
      SELECT true AS redelivered, ${SESSION_SELECT} FROM upd
      UNION ALL
      SELECT false AS redelivered, ${SESSION_SELECT} FROM cur`,
    revokeSession: `WITH ${feedLock('$8')},
      upd AS (
        UPDATE ${S}.sessions SET revoked_at = $2, revoke_reason = $3
        FROM lk WHERE id = $1 AND revoked_at IS NULL
        RETURNING id, max_access_exp
      ), feed AS (
        INSERT INTO ${S}.revocations (sid, exp, revoked_at, reason)
        SELECT id, GREATEST($4, max_access_exp), $2, $3 FROM upd
        RETURNING seq, sid, exp, revoked_at, reason
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event) SELECT $5, $6, $7::jsonb FROM upd
      ), ${notifyFeed('$9')}
      SELECT true AS revoked, ${revocationSelect(S)} FROM sent
      UNION ALL
      SELECT false, NULL, NULL, NULL, NULL, NULL, NULL FROM ${S}.sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
    revokeSubject: `WITH ${feedLock('$6')},
      upd AS (
        UPDATE ${S}.sessions SET revoked_at = $3, revoke_reason = $4
        FROM lk WHERE subject = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR id <> $2::text)
        RETURNING id, subject, max_access_exp
      ), feed AS (
        INSERT INTO ${S}.revocations (sid, exp, revoked_at, reason)
        SELECT id, GREATEST($5, max_access_exp), $3, $4 FROM upd ORDER BY id
        RETURNING seq, sid, exp, revoked_at, reason
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event)
        SELECT subject, $3, jsonb_build_object('type', 'session.revoked', 'at', $3::bigint, 'sessionId', id,
          'subject', subject, 'reason', $4::text)
        FROM upd
      ), ${notifyFeed('$7')}
      SELECT ${revocationSelect(S)} FROM sent ORDER BY seq`,
    listSessions: `SELECT ${SESSION_SELECT} FROM ${S}.sessions
      WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
      ORDER BY created_at DESC, id DESC`,
    appendAudit: `INSERT INTO ${S}.audit (subject, at, event) VALUES ($1, $2, $3::jsonb)`,
    listAudit: `SELECT event::text AS event FROM ${S}.audit WHERE subject = $1 ORDER BY id DESC LIMIT $2`,
    loadKeyring: `SELECT version, data FROM ${S}.keyring WHERE id`,
    insertKeyring: `INSERT INTO ${S}.keyring (id, version, data) VALUES (true, 1, $1) ON CONFLICT (id) DO NOTHING`,
    updateKeyring: `UPDATE ${S}.keyring SET version = version + 1, data = $2 WHERE id AND version = $1`,
    // The audit keeps the newest $2 events of each subject (the other stores do the same).
    purge: `WITH s AS (
        DELETE FROM ${S}.sessions WHERE LEAST(expires_at, idle_expires_at) < $1 RETURNING 1
      ), r AS (
        DELETE FROM ${S}.revocations WHERE exp < $3 RETURNING 1
      ), a AS (
        DELETE FROM ${S}.audit WHERE id IN (
          SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY subject ORDER BY id DESC) AS n FROM ${S}.audit) ranked
          WHERE n > $2
        ) RETURNING 1
      )
      SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM r) + (SELECT count(*) FROM a) AS removed`,
  }
}
