/**
 * @module hallpass/testing
 *
 * The behaviour suite every `SessionStore` must pass: SQLite, PostgreSQL, Redis and any store
 * you write. It runs on `node:test`; each case gets a fresh store from your factory, cleans it
 * up afterwards, and depends on no other case. Times in the suite are far from the wall clock
 * on purpose: a store decides with the `now` it is given, never with its own clock.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { isHallpassError } from '../errors.ts'
import { compareFeedCursors, formatFeedCursor, parseFeedCursor } from '../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../session/feed-reader.ts'
import type { RedeliverRefreshInput, RevocationListener, RotateRefreshInput, SessionStore } from '../session/store.ts'
import type { AuditEvent, AuditEventType, DeviceInfo, RevocationEntry, SessionRecord } from '../session/types.ts'

/** A fresh, empty store for one case, and how to dispose of it. */
export interface StoreUnderTest {
  readonly store: SessionStore
  cleanup(): Promise<void>
}

export interface StoreConformanceOptions {
  /** Skip the whole suite, saying why (e.g. `'PostgreSQL not reachable at …'`); `false` runs it. */
  readonly skip?: string | false
}

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/**
 * The default `createdAt` of fixtures: 2030-01-01T00:00:00Z, a fixed instant, so a store that
 * consulted its own clock instead of the `now` it is passed gets caught.
 */
export const FIXTURE_NOW = Date.UTC(2030, 0, 1)

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * Builds a `SessionRecord` for store tests: a random 128-bit id, generation 0, a random
 * refresh hash, created at `FIXTURE_NOW` (or the `createdAt` you pass) with a 7-day idle and a
 * 30-day absolute deadline counted from it, and empty device/claims. Overrides win.
 *
 * @example
 * import { sessionRecordFixture } from 'hallpass/testing'
 * const record = sessionRecordFixture({ subject: 'alice', createdAt: Date.UTC(2030, 0, 1) })
 * await store.createSession(record, { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: record.subject })
 */
export function sessionRecordFixture(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const createdAt = overrides.createdAt ?? FIXTURE_NOW
  return {
    id: randomToken(16),
    subject: 'user-1',
    createdAt,
    expiresAt: createdAt + 30 * DAY,
    idleExpiresAt: createdAt + 7 * DAY,
    lastSeenAt: createdAt,
    generation: 0,
    refreshHash: randomToken(32),
    previousHash: null,
    rotatedAt: createdAt,
    revokedAt: null,
    revokeReason: null,
    device: {},
    claims: {},
    scope: null,
    audience: null,
    maxAccessExp: 0,
    undeliveredHash: null,
    ...overrides,
  }
}

function createdAudit(record: SessionRecord): AuditEvent {
  return { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: record.subject }
}

