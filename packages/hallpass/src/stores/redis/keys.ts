/*
 * The keys of the Redis stores (prefix `hp:` by default; `<…>` parts are always encoded, never
 * raw input):
 *
 * | key                              | type       | slot        | holds                                   |
 * | -------------------------------- | ---------- | ----------- | --------------------------------------- |
 * | `hp:{s:<sid>}`                   | hash       | the session | one session record                      |
 * | `hp:{u:<subj>}:sessions`         | sorted set | the subject | session ids by `createdAt`              |
 * | `hp:{u:<subj>}:audit`            | list       | the subject | audit events, newest first, capped 1000 |
 * | `hp:{audit}:recent`              | stream     | recent      | every subject's events, capped 10,000   |
 * | `hp:{feed}:revocations`          | stream     | the feed    | revocation feed; position = stream id   |
 * | `hp:{feed}:sids`, `hp:{feed}:exp` | hash, zset | the feed    | sid → stream id (dedup), sid by `exp`   |
 * | `hp:{feed}:epoch`, `hp:{feed}:head` | strings  | the feed    | feed epoch; newest stream id given out  |
 * | `hp:{gc}:sessions`               | sorted set | purge index | sessions by their earlier deadline      |
 * | `hp:{keyring}`                   | hash       | the keyring | `version`, `data`                       |
 *
 * Live revocations are published on the channel `hp:{feed}:revocations:live`.
 *
 * Encodings, so that no input can break a hash tag (Redis hashes only the text between the
 * first `{` and the next `}`) or make two inputs share a key:
 * - `<subj>` is `u:` + base64url(UTF-8 subject) when that is at most 96 bytes, else `uh:` +
 *   base64url(SHA-256) (of the UTF-8, or of the JSON text for strings with lone surrogates, under
 *   distinct domain bytes). Base64url has no `{` or `}`, and the `u:`/`uh:` split keeps raw and
 *   hashed forms apart.
 * - `<sid>` is `s:` + the id when it is 1-128 base64url characters (every id the manager mints),
 *   else `sx:`/`sxh:` + the same encoding as subjects.
 */
import { createHash } from 'node:crypto'
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import { json, parseJsonString } from './codec.ts'

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** The `keyPrefix` option of both Redis stores; `hp:` when not given. */
export function checkKeyPrefix(keyPrefix: unknown): string {
  const prefix = keyPrefix ?? 'hp:'
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    throw new ConfigInvalid('keyPrefix', 'must be a string of at most 64 characters without "{" or "}"')
  }
  return prefix
}

export type RedisKeys = ReturnType<typeof sessionKeys>

/** The keys and the live channel of the session store under `prefix`. */
export function sessionKeys(prefix: string) {
  return {
    session: (id: string): string => `${prefix}{${sessionTag(id)}}`,
    index: (subject: string): string => `${prefix}{${subjectTag(subject)}}:sessions`,
    indexByTag: (tag: string): string => `${prefix}{${tag}}:sessions`,
    audit: (subject: string): string => `${prefix}{${subjectTag(subject)}}:audit`,
    recentAudit: `${prefix}{audit}:recent`,
    feed: `${prefix}{feed}:revocations`,
    feedSids: `${prefix}{feed}:sids`,
    feedExp: `${prefix}{feed}:exp`,
    feedEpoch: `${prefix}{feed}:epoch`,
    feedHead: `${prefix}{feed}:head`,
    gc: `${prefix}{gc}:sessions`,
    keyring: `${prefix}{keyring}`,
    channel: `${prefix}{feed}:revocations:live`,
  }
}

function encodeTag(kind: string, value: string): string {
  if (!LONE_SURROGATE.test(value)) {
    const bytes = Buffer.from(value, 'utf8')
    if (bytes.length <= 96) return `${kind}:${bytes.toString('base64url')}`
    return `${kind}h:${createHash('sha256').update(Buffer.of(0)).update(bytes).digest('base64url')}`
  }
  // UTF-8 cannot carry a lone surrogate (it would become U+FFFD and collide); JSON text can.
  return `${kind}h:${createHash('sha256').update(Buffer.of(1)).update(JSON.stringify(value), 'utf8').digest('base64url')}`
}

/** The hash tag of a subject; the user store puts a user's hash in the same slot. */
export function subjectTag(subject: string): string {
  return encodeTag('u', subject)
}

function sessionTag(id: string): string {
  return SAFE_ID.test(id) ? `s:${id}` : encodeTag('sx', id)
}

// Purge index member: the subject's tag (no spaces in it) and the JSON-encoded session id.
export function gcMember(subject: string, id: string): string {
  return `${subjectTag(subject)} ${json(id)}`
}

export function parseGcMember(member: string): { subjectTagValue: string; sid: string } {
  const space = member.indexOf(' ')
  if (space <= 0) throw new StoreUnavailable('redis purge index is corrupt')
  return { subjectTagValue: member.slice(0, space), sid: parseJsonString(member.slice(space + 1)) }
}
