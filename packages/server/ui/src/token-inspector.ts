// The logic of the browser token debugger: decode a pasted JWT, show its header, claims and
// times, and say whether it verifies against this issuer's JWKS or a pasted key, and if not,
// exactly why. It runs in the page (and under node:test): jose's WebCrypto build only, no DOM,
// no node:* module, nothing sent anywhere. Every failure is a verdict, never a throw.
import {
  base64url,
  createLocalJWKSet,
  errors,
  importJWK,
  importSPKI,
  importX509,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose'

/** The largest token inspected; hallpass access tokens are well under 2 KB. */
export const MAX_TOKEN_CHARS = 16 * 1024
/** The largest pasted key or JWKS. */
export const MAX_KEY_CHARS = 64 * 1024

/** The public-key JWS algorithms hallpass issues with; the issuer's JWKS is checked against these only. */
export const ASYMMETRIC_ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const
/** The HMAC algorithms, accepted only with a pasted shared secret. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export type InspectableAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number] | (typeof HMAC_ALGORITHMS)[number]

/** What kind of key an algorithm needs, as shown to the person. */
type KeyFamily = 'RSA' | 'EC P-256' | 'EC P-384' | 'EC P-521' | 'Ed25519' | 'shared secret'

const ALG_FAMILY: Readonly<Record<InspectableAlgorithm, KeyFamily>> = {
  EdDSA: 'Ed25519',
  ES256: 'EC P-256', ES384: 'EC P-384', ES512: 'EC P-521',
  RS256: 'RSA', RS384: 'RSA', RS512: 'RSA',
  PS256: 'RSA', PS384: 'RSA', PS512: 'RSA',
  HS256: 'shared secret', HS384: 'shared secret', HS512: 'shared secret',
}

/** Every way an inspection can fail; stable strings the page may key on. */
export type FailureCode =
  | 'malformed' // not a JWT: wrong shape, bad base64url, not JSON, too large
  | 'encrypted' // a 5-part JWE: unreadable without the decryption key
  | 'unsigned' // alg "none", or an empty signature
  | 'alg_not_allowed' // an algorithm this source of keys may not verify (unknown, HS* against the JWKS, HS* with a public key)
  | 'no_key' // neither the issuer's JWKS nor a pasted key
  | 'bad_key' // the JWKS or pasted key cannot be used at all
  | 'unknown_kid' // the JWKS has no key with the token's kid
  | 'key_mismatch' // the key found is of another type than alg needs
  | 'bad_signature' // the signature does not match the key
  | 'expired' // exp is past (signature valid)
  | 'not_yet_valid' // nbf is in the future (signature valid)
  | 'wrong_issuer' // iss is not the expected issuer (signature valid)
  | 'wrong_audience' // aud does not contain the expected audience (signature valid)
  | 'invalid_claim' // a registered claim has the wrong type (signature valid)
  | 'unsupported' // a header extension (crit) or key feature this page does not implement

export type Verdict =
  | { ok: true; kid?: string; alg: string; keySource: 'issuer' | 'pasted' }
  | { ok: false; code: FailureCode; reason: string }

export interface TokenTime {
  claim: 'iat' | 'nbf' | 'exp'
  /** e.g. "2026-12-03T10:00:00Z"; "(out of range)" for a number no date can hold. */
  iso: string
  /** e.g. "issued 12 min ago", "expired 3 min ago", "expires in 7 min", "not valid for another 2 min". */
  relative: string
}

export interface Inspection {
  /** The decoded protected header; undefined when the text is not a JWT at all. */
  header?: Record<string, unknown>
  /** The decoded claims; undefined when the payload does not decode (or for a JWE). */
  claims?: Record<string, unknown>
  /** iat, nbf, exp when they are numbers, in that order. */
  times: TokenTime[]
  verdict: Verdict
}

/** A key pasted by the person, checked by {@link parseKey}. */
export type PastedKey =
  | { readonly kind: 'jwks'; readonly description: string; readonly jwks: { keys: JWK[] } }
  | { readonly kind: 'jwk'; readonly description: string; readonly family: KeyFamily; readonly jwk: JWK }
  | { readonly kind: 'pem'; readonly description: string; readonly family: KeyFamily; readonly pem: string; readonly format: 'spki' | 'x509' }
  | { readonly kind: 'secret'; readonly description: string; readonly secret: Uint8Array }

export interface InspectOptions {
  /** This issuer's JWKS as fetched from /.well-known/jwks.json. */
  jwks?: { keys: unknown[] }
  /** A key from {@link parseKey}; takes precedence over `jwks`. */
  key?: PastedKey
  /** When given, `iss` must equal it. */
  issuer?: string
  /** When given, `aud` must be or contain it. */
  audience?: string
  /** The current time, epoch milliseconds (default Date.now()). */
  now?: number
}

/** Why a pasted key cannot be used; `message` is one sentence for the person. */
export class KeyParseError extends Error {
  override name = 'KeyParseError'
}

// ——— Keys ———

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv']
const EC_CURVES: Readonly<Record<string, KeyFamily>> = { 'P-256': 'EC P-256', 'P-384': 'EC P-384', 'P-521': 'EC P-521' }
const DEFAULT_ALG: Readonly<Record<KeyFamily, InspectableAlgorithm>> = {
  'RSA': 'RS256', 'EC P-256': 'ES256', 'EC P-384': 'ES384', 'EC P-521': 'ES512', 'Ed25519': 'EdDSA', 'shared secret': 'HS256',
}

function isInspectableAlgorithm(alg: unknown): alg is InspectableAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(ALG_FAMILY, alg)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The key type a JWK holds (a {@link KeyFamily}, see isFamily), or a sentence saying why it is none we verify with. */
function jwkFamily(jwk: Record<string, unknown>): string {
  const { kty, crv } = jwk
  if (typeof kty !== 'string') return 'it has no "kty" (key type) string'
  switch (kty) {
    case 'RSA': return 'RSA'
    case 'EC': return typeof crv === 'string' && Object.hasOwn(EC_CURVES, crv) ? EC_CURVES[crv]! : `its EC curve ${show(crv)} is not P-256, P-384 or P-521`
    case 'OKP': return crv === 'Ed25519' ? 'Ed25519' : `its OKP curve ${show(crv)} is not Ed25519`
    case 'oct': return 'shared secret'
    default: return `its kty ${show(kty)} is not RSA, EC, OKP or oct`
  }
}

const isFamily = (value: string): value is KeyFamily => Object.hasOwn(DEFAULT_ALG, value)

/** A copy of `jwk` without private members: only the public half ever verifies. */
function publicPart(jwk: Record<string, unknown>): { jwk: JWK; hadPrivate: boolean } {
  const copy: Record<string, unknown> = {}
  let hadPrivate = false
  for (const [name, value] of Object.entries(jwk)) {
    if (PRIVATE_MEMBERS.includes(name)) hadPrivate = true
    else Object.defineProperty(copy, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return { jwk: copy, hadPrivate }
}

const kidText = (kid: unknown): string => (typeof kid === 'string' ? `, kid ${show(kid)}` : '')

/**
 * Reads a pasted key: a JWK (JSON with "kty"), a JWKS (JSON with "keys"), a PEM public key
 * ("-----BEGIN PUBLIC KEY-----", or a certificate), or else a shared secret for HS256/384/512
 * (its UTF-8 bytes, surrounding whitespace ignored). With `alg` (the token's), also checks that
 * the key fits it. Private members of a JWK are dropped; a PEM private key is refused.
 * @throws KeyParseError, with a sentence saying what is wrong.
 */
export async function parseKey(text: string, alg?: string): Promise<PastedKey> {
  if (typeof text !== 'string') throw new KeyParseError('The key must be text.')
  if (text.length > MAX_KEY_CHARS) throw new KeyParseError(`The pasted key is ${kilobytes(text.length)}; keys and key sets are at most ${kilobytes(MAX_KEY_CHARS)} here.`)
  if (alg !== undefined && !isInspectableAlgorithm(alg)) throw new KeyParseError(`alg ${show(alg)} is not one this page verifies (${[...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].join(', ')}).`)
  const trimmed = text.trim()
  if (trimmed === '') throw new KeyParseError('No key was pasted.')
  const wanted: KeyFamily | undefined = alg === undefined ? undefined : ALG_FAMILY[alg]

  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown
    try {
      json = JSON.parse(trimmed)
    } catch (error) {
      throw new KeyParseError(`The key looks like JSON but does not parse: ${messageOf(error)}.`)
    }
    if (!isPlainObject(json)) throw new KeyParseError('The key is a JSON array; paste one JWK ({"kty": …}) or a JWKS ({"keys": [ … ]}).')
    if (Object.hasOwn(json, 'keys')) return parseJwks(json.keys)
    if (Object.hasOwn(json, 'kty')) return parseJwk(json, alg, wanted)
    throw new KeyParseError('The JSON has neither "kty" (a JWK) nor "keys" (a JWKS).')
  }

  if (trimmed.startsWith('-----BEGIN')) return parsePem(trimmed, alg, wanted)

  if (wanted !== undefined && wanted !== 'shared secret') {
    throw new KeyParseError(`The token is signed with ${alg}, which needs ${article(wanted)} (a JWK, a JWKS or a PEM "-----BEGIN PUBLIC KEY-----"); a plain string is a shared secret, for HS256/384/512 only.`)
  }
  const secret = new TextEncoder().encode(trimmed)
  return { kind: 'secret', description: `Shared secret (${secret.length} bytes)`, secret }
}

function parseJwks(keys: unknown): PastedKey {
  if (!Array.isArray(keys)) throw new KeyParseError('The JWKS "keys" member is not an array.')
  if (keys.length === 0) throw new KeyParseError('The JWKS has no keys.')
  const publicKeys: JWK[] = []
  let hadPrivate = false
  for (const [index, member] of keys.entries()) {
    if (!isPlainObject(member)) throw new KeyParseError(`Key ${index + 1} of the JWKS is not a JSON object.`)
    const family = jwkFamily(member)
    if (!isFamily(family)) throw new KeyParseError(`Key ${index + 1} of the JWKS${kidText(member.kid)} cannot verify: ${family}.`)
    const part = publicPart(member)
    hadPrivate ||= part.hadPrivate
    publicKeys.push(part.jwk)
  }
  const jwks = { keys: publicKeys }
  try {
    createLocalJWKSet(jwks)
  } catch (error) {
    throw new KeyParseError(`The JWKS is not valid: ${messageOf(error)}.`)
  }
  const kids = publicKeys.map((k) => k.kid).filter((k): k is string => typeof k === 'string')
  const description = `JWKS with ${publicKeys.length} key${publicKeys.length === 1 ? '' : 's'}${kids.length ? ` (kid ${kids.map(show).join(', ')})` : ''}${hadPrivate ? '; private parts ignored' : ''}`
  return { kind: 'jwks', description, jwks }
}

async function parseJwk(json: Record<string, unknown>, alg: InspectableAlgorithm | undefined, wanted: KeyFamily | undefined): Promise<PastedKey> {
  const family = jwkFamily(json)
  if (!isFamily(family)) throw new KeyParseError(`The JWK cannot verify: ${family}.`)
  if (wanted !== undefined && family !== wanted) throw new KeyParseError(mismatchSentence(alg!, family, 'the pasted JWK'))
  if (json.alg !== undefined && alg !== undefined && json.alg !== alg) {
    throw new KeyParseError(`The JWK is for alg ${show(json.alg)} but the token uses ${alg}.`)
  }
  if (family === 'shared secret') {
    let secret: Uint8Array
    try {
      if (typeof json.k !== 'string' || json.k === '') throw new TypeError('"k" is missing or empty')
      secret = base64url.decode(json.k)
    } catch (error) {
      throw new KeyParseError(`The oct JWK has no usable "k" (the secret, base64url): ${messageOf(error)}.`)
    }
    return { kind: 'secret', description: `Shared secret from an oct JWK (${secret.length} bytes${kidText(json.kid)})`, secret }
  }
  const { jwk, hadPrivate } = publicPart(json)
  try {
    // Imported once here only to report a broken key now rather than at verification.
    await importJWK({ ...jwk }, alg ?? (isInspectableAlgorithm(jwk.alg) ? jwk.alg : DEFAULT_ALG[family]))
  } catch (error) {
    throw new KeyParseError(`The JWK is not a valid ${family} public key: ${messageOf(error)}.`)
  }
  return { kind: 'jwk', description: `${family} public key (JWK${kidText(jwk.kid)}${hadPrivate ? '; private parts ignored' : ''})`, family, jwk }
}

const PEM_PROBES: readonly InspectableAlgorithm[] = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256']

async function parsePem(pem: string, alg: InspectableAlgorithm | undefined, wanted: KeyFamily | undefined): Promise<PastedKey> {
  const label = /^-----BEGIN ([A-Z0-9 ]{1,40})-----/.exec(pem)?.[1]
  let format: 'spki' | 'x509'
  if (label === 'PUBLIC KEY') format = 'spki'
  else if (label === 'CERTIFICATE') format = 'x509'
  else if (label !== undefined && label.includes('PRIVATE KEY')) throw new KeyParseError('This is a private key; paste the public key ("-----BEGIN PUBLIC KEY-----"). A private key never belongs in a web page.')
  else if (label === 'RSA PUBLIC KEY') throw new KeyParseError('This is a PKCS#1 RSA public key; convert it to SPKI ("-----BEGIN PUBLIC KEY-----"), e.g. openssl rsa -RSAPublicKey_in -in key.pem -pubout.')
  else throw new KeyParseError(`A PEM "${label ?? '?'}" block is not a public key; paste "-----BEGIN PUBLIC KEY-----" (SPKI) or a certificate.`)
  if (wanted === 'shared secret') throw new KeyParseError(`The token is signed with ${alg}, which needs a shared secret, but a PEM block holds a public key: verifying a MAC with a public key is the algorithm-confusion attack, so it is refused.`)
  const importer = format === 'spki' ? importSPKI : importX509
  let family: KeyFamily | undefined
  let lastError: unknown
  for (const probe of alg !== undefined ? [alg] : PEM_PROBES) {
    try {
      await importer(pem, probe)
      family = ALG_FAMILY[probe]
      break
    } catch (error) {
      lastError = error
    }
  }
  if (family === undefined) {
    throw new KeyParseError(alg !== undefined
      ? `The PEM ${format === 'spki' ? 'key' : 'certificate'} is not ${article(wanted!)} usable with ${alg}: ${messageOf(lastError)}.`
      : `The PEM ${format === 'spki' ? 'key' : 'certificate'} is not an RSA, EC (P-256/384/521) or Ed25519 public key: ${messageOf(lastError)}.`)
  }
  return { kind: 'pem', description: `${family} public key (PEM ${format === 'spki' ? 'SPKI' : 'certificate'})`, family, pem, format }
}

// ——— Decoding ———

const BASE64URL_TEXT = /^[A-Za-z0-9_\-.]*$/

type Decoded = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string }

/** Strictly decodes one segment: base64url, then UTF-8, then a JSON object. */
function decodeSegment(segment: string, name: string): Decoded {
  if (segment === '') return { ok: false, reason: `The ${name} is empty.` }
  let bytes: Uint8Array
  try {
    bytes = base64url.decode(segment)
  } catch {
    return { ok: false, reason: `The ${name} is not valid base64url.` }
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return { ok: false, reason: `The ${name} is not UTF-8 text.` }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: `The ${name} is not JSON (it decodes to ${show(text)}).` }
  }
  if (!isPlainObject(value)) return { ok: false, reason: `The ${name} is JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}, not a JSON object.` }
  return { ok: true, value }
}

