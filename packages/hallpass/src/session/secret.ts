// The one operator secret (HALLPASS_SECRET) and the keys derived from it with HKDF-SHA256
// (RFC 5869), each under its own `info` so no two uses share key material.
import { hkdfSync } from 'node:crypto'
import { SecretInvalid } from '../errors.ts'

export const MIN_SECRET_BYTES = 32

export interface DerivedKeys {
  /** AES-256-GCM key that encrypts private signing keys at rest. */
  readonly keyEncryptionKey: Buffer
  /** HMAC key of the refresh-token chain. */
  readonly refreshChainKey: Buffer
  /** Key of the tag that proves a refresh token was issued here (a SHA3-256 key prefix). */
  readonly refreshTagKey: Buffer
  /** Derives the content key of each access token encrypted to a service, so the issuer can read it back. */
  readonly accessTokenContentKey: Buffer
}

/** Derives the working keys; refuses secrets shorter than 32 bytes (256 bits). */
export function deriveKeys(secret: string | Uint8Array): DerivedKeys {
  if (!(typeof secret === 'string' || secret instanceof Uint8Array)) throw new SecretInvalid('must be a string or bytes')
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
  if (bytes.length < MIN_SECRET_BYTES) throw new SecretInvalid(`must be at least ${MIN_SECRET_BYTES} bytes`)
  const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', bytes, 'hallpass/v1', info, 32))
  return Object.freeze({
    keyEncryptionKey: derive('key-encryption'),
    refreshChainKey: derive('refresh-token-chain'),
    refreshTagKey: derive('refresh-token-tag'),
    accessTokenContentKey: derive('access-token-content-key'),
  })
}