async function seed(store: SessionStore, overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> {
  const record = sessionRecordFixture(overrides)
  await store.createSession(record, createdAudit(record))
  return record
}

function rotation(record: SessionRecord, overrides: Partial<RotateRefreshInput> = {}): RotateRefreshInput {
  const now = overrides.now ?? record.rotatedAt + MINUTE
  return {
    id: record.id,
    generation: record.generation,
    hash: record.refreshHash,
    newHash: randomToken(32),
    now,
    idleExpiresAt: Math.min(now + 7 * DAY, record.expiresAt),
    device: undefined,
    maxAccessExp: 0,
    // No subject: the store fills it from the stored session (store.ts).
    audit: { type: 'refresh.rotated', at: now, sessionId: record.id, generation: record.generation + 1 },
    ...overrides,
  }
}

/** The audit event a successful rotation must have written. */
function rotationAudit(record: SessionRecord, input: RotateRefreshInput): AuditEvent {
  return { ...input.audit, subject: record.subject }
}

/** What a successful rotation must leave behind, field by field (the contract in store.ts). */
function rotated(record: SessionRecord, input: RotateRefreshInput): SessionRecord {
  const fresh = Object.fromEntries(Object.entries(input.device ?? {}).filter(([, v]) => v !== undefined))
  return {
    ...record,
    generation: record.generation + 1,
    previousHash: input.hash,
    refreshHash: input.newHash,
    rotatedAt: input.now,
    lastSeenAt: input.now,
    idleExpiresAt: input.idleExpiresAt,
    device: { ...record.device, ...fresh },
    maxAccessExp: Math.max(record.maxAccessExp, input.maxAccessExp),
    undeliveredHash: null,
  }
}

function redelivery(record: SessionRecord, overrides: Partial<RedeliverRefreshInput> = {}): RedeliverRefreshInput {
  const now = overrides.now ?? record.rotatedAt + 10 * MINUTE
  return {
    id: record.id,
    generation: record.generation,
    hash: record.refreshHash,
    now,
    idleExpiresAt: Math.min(now + 7 * DAY, record.expiresAt),
    maxAccessExp: 0,
    ...overrides,
  }
}

/** What a successful redelivery must leave behind: the token issued again, the mark spent. */
function redelivered(record: SessionRecord, input: RedeliverRefreshInput): SessionRecord {
  return {
    ...record,
    undeliveredHash: null,
    rotatedAt: input.now,
    lastSeenAt: input.now,
    idleExpiresAt: input.idleExpiresAt,
    maxAccessExp: Math.max(record.maxAccessExp, input.maxAccessExp),
  }
}

function revocation(record: SessionRecord, now: number, reason = 'logout', feedExp = Math.ceil(now / 1000) + 600) {
  return {
    id: record.id,
    now,
    reason,
    feedExp,
    audit: { type: 'session.revoked', at: now, sessionId: record.id, subject: record.subject, reason } satisfies AuditEvent,
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  // The harness's own clock bounds the wait; it never feeds a store decision.
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(5)
  }
}

function sids(entries: readonly RevocationEntry[]): string[] {
  return entries.map((e) => e.sid)
}

function bySid<T extends { readonly sid: string }>(a: T, b: T): number {
  return a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : 0
}

/** Strings that break naive stores: NUL truncation, case or Unicode folding, LIKE/glob patterns, quoting, Redis hash tags, size. */
const HOSTILE_STRINGS: readonly string[] = [
  'a',
  'a\u0000b',
  'A',
  '\u00e9',
  'e\u0301',
  'Zo\u00eb \u{1F9D1}\u{1F3FD}\u200d\u{1F4BB} \u0645\u0631\u062d\u0628\u0627 \u202e\u05e2\u05d1\u05e8\u05d9\u05ea \u{1D518}',
  `quote ' double " back \` semi ; -- /* */`,
  "'); DROP TABLE sessions; --",
  '%',
  '_',
  '%_%',
  '\\',
  '\\%',
  '{tag}',
  '}{',
  '*',
  '[a-z]?',
  '$1 ${x}',
  'null',
  '0',
  ' padded ',
  'line\nbreak\r\ttab',
  'x'.repeat(10_240),
]

/** Claims a store must keep exactly: hostile keys and values, nesting, edge numbers, 10 kB. */
function hostileClaims(): Record<string, unknown> {
  // JSON.parse makes "__proto__" an own member, as it arrives from a client.
  const claims = JSON.parse('{"__proto__":{"polluted":true},"constructor":"c"}') as Record<string, unknown>
  return Object.assign(claims, {
    "quote'\"key": 'v',
    'nul\u0000key': 'a\u0000b',
    '%_{}': HOSTILE_STRINGS.slice(0, 12),
    unicode: 'Zo\u00eb \u{1F9D1}\u{1F3FD}\u200d\u{1F4BB}',
    nested: { arr: [1, -1.5, 0, true, false, null, 'x', [], {}], deep: { a: { b: { c: 'd' } } } },
    numbers: { big: 1e21, tiny: 5e-324, negative: -123456789.125, maxSafe: Number.MAX_SAFE_INTEGER, zero: 0 },
    empty: '',
    nothing: null,
    big: 'y'.repeat(10_240),
  })
}

type StoreCase = (title: string, body: (store: SessionStore, t: TestContext) => Promise<void>) => void

/**
 * Registers the store conformance suite with `node:test`. `makeStore` is called once per case
 * and must return an empty store; `cleanup` runs after the case whether it passed or not.
 *
 * @example
 * import { describeStoreConformance } from 'hallpass/testing'
 * import { createSqliteStore } from 'hallpass/stores/sqlite'
 * describeStoreConformance('sqlite :memory:', async () => {
 *   const store = createSqliteStore({ path: ':memory:' })
 *   return { store, cleanup: () => store.close() }
 * })
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: StoreConformanceOptions = {},
): void {
  const skip = options.skip ?? false
  const storeCase: StoreCase = (title, body) => {
    void it(title, async (t) => {
      const made = await makeStore()
      try {
        await body(made.store, t)
      } finally {
        await made.cleanup()
      }
    })
  }
  void describe(`SessionStore conformance: ${name}`, { skip }, () => {
    void describe('records', () => describeRecords(storeCase))
    void describe('rotateRefreshToken', () => describeRotation(storeCase))
    void describe('lost answers: markUndelivered, redeliverRefreshToken', () => describeUndelivered(storeCase))
    void describe('revocation', () => describeRevocation(storeCase))
    void describe('listSessions', () => describeListing(storeCase))
    void describe('audit trail', () => describeAudit(storeCase))
    void describe('listRecentAudit (optional)', () => describeRecentAudit(storeCase))
    void describe('revocation feed', () => describeFeed(storeCase))
    void describe('keyring', () => describeKeyring(storeCase))
    void describe('purgeExpired', () => describePurge(storeCase))
    void describe('clock', () => describeClock(storeCase))
  })
}

function describeRecords(storeCase: StoreCase): void {
  storeCase('createSession then getSession returns the record exactly, and logs the creation', async (store) => {
    const record = await seed(store, {
      subject: 'alice',
      device: { userAgent: 'Mozilla/5.0', ip: '203.0.113.7', label: 'laptop' },
      claims: { tenant: 't-1', roles: ['admin', 'ops'], level: 3 },
      scope: 'read write',
      audience: ['api', 'billing'],
    })
    assert.deepEqual(await store.getSession(record.id), record)
    assert.equal(await store.ping(), true)
    assert.deepEqual(await store.listAudit('alice', 10), [createdAudit(record)])
  })

  storeCase('hostile strings round-trip and match only themselves', async (store) => {
    const now = FIXTURE_NOW + MINUTE
    const records: SessionRecord[] = []
    for (const text of HOSTILE_STRINGS) {
      records.push(
        await seed(store, {
          subject: text,
          device: { userAgent: text, ip: text, label: text },
          claims: { text },
          scope: text,
          audience: [text, 'api'],
          revokeReason: null,
        }),
      )
    }
    for (const record of records) {
      assert.deepEqual(await store.getSession(record.id), record)
      // Each subject lists only its own session: no NUL truncation, no case or Unicode folding, no pattern matching.
      assert.deepEqual(await store.listSessions(record.subject, now), [record], `listSessions(${JSON.stringify(record.subject.slice(0, 40))})`)
      assert.deepEqual(await store.listAudit(record.subject, 10), [createdAudit(record)])
    }
    assert.deepEqual(await store.listSessions('a\u0000', now), [])
    assert.deepEqual(await store.listSessions('x'.repeat(10_239), now), [])
  })

  storeCase('claims, device and audience round-trip as JSON, hostile members included', async (store) => {
    const claims = hostileClaims()
    const record = await seed(store, {
      claims,
      device: JSON.parse('{"userAgent":"ua \\u0000 \\"q\\"","ip":"::1","label":"\\u00e9t\\u00e9","__proto__":"x"}') as DeviceInfo,
    })
    const stored = await store.getSession(record.id)
    assert.deepEqual(stored, record)
    assert.equal(Object.getPrototypeOf(stored.claims), Object.prototype)
    assert.deepEqual(Object.keys(stored.claims).sort(), Object.keys(claims).sort())
    // Claims survive a rotation untouched; the device merge keeps hostile members as members.
    const input = rotation(record, { device: { ip: '198.51.100.1' } })
    const result = await store.rotateRefreshToken(input)
    assert.equal(result.rotated, true)
    assert.deepEqual(result.session, rotated(record, input))
    assert.deepEqual(await store.getSession(record.id), rotated(record, input))
  })

  storeCase('numbers, empty values and nulls round-trip exactly', async (store) => {
    const zeroes = await seed(store, {
      createdAt: 0,
      lastSeenAt: 0,
      rotatedAt: 0,
      idleExpiresAt: 8.64e15,
      expiresAt: Number.MAX_SAFE_INTEGER,
      generation: 2 ** 40 + 7,
      previousHash: '',
      scope: '',
      audience: [],
      claims: {},
      device: {},
    })
    const revokedAtZero = await seed(store, { revokedAt: 0, revokeReason: '', scope: null, audience: null })
    const plain = await seed(store, { generation: 2 ** 31 + 1, previousHash: 'prev' })
    for (const record of [zeroes, revokedAtZero, plain]) {
      const stored = await store.getSession(record.id)
      assert.deepEqual(stored, record)
      for (const key of ['createdAt', 'expiresAt', 'idleExpiresAt', 'lastSeenAt', 'generation', 'rotatedAt'] as const) {
        assert.equal(typeof stored[key], 'number', key)
      }
    }
    // revokedAt 0 is a revocation, not an absent value.
    assert.deepEqual(await store.listSessions(revokedAtZero.subject, FIXTURE_NOW + MINUTE), [plain, zeroes])
    const again = await store.revokeSession(revocation(revokedAtZero, FIXTURE_NOW + MINUTE))
    assert.deepEqual(again, { revoked: false, why: 'already_revoked' })
  })

  storeCase('ping answers true on a working store', async (store) => {
    assert.equal(await store.ping(), true)
  })

  storeCase('unknown and hostile ids are simply not found', async (store) => {
    const record = await seed(store)
    for (const id of ['', randomToken(16), record.id.toUpperCase() === record.id ? `${record.id}x` : record.id.toUpperCase(), `${record.id}\u0000`, `${record.id} `, '%', ...HOSTILE_STRINGS]) {
      assert.equal(await store.getSession(id), undefined)
      assert.deepEqual(await store.rotateRefreshToken(rotation({ ...record, id })), { rotated: false, session: undefined })
      assert.deepEqual(await store.revokeSession(revocation({ ...record, id }, FIXTURE_NOW + MINUTE)), { revoked: false, why: 'not_found' })
    }
    assert.deepEqual(await store.getSession(record.id), record)
    assert.deepEqual(await store.readRevocations(undefined, 100), [])
  })
}

async function assertRefused(
  store: SessionStore,
  before: SessionRecord | undefined,
  input: RotateRefreshInput,
  subject = before?.subject ?? 'user-1',
): Promise<void> {
  const auditBefore = await store.listAudit(subject, 1000)
  const result = await store.rotateRefreshToken(input)
  assert.deepEqual(result, { rotated: false, session: before })
  if (before !== undefined) assert.deepEqual(await store.getSession(before.id), before)
  assert.deepEqual(await store.listAudit(subject, 1000), auditBefore, 'a refused rotation writes no audit event')
}

function describeRotation(storeCase: StoreCase): void {
  storeCase('a matching rotation sets the successor, merges nothing else, and logs it', async (store) => {
    const record = await seed(store, { claims: { tenant: 't' }, scope: 'read', audience: ['api'] })
    const input = rotation(record)
    const result = await store.rotateRefreshToken(input)
    assert.deepEqual(result, { rotated: true, session: rotated(record, input) })
    assert.deepEqual(await store.getSession(record.id), rotated(record, input))
    assert.deepEqual(await store.listAudit(record.subject, 10), [rotationAudit(record, input), createdAudit(record)])
  })

  storeCase('a chain of rotations advances one generation at a time', async (store) => {
    const original = await seed(store)
    let current = original
    for (let i = 1; i <= 3; i++) {
      const input = rotation(current, { now: original.createdAt + i * MINUTE })
      const result = await store.rotateRefreshToken(input)
      assert.equal(result.rotated, true)
      assert.equal(result.session?.generation, i)
      assert.equal(result.session?.previousHash, current.refreshHash)
      current = result.session!
    }
    // Every superseded (generation, hash) pair is refused now.
    await assertRefused(store, current, rotation(original, { now: original.createdAt + HOUR }))
    await assertRefused(store, current, rotation({ ...current, generation: 2, refreshHash: current.previousHash! }, { now: original.createdAt + HOUR }))
  })

  storeCase('refused: presented generation ahead of or behind the stored one', async (store) => {
    const record = await seed(store, { generation: 5 })
    await assertRefused(store, record, rotation({ ...record, generation: 6 }))
    await assertRefused(store, record, rotation({ ...record, generation: 4 }))
    await assertRefused(store, record, rotation({ ...record, generation: 0 }))
  })

  storeCase('refused: wrong hash at the right generation (random, previous, successor)', async (store) => {
    const first = await seed(store)
    const step = rotation(first)
    const current = (await store.rotateRefreshToken(step)).session!
    await assertRefused(store, current, rotation({ ...current, refreshHash: randomToken(32) }))
    await assertRefused(store, current, rotation({ ...current, refreshHash: first.refreshHash }))
    await assertRefused(store, current, rotation({ ...current, refreshHash: current.refreshHash.toUpperCase() === current.refreshHash ? `${current.refreshHash}x` : current.refreshHash.toUpperCase() }))
    await assertRefused(store, current, rotation({ ...current, refreshHash: `${current.refreshHash}\u0000` }))
    await assertRefused(store, current, rotation({ ...current, refreshHash: '' }))
  })

  storeCase('refused: revoked session, even with the current token', async (store) => {
    const record = await seed(store)
    const result = await store.revokeSession(revocation(record, record.createdAt + SECOND))
    assert.equal(result.revoked, true)
    const revoked = await store.getSession(record.id)
    assert.equal(revoked?.revokedAt, record.createdAt + SECOND)
    await assertRefused(store, revoked, rotation(record))
  })

  storeCase('refused: idle deadline reached (now === idleExpiresAt and later); accepted 1 ms before', async (store) => {
    const record = await seed(store)
    await assertRefused(store, record, rotation(record, { now: record.idleExpiresAt }))
    await assertRefused(store, record, rotation(record, { now: record.idleExpiresAt + DAY }))
    const input = rotation(record, { now: record.idleExpiresAt - 1, idleExpiresAt: record.idleExpiresAt + HOUR })
    assert.deepEqual(await store.rotateRefreshToken(input), { rotated: true, session: rotated(record, input) })
  })

  storeCase('refused: absolute deadline reached, even with a later idle deadline', async (store) => {
    // Records never look like this (idle is capped at expiresAt), which isolates the absolute check.
    const record = await seed(store, { expiresAt: FIXTURE_NOW + HOUR, idleExpiresAt: FIXTURE_NOW + DAY })
    await assertRefused(store, record, rotation(record, { now: record.expiresAt }))
    await assertRefused(store, record, rotation(record, { now: record.expiresAt + 1 }))
    const input = rotation(record, { now: record.expiresAt - 1 })
    assert.equal((await store.rotateRefreshToken(input)).rotated, true)
  })

  storeCase('refused: unknown session id returns no record', async (store) => {
    const record = sessionRecordFixture()
    await assertRefused(store, undefined, rotation(record))
    assert.equal(await store.getSession(record.id), undefined)
  })

  storeCase('device facts of the refresh merge into the stored device', async (store) => {
    const record = await seed(store, { device: { userAgent: 'UA-1', ip: '192.0.2.1', label: 'phone' } })
    const first = rotation(record, { device: { ip: '192.0.2.2' } })
    const r1 = await store.rotateRefreshToken(first)
    assert.deepEqual(r1.session?.device, { userAgent: 'UA-1', ip: '192.0.2.2', label: 'phone' })
    // No device: unchanged. Undefined members: ignored, not erased.
    const second = rotation(r1.session, { device: undefined })
    const r2 = await store.rotateRefreshToken(second)
    assert.deepEqual(r2.session?.device, { userAgent: 'UA-1', ip: '192.0.2.2', label: 'phone' })
    const third = rotation(r2.session, { device: { userAgent: undefined, ip: undefined, label: 'tablet' } })
    const r3 = await store.rotateRefreshToken(third)
    assert.deepEqual(r3.session?.device, { userAgent: 'UA-1', ip: '192.0.2.2', label: 'tablet' })
    assert.deepEqual(await store.getSession(record.id), r3.session)
    // Into an empty device, hostile values included.
    const bare = await seed(store)
    const hostile = rotation(bare, { device: { userAgent: 'x'.repeat(10_240), ip: 'a\u0000b' } })
    const r4 = await store.rotateRefreshToken(hostile)
    assert.deepEqual(r4.session?.device, { userAgent: 'x'.repeat(10_240), ip: 'a\u0000b' })
    assert.deepEqual(await store.getSession(bare.id), r4.session)
  })

  storeCase('a rotation merges hostile device strings as plain values, and cannot delete or inject members', async (store) => {
    let record = await seed(store, { device: { userAgent: 'UA-1', ip: '192.0.2.1', label: 'phone' } })
    for (const text of HOSTILE_STRINGS) {
      const result = await store.rotateRefreshToken(rotation(record, { device: { ip: text } }))
      assert.ok(result.rotated, JSON.stringify(text))
      assert.deepEqual(result.session?.device, { userAgent: 'UA-1', ip: text, label: 'phone' }, JSON.stringify(text))
      record = result.session!
    }
    // Members that are not strings (a caller bypassing the manager's sanitising) change nothing:
    // a null must not delete, an object must not be merged, __proto__ stays a plain member.
    const odd = JSON.parse('{"userAgent":null,"label":{"nested":"x"},"__proto__":"p"}') as DeviceInfo
    const result = await store.rotateRefreshToken(rotation(record, { device: odd }))
    assert.ok(result.rotated)
    assert.equal(result.session?.device.userAgent, 'UA-1')
    assert.equal(result.session?.device.label, 'phone')
    assert.equal(Object.getPrototypeOf(result.session?.device), Object.prototype)
    assert.deepEqual(await store.getSession(record.id), result.session)
  })

  storeCase('50 concurrent rotations with the same input: exactly one wins', async (store) => {
    const record = await seed(store)
    const input = rotation(record)
    const results = await Promise.all(Array.from({ length: 50 }, () => store.rotateRefreshToken(input)))
    const winners = results.filter((r) => r.rotated)
    assert.equal(winners.length, 1)
    const expected = rotated(record, input)
    assert.deepEqual(winners[0]!.session, expected)
    for (const loser of results.filter((r) => !r.rotated)) assert.deepEqual(loser.session, expected)
    assert.deepEqual(await store.getSession(record.id), expected)
    assert.equal((await store.listAudit(record.subject, 1000)).filter((e) => e.type === 'refresh.rotated').length, 1)
  })

  storeCase('50 concurrent rotations with different successors: one wins and its hash is stored', async (store) => {
    const record = await seed(store)
    const inputs = Array.from({ length: 50 }, (_, i) => rotation(record, { now: record.createdAt + MINUTE + i }))
    const results = await Promise.all(inputs.map((input) => store.rotateRefreshToken(input)))
    const winning = results.flatMap((r, i) => (r.rotated ? [i] : []))
    assert.equal(winning.length, 1)
    const expected = rotated(record, inputs[winning[0]!]!)
    assert.deepEqual(await store.getSession(record.id), expected)
    for (const r of results) assert.deepEqual(r.session, expected)
  })
}

/** A session rotated once (generation 1, with a previous hash), as a lost answer leaves it. */
async function rotatedOnce(store: SessionStore, overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> {
  const result = await store.rotateRefreshToken(rotation(await seed(store, overrides)))
  assert.equal(result.rotated, true)
  return result.session
}

async function assertNotRedelivered(store: SessionStore, before: SessionRecord | undefined, input: RedeliverRefreshInput): Promise<void> {
  assert.deepEqual(await store.redeliverRefreshToken(input), { redelivered: false, session: before })
  if (before !== undefined) assert.deepEqual(await store.getSession(before.id), before)
}

function describeUndelivered(storeCase: StoreCase): void {
  storeCase('markUndelivered marks only the current token of a live session, and nothing else changes', async (store) => {
    const current = await rotatedOnce(store)
    const audit = await store.listAudit(current.subject, 100)
    const misses = [
      { id: sessionRecordFixture().id, generation: 1, hash: current.refreshHash },
      { id: current.id, generation: 0, hash: current.previousHash! },
      { id: current.id, generation: 1, hash: current.previousHash! },
      { id: current.id, generation: 0, hash: current.refreshHash },
      { id: current.id, generation: 2, hash: current.refreshHash },
      { id: current.id, generation: 1, hash: randomToken(32) },
      { id: current.id, generation: 1, hash: `${current.refreshHash}\u0000` },
      { id: current.id, generation: 1, hash: current.refreshHash, rotatedAt: current.rotatedAt + 1 },
    ]
    for (const input of misses) {
      assert.equal(await store.markUndelivered(input), false, JSON.stringify(input))
      assert.deepEqual(await store.getSession(current.id), current)
    }
    const marked = { ...current, undeliveredHash: current.refreshHash }
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash, rotatedAt: current.rotatedAt }), true)
    assert.deepEqual(await store.getSession(current.id), marked)
    // Again, and without rotatedAt: still marked, still nothing else.
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash }), true)
    assert.deepEqual(await store.getSession(current.id), marked)
    assert.deepEqual(await store.listAudit(current.subject, 100), audit, 'a mark writes no audit event')

    const revoked = await rotatedOnce(store)
    await store.revokeSession(revocation(revoked, revoked.rotatedAt + SECOND))
    const after = await store.getSession(revoked.id)
    assert.equal(await store.markUndelivered({ id: revoked.id, generation: 1, hash: revoked.refreshHash }), false)
    assert.deepEqual(await store.getSession(revoked.id), after)
  })

  storeCase('a mark round-trips, and the next rotation clears it', async (store) => {
    const record = await seed(store, { generation: 3, previousHash: randomToken(32) })
    const marked = { ...record, undeliveredHash: record.refreshHash }
    const hash = randomToken(32)
    const stored = await seed(store, { refreshHash: hash, undeliveredHash: hash })
    assert.deepEqual(await store.getSession(stored.id), stored)
    assert.equal(await store.markUndelivered({ id: record.id, generation: 3, hash: record.refreshHash }), true)
    const input = rotation(marked)
    assert.deepEqual(await store.rotateRefreshToken(input), { rotated: true, session: rotated(marked, input) })
    assert.equal((await store.getSession(record.id))?.undeliveredHash, null)
  })

  storeCase('redeliverRefreshToken issues the marked current token again, once', async (store) => {
    const current = await rotatedOnce(store, { maxAccessExp: 1_900_000_000 })
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash }), true)
    const audit = await store.listAudit(current.subject, 100)
    const input = redelivery(current, { maxAccessExp: 2_000_000_000 })
    const expected = redelivered(current, input)
    assert.deepEqual(await store.redeliverRefreshToken(input), { redelivered: true, session: expected })
    assert.deepEqual(await store.getSession(current.id), expected)
    // The mark is spent: the same call again changes nothing.
    await assertNotRedelivered(store, expected, { ...input, now: input.now + MINUTE })
    assert.deepEqual(await store.listAudit(current.subject, 100), audit, 'a redelivery writes no audit event (the manager does)')
    // maxAccessExp is only raised, never lowered.
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash }), true)
    const lower = redelivery(expected, { maxAccessExp: 1_000 })
    assert.equal((await store.redeliverRefreshToken(lower)).session?.maxAccessExp, 2_000_000_000)
  })

  storeCase('redeliverRefreshToken refuses without the mark, another token, a revoked or expired session', async (store) => {
    const unmarked = await rotatedOnce(store)
    await assertNotRedelivered(store, unmarked, redelivery(unmarked))
    await assertNotRedelivered(store, undefined, redelivery(sessionRecordFixture()))

    const current = await rotatedOnce(store)
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash }), true)
    const marked = { ...current, undeliveredHash: current.refreshHash }
    // Only the marked current token: not the predecessor, another hash, or another generation.
    await assertNotRedelivered(store, marked, redelivery(marked, { hash: current.previousHash! }))
    await assertNotRedelivered(store, marked, redelivery(marked, { generation: 0, hash: current.previousHash! }))
    await assertNotRedelivered(store, marked, redelivery(marked, { hash: randomToken(32) }))
    await assertNotRedelivered(store, marked, redelivery(marked, { generation: 2 }))
    // Deadlines, as for a rotation: reached means refused.
    await assertNotRedelivered(store, marked, redelivery(marked, { now: marked.idleExpiresAt }))
    await assertNotRedelivered(store, marked, redelivery(marked, { now: marked.expiresAt }))
    await store.revokeSession(revocation(marked, marked.rotatedAt + SECOND))
    await assertNotRedelivered(store, await store.getSession(marked.id), redelivery(marked))
  })

  storeCase('50 concurrent redeliveries of one mark: exactly one succeeds', async (store) => {
    const current = await rotatedOnce(store)
    assert.equal(await store.markUndelivered({ id: current.id, generation: 1, hash: current.refreshHash }), true)
    const input = redelivery(current)
    const results = await Promise.all(Array.from({ length: 50 }, () => store.redeliverRefreshToken(input)))
    assert.equal(results.filter((r) => r.redelivered).length, 1)
    const expected = redelivered(current, input)
    for (const result of results) assert.deepEqual(result.session, expected)
    assert.deepEqual(await store.getSession(current.id), expected)
  })
}