// ——— Times ———

function isoOf(seconds: number): string {
  const ms = seconds * 1000
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return '(out of range)'
  return new Date(ms).toISOString().replace('.000Z', 'Z')
}

/** "45 s", "3 min", "2 h", "4 days": a duration rounded to the unit people read it in. */
function duration(seconds: number): string {
  const s = Math.abs(seconds)
  if (s < 120) return `${Math.round(s)} s`
  if (s < 120 * 60) return `${Math.round(s / 60)} min`
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`
  return `${Math.round(s / 86400)} days`
}

function timeRelative(claim: TokenTime['claim'], at: number, now: number): string {
  const delta = at - now
  const later = `in ${duration(delta)}`
  const ago = `${duration(delta)} ago`
  switch (claim) {
    case 'iat': return delta > 0 ? `issued ${duration(delta)} in the future` : delta === 0 ? 'issued just now' : `issued ${ago}`
    case 'nbf': return delta > 0 ? `not valid for another ${duration(delta)}` : delta === 0 ? 'valid from now' : `valid since ${ago}`
    case 'exp': return delta > 0 ? `expires ${later}` : delta === 0 ? 'expired just now' : `expired ${ago}`
  }
}

function timesOf(claims: Record<string, unknown>, now: number): TokenTime[] {
  const times: TokenTime[] = []
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined
    if (typeof value === 'number' && Number.isFinite(value)) times.push({ claim, iso: isoOf(value), relative: timeRelative(claim, value, now) })
  }
  return times
}

// ——— Inspection ———

/**
 * Decodes `token` and verifies it against `options.key` (when pasted) or `options.jwks` (this
 * issuer's), at `options.now` with no clock tolerance, checking `iss`/`aud` when asked. Never
 * throws: every problem is a failed verdict with a code and a one-sentence reason.
 */
export async function inspectToken(token: string, options: InspectOptions = {}): Promise<Inspection> {
  const nowMs = typeof options.now === 'number' && Number.isFinite(options.now) ? options.now : Date.now()
  const now = Math.floor(nowMs / 1000)
  const fail = (code: FailureCode, reason: string, header?: Record<string, unknown>, claims?: Record<string, unknown>): Inspection =>
    ({ ...(header ? { header } : {}), ...(claims ? { claims } : {}), times: claims ? timesOf(claims, now) : [], verdict: { ok: false, code, reason } })

  if (typeof token !== 'string') return fail('malformed', 'The token must be text.')
  if (token.length > MAX_TOKEN_CHARS) return fail('malformed', `The input is ${kilobytes(token.length)}; a token this large is not inspected (the limit is ${kilobytes(MAX_TOKEN_CHARS)}, and hallpass access tokens are under 2 KB).`)
  const text = token.trim().replace(/^Bearer\s+/i, '')
  if (text === '') return fail('malformed', 'Nothing to inspect: paste a JWT (three base64url parts separated by dots).')
  if (!BASE64URL_TEXT.test(text)) {
    const index = [...text].findIndex((char) => !BASE64URL_TEXT.test(char))
    const char = [...text][index] ?? '?'
    return fail('malformed', `The text has ${show(char)} at position ${index + 1}; a JWT holds only base64url characters (A-Z a-z 0-9 - _) and dots.`)
  }

  const parts = text.split('.')
  if (parts.length === 5) {
    const header = decodeSegment(parts[0]!, 'header (part 1)')
    if (!header.ok) return fail('malformed', `The token has 5 parts like an encrypted JWE, but: ${header.reason}`)
    const { alg, enc } = header.value
    return fail('encrypted', `This is an encrypted token (JWE${typeof alg === 'string' ? `, alg ${show(alg)}` : ''}${typeof enc === 'string' ? `, enc ${show(enc)}` : ''}): its claims cannot be read without the decryption key, and this page does not decrypt.`, header.value)
  }
  if (parts.length !== 3) return fail('malformed', `The token has ${parts.length} part${parts.length === 1 ? '' : 's'} separated by dots; a signed JWT has 3 (header.payload.signature).`)

  const decodedHeader = decodeSegment(parts[0]!, 'header (part 1)')
  if (!decodedHeader.ok) return fail('malformed', decodedHeader.reason)
  const header = decodedHeader.value
  const decodedClaims = decodeSegment(parts[1]!, 'payload (part 2)')
  if (!decodedClaims.ok) return fail('malformed', decodedClaims.reason, header)
  const claims = decodedClaims.value
  const failed = (code: FailureCode, reason: string): Inspection => fail(code, reason, header, claims)

  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined
  if (typeof alg !== 'string' || alg === '') return failed('malformed', 'The header has no "alg" string, so nothing says how the token is signed.')
  if (alg.toLowerCase() === 'none') return failed('unsigned', `alg is ${show(alg)}: the token is not signed. hallpass and every safe verifier refuse unsigned tokens.`)
  if (parts[2] === '') return failed('unsigned', `The signature (part 3) is empty: the token is not signed, although its header says alg ${show(alg)}.`)
  if (kid !== undefined && typeof kid !== 'string') return failed('malformed', `The header's "kid" is ${show(kid)}, not a string.`)
  if (!isInspectableAlgorithm(alg)) return failed('alg_not_allowed', `alg ${show(alg)} is not an algorithm hallpass accepts (${ASYMMETRIC_ALGORITHMS.join(', ')}; ${HMAC_ALGORITHMS.join(', ')} with a shared secret).`)

  const pasted = options.key
  const family = ALG_FAMILY[alg]
  const context: Context = { alg, kid, claims, now, source: pasted ? 'pasted' : 'issuer', issuer: options.issuer, audience: options.audience }
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [alg],
    currentDate: new Date(now * 1000),
    clockTolerance: 0,
    ...(options.issuer !== undefined && options.issuer !== '' ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined && options.audience !== '' ? { audience: options.audience } : {}),
  }
  const success: Inspection = { header, claims, times: timesOf(claims, now), verdict: { ok: true, alg, keySource: context.source, ...(kid !== undefined ? { kid } : {}) } }

  try {
    if (pasted === undefined) {
      if (options.jwks === undefined) return failed('no_key', 'There is no key to verify with: the issuer\'s JWKS is not loaded and no key was pasted. The header and claims shown are decoded, not verified.')
      if (family === 'shared secret') return failed('alg_not_allowed', `alg is ${alg}, a shared-secret MAC, but this issuer signs only with public keys (${ASYMMETRIC_ALGORITHMS.join(', ')}): the token was not issued here. Paste the shared secret to check it against its real issuer.`)
      const outcome = await verifyWithJwks(text, options.jwks, verifyOptions, context)
      return outcome === true ? success : failed(outcome.code, outcome.reason)
    }
    if (pasted.kind === 'jwks') {
      if (family === 'shared secret') return failed('alg_not_allowed', `alg is ${alg}, a shared-secret MAC, and a JWKS holds public keys: verifying a MAC with a public key is the algorithm-confusion attack, so it is refused. Paste the shared secret instead.`)
      const outcome = await verifyWithJwks(text, pasted.jwks, verifyOptions, context)
      return outcome === true ? success : failed(outcome.code, outcome.reason)
    }
    const keyFamily: KeyFamily = pasted.kind === 'secret' ? 'shared secret' : pasted.family
    if (family === 'shared secret' && keyFamily !== 'shared secret') return failed('alg_not_allowed', `alg is ${alg}, a shared-secret MAC, but the pasted key is a public key: verifying a MAC with a public key is the algorithm-confusion attack, so it is refused.`)
    if (keyFamily !== family) return failed('key_mismatch', mismatchSentence(alg, keyFamily, 'the pasted key'))
    let key: CryptoKey | Uint8Array | JWK
    if (pasted.kind === 'secret') key = pasted.secret
    else if (pasted.kind === 'jwk') key = { ...pasted.jwk } // jose freezes what it is given
    else {
      try {
        key = await (pasted.format === 'spki' ? importSPKI : importX509)(pasted.pem, alg)
      } catch (error) {
        return failed('key_mismatch', `The pasted PEM key cannot verify ${alg}: ${messageOf(error)}.`)
      }
    }
    const pastedKid = pasted.kind === 'jwk' && typeof pasted.jwk.kid === 'string' ? pasted.jwk.kid : undefined
    try {
      await jwtVerify(text, key, verifyOptions)
      return success
    } catch (error) {
      const explained = explain(error, context, pastedKid)
      return failed(explained.code, explained.reason)
    }
  } catch (error) {
    return failed('unsupported', `The token could not be checked: ${messageOf(error)}.`)
  }
}

