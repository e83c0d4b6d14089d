/**
 * @module hallpass
 *
 * Signing keys kept in the store, encrypted at rest, rotated on a schedule.
 *
 * The stored keyring is a list of keys each with an `activateAt` time; a key's state follows
 * from the clock alone: the latest key whose `activateAt` has passed is `active`, later ones
 * are `next` (published, not signing: publish-then-use), earlier ones are `retired` (published
 * until every token they signed has expired, then dropped). Because the schedule is data, every
 * process sharing the store switches keys at the same instant without talking to the others;
 * the only write is adding a key, done with compare-and-set so two processes rotating at once
 * add one key between them.
 */
import { ConfigInvalid, KeyringNoSigningKey } from '../errors.ts'
import {
  createKeyring,
  exportPrivateJwk,
  generateKey,
  importKey,
  type JwkSet,
  type JwsAlgorithm,
  type JwsKey,
  type Keyring,
  type KeyringEntry,
  type KeyState,
} from '../engine/index.ts'
import { decryptWithKek, encryptWithKek, type EncryptedBlob } from './key-encryption.ts'
import type { SessionStore } from './store.ts'

export interface KeyManagerOptions {
  readonly store: Pick<SessionStore, 'loadKeyring' | 'saveKeyring'>
  readonly keyEncryptionKey: Buffer
  readonly algorithm: JwsAlgorithm
  /** How long a key signs before the next one takes over (default 30 days). */
  readonly rotationIntervalSeconds: number
  /** How long a new key is published before it signs; at least the verifiers' JWKS cache lifetime. */
  readonly publishLeadSeconds: number
  /** How long a retired key stays published: the longest token lifetime plus clock tolerance. */
  readonly retainSeconds: number
  readonly now: () => number
  readonly generateKey?: (alg: JwsAlgorithm) => JwsKey
}

export interface KeyManager {
  /** The keyring as of now (states computed from the clock). */
  keyring(): Keyring
  signingKey(): JwsKey
  /** The JWKS to publish: next, active and retired public keys. */
  publicJwks(): JwkSet
  /** Epoch ms of the next scheduled state change (a key activating or being dropped). */
  nextChangeAt(): number
  /** Reloads from the store, adds the next key when one is due, drops expired ones. */
  maintain(): Promise<void>
  /** Schedules a new key now, to activate after `activateInSeconds` (default: the publish lead). */
  rotate(options?: { activateInSeconds?: number }): Promise<void>
  /** Every stored key with its state and schedule (epoch ms), oldest first: for operators. */
  describe(): KeyScheduleEntry[]
}

export interface KeyScheduleEntry {
  readonly kid: string
  readonly alg: JwsAlgorithm
  readonly state: KeyState
  readonly createdAt: number
  /** When it signs (or signed) from. */
  readonly activateAt: number
  /** When the next key took or takes over; undefined while none is scheduled. */
  readonly retireAt: number | undefined
  /** When it leaves the JWKS (every token it signed has expired); undefined while not retiring. */
  readonly dropAt: number | undefined
}

interface StoredKey {
  readonly kid: string
  readonly alg: JwsAlgorithm
  readonly createdAt: number
  readonly activateAt: number
  readonly key: EncryptedBlob
}

interface KeyringDocument {
  readonly format: 1
  readonly keys: readonly StoredKey[]
}

const MAX_SAVE_ATTEMPTS = 5