function describeRevocation(storeCase: StoreCase): void {
  storeCase('revoke once: a feed entry and an audit event; twice: already_revoked, nothing written', async (store) => {
    const record = await seed(store)
    const now = record.createdAt + HOUR
    const input = revocation(record, now, 'logout', 2_000_000_000)
    const first = await store.revokeSession(input)
    assert.equal(first.revoked, true)
    const entry = first.revoked ? first.entry : undefined
    assert.equal(typeof entry?.cursor, 'string')
    assert.deepEqual(entry, { cursor: entry?.cursor, sid: record.id, exp: 2_000_000_000, revokedAt: now, reason: 'logout' })
    assert.deepEqual(await store.getSession(record.id), { ...record, revokedAt: now, revokeReason: 'logout' })
    assert.deepEqual(await store.readRevocations(undefined, 10), [entry])
    assert.deepEqual(await store.listAudit(record.subject, 10), [input.audit, createdAudit(record)])

    const second = await store.revokeSession(revocation(record, now + MINUTE, 'admin'))
    assert.deepEqual(second, { revoked: false, why: 'already_revoked' })
    assert.deepEqual(await store.getSession(record.id), { ...record, revokedAt: now, revokeReason: 'logout' })
    assert.deepEqual(await store.readRevocations(undefined, 10), [entry])
    assert.equal((await store.listAudit(record.subject, 10)).length, 2)
  })

  storeCase('revoking an unknown session is not_found and writes nothing', async (store) => {
    const other = await seed(store)
    const ghost = sessionRecordFixture()
    assert.deepEqual(await store.revokeSession(revocation(ghost, FIXTURE_NOW)), { revoked: false, why: 'not_found' })
    assert.deepEqual(await store.readRevocations(undefined, 10), [])
    assert.deepEqual(await store.listAudit(ghost.subject, 10), [createdAudit(other)])
    assert.deepEqual(await store.getSession(other.id), other)
  })

  storeCase('an expired (idle and absolute) but unrevoked session can still be revoked', async (store) => {
    const record = await seed(store, { idleExpiresAt: FIXTURE_NOW + HOUR, expiresAt: FIXTURE_NOW + 2 * HOUR })
    const now = FIXTURE_NOW + 3 * HOUR
    const result = await store.revokeSession(revocation(record, now, 'admin'))
    assert.equal(result.revoked, true)
    assert.deepEqual(await store.getSession(record.id), { ...record, revokedAt: now, revokeReason: 'admin' })
    assert.deepEqual(sids(await store.readRevocations(undefined, 10)), [record.id])
  })

  storeCase('20 concurrent revocations of one session: exactly one takes effect', async (store) => {
    const record = await seed(store)
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.revokeSession(revocation(record, FIXTURE_NOW + MINUTE + i))))
    assert.equal(results.filter((r) => r.revoked).length, 1)
    assert.ok(results.every((r) => r.revoked || r.why === 'already_revoked'))
    assert.equal((await store.readRevocations(undefined, 100)).length, 1)
  })

  storeCase('revokeSubjectSessions revokes every unrevoked session of that subject only', async (store) => {
    const t = FIXTURE_NOW
    const s1 = await seed(store, { subject: 'sam', createdAt: t })
    const s2 = await seed(store, { subject: 'sam', createdAt: t + 1 })
    const expired = await seed(store, { subject: 'sam', createdAt: t - 40 * DAY })
    const oldRevoked = await seed(store, { subject: 'sam', revokedAt: t + 5, revokeReason: 'earlier' })
    const otherSubject = await seed(store, { subject: 'samuel' })
    const pattern = await seed(store, { subject: '%' })
    const caseVariant = await seed(store, { subject: 'Sam' })

    const now = t + HOUR
    const feedExp = Math.ceil(now / 1000) + 600
    // A pattern-looking subject matches itself only.
    const patternEntries = await store.revokeSubjectSessions({ subject: '%', exceptId: undefined, now, reason: 'pattern', feedExp })
    assert.deepEqual(sids(patternEntries), [pattern.id])

    const entries = await store.revokeSubjectSessions({ subject: 'sam', exceptId: undefined, now, reason: 'logout_all', feedExp })
    assert.deepEqual(
      [...entries].sort(bySid),
      [s1, s2, expired].map((s) => ({ cursor: entries.find((e) => e.sid === s.id)?.cursor, sid: s.id, exp: feedExp, revokedAt: now, reason: 'logout_all' })).sort(bySid),
    )
    for (const s of [s1, s2, expired]) assert.deepEqual(await store.getSession(s.id), { ...s, revokedAt: now, revokeReason: 'logout_all' })
    assert.deepEqual(await store.getSession(oldRevoked.id), oldRevoked)
    assert.deepEqual(await store.getSession(otherSubject.id), otherSubject)
    assert.deepEqual(await store.getSession(caseVariant.id), caseVariant)

    const feed = await store.readRevocations(undefined, 100)
    assert.deepEqual(feed, [...patternEntries, ...entries])
    const audit = await store.listAudit('sam', 100)
    const revokedEvents = audit.filter((e) => e.type === 'session.revoked')
    assert.deepEqual(
      [...revokedEvents].sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1)),
      [s1, s2, expired].map((s) => ({ type: 'session.revoked', at: now, sessionId: s.id, subject: 'sam', reason: 'logout_all' })).sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1)),
    )
    // Nothing left to revoke.
    assert.deepEqual(await store.revokeSubjectSessions({ subject: 'sam', exceptId: undefined, now: now + 1, reason: 'again', feedExp }), [])
    assert.deepEqual(await store.revokeSubjectSessions({ subject: 'nobody', exceptId: undefined, now, reason: 'x', feedExp }), [])
    assert.equal((await store.readRevocations(undefined, 100)).length, 4)
  })

  storeCase('revokeSubjectSessions keeps exceptId (and ignores an exceptId of another subject)', async (store) => {
    const keep = await seed(store, { subject: 'kim' })
    const drop1 = await seed(store, { subject: 'kim' })
    const drop2 = await seed(store, { subject: 'kim' })
    const other = await seed(store, { subject: 'lee' })
    const now = FIXTURE_NOW + HOUR
    const entries = await store.revokeSubjectSessions({ subject: 'kim', exceptId: keep.id, now, reason: 'others', feedExp: 2_000_000_000 })
    assert.deepEqual(sids(entries).sort(), [drop1.id, drop2.id].sort())
    assert.deepEqual(await store.getSession(keep.id), keep)
    assert.deepEqual(await store.listSessions('kim', now), [keep])
    const none = await store.revokeSubjectSessions({ subject: 'lee', exceptId: keep.id, now, reason: 'all', feedExp: 2_000_000_000 })
    assert.deepEqual(sids(none), [other.id])
  })
}

