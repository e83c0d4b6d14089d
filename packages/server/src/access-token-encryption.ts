// Where the server's access-token encryption keys come from, kept current while it runs:
// - shared: a JWK Set file of `dir` keys, re-read when it changes (a mounted secret rotated in
//   place), the old keys kept when the new file is not usable;
// - audience: each service's published key set (JWKS), fetched at start and again every
//   `jwksRefresh`, the last good key kept when a fetch fails.
import { createJwtEncrypter, type AccessTokenEncryption, type Jwk } from 'hallpass'
import { watchDecryptionKeyFile, type DecryptionKeyFile } from 'hallpass/verify'
import { ConfigInvalid, JwksUnavailable, SessionInputInvalid } from 'hallpass/errors'
import type { ServerConfig } from './config.ts'

const FETCH_TIMEOUT_MS = 5000
const MAX_KEY_SET_BYTES = 65_536
// A key set that could not be fetched yet is tried again this often, not at the full interval.
const RETRY_MS = 5000
const FILE_POLL_MS = 1000

export interface EncryptionKeys {
  /** The session manager's option; undefined when encryption is off. */
  readonly option: AccessTokenEncryption | undefined
  /** What the banner and the admin page show: the model and the key ids in use. */
  describe(): { model: 'off' | 'shared' | 'audience'; kids: Record<string, string | undefined> }
  close(): void
}

export interface EncryptionKeySourceOptions {
  /** Background failures (a key file or a key set that cannot be used); never thrown. */
  report: (error: unknown, message: string) => void
  fetch?: typeof globalThis.fetch
}

/** Opens the configured key source. A bad key file stops the start; an unreachable service does not. */
export async function openEncryptionKeys(config: ServerConfig['accessTokenEncryption'], options: EncryptionKeySourceOptions): Promise<EncryptionKeys> {
  switch (config.model) {
    case 'off':
      return { option: undefined, describe: () => ({ model: 'off', kids: {} }), close: () => undefined }
    case 'shared':
      return openSharedKeys(config.keysFile!, options)
    case 'audience':
      return openAudienceKeys(config.audiences, config.jwksRefreshSeconds * 1000, options)
  }
}

function openSharedKeys(path: string, { report }: EncryptionKeySourceOptions): EncryptionKeys {
  let file: DecryptionKeyFile
  try {
    file = watchDecryptionKeyFile(path, {
      intervalSeconds: FILE_POLL_MS / 1000,
      check: checkSharedKeys,
      onError: (error) => report(error, `the access-token encryption key file ${path} changed but cannot be used: still encrypting with key "${file.keys()[0]!.kid}"`),
    })
  } catch (error) {
    throw new ConfigInvalid('accessTokenEncryption.keysFile', (error as Error).message)
  }
  return {
    option: { model: 'shared', keys: file.keys },
    describe: () => {
      const [encrypting, ...accepted] = file.keys()
      return { model: 'shared', kids: { encrypting: encrypting!.kid, ...Object.fromEntries(accepted.map((key, i) => [`accepted${i + 1}`, key.kid])) } }
    },
    close: file.close,
  }
}

/** 32-byte `dir` keys (the file reader checks their size and distinct kids), each with a kid, at most 16. */
function checkSharedKeys(keys: readonly Jwk[]): void {
  if (keys.length > 16) throw new ConfigInvalid('accessTokenEncryption.keysFile', 'must hold at most 16 keys, the encrypting one first')
  for (const key of keys) {
    if (key.kty !== 'oct' || typeof key.kid !== 'string') {
      throw new ConfigInvalid('accessTokenEncryption.keysFile', 'must hold "oct" keys (32-byte dir keys), each with a "kid"')
    }
  }
  // The encrypter's own checks of the first key, now rather than at a login.
  createJwtEncrypter(keys[0]!)
}

interface AudienceKey {
  key: Jwk | undefined
  /** The set as last fetched, to keep the key object (and its encrypter) when nothing changed. */
  text: string | undefined
  fetching: Promise<void> | undefined
}