interface Context {
  alg: InspectableAlgorithm
  kid: string | undefined
  claims: Record<string, unknown>
  now: number
  source: 'issuer' | 'pasted'
  issuer: string | undefined
  audience: string | undefined
}

type Failure = { code: FailureCode; reason: string }

async function verifyWithJwks(token: string, jwks: unknown, verifyOptions: JWTVerifyOptions, context: Context): Promise<true | Failure> {
  const whose = context.source === 'issuer' ? 'this issuer\'s JWKS' : 'the pasted JWKS'
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys)) return { code: 'bad_key', reason: `${capitalize(whose)} is not a JSON object with a "keys" array.` }
  let getKey: JWTVerifyGetKey
  try {
    getKey = createLocalJWKSet(jwks as { keys: JWK[] })
  } catch (error) {
    return { code: 'bad_key', reason: `${capitalize(whose)} is not valid: ${messageOf(error)}.` }
  }
  const members = (jwks.keys as unknown[]).filter(isPlainObject)
  const family = ALG_FAMILY[context.alg]
  const { kid } = context
  if (kid !== undefined) {
    const sameKid = members.filter((jwk) => jwk.kid === kid)
    if (sameKid.length === 0) {
      const kids = members.map((jwk) => jwk.kid).filter((k): k is string => typeof k === 'string')
      return { code: 'unknown_kid', reason: `${capitalize(whose)} has no key with kid ${show(kid)} (it has ${kids.length ? kids.map(show).join(', ') : 'no kids'}): the key was retired after a rotation, or the token comes from another issuer.` }
    }
    if (!sameKid.some((jwk) => jwkFamily(jwk) === family)) {
      return { code: 'key_mismatch', reason: `Key ${show(kid)} of ${whose} is ${article(jwkFamily(sameKid[0]!))}, but the token says alg ${context.alg}, which needs ${article(family)}.` }
    }
  } else if (!members.some((jwk) => jwkFamily(jwk) === family)) {
    return { code: 'key_mismatch', reason: `The token has no kid and ${whose} has no ${family} key for its alg ${context.alg}.` }
  }

  try {
    await jwtVerify(token, getKey, verifyOptions)
    return true
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) return explain(error, context, kid)
    // No kid, several keys fit: the token verifies if any of them verifies it.
    let last: unknown = error
    for await (const candidate of error) {
      try {
        await jwtVerify(token, candidate, verifyOptions)
        return true
      } catch (attempt) {
        if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) return explain(attempt, context, undefined)
        last = attempt
      }
    }
    return explain(last, context, undefined)
  }
}