function describeListing(storeCase: StoreCase): void {
  storeCase('lists live sessions of the subject only, newest createdAt first', async (store) => {
    const t = FIXTURE_NOW
    const now = t + 10 * DAY
    const live = { idleExpiresAt: now + DAY, expiresAt: now + 2 * DAY }
    const older = await seed(store, { subject: 'pat', createdAt: t + 5 * DAY, ...live })
    const newest = await seed(store, { subject: 'pat', createdAt: t + 9 * DAY, ...live })
    const oldest = await seed(store, { subject: 'pat', createdAt: t + DAY, ...live })
    await seed(store, { subject: 'pat', createdAt: t + 8 * DAY, ...live, revokedAt: t + 8 * DAY + 1, revokeReason: 'logout' })
    // Idle deadline exactly now: expired. Absolute deadline exactly now: expired.
    await seed(store, { subject: 'pat', createdAt: t + 7 * DAY, idleExpiresAt: now, expiresAt: now + DAY })
    await seed(store, { subject: 'pat', createdAt: t + 6 * DAY, expiresAt: now, idleExpiresAt: now + DAY })
    // Long gone by its default deadlines.
    await seed(store, { subject: 'pat', createdAt: t - 60 * DAY })
    await seed(store, { subject: 'Pat', createdAt: t + 9 * DAY, ...live })
    await seed(store, { subject: 'pat ', createdAt: t + 9 * DAY, ...live })
    assert.deepEqual(await store.listSessions('pat', now), [newest, older, oldest])
    // The same sessions at an earlier `now`: the idle/absolute ones are live then.
    assert.equal((await store.listSessions('pat', now - 1)).length, 5)
    assert.deepEqual(await store.listSessions('nobody', now), [])
  })
}

