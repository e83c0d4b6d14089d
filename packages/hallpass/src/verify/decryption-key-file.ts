/**
 * @module hallpass/verify
 *
 * A service's access-token decryption keys from a JWK Set file, read again when the file
 * changes (a mounted secret rotated in place), so keys rotate while the service runs.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs'
import { ConfigInvalid } from '../errors.ts'
import { createJwtDecrypter } from '../engine/jwe/token-encryption.ts'
import type { Jwk, JwkSet } from '../engine/jwk/types.ts'
import { checkKnownKeys, checkFunction } from '../internal/options.ts'
import { checkSeconds } from './internal/check.ts'

export interface DecryptionKeyFile {
  /** The keys as last read: pass it as `decryption.keys` of `createVerifier`. */
  readonly keys: () => readonly Jwk[]
  /**
   * The public halves of the file's ECDH-ES+A256KW keys, in the file's order, for the issuer to
   * encrypt to (its `accessTokenEncryption.audiences` URL). Shared `dir` keys are never in it.
   */
  readonly publicJwks: () => JwkSet
  /** Stops watching the file. */
  readonly close: () => void
}

export interface DecryptionKeyFileOptions {
  /** How often the file is looked at (default 1). */
  intervalSeconds?: number
  /** Told when the file changed but cannot be used; the previous keys stay in use. */
  onError?: (error: unknown) => void
  /** More checks of the keys, at start and at each change; a throw refuses the file as above. */
  check?: (keys: readonly Jwk[]) => void
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y'] as const

/**
 * Reads `path` now (throwing `ERR_CONFIG_INVALID`/`ERR_KEY_INVALID` for an unusable file) and
 * again whenever it changes. The file is a JWK Set: for the shared model the `dir` keys, for
 * the audience model this service's private ECDH-ES+A256KW keys, the one to encrypt to first.
 *
 * @example
 * import { createVerifier, watchDecryptionKeyFile } from 'hallpass/verify'
 * const keyFile = watchDecryptionKeyFile('/run/secrets/orders-token-keys.json')
 * const verifier = await createVerifier({ issuer, audience: 'orders', decryption: { keys: keyFile.keys } })
 */
export function watchDecryptionKeyFile(path: string, options: DecryptionKeyFileOptions = {}): DecryptionKeyFile {
  checkKnownKeys(options, ['intervalSeconds', 'onError', 'check'])
  if (typeof path !== 'string' || path.length === 0) throw new ConfigInvalid('path', 'must be a file path')
  const intervalMs = checkSeconds(options.intervalSeconds, 'intervalSeconds', 1) * 1000
  const onError = checkFunction<(error: unknown) => void>(options.onError, 'onError')
  const check = checkFunction<(keys: readonly Jwk[]) => void>(options.check, 'check')
  const read = (): readonly Jwk[] => {
    const read = readKeyFile(path)
    check?.(read)
    return read
  }
  let keys = read()
  let published = publicHalves(keys)
  const onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return
    try {
      keys = read()
      published = publicHalves(keys)
    } catch (error) {
      try {
        onError?.(error)
      } catch {
        // A failing hook must not stop the watch.
      }
    }
  }
  watchFile(path, { interval: intervalMs, persistent: false }, onChange)
  return Object.freeze({
    keys: () => keys,
    publicJwks: () => published,
    close: () => unwatchFile(path, onChange),
  })
}

function readKeyFile(path: string): readonly Jwk[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new ConfigInvalid(path, `cannot be read as a JSON JWK Set (${(cause as Error).message.split('\n')[0]})`)
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigInvalid(path, 'must hold a JWK Set {"keys": [...]} with at least one key')
  // The engine's checks (type, size, curve, private half, distinct kids), now.
  createJwtDecrypter({ keys: keys as Jwk[] })
  return Object.freeze(keys as Jwk[])
}

function publicHalves(keys: readonly Jwk[]): JwkSet {
  const published: Jwk[] = []
  for (const key of keys) {
    if (key.kty === 'oct') continue
    const half: Jwk = {}
    for (const member of PUBLIC_MEMBERS) if (key[member] !== undefined) half[member] = key[member]
    if (key.kid !== undefined) half.kid = key.kid
    published.push({ ...half, alg: 'ECDH-ES+A256KW', use: 'enc' })
  }
  return Object.freeze({ keys: published })
}