/** Turns what jose threw into a code and a sentence naming the facts. */
function explain(error: unknown, context: Context, keyKid: string | undefined): Failure {
  const { alg, kid, claims, now, source } = context
  const signatureOk = 'its signature is valid'
  if (error instanceof errors.JWTExpired) {
    const exp = claims.exp as number
    const iat = typeof claims.iat === 'number' && claims.iat < exp ? claims.iat : undefined
    const lifetime = iat === undefined ? '' : ` It was issued at ${isoOf(iat)} to live ${duration(exp - iat)}; clients refresh access tokens before exp.`
    return { code: 'expired', reason: `The token expired at ${isoOf(exp)}, ${exp === now ? 'just now' : `${duration(now - exp)} ago`} (exp); ${signatureOk}.${lifetime}` }
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = error
    const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined
    if (reason === 'missing') {
      return { code: claim === 'iss' ? 'wrong_issuer' : claim === 'aud' ? 'wrong_audience' : 'invalid_claim', reason: `The token has no "${claim}" claim, but ${claim === 'iss' ? `the issuer ${show(context.issuer)}` : claim === 'aud' ? `the audience ${show(context.audience)}` : 'one'} is required; ${signatureOk}.` }
    }
    if (reason === 'invalid') return { code: 'invalid_claim', reason: `The "${claim}" claim is ${show(value)}, not a number of seconds since 1970; ${signatureOk}.` }
    switch (claim) {
      case 'nbf': {
        const nbf = value as number
        return { code: 'not_yet_valid', reason: `The token is not valid before ${isoOf(nbf)}, ${duration(nbf - now)} from now (nbf); ${signatureOk}. The issuer's clock may be ahead, or the token is meant for later.` }
      }
      case 'iss': return { code: 'wrong_issuer', reason: `The token's issuer (iss) is ${show(value)}, not the expected ${show(context.issuer)}; ${signatureOk}, so only the issuer differs.` }
      case 'aud': return { code: 'wrong_audience', reason: `The token's audience (aud) is ${show(value)}, which does not include ${show(context.audience)}; ${signatureOk}.` }
      default: return { code: 'invalid_claim', reason: `The "${claim}" claim fails its check (${error.message}); ${signatureOk}.` }
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    const whichKey = source === 'issuer'
      ? `key ${kid !== undefined ? show(kid) : '(no kid)'} of this issuer`
      : `the pasted key${keyKid !== undefined ? ` (kid ${show(keyKid)}${kid !== undefined && kid !== keyKid ? `; the token names kid ${show(kid)}` : ''})` : ''}`
    return { code: 'bad_signature', reason: `The signature does not match ${whichKey}: the token was signed by another key (forged, or from another issuer) or changed after signing.` }
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return { code: 'unknown_kid', reason: `No key in the ${source === 'issuer' ? 'issuer\'s' : 'pasted'} JWKS can verify this token (kid ${kid !== undefined ? show(kid) : 'absent'}, alg ${alg}): its keys' kid, alg, use or key_ops rule them out.` }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return { code: 'alg_not_allowed', reason: `alg ${show(alg)} is not allowed here.` }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return /crit|Extension/i.test(error.message)
      ? { code: 'unsupported', reason: `The header uses an extension this page does not implement (${error.message}); a verifier must reject what it does not understand.` }
      : { code: 'malformed', reason: `The token is not a valid signed JWT: ${error.message}.` }
  }
  if (error instanceof errors.JOSENotSupported) return { code: 'unsupported', reason: `The token needs something this page does not support: ${error.message}.` }
  if (error instanceof errors.JWKInvalid || error instanceof errors.JWKSInvalid) return { code: 'bad_key', reason: `The ${source === 'issuer' ? 'issuer\'s' : 'pasted'} key cannot be used: ${error.message}.` }
  if (error instanceof TypeError) return { code: 'bad_key', reason: `The ${source === 'issuer' ? 'issuer\'s' : 'pasted'} key cannot verify ${alg}: ${error.message}.` }
  return { code: 'unsupported', reason: `The token could not be checked: ${messageOf(error)}.` }
}

// ——— Text ———

function mismatchSentence(alg: InspectableAlgorithm, keyFamily: KeyFamily, whose: string): string {
  return `The token is signed with ${alg}, which needs ${article(ALG_FAMILY[alg])}, but ${whose} is ${article(keyFamily)}.`
}

/** "an RSA key", "an EC P-256 key", "a shared secret"; for a JWK of no usable type, why not. */
function article(family: string): string {
  if (family === 'shared secret') return 'a shared secret'
  if (!isFamily(family)) return `a key that cannot verify (${family})`
  return `${/^[AEIOR]/.test(family) ? 'an' : 'a'} ${family} key`
}

/** A value as JSON, shortened: safe to put in a sentence. */
function show(value: unknown): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  const text = json ?? String(value)
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.replace(/\.$/, '')
}

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
const kilobytes = (chars: number): string => `${Math.round((chars / 1024) * 10) / 10} KB`