function describeAudit(storeCase: StoreCase): void {
  storeCase('append and list: newest first, limited, per subject', async (store) => {
    const events: AuditEvent[] = []
    for (let i = 0; i < 6; i++) {
      const event: AuditEvent = { type: 'refresh.rotated', at: FIXTURE_NOW + i * SECOND, sessionId: `s-${i % 2}`, subject: 'ann', generation: i }
      events.push(event)
      await store.appendAudit(event)
      await store.appendAudit({ type: 'session.created', at: FIXTURE_NOW + i * SECOND + 1, sessionId: 'b', subject: 'bob' })
      await store.appendAudit({ type: 'session.created', at: FIXTURE_NOW + i * SECOND + 2, sessionId: 'p', subject: 'ann%' })
    }
    const newestFirst = [...events].reverse()
    assert.deepEqual(await store.listAudit('ann', 100), newestFirst)
    assert.deepEqual(await store.listAudit('ann', 2), newestFirst.slice(0, 2))
    assert.deepEqual(await store.listAudit('ann', 1), newestFirst.slice(0, 1))
    assert.equal((await store.listAudit('bob', 100)).length, 6)
    assert.ok((await store.listAudit('bob', 100)).every((e) => e.subject === 'bob'))
    assert.equal((await store.listAudit('ann%', 100)).length, 6)
    assert.deepEqual(await store.listAudit('an', 100), [])
    assert.deepEqual(await store.listAudit('ANN', 100), [])
  })

  storeCase('audit events round-trip exactly, optional members and hostile strings included', async (store) => {
    const subject = 'a\u0000\'"%_{}\u{1F600}'
    const full: AuditEvent = {
      type: 'refresh.reuse_detected',
      at: FIXTURE_NOW,
      sessionId: 'sid-\u0000-x',
      subject,
      reason: 'x'.repeat(10_240),
      classification: 'older_generation',
      generation: 2 ** 33,
      device: { userAgent: 'ua "q" \u0000', ip: '::1', label: '\u00e9' },
    }
    const bare: AuditEvent = { type: 'session.expired', at: FIXTURE_NOW + 1, sessionId: 's', subject }
    await store.appendAudit(full)
    await store.appendAudit(bare)
    const listed = await store.listAudit(subject, 10)
    assert.deepEqual(listed, [bare, full])
    assert.deepEqual(Object.keys(listed[0]!).sort(), Object.keys(bare).sort())
    assert.deepEqual(await store.listAudit('a', 10), [])
  })
}

type RecentAudit = NonNullable<SessionStore['listRecentAudit']>

/** The store's listRecentAudit, or undefined after marking the case skipped (the method is optional). */
function recentAuditOf(store: SessionStore, t: TestContext): RecentAudit | undefined {
  if (typeof store.listRecentAudit === 'function') return store.listRecentAudit.bind(store)
  t.skip('this store does not implement the optional listRecentAudit')
  return undefined
}

/** Options listRecentAudit must refuse: wrong types, out-of-range limits, unknown types, typos. */
const REFUSED_RECENT_AUDIT_OPTIONS: readonly unknown[] = [
  undefined,
  null,
  'limit=10',
  10,
  [],
  {},
  { limit: 0 },
  { limit: -1 },
  { limit: 1001 },
  { limit: 1.5 },
  { limit: Number.NaN },
  { limit: Number.POSITIVE_INFINITY },
  { limit: 2 ** 53 },
  { limit: '10' },
  { limit: 10n },
  { limit: null },
  { limit: 10, types: 'session.created' },
  { limit: 10, types: ['session.created', 'nope'] },
  { limit: 10, types: ['SESSION.CREATED'] },
  { limit: 10, types: ['session.'] },
  { limit: 10, types: ['__proto__'] },
  { limit: 10, types: ['toString'] },
  { limit: 10, types: [null] },
  { limit: 10, types: [['session.created']] },
  { limit: 10, types: { 0: 'session.created', length: 1 } },
  { limit: 10, types: null },
  { limit: 10, subject: 42 },
  { limit: 10, subject: null },
  { limit: 10, subject: ['ann'] },
  { limit: 10, subject: { toString: () => 'ann' } },
  { limit: 10, before: '2030-01-01T00:00:00Z' },
  { limit: 10, before: 1.5 },
  { limit: 10, before: Number.NaN },
  { limit: 10, before: Number.POSITIVE_INFINITY },
  { limit: 10, before: 2 ** 53 },
  { limit: 10, before: null },
  { limit: 10, before: 1n },
  { limit: 10, extra: true },
  { limit: 10, type: 'session.created' },
  { limit: 10, cursor: 'x' },
  // JSON.parse makes "__proto__" an own member, as it arrives in a request.
  JSON.parse('{"limit":10,"__proto__":{"subject":"ann"}}'),
]

