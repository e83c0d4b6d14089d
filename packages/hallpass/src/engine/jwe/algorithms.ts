/**
 * @module hallpass
 *
 * The JWE algorithms hallpass accepts (RFC 7518 §4 key management, §5 content encryption, RFC
 * 8037 §3.2 X25519) and the key each one needs. Algorithms left out on purpose are listed in
 * `REFUSED_JWE_ALGORITHMS` with the reason, and no option can turn them on.
 */

/** A JWE key-management algorithm (`alg` header) hallpass can encrypt and decrypt with. */
export type JweAlgorithm =
  | 'dir'
  | 'A128KW' | 'A192KW' | 'A256KW'
  | 'A128GCMKW' | 'A192GCMKW' | 'A256GCMKW'
  | 'ECDH-ES' | 'ECDH-ES+A128KW' | 'ECDH-ES+A192KW' | 'ECDH-ES+A256KW'
  | 'RSA-OAEP' | 'RSA-OAEP-256'

/** A JWE content-encryption algorithm (`enc` header). */
export type JweEncryption = 'A128GCM' | 'A192GCM' | 'A256GCM' | 'A128CBC-HS256' | 'A192CBC-HS384' | 'A256CBC-HS512'

export type JweAlgorithmFamily = 'direct' | 'aes-kw' | 'aes-gcm-kw' | 'ecdh-es' | 'rsa-oaep'

export interface JweAlgorithmSpec {
  readonly family: JweAlgorithmFamily
  /** Symmetric families: the exact key length in bytes (`dir` takes it from `enc`). */
  readonly keyBytes: number | undefined
}

const spec = (family: JweAlgorithmFamily, keyBytes?: number): JweAlgorithmSpec => Object.freeze({ family, keyBytes })

export const JWE_ALGORITHM_SPECS: Readonly<Record<JweAlgorithm, JweAlgorithmSpec>> = Object.freeze({
  dir: spec('direct'),
  A128KW: spec('aes-kw', 16),
  A192KW: spec('aes-kw', 24),
  A256KW: spec('aes-kw', 32),
  A128GCMKW: spec('aes-gcm-kw', 16),
  A192GCMKW: spec('aes-gcm-kw', 24),
  A256GCMKW: spec('aes-gcm-kw', 32),
  'ECDH-ES': spec('ecdh-es'),
  'ECDH-ES+A128KW': spec('ecdh-es'),
  'ECDH-ES+A192KW': spec('ecdh-es'),
  'ECDH-ES+A256KW': spec('ecdh-es'),
  'RSA-OAEP': spec('rsa-oaep'),
  'RSA-OAEP-256': spec('rsa-oaep'),
})

/**
 * Content-encryption key length in bytes (RFC 7518 §5.2.3-5.2.5: the CBC-HMAC keys are a MAC
 * key and an AES key of equal length; §5.3: the GCM key is the AES key). A `dir` key must have
 * exactly this length.
 */
export const JWE_ENCRYPTION_KEY_BYTES: Readonly<Record<JweEncryption, number>> = Object.freeze({
  A128GCM: 16,
  A192GCM: 24,
  A256GCM: 32,
  'A128CBC-HS256': 32,
  'A192CBC-HS384': 48,
  'A256CBC-HS512': 64,
})

/** Every accepted key-management algorithm, in a stable order. */
export const JWE_ALGORITHMS: readonly JweAlgorithm[] = Object.freeze(Object.keys(JWE_ALGORITHM_SPECS) as JweAlgorithm[])

/** Every accepted content-encryption algorithm, in a stable order. */
export const JWE_ENCRYPTIONS: readonly JweEncryption[] = Object.freeze(Object.keys(JWE_ENCRYPTION_KEY_BYTES) as JweEncryption[])

/** The `enc` used when the caller names none. */
export const DEFAULT_JWE_ENCRYPTION: JweEncryption = 'A256GCM'

/**
 * Algorithms hallpass refuses, whatever the options say, and why. They are rejected by name
 * before any key is touched, so a token naming one costs a header parse and nothing more.
 */
export const REFUSED_JWE_ALGORITHMS: Readonly<Record<string, string>> = Object.freeze({
  // RSAES-PKCS1-v1_5 key transport is a Bleichenbacher/Marvin padding oracle (RFC 8725 §3.2,
  // docs/security.md B6), and Node ≥ 20.11 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809).
  RSA1_5: 'RSA1_5 is refused (PKCS#1 v1.5 padding oracle)',
  // PBES2 derives the key from a password, and the token chooses the PBKDF2 iteration count:
  // `p2c` of 2^31 is billions of hashes per request (CVE-2022-36083, CVE-2023-50967; docs/security.md C1).
  'PBES2-HS256+A128KW': 'PBES2 is refused (password-derived keys, p2c CPU exhaustion)',
  'PBES2-HS384+A192KW': 'PBES2 is refused (password-derived keys, p2c CPU exhaustion)',
  'PBES2-HS512+A256KW': 'PBES2 is refused (password-derived keys, p2c CPU exhaustion)',
})

/** True when `alg` is exactly (case-sensitively) one of the accepted key-management algorithms. */
export function isJweAlgorithm(alg: unknown): alg is JweAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(JWE_ALGORITHM_SPECS, alg)
}

/** True when `enc` is exactly (case-sensitively) one of the accepted content-encryption algorithms. */
export function isJweEncryption(enc: unknown): enc is JweEncryption {
  return typeof enc === 'string' && Object.hasOwn(JWE_ENCRYPTION_KEY_BYTES, enc)
}

/** The refusal reason for a refused algorithm name (including any `PBES2-*`), else undefined. */
export function refusalOf(alg: unknown): string | undefined {
  if (typeof alg !== 'string') return undefined
  if (Object.hasOwn(REFUSED_JWE_ALGORITHMS, alg)) return REFUSED_JWE_ALGORITHMS[alg]
  if (alg.toUpperCase().startsWith('PBES2')) return REFUSED_JWE_ALGORITHMS['PBES2-HS256+A128KW']
  return undefined
}