/** Loads (or creates, on first start) the stored keyring. */
export async function createKeyManager(options: KeyManagerOptions): Promise<KeyManager> {
  const generate = options.generateKey ?? ((alg: JwsAlgorithm) => generateKey(alg))
  const decrypted = new Map<string, JwsKey>()
  let version = 0
  let doc: KeyringDocument = { format: 1, keys: [] }
  let cached: { keyring: Keyring; validUntil: number } | undefined

  const keyOf = (stored: StoredKey): JwsKey => {
    let key = decrypted.get(stored.kid)
    if (key === undefined) {
      const jwk = JSON.parse(decryptWithKek(options.keyEncryptionKey, stored.key, stored.kid)) as Record<string, unknown>
      key = importKey(jwk, { alg: stored.alg, kid: stored.kid })
      decrypted.set(stored.kid, key)
    }
    return key
  }

  const reload = async (): Promise<void> => {
    const stored = await options.store.loadKeyring()
    if (stored === undefined) {
      version = 0
      doc = { format: 1, keys: [] }
    } else if (stored.version !== version) {
      const parsed = JSON.parse(stored.data) as KeyringDocument
      if (parsed.format !== 1 || !Array.isArray(parsed.keys)) throw new ConfigInvalid('keyring', 'stored keyring has an unknown format')
      parsed.keys.forEach(keyOf) // decrypt now: a wrong secret fails at start, not at first use
      version = stored.version
      doc = parsed
    }
    cached = undefined
  }

  const newStoredKey = (activateAt: number): StoredKey => {
    const key = generate(options.algorithm)
    decrypted.set(key.kid, key)
    const jwk = JSON.stringify(exportPrivateJwk(key))
    return { kid: key.kid, alg: key.alg, createdAt: options.now(), activateAt, key: encryptWithKek(options.keyEncryptionKey, jwk, key.kid) }
  }

  // Applies `change` to the freshest document and saves it with compare-and-set, retrying on
  // conflict; `change` returns undefined when (after reloading) nothing needs doing.
  const update = async (change: (current: KeyringDocument, now: number) => KeyringDocument | undefined): Promise<void> => {
    for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
      await reload()
      const next = change(doc, options.now())
      if (next === undefined) return
      if (await options.store.saveKeyring(version, JSON.stringify(next))) {
        await reload()
        return
      }
    }
    await reload()
  }

  const schedule = (current: KeyringDocument, now: number): KeyringDocument | undefined => {
    const keys = [...current.keys].sort((a, b) => a.activateAt - b.activateAt)
    const activeIndex = keys.findLastIndex((k) => k.activateAt <= now)
    let changed = false
    if (activeIndex === -1 && !keys.some((k) => k.activateAt > now)) {
      // First start: nobody can have cached a JWKS yet, so the first key signs at once.
      keys.push(newStoredKey(now))
      changed = true
    } else if (activeIndex !== -1) {
      const active = keys[activeIndex]!
      const pending = keys.slice(activeIndex + 1)
      const due = now - active.activateAt >= (options.rotationIntervalSeconds - options.publishLeadSeconds) * 1000
      const algorithmChanged = active.alg !== options.algorithm && !pending.some((k) => k.alg === options.algorithm)
      if ((pending.length === 0 && due) || algorithmChanged) {
        const activateAt = Math.max(now + options.publishLeadSeconds * 1000, algorithmChanged ? 0 : active.activateAt + options.rotationIntervalSeconds * 1000)
        keys.push(newStoredKey(activateAt))
        changed = true
      }
    }
    const kept = keys.filter((_key, i) => !isDroppable(keys, i, now))
    if (kept.length !== keys.length) changed = true
    return changed ? { format: 1, keys: kept } : undefined
  }

  // A key superseded by a later active key is dropped once every token it signed has expired.
  const isDroppable = (keys: readonly StoredKey[], index: number, now: number): boolean => {
    const successor = keys.slice(index + 1).findLast((k) => k.activateAt <= now)
    return successor !== undefined && successor.activateAt + options.retainSeconds * 1000 < now
  }

  const computeKeyring = (): { keyring: Keyring; validUntil: number } => {
    const now = options.now()
    const keys = [...doc.keys].sort((a, b) => a.activateAt - b.activateAt)
    const activeIndex = keys.findLastIndex((k) => k.activateAt <= now)
    const entries: KeyringEntry[] = []
    let validUntil = Number.POSITIVE_INFINITY
    keys.forEach((stored, i) => {
      if (i < activeIndex) {
        const retiredAt = keys[i + 1]!.activateAt
        const dropAt = retiredAt + options.retainSeconds * 1000
        if (dropAt < now) return
        validUntil = Math.min(validUntil, dropAt)
      } else if (i > activeIndex) {
        validUntil = Math.min(validUntil, stored.activateAt)
      }
      const state = i === activeIndex ? 'active' : i < activeIndex ? 'retired' : 'next'
      entries.push({ key: keyOf(stored), state })
    })
    return { keyring: createKeyring(entries), validUntil }
  }

  const keyring = (): Keyring => {
    if (cached === undefined || options.now() >= cached.validUntil) cached = computeKeyring()
    return cached.keyring
  }

  await update(schedule)
  if (doc.keys.length === 0) throw new KeyringNoSigningKey()

  return Object.freeze({
    keyring,
    signingKey: () => keyring().signingKey(),
    publicJwks: () => keyring().publicJwks(),
    nextChangeAt: () => {
      keyring()
      return cached!.validUntil
    },
    maintain: () => update(schedule),
    describe: () => {
      const now = options.now()
      const keys = [...doc.keys].sort((a, b) => a.activateAt - b.activateAt)
      const activeIndex = keys.findLastIndex((k) => k.activateAt <= now)
      return keys.map((stored, i): KeyScheduleEntry => {
        const retireAt = keys[i + 1]?.activateAt
        const state: KeyState = i === activeIndex ? 'active' : i < activeIndex ? 'retired' : 'next'
        return { kid: stored.kid, alg: stored.alg, state, createdAt: stored.createdAt, activateAt: stored.activateAt, retireAt, dropAt: retireAt === undefined ? undefined : retireAt + options.retainSeconds * 1000 }
      })
    },
    rotate: async (rotateOptions: { activateInSeconds?: number } = {}) => {
      const lead = rotateOptions.activateInSeconds ?? options.publishLeadSeconds
      if (typeof lead !== 'number' || !Number.isFinite(lead) || lead < 0) throw new ConfigInvalid('activateInSeconds', 'must be a non-negative number')
      const requestedAt = options.now()
      await update((current, now) => {
        // Another process rotated since we were asked: its new key is the rotation.
        if (current.keys.some((k) => k.createdAt >= requestedAt)) return undefined
        const keys = current.keys.filter((k) => k.activateAt <= now) // replace keys not yet signing
        return { format: 1, keys: [...keys, newStoredKey(now + lead * 1000)] }
      })
    },
  })
}