function describeRecentAudit(storeCase: StoreCase): void {
  const event = (type: AuditEventType, at: number, subject: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
    type,
    at,
    sessionId: `s-${subject.length}-${at}`,
    subject,
    ...extra,
  })

  storeCase('every subject\'s events, newest first, at most limit; ties in the order written; an empty store lists none', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    assert.deepEqual(await recent({ limit: 10 }), [])
    const written: AuditEvent[] = []
    const subjects = ['ann', 'bob', 'ann%', 'ANN']
    for (let i = 0; i < 24; i++) written.push(event(i % 3 === 0 ? 'session.created' : 'refresh.rotated', FIXTURE_NOW + i * SECOND, subjects[i % 4]!, { generation: i }))
    // Three events in one millisecond, of three subjects: listed in reverse of the order written.
    for (const subject of ['tie-a', 'tie-b', 'tie-c']) written.push(event('session.revoked', FIXTURE_NOW + HOUR, subject, { reason: 'logout' }))
    for (const e of written) await store.appendAudit(e)
    const newestFirst = [...written].reverse()
    assert.deepEqual(await recent({ limit: 1000 }), newestFirst)
    assert.deepEqual(await recent({ limit: 1 }), newestFirst.slice(0, 1))
    assert.deepEqual(await recent({ limit: 7 }), newestFirst.slice(0, 7))
    assert.deepEqual(await recent({ limit: written.length }), newestFirst)
    // Optional members left out stay out; what the store lists is a copy.
    const [first] = await recent({ limit: 1 })
    assert.deepEqual(Object.keys(first!).sort(), ['at', 'reason', 'sessionId', 'subject', 'type'])
  })

  storeCase('the events of creation, rotation and both revocations are listed, as each subject\'s trail has them', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    const alice = await seed(store, { subject: 'alice', createdAt: FIXTURE_NOW })
    const bob1 = await seed(store, { subject: 'bob', createdAt: FIXTURE_NOW + 1 })
    const bob2 = await seed(store, { subject: 'bob', createdAt: FIXTURE_NOW + 2 })
    const input = rotation(alice, { now: FIXTURE_NOW + MINUTE })
    assert.equal((await store.rotateRefreshToken(input)).rotated, true)
    // A refused rotation writes nothing here either.
    assert.equal((await store.rotateRefreshToken(input)).rotated, false)
    const revoke = revocation(alice, FIXTURE_NOW + 2 * MINUTE)
    assert.equal((await store.revokeSession(revoke)).revoked, true)
    const now = FIXTURE_NOW + 3 * MINUTE
    assert.equal((await store.revokeSubjectSessions({ subject: 'bob', exceptId: undefined, now, reason: 'logout_all', feedExp: 2_000_000_000 })).length, 2)
    await store.appendAudit(event('refresh.reuse_detected', FIXTURE_NOW + 4 * MINUTE, 'alice', { sessionId: alice.id, classification: 'older_generation' }))

    const listed = await recent({ limit: 100 })
    const revokedBob = [bob1, bob2].map((s): AuditEvent => ({ type: 'session.revoked', at: now, sessionId: s.id, subject: 'bob', reason: 'logout_all' }))
    // The two events of one revokeSubjectSessions share a time: their order between them is the store's.
    const bySession = (a: AuditEvent, b: AuditEvent): number => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0)
    assert.deepEqual(listed.slice(1, 3).sort(bySession), [...revokedBob].sort(bySession))
    assert.deepEqual([listed[0], ...listed.slice(3)], [
      { type: 'refresh.reuse_detected', at: FIXTURE_NOW + 4 * MINUTE, sessionId: alice.id, subject: 'alice', classification: 'older_generation' },
      revoke.audit,
      rotationAudit(alice, input),
      createdAudit(bob2),
      createdAudit(bob1),
      createdAudit(alice),
    ])
    for (const subject of ['alice', 'bob']) assert.deepEqual(await recent({ limit: 100, subject }), await store.listAudit(subject, 100), subject)
  })

  storeCase('filters: any of the types, exactly the subject, strictly before; combined; the limit counts what passes', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    const types: AuditEventType[] = ['session.created', 'refresh.rotated', 'refresh.replayed', 'refresh.reuse_detected', 'session.revoked', 'session.expired']
    const subjects = ['ann', 'ann%', 'ANN', 'an', 'ann ', '_nn']
    const written: AuditEvent[] = []
    // Each subject gets two of the types, so a type filter leaves out some of a subject's events.
    for (let i = 0; i < 60; i++) written.push(event(types[i % types.length]!, FIXTURE_NOW + i * SECOND, subjects[Math.floor(i / 2) % subjects.length]!))
    for (const e of written) await store.appendAudit(e)
    const newestFirst = [...written].reverse()
    const expect = (keep: (e: AuditEvent) => boolean, limit = 1000): AuditEvent[] => newestFirst.filter(keep).slice(0, limit)

    assert.deepEqual(await recent({ limit: 1000, types: ['session.revoked'] }), expect((e) => e.type === 'session.revoked'))
    const pair: AuditEventType[] = ['refresh.reuse_detected', 'session.created']
    assert.deepEqual(await recent({ limit: 1000, types: pair }), expect((e) => pair.includes(e.type)))
    assert.deepEqual(await recent({ limit: 1000, types: ['session.expired', 'session.expired'] }), expect((e) => e.type === 'session.expired'))
    assert.deepEqual(await recent({ limit: 1000, types }), newestFirst)
    assert.deepEqual(await recent({ limit: 1000, types: [] }), [], 'an empty list of types matches nothing')
    // Subjects match exactly: no case folding, no pattern, no prefix, no trimming.
    for (const subject of subjects) assert.deepEqual(await recent({ limit: 1000, subject }), expect((e) => e.subject === subject), subject)
    for (const subject of ['Ann', 'a', 'ann%%', '', 'nobody']) assert.deepEqual(await recent({ limit: 1000, subject }), [], subject)
    // Strictly before: the event at exactly `before` is left out.
    const before = written[30]!.at
    assert.deepEqual(await recent({ limit: 1000, before }), expect((e) => e.at < before))
    assert.equal((await recent({ limit: 1000, before })).length, 30)
    assert.deepEqual(await recent({ limit: 1000, before: FIXTURE_NOW }), [])
    assert.deepEqual(await recent({ limit: 1000, before: FIXTURE_NOW + 1 }), [written[0]])
    assert.deepEqual(await recent({ limit: 1000, before: Number.MAX_SAFE_INTEGER }), newestFirst)
    assert.deepEqual(await recent({ limit: 1000, before: Number.MIN_SAFE_INTEGER }), [])
    // All three at once, and a limit that cuts the filtered list (not the list before filtering).
    const combined = (e: AuditEvent): boolean => pair.includes(e.type) && e.subject === 'ann' && e.at < before
    assert.ok(expect(combined).length >= 2, 'the fixture has enough matches to cut')
    assert.ok(expect((e) => e.subject === 'ann' && e.at < before).length > expect(combined).length, 'and the types leave some of them out')
    assert.deepEqual(await recent({ limit: 1000, types: pair, subject: 'ann', before }), expect(combined))
    assert.deepEqual(await recent({ limit: 1, types: pair, subject: 'ann', before }), expect(combined, 1))
    assert.deepEqual(await recent({ limit: 3, types: ['session.revoked'] }), expect((e) => e.type === 'session.revoked', 3))
  })

  storeCase('paging by before visits every event once, with and without filters', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    const written = Array.from({ length: 45 }, (_, i) => event(i % 4 === 0 ? 'session.revoked' : 'refresh.rotated', FIXTURE_NOW + i * 7, `user-${i % 5}`))
    for (const e of written) await store.appendAudit(e)
    for (const filters of [{}, { types: ['session.revoked'] as AuditEventType[] }, { subject: 'user-2' }]) {
      const seen: AuditEvent[] = []
      let before: number | undefined
      for (let pages = 0; pages < 50; pages++) {
        const page = await recent({ limit: 4, ...filters, ...(before === undefined ? {} : { before }) })
        seen.push(...page)
        if (page.length < 4) break
        before = page[page.length - 1]!.at
      }
      const all = await recent({ limit: 1000, ...filters })
      assert.deepEqual(seen, all, JSON.stringify(filters))
      assert.ok(all.length > 4, JSON.stringify(filters))
    }
  })

  storeCase('hostile subjects and members round-trip and match only themselves', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    const written = HOSTILE_STRINGS.map((subject, i) =>
      event('refresh.reuse_detected', FIXTURE_NOW + i, subject, { sessionId: `sid-${subject.slice(0, 50)}`, reason: subject, device: { userAgent: subject }, classification: 'concurrent', generation: 2 ** 33 }),
    )
    for (const e of written) await store.appendAudit(e)
    assert.deepEqual(await recent({ limit: 1000 }), [...written].reverse())
    for (const e of written) assert.deepEqual(await recent({ limit: 10, subject: e.subject }), [e], JSON.stringify(e.subject.slice(0, 30)))
  })

  storeCase('bad options are refused with ERR_SESSION_INPUT_INVALID, and change nothing', async (store, t) => {
    const recent = recentAuditOf(store, t)
    if (recent === undefined) return
    const e = event('session.created', FIXTURE_NOW, 'ann')
    await store.appendAudit(e)
    for (const options of REFUSED_RECENT_AUDIT_OPTIONS) {
      let what: string
      try {
        what = JSON.stringify(options, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(options)
      } catch {
        what = String(options)
      }
      await assert.rejects(recent(options as Parameters<RecentAudit>[0]), (error: unknown) => {
        assert.ok(isHallpassError(error), `${what}: expected a HallpassError, got ${String(error)}`)
        assert.equal(error.code, 'ERR_SESSION_INPUT_INVALID', what)
        return true
      })
    }
    assert.deepEqual(await recent({ limit: 10 }), [e])
    assert.deepEqual(await store.listAudit('ann', 10), [e])
  })
}

