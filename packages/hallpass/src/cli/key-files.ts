/**
 * @module hallpass/cli
 *
 * Key files for `--key` and `--jwks`. A key file holds one JWK (private, public or `oct`) or
 * one PEM key; a JWKS file holds `{"keys": [...]}` of public keys. Everything about whether a
 * key fits its algorithm is decided by the engine's `importKey` / `importJwks`; this module
 * only reads the file and tells the formats apart. Error messages name the file, never its
 * content: a key file is a secret.
 */
import { importJwks, importKey, isJwsAlgorithm, type JwkSet, type JwsAlgorithm, type JwsKey, type Keyring } from '../engine/index.ts'
import { JwtMalformed, KeyInvalid } from '../errors.ts'
import { parseJsonObject } from '../internal/strict-json.ts'
import { UsageError } from './args.ts'
import { readFileLimited, MAX_KEY_FILE_BYTES } from './io.ts'

/** Checks an `--alg` value against the supported algorithms (a usage error otherwise). */
export function parseAlgorithmOption(value: string | undefined): JwsAlgorithm | undefined {
  if (value === undefined) return undefined
  if (!isJwsAlgorithm(value)) {
    throw new UsageError('--alg must be one of HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA')
  }
  return value
}

export type KeyFileContent = { kind: 'jwk'; jwk: Record<string, unknown> } | { kind: 'jwks'; jwks: Record<string, unknown> } | { kind: 'pem'; pem: string }

export async function readKeyFile(path: string, what: string): Promise<KeyFileContent> {
  const text = (await readFileLimited(path, MAX_KEY_FILE_BYTES, what)).toString('utf8').trim()
  if (text.startsWith('-----BEGIN ')) return { kind: 'pem', pem: text }
  if (!text.startsWith('{')) throw new KeyInvalid(`the ${what} file must hold a JWK, a JWK Set or a PEM key`)
  let json: Record<string, unknown>
  try {
    // The strict parser: bounded depth, no duplicate members (a JWK with two "alg" or two "d"
    // members would mean different keys to different parsers).
    json = parseJsonObject(text, 'file')
  } catch (error) {
    if (error instanceof JwtMalformed) throw new KeyInvalid(`the ${what} ${error.reason}`)
    throw error
  }
  return Object.hasOwn(json, 'keys') ? { kind: 'jwks', jwks: json } : { kind: 'jwk', jwk: json }
}

export interface LoadKeyOptions {
  /** `--alg`: required for PEM, must match a JWK's own `alg`. */
  alg: JwsAlgorithm | undefined
  /** `--kid`: overrides the JWK's `kid` (or the thumbprint default). */
  kid?: string | undefined
}

/** The `--key` of `token sign`: a private or secret key. */
export async function loadSigningKey(path: string, options: LoadKeyOptions): Promise<JwsKey> {
  const key = await loadKey(path, options, 'sign')
  if (key.type === 'public') throw new KeyInvalid('the --key file holds a public key; signing needs the private key')
  return key
}

/** The `--key` of `token verify`: any single key (a private key verifies with its public half). */
export async function loadVerificationKey(path: string, options: LoadKeyOptions): Promise<JwsKey> {
  return loadKey(path, options, 'verify')
}

async function loadKey(path: string, options: LoadKeyOptions, purpose: 'sign' | 'verify'): Promise<JwsKey> {
  const content = await readKeyFile(path, '--key')
  const importOptions = { ...(options.alg ? { alg: options.alg } : {}), ...(options.kid !== undefined ? { kid: options.kid } : {}) }
  switch (content.kind) {
    case 'jwks':
      throw new KeyInvalid(purpose === 'sign' ? 'the --key file is a JWK Set; signing needs one private JWK' : 'the --key file is a JWK Set; pass it with --jwks')
    case 'pem':
      if (options.alg === undefined) throw new UsageError('--alg is required with a PEM key (PEM does not name its algorithm)')
      return importKey(content.pem, importOptions)
    case 'jwk':
      return importKey(content.jwk, importOptions)
  }
}

/**
 * The `--jwks` of `token verify`: public keys only, as a resource server would fetch them.
 * `--alg` names the algorithm of RSA keys that carry no `alg` (RFC 7517 makes it optional).
 */
export async function loadJwks(path: string, alg: JwsAlgorithm | undefined): Promise<Keyring> {
  const content = await readKeyFile(path, '--jwks')
  if (content.kind !== 'jwks') throw new KeyInvalid('the --jwks file must hold a JWK Set ({"keys": [...]}); pass a single key with --key')
  const defaultRsaAlgorithm = alg !== undefined && /^(RS|PS)/.test(alg) ? alg : undefined
  return importJwks(content.jwks as unknown as JwkSet, defaultRsaAlgorithm ? { defaultRsaAlgorithm } : {})
}