async function openAudienceKeys(audiences: Readonly<Record<string, string>>, refreshMs: number, options: EncryptionKeySourceOptions): Promise<EncryptionKeys> {
  const doFetch = options.fetch ?? globalThis.fetch
  const state = new Map<string, AudienceKey>(Object.keys(audiences).map((audience) => [audience, { key: undefined, text: undefined, fetching: undefined }]))
  let closed = false
  let timer: NodeJS.Timeout | undefined

  const load = (audience: string): Promise<void> => {
    const entry = state.get(audience)!
    entry.fetching ??= fetchKeySet(doFetch, audiences[audience]!)
      .then((text) => {
        if (text === entry.text) return
        entry.key = pickEncryptionKey(JSON.parse(text) as unknown, audience)
        entry.text = text
      })
      .catch((error: unknown) => {
        const kept = entry.key === undefined ? 'no key yet: logins for it answer 503' : `still encrypting to "${entry.key.kid}"`
        options.report(error, `the encryption key set of audience "${audience}" (${audiences[audience]}) cannot be used; ${kept}`)
      })
      .finally(() => {
        entry.fetching = undefined
      })
    return entry.fetching
  }
  const schedule = (): void => {
    if (closed) return
    const missing = [...state.values()].some((entry) => entry.key === undefined)
    timer = setTimeout(() => void Promise.all([...state.keys()].map(load)).then(schedule), missing ? Math.min(RETRY_MS, refreshMs) : refreshMs)
    timer.unref()
  }
  await Promise.all([...state.keys()].map(load))
  schedule()

  return {
    option: {
      model: 'audience',
      keyFor(audience) {
        const entry = state.get(audience)
        if (entry === undefined) throw new SessionInputInvalid('audience', 'has no encryption key set configured (accessTokenEncryption.audiences)')
        if (entry.key === undefined) {
          void load(audience)
          throw new JwksUnavailable(`the encryption key set of audience "${audience}" could not be fetched yet`)
        }
        return entry.key
      },
    },
    describe: () => ({ model: 'audience', kids: Object.fromEntries([...state].map(([audience, entry]) => [audience, entry.key?.kid])) }),
    close() {
      closed = true
      clearTimeout(timer)
    },
  }
}

async function fetchKeySet(doFetch: typeof globalThis.fetch, url: string): Promise<string> {
  const response = await doFetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error', headers: { accept: 'application/jwk-set+json, application/json' } })
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > MAX_KEY_SET_BYTES) throw new Error('the key set is too large')
  const text = await response.text()
  if (text.length > MAX_KEY_SET_BYTES) throw new Error('the key set is too large')
  return text
}

/**
 * The key a service wants its tokens encrypted to: the first key of its set that is an
 * ECDH-ES+A256KW public key with a kid. A service rotates by publishing its next key first
 * (it can already decrypt with it) and dropping the old one once its tokens have expired.
 */
function pickEncryptionKey(set: unknown, audience: string): Jwk {
  const keys = (set as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) throw new Error('not a JWK Set')
  for (const candidate of keys as Jwk[]) {
    if (typeof candidate !== 'object' || candidate === null || typeof candidate.kid !== 'string') continue
    if (candidate.use !== undefined && candidate.use !== 'enc') continue
    if (candidate.alg !== undefined && candidate.alg !== 'ECDH-ES+A256KW') continue
    // A published private key is a leaked one: never use it, and say so.
    if (candidate.d !== undefined) throw new Error(`key "${candidate.kid}" is a private key: the service published its secret`)
    if (candidate.kty !== 'EC' && candidate.kty !== 'OKP') continue
    const { kty, crv, x, y, kid } = candidate
    const key: Jwk = { kty, crv, x, ...(y !== undefined ? { y } : {}), kid, alg: 'ECDH-ES+A256KW', use: 'enc' }
    createJwtEncrypter(key) // the engine's checks: curve, point, kid
    return Object.freeze(key)
  }
  throw new Error(`no ECDH-ES+A256KW public key with a kid in the key set of "${audience}"`)
}