function describeFeed(storeCase: StoreCase): void {
  async function revokeMany(store: SessionStore, count: number, start = FIXTURE_NOW): Promise<SessionRecord[]> {
    const records: SessionRecord[] = []
    for (let i = 0; i < count; i++) {
      const record = await seed(store, { subject: `feed-${i}` })
      const result = await store.revokeSession(revocation(record, start + i * SECOND, `reason-${i}`, 2_000_000_000 + i))
      assert.equal(result.revoked, true)
      records.push(record)
    }
    return records
  }

  storeCase('an empty feed reads as empty', async (store) => {
    assert.deepEqual(await store.readRevocations(undefined, 10), [])
  })

  storeCase('headCursor: a position before every entry when empty, then the newest entry', async (store) => {
    // A subscriber that starts live keeps this position, so a revocation made while it is
    // disconnected is still found by readRevocations(head) when it reconnects.
    const emptyHead = await store.headCursor()
    assert.deepEqual(await store.readRevocations(emptyHead, 10), [])
    const first = await revokeMany(store, 2)
    assert.deepEqual(sids(await store.readRevocations(emptyHead, 10)), first.map((r) => r.id))
    const head = await store.headCursor()
    const all = await store.readRevocations(undefined, 10)
    assert.equal(head, all.at(-1)!.cursor)
    const later = await revokeMany(store, 1, FIXTURE_NOW + HOUR)
    assert.deepEqual(sids(await store.readRevocations(head, 10)), later.map((r) => r.id))
  })

  storeCase('entries come oldest first; reading after any cursor returns exactly the rest', async (store) => {
    const records = await revokeMany(store, 6)
    const all = await store.readRevocations(undefined, 100)
    assert.deepEqual(sids(all), records.map((r) => r.id))
    assert.deepEqual(all.map((e) => [e.exp, e.revokedAt, e.reason]), records.map((_, i) => [2_000_000_000 + i, FIXTURE_NOW + i * SECOND, `reason-${i}`]))
    assert.equal(new Set(all.map((e) => e.cursor)).size, all.length, 'cursors are distinct')
    for (let i = 0; i < all.length; i++) {
      assert.deepEqual(await store.readRevocations(all[i]!.cursor, 100), all.slice(i + 1))
    }
    // Entries appended later sort after every earlier cursor (monotonic).
    const later = await revokeMany(store, 2, FIXTURE_NOW + HOUR)
    for (const entry of all) {
      assert.deepEqual(sids((await store.readRevocations(entry.cursor, 100)).slice(-2)), later.map((r) => r.id))
    }
  })

  storeCase('limit bounds a read; paging by cursor visits every entry once', async (store) => {
    const records = await revokeMany(store, 7)
    assert.equal((await store.readRevocations(undefined, 3)).length, 3)
    assert.deepEqual(await store.readRevocations(undefined, 0), [])
    const seen: RevocationEntry[] = []
    let cursor: string | undefined
    for (let page = 0; page < 10; page++) {
      const batch = await store.readRevocations(cursor, 2)
      assert.ok(batch.length <= 2)
      if (batch.length === 0) break
      seen.push(...batch)
      cursor = batch[batch.length - 1]!.cursor
    }
    assert.deepEqual(sids(seen), records.map((r) => r.id))
  })

  storeCase('a live subscription receives new entries in feed order, same as readRevocations', async (store) => {
    const received: RevocationEntry[] = []
    const unsubscribe = await store.subscribeRevocations((entry) => received.push(entry))
    try {
      const records = await revokeMany(store, 5)
      const kim = await seed(store, { subject: 'kim' })
      const kim2 = await seed(store, { subject: 'kim' })
      await store.revokeSubjectSessions({ subject: 'kim', exceptId: undefined, now: FIXTURE_NOW + HOUR, reason: 'all', feedExp: 2_000_000_100 })
      await waitFor(() => received.length >= 7, '7 live revocations')
      await delay(50)
      const expected = await store.readRevocations(undefined, 100)
      assert.deepEqual(received, expected)
      assert.deepEqual(sids(received.slice(0, 5)), records.map((r) => r.id))
      assert.deepEqual(sids(received.slice(5)).sort(), [kim.id, kim2.id].sort())
    } finally {
      await unsubscribe()
    }
  })

  storeCase('entries from before subscribing are not replayed live', async (store) => {
    const [before] = await revokeMany(store, 1)
    const received: RevocationEntry[] = []
    const unsubscribe = await store.subscribeRevocations((entry) => received.push(entry))
    try {
      const [after] = await revokeMany(store, 1, FIXTURE_NOW + HOUR)
      await waitFor(() => received.some((e) => e.sid === after!.id), 'the new revocation')
      await delay(50)
      assert.deepEqual(sids(received), [after!.id])
      assert.notEqual(before!.id, after!.id)
    } finally {
      await unsubscribe()
    }
  })

  storeCase('unsubscribe stops delivery to that listener only', async (store) => {
    const a: RevocationEntry[] = []
    const b: RevocationEntry[] = []
    const stopA = await store.subscribeRevocations((entry) => a.push(entry))
    const stopB = await store.subscribeRevocations((entry) => b.push(entry))
    try {
      const [first] = await revokeMany(store, 1)
      await waitFor(() => a.length === 1 && b.length === 1, 'both listeners')
      await stopA()
      const [second, third] = await revokeMany(store, 2, FIXTURE_NOW + HOUR)
      await waitFor(() => b.length === 3, 'the remaining listener')
      await delay(100)
      assert.deepEqual(sids(a), [first!.id])
      assert.deepEqual(sids(b), [first!.id, second!.id, third!.id])
      await stopA()
    } finally {
      await stopB()
    }
  })

  storeCase('catch-up after resubscribing: readRevocations(lastCursor) returns exactly what was missed', async (store) => {
    const received: RevocationEntry[] = []
    const listener: RevocationListener = (entry) => received.push(entry)
    let unsubscribe = await store.subscribeRevocations(listener)
    await revokeMany(store, 2)
    await waitFor(() => received.length === 2, 'the first two entries')
    await unsubscribe()
    const lastCursor = received[1]!.cursor

    const missed = await revokeMany(store, 3, FIXTURE_NOW + HOUR)
    unsubscribe = await store.subscribeRevocations(listener)
    try {
      const caughtUp = await store.readRevocations(lastCursor, 100)
      assert.deepEqual(sids(caughtUp), missed.map((r) => r.id))
      const [live] = await revokeMany(store, 1, FIXTURE_NOW + 2 * HOUR)
      await waitFor(() => received.some((e) => e.sid === live!.id), 'the live entry after resubscribing')
      await delay(50)
      assert.deepEqual(sids(received.slice(2)), [live!.id])
      assert.deepEqual(sids(await store.readRevocations(caughtUp[caughtUp.length - 1]!.cursor, 100)), [live!.id])
    } finally {
      await unsubscribe()
    }
  })

  storeCase('cursors are <epoch>.<position>: one epoch for every entry and the head', async (store) => {
    const empty = parseFeedCursor(await store.headCursor())
    assert.ok(empty !== undefined, 'the head of an empty feed is a cursor')
    await revokeMany(store, 3)
    const entries = await store.readRevocations(undefined, 10)
    const parsed = entries.map((e) => parseFeedCursor(e.cursor))
    assert.ok(parsed.every((c) => c !== undefined && c.epoch === empty.epoch), 'every entry carries the epoch of the head')
    assert.equal(parseFeedCursor(await store.headCursor())?.epoch, empty.epoch)
    for (let i = 1; i < entries.length; i++) assert.equal(compareFeedCursors(entries[i - 1]!.cursor, entries[i]!.cursor), -1, 'positions increase')
  })

  storeCase('a cursor this feed cannot resume from is refused (field cursor), never read as a position', async (store) => {
    await revokeMany(store, 2)
    const head = parseFeedCursor(await store.headCursor())!
    const otherEpoch = head.epoch === '0123456789abcdef' ? 'fedcba9876543210' : '0123456789abcdef'
    const ahead = head.position.includes('-') ? `${head.position.split('-')[0]}-${'9'.repeat(20)}` : `${BigInt(head.position) + 1000n}`
    const refused = [
      // Malformed, or of the cursor format before epochs.
      '', '1', '0', 'abc', `${head.epoch}.`, `${head.epoch}.-1`, `${head.epoch}.1.2`, `${head.epoch.toUpperCase()}.${head.position}`,
      `${head.epoch}.${head.position}\n`, ' '.repeat(10), 'x'.repeat(10_000),
      // Another feed's epoch: another store, or this one re-created.
      formatFeedCursor(otherEpoch, head.position),
      formatFeedCursor(otherEpoch, '0'),
      // Ahead of every position given out: a store restored from an older copy.
      formatFeedCursor(head.epoch, ahead),
    ]
    for (const cursor of refused) {
      await assert.rejects(store.readRevocations(cursor, 10), (error: unknown) => {
        assert.ok(isHallpassError(error, 'ERR_SESSION_INPUT_INVALID'), `${JSON.stringify(cursor.slice(0, 60))}: ${String(error)}`)
        assert.equal(error.field, 'cursor')
        return true
      })
    }
    // The head and every entry's cursor are positions to resume from.
    assert.deepEqual(await store.readRevocations(formatFeedCursor(head.epoch, head.position), 10), [])
  })

  storeCase('minExp leaves out entries that expired without cutting a page short', async (store) => {
    const records: SessionRecord[] = []
    for (let i = 0; i < 9; i++) {
      const record = await seed(store, { subject: `exp-${i}` })
      // Every other entry expires before the bound.
      const result = await store.revokeSession(revocation(record, FIXTURE_NOW + i, 'logout', i % 2 === 0 ? 1_000 : 2_000_000_000))
      assert.equal(result.revoked, true)
      records.push(record)
    }
    const live = records.filter((_, i) => i % 2 === 1).map((r) => r.id)
    assert.deepEqual(sids(await store.readRevocations(undefined, 100, 1_500)), live)
    // A page of 2 is full (2 entries) while entries remain, whatever lies between them.
    const seen: RevocationEntry[] = []
    let cursor: string | undefined
    for (let page = 0; page < 10; page++) {
      const batch = await store.readRevocations(cursor, 2, 1_500)
      seen.push(...batch)
      if (batch.length < 2) break
      cursor = batch.at(-1)!.cursor
    }
    assert.deepEqual(sids(seen), live)
    assert.equal((await store.readRevocations(undefined, 100, 1_000)).length, 9, 'exp equal to minExp is kept')
    await assert.rejects(store.readRevocations(undefined, 10, Number.NaN), (error: unknown) => isHallpassError(error, 'ERR_SESSION_INPUT_INVALID'))
  })

  storeCase('a feed entry lasts at least until the session\'s maxAccessExp, which rotations only raise', async (store) => {
    const now = FIXTURE_NOW + MINUTE
    const long = await seed(store, { maxAccessExp: 2_100_000_000 })
    const input = rotation(long, { maxAccessExp: 2_000_000_000 })
    assert.deepEqual(await store.rotateRefreshToken(input), { rotated: true, session: rotated(long, input) })
    assert.equal((await store.getSession(long.id))?.maxAccessExp, 2_100_000_000, 'a lower value never lowers it')
    const raised = rotated(long, input)
    const higher = rotation(raised, { maxAccessExp: 2_200_000_000, now: now + MINUTE })
    assert.equal((await store.rotateRefreshToken(higher)).rotated, true)
    assert.equal((await store.getSession(long.id))?.maxAccessExp, 2_200_000_000)
    const one = await store.revokeSession(revocation(long, now + HOUR, 'logout', 2_000_000_000))
    assert.equal(one.revoked && one.entry.exp, 2_200_000_000)

    // revokeSubjectSessions raises each entry to its own session's bound.
    const short = await seed(store, { subject: 'many', maxAccessExp: 1_000 })
    const longer = await seed(store, { subject: 'many', maxAccessExp: 2_300_000_000 })
    const entries = await store.revokeSubjectSessions({ subject: 'many', exceptId: undefined, now: now + HOUR, reason: 'all', feedExp: 2_000_000_000 })
    assert.deepEqual(entries.map((e) => [e.sid, e.exp]).sort(), [[short.id, 2_000_000_000], [longer.id, 2_300_000_000]].sort())
  })

  storeCase('several subscribers each receive every entry', async (store) => {
    const lists: RevocationEntry[][] = [[], [], []]
    const stops = await Promise.all(lists.map((list) => store.subscribeRevocations((entry) => list.push(entry))))
    try {
      const records = await revokeMany(store, 4)
      await waitFor(() => lists.every((l) => l.length >= 4), 'every subscriber')
      for (const list of lists) assert.deepEqual(sids(list), records.map((r) => r.id))
    } finally {
      for (const stop of stops) await stop()
    }
  })
}

function describeKeyring(storeCase: StoreCase): void {
  storeCase('compare-and-set: first save with 0, stale versions refused', async (store) => {
    assert.equal(await store.loadKeyring(), undefined)
    assert.equal(await store.saveKeyring(1, 'too early'), false)
    assert.equal(await store.loadKeyring(), undefined)
    assert.equal(await store.saveKeyring(0, 'v1'), true)
    assert.deepEqual(await store.loadKeyring(), { version: 1, data: 'v1' })
    assert.equal(await store.saveKeyring(0, 'stale first'), false)
    assert.equal(await store.saveKeyring(2, 'from the future'), false)
    assert.equal(await store.saveKeyring(1, 'v2'), true)
    assert.deepEqual(await store.loadKeyring(), { version: 2, data: 'v2' })
    assert.equal(await store.saveKeyring(1, 'stale'), false)
    assert.equal(await store.saveKeyring(-1, 'negative'), false)
    assert.deepEqual(await store.loadKeyring(), { version: 2, data: 'v2' })
  })

  storeCase('the document round-trips exactly (hostile and 200 kB)', async (store) => {
    const data = `{"keys":["\u0000","'\\"%_{}",${JSON.stringify('\u{1F511}'.repeat(10))}]}` + 'k'.repeat(200_000)
    assert.equal(await store.saveKeyring(0, data), true)
    assert.deepEqual(await store.loadKeyring(), { version: 1, data })
    assert.equal(await store.saveKeyring(1, ''), true)
    assert.deepEqual(await store.loadKeyring(), { version: 2, data: '' })
  })

  storeCase('20 concurrent first saves: exactly one wins', async (store) => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.saveKeyring(0, `doc-${i}`)))
    assert.equal(results.filter(Boolean).length, 1)
    assert.deepEqual(await store.loadKeyring(), { version: 1, data: `doc-${results.indexOf(true)}` })
  })

  storeCase('20 concurrent saves from version N: exactly one wins', async (store) => {
    for (let v = 0; v < 3; v++) assert.equal(await store.saveKeyring(v, `v${v + 1}`), true)
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.saveKeyring(3, `next-${i}`)))
    assert.equal(results.filter(Boolean).length, 1)
    assert.deepEqual(await store.loadKeyring(), { version: 4, data: `next-${results.indexOf(true)}` })
  })
}

function describePurge(storeCase: StoreCase): void {
  storeCase('removes only sessions past a deadline by more than a day, and feed entries past exp by more than the margin', async (store) => {
    const now = FIXTURE_NOW + 100 * DAY
    const margin = DAY
    const base = { createdAt: FIXTURE_NOW }
    const absoluteGone = await seed(store, { ...base, expiresAt: now - margin - 1, idleExpiresAt: now - margin - 1 })
    const absoluteEdge = await seed(store, { ...base, expiresAt: now - margin, idleExpiresAt: now - margin })
    const idleGone = await seed(store, { ...base, idleExpiresAt: now - margin - 1, expiresAt: now + DAY })
    const idleRecent = await seed(store, { ...base, idleExpiresAt: now - 1, expiresAt: now + DAY })
    const live = await seed(store, { ...base, idleExpiresAt: now + HOUR, expiresAt: now + DAY })
    const revokedLive = await seed(store, { ...base, idleExpiresAt: now + HOUR, expiresAt: now + DAY, revokedAt: now - HOUR, revokeReason: 'x' })

    const nowSeconds = now / 1000
    const feedSessions = await Promise.all([0, 1, 2].map(() => seed(store, { ...base, idleExpiresAt: now + HOUR, expiresAt: now + DAY })))
    // A verifier accepts a token for its clock tolerance past exp: entries outlive exp by the
    // margin (FEED_EXP_MARGIN_SECONDS), never less.
    const feedExps = [nowSeconds - FEED_EXP_MARGIN_SECONDS - 1, nowSeconds - FEED_EXP_MARGIN_SECONDS, nowSeconds + 600]
    for (let i = 0; i < 3; i++) {
      const result = await store.revokeSession(revocation(feedSessions[i]!, now - MINUTE, 'feed', feedExps[i]))
      assert.equal(result.revoked, true)
    }
    const feedBefore = await store.readRevocations(undefined, 10)

    const removed = await store.purgeExpired(now)
    assert.ok(removed >= 3, `removed ${removed}, expected at least 2 sessions and 1 feed entry`)
    assert.equal(await store.getSession(absoluteGone.id), undefined)
    assert.equal(await store.getSession(idleGone.id), undefined)
    for (const kept of [absoluteEdge, idleRecent, live, revokedLive]) assert.deepEqual(await store.getSession(kept.id), kept)
    assert.deepEqual(await store.readRevocations(undefined, 10), feedBefore.slice(1))

    // A session expired within the margin can still be revoked, and its entry reaches the feed.
    const late = await store.revokeSession(revocation(idleRecent, now, 'late', nowSeconds + 600))
    assert.equal(late.revoked, true)
    assert.deepEqual(sids(await store.readRevocations(feedBefore[2]!.cursor, 10)), [idleRecent.id])
    assert.equal(await store.purgeExpired(now), 0)
  })

  storeCase('cursors stay monotonic when the newest entries were purged', async (store) => {
    const records = await Promise.all([0, 1].map(() => seed(store, { expiresAt: FIXTURE_NOW + 60 * DAY, idleExpiresAt: FIXTURE_NOW + 60 * DAY })))
    await store.revokeSession(revocation(records[0]!, FIXTURE_NOW, 'old', Math.floor(FIXTURE_NOW / 1000) + 1))
    const [entry] = await store.readRevocations(undefined, 10)
    assert.ok(entry)
    await store.purgeExpired(FIXTURE_NOW + 10 * DAY)
    assert.deepEqual(await store.readRevocations(undefined, 10), [])
    await store.revokeSession(revocation(records[1]!, FIXTURE_NOW + 10 * DAY, 'new', Math.floor(FIXTURE_NOW / 1000) + 20 * 86_400))
    // A verifier resuming from the purged entry's cursor must still see the new one.
    assert.deepEqual(sids(await store.readRevocations(entry.cursor, 10)), [records[1]!.id])
  })

  storeCase('a now between two whole seconds purges like any other (Date.now() almost never is one)', async (store) => {
    const record = await seed(store, { expiresAt: FIXTURE_NOW + 60 * DAY, idleExpiresAt: FIXTURE_NOW + 60 * DAY })
    await store.revokeSession(revocation(record, FIXTURE_NOW, 'old', Math.floor(FIXTURE_NOW / 1000) + 1))
    assert.equal((await store.readRevocations(undefined, 10)).length, 1)
    assert.ok((await store.purgeExpired(FIXTURE_NOW + 10 * DAY + 123)) >= 1)
    assert.deepEqual(await store.readRevocations(undefined, 10), [])
  })
}

function describeClock(storeCase: StoreCase): void {
  storeCase('a session set far in the past behaves by the now passed in', async (store) => {
    const past = Date.UTC(2001, 8, 9, 1, 46, 40)
    const record = await seed(store, { subject: 'past', createdAt: past, idleExpiresAt: past + HOUR, expiresAt: past + DAY })
    assert.deepEqual(await store.listSessions('past', past + MINUTE), [record])
    assert.deepEqual(await store.listSessions('past', past + HOUR), [])
    assert.equal(await store.purgeExpired(past + 2 * MINUTE), 0)
    assert.deepEqual(await store.getSession(record.id), record)
    const input = rotation(record, { now: past + 30 * MINUTE })
    assert.deepEqual(await store.rotateRefreshToken(input), { rotated: true, session: rotated(record, input) })
    const after = rotated(record, input)
    await assertRefused(store, after, rotation(after, { now: after.idleExpiresAt }))
    const revoke = await store.revokeSession(revocation(after, past + 40 * MINUTE))
    assert.equal(revoke.revoked, true)
    assert.equal((await store.getSession(record.id))?.revokedAt, past + 40 * MINUTE)
  })

  storeCase('a session set far in the future behaves by the now passed in', async (store) => {
    const future = Date.UTC(2100, 0, 1)
    const record = await seed(store, { subject: 'future', createdAt: future, idleExpiresAt: future + HOUR, expiresAt: future + DAY })
    assert.deepEqual(await store.listSessions('future', future + MINUTE), [record])
    assert.deepEqual(await store.listSessions('future', future + 2 * HOUR), [])
    // Idle-expired at the given now, however far the wall clock is from it.
    await assertRefused(store, record, rotation(record, { now: future + 2 * HOUR }))
    const input = rotation(record, { now: future + 30 * MINUTE })
    assert.equal((await store.rotateRefreshToken(input)).rotated, true)
    // Purged by the given now (the absolute deadline plus a day has passed), wall clock or not.
    assert.ok((await store.purgeExpired(future + 3 * DAY)) >= 1)
    assert.equal(await store.getSession(record.id), undefined)
  })
}
