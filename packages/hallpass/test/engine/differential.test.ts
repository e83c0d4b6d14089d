// Differential tests: hallpass against jose (panva, v6) on thousands of random claim sets for
// every JWS algorithm both implement. Tokens minted by either library must verify in the other
// with the same claims and the same claim-validation verdict; mutated tokens must be refused by
// both. Where the two disagree, hallpass must be the stricter one, and every such case is listed
// in STRICTER below (each asserting that jose accepts and hallpass refuses with its code).
//
// The random inputs come from a seeded PRNG: a failure names the seed, and
// `HALLPASS_DIFF_SEED=<seed> node scripts/run-tests.mjs test/engine/differential.test.ts`
// replays the same claim sets, options and mutations (keys are fresh each run).
import assert from 'node:assert/strict'
import { constants, createHmac, randomInt, sign, type KeyObject } from 'node:crypto'
import { describe, it } from 'node:test'
import * as jose from 'jose'
import {
  createJwtVerifier,
  createKeyring,
  generateKey,
  importJwks,
  isHallpassError,
  signJwt,
  type JwsAlgorithm,
  type JwsKey,
  type JwtClaims,
  type KeyResolver,
} from '../../src/index.ts'

const SEED = process.env.HALLPASS_DIFF_SEED !== undefined ? Number(process.env.HALLPASS_DIFF_SEED) : randomInt(2 ** 31)
const NOW = 1_800_000_000 // seconds; the injected clock of both libraries

// Cases per algorithm: thousands for the cheap algorithms, low hundreds for RSA in total.
const CASES: Record<JwsAlgorithm, number> = {
  HS256: 1000, HS384: 800, HS512: 800,
  ES256: 1000, ES384: 250, ES512: 100, // P-384/P-521 cost 1.5/5 ms per operation here
  EdDSA: 1000,
  RS256: 60, RS384: 40, RS512: 40,
  PS256: 60, PS384: 40, PS512: 40,
}
const KEYS_PER_ALG = (alg: JwsAlgorithm): number => (alg.startsWith('RS') || alg.startsWith('PS') ? 1 : 3)

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (sfc32) and random JSON

type Rng = () => number

function sfc32(a: number, b: number, c: number, d: number): Rng {
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

function caseRng(algIndex: number, caseIndex: number, stream = 0): Rng {
  const rng = sfc32(SEED, 0x9e3779b9 ^ algIndex, caseIndex, stream)
  for (let i = 0; i < 12; i++) rng()
  return rng
}

const int = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1))
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!
const chance = (rng: Rng, p: number): boolean => rng() < p

// Pieces of strings that stress JSON escaping and UTF-8: quotes, backslashes, control
// characters, escapes spelled out, line/paragraph separators, BOM, astral characters, lone
// surrogates (JSON.stringify escapes them, both parsers restore them).
const STRING_PIECES = [
  'a', 'Z', '0', ' ', '"', '\\', '\\"', '"\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f',
  '\\u0000', '\\n', 'é', 'ß', '中文', 'ﬁ', '\u2028', '\u2029', '\ufeff', '\u00a0', '😀', '👩‍💻', '𝄞', '\ud800', '\udfff',
  '</script>', '${x}', "'", '{', '}', '[', ']', ':', ',', '.', 'eyJ', '__proto', 'constructor', 'null',
]

function randomString(rng: Rng, maxPieces = 8): string {
  let s = ''
  const n = int(rng, 0, maxPieces)
  for (let i = 0; i < n; i++) s += chance(rng, 0.3) ? String.fromCharCode(int(rng, 0x20, 0x7e)) : pick(rng, STRING_PIECES)
  return s
}

function randomNumber(rng: Rng): number {
  switch (int(rng, 0, 5)) {
    case 0: return int(rng, -1000, 1000)
    case 1: return int(rng, -(2 ** 31), 2 ** 31)
    case 2: return (rng() - 0.5) * 10 ** int(rng, -10, 30)
    case 3: return pick(rng, [0, -0, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 5e-324, 1.7976931348623157e308])
    case 4: return Number((rng() * 1000).toFixed(int(rng, 0, 6)))
    default: return rng()
  }
}

function randomValue(rng: Rng, depth: number): unknown {
  const kind = int(rng, 0, depth <= 0 ? 4 : 6)
  switch (kind) {
    case 0: return randomString(rng)
    case 1: return randomNumber(rng)
    case 2: return chance(rng, 0.5)
    case 3: return null
    case 4: return randomString(rng, 3)
    case 5: {
      const out: unknown[] = []
      for (let i = int(rng, 0, 4); i > 0; i--) out.push(randomValue(rng, depth - 1))
      return out
    }
    default: return randomObject(rng, depth - 1)
  }
}

function randomKey(rng: Rng): string {
  // Never "__proto__": hallpass refuses that member (see STRICTER), jose keeps it.
  const key = chance(rng, 0.5) ? randomString(rng, 3) : pick(rng, ['a', 'b', 'role', 'admin', 'x-y', '', ' ', 'é', '😀', 'exp_', 'toString', 'constructor'])
  return key === '__proto__' ? 'proto' : key
}

function randomObject(rng: Rng, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = int(rng, 0, 4); i > 0; i--) out[randomKey(rng)] = randomValue(rng, depth)
  return out
}

// ---------------------------------------------------------------------------------------------
// Claim sets, verifier options, and the oracle that says which checks must fail

interface Options {
  issuer: string | string[] | undefined
  audience: string | string[] | undefined
  requireExp: boolean
  tolerance: number
  maxTokenAge: number | undefined
  nowMs: number
}

const ISSUERS = ['https://issuer.example', 'https://other.example', 'urn:é:"quoted"', '']
const AUDIENCES = ['api', 'orders', 'https://api.example/', 'API', ' api']

function randomClaims(rng: Rng): JwtClaims {
  for (;;) {
    const claims: JwtClaims = chance(rng, 0.7) ? randomObject(rng, 4) : {}
    // Registered claims always have their RFC 7519 types here; wrong types are in STRICTER.
    delete claims.exp; delete claims.nbf; delete claims.iat; delete claims.iss; delete claims.aud
    delete claims.sub; delete claims.jti; delete claims.sid; delete claims.scope
    const valid = chance(rng, 0.55)
    if (chance(rng, 0.9)) claims.exp = valid ? NOW + int(rng, 61, 100_000) : NOW + int(rng, -120, 120)
    if (chance(rng, 0.4)) claims.nbf = valid ? NOW - int(rng, 61, 10_000) : NOW + int(rng, -120, 120)
    if (chance(rng, 0.7)) claims.iat = valid ? NOW - int(rng, 0, 50) : NOW + int(rng, -400, 120)
    if (chance(rng, 0.8)) claims.iss = chance(rng, 0.8) ? pick(rng, ISSUERS) : randomString(rng)
    if (chance(rng, 0.8)) {
      claims.aud = chance(rng, 0.5)
        ? pick(rng, AUDIENCES)
        : Array.from({ length: int(rng, 0, 3) }, () => (chance(rng, 0.8) ? pick(rng, AUDIENCES) : randomString(rng, 3)))
    }
    if (chance(rng, 0.6)) claims.sub = randomString(rng)
    if (chance(rng, 0.4)) claims.jti = randomString(rng)
    if (chance(rng, 0.3)) claims.sid = randomString(rng, 3)
    if (chance(rng, 0.3)) claims.scope = 'read write'
    if (chance(rng, 0.05)) claims.exp = NOW + 0.5 + int(rng, -100, 100) // NumericDate may be fractional
    if (JSON.stringify(claims).length <= 2500) return claims
  }
}

function randomOptions(rng: Rng, claims: JwtClaims): Options {
  const issuer = chance(rng, 0.5)
    ? undefined
    : chance(rng, 0.6) && typeof claims.iss === 'string' && claims.iss !== ''
      ? (chance(rng, 0.5) ? claims.iss : [pick(rng, ISSUERS.slice(0, 3)), claims.iss])
      : pick(rng, [ISSUERS[0]!, [ISSUERS[0]!, ISSUERS[1]!]])
  const audience = chance(rng, 0.5)
    ? undefined
    : chance(rng, 0.5) ? pick(rng, AUDIENCES) : [pick(rng, AUDIENCES), pick(rng, AUDIENCES)]
  return {
    issuer,
    audience,
    requireExp: chance(rng, 0.6),
    tolerance: pick(rng, [0, 0, 5, 30, 60]),
    maxTokenAge: chance(rng, 0.3) ? int(rng, 0, 300) : undefined,
    nowMs: NOW * 1000 + int(rng, 0, 999),
  }
}

interface Verdict { code: string; claim?: string }
const ACCEPT: Verdict = { code: 'accept' }

function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase()
  return lower.startsWith('application/') ? lower.slice(12) : lower
}

// Every check that must fail for these claims and options. `joseLax` lists the checks jose does
// not make (iat in the future without maxTokenAge): hallpass is stricter there (STRICTER).
function expectedFailures(claims: JwtClaims, typ: string, o: Options): { hallpass: Verdict[]; jose: Verdict[] } {
  const out: Array<Verdict & { joseLax?: boolean }> = []
  const now = Math.floor(o.nowMs / 1000)
  if (typ === '') out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'typ' })
  else if (normalizeTyp(typ) !== 'at+jwt') out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'typ' })
  const { exp, nbf, iat } = claims
  if (o.requireExp && exp === undefined) out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'exp' })
  if (exp !== undefined && exp <= now - o.tolerance) out.push({ code: 'ERR_JWT_EXPIRED', claim: 'exp' })
  if (nbf !== undefined && nbf > now + o.tolerance) out.push({ code: 'ERR_JWT_NOT_YET_VALID', claim: 'nbf' })
  if (iat !== undefined && iat > now + o.tolerance) {
    out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'iat', joseLax: o.maxTokenAge === undefined })
  }
  if (o.maxTokenAge !== undefined) {
    if (iat === undefined) out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'iat' })
    else if (now - iat > o.maxTokenAge + o.tolerance) out.push({ code: 'ERR_JWT_EXPIRED', claim: 'iat' })
  }
  if (o.issuer !== undefined) {
    const accepted = typeof o.issuer === 'string' ? [o.issuer] : o.issuer
    if (claims.iss === undefined || !accepted.includes(claims.iss)) out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'iss' })
  }
  if (o.audience !== undefined) {
    const accepted = typeof o.audience === 'string' ? [o.audience] : o.audience
    const aud = claims.aud
    const ok = typeof aud === 'string' ? accepted.includes(aud) : Array.isArray(aud) && aud.some((a) => accepted.includes(a))
    if (!ok) out.push({ code: 'ERR_JWT_CLAIM_INVALID', claim: 'aud' })
  }
  return { hallpass: out.map(({ code, claim }) => ({ code, claim })), jose: out.filter((v) => !v.joseLax).map(({ code, claim }) => ({ code, claim })) }
}

function hallpassVerifier(keys: KeyResolver | JwsKey, o: Options): (token: string) => JwtClaims {
  const verify = createJwtVerifier({
    keys,
    ...(o.issuer !== undefined ? { issuer: o.issuer } : {}),
    ...(o.audience !== undefined ? { audience: o.audience } : {}),
    requiredClaims: o.requireExp ? ['exp'] : [],
    clockToleranceSeconds: o.tolerance,
    ...(o.maxTokenAge !== undefined ? { maxTokenAgeSeconds: o.maxTokenAge } : {}),
    now: () => o.nowMs,
  })
  return (token) => verify(token).claims
}

function joseOptions(o: Options): jose.JWTVerifyOptions {
  return {
    typ: 'at+jwt',
    ...(o.issuer !== undefined ? { issuer: o.issuer } : {}),
    ...(o.audience !== undefined ? { audience: o.audience } : {}),
    requiredClaims: o.requireExp ? ['exp'] : [],
    clockTolerance: o.tolerance,
    ...(o.maxTokenAge !== undefined ? { maxTokenAge: o.maxTokenAge } : {}),
    currentDate: new Date(o.nowMs),
  }
}

// Options under which any genuine token is accepted: mutations must then fail on their own.
const PERMISSIVE: Options = { issuer: undefined, audience: undefined, requireExp: false, tolerance: 10 ** 12, maxTokenAge: undefined, nowMs: NOW * 1000 }

function hallpassVerdict(run: () => JwtClaims): { verdict: Verdict; claims?: JwtClaims } {
  try {
    return { verdict: ACCEPT, claims: run() }
  } catch (error) {
    // Every refusal is a hallpass credential error: never a TypeError or a crypto exception.
    if (!isHallpassError(error)) throw new Error(`hallpass threw a non-hallpass error: ${String(error)}`, { cause: error })
    assert.equal(error.family, 'credential', `hallpass refused with a non-credential error ${error.code}`)
    return { verdict: { code: error.code, ...('claim' in error ? { claim: error.claim } : {}) } }
  }
}

async function joseVerdict(run: () => Promise<{ payload: unknown }>): Promise<{ verdict: Verdict; claims?: unknown }> {
  try {
    return { verdict: ACCEPT, claims: (await run()).payload }
  } catch (error) {
    if (error instanceof jose.errors.JWTExpired) return { verdict: { code: 'ERR_JWT_EXPIRED', claim: error.claim } }
    if (error instanceof jose.errors.JWTClaimValidationFailed) {
      return { verdict: error.claim === 'nbf' ? { code: 'ERR_JWT_NOT_YET_VALID', claim: 'nbf' } : { code: 'ERR_JWT_CLAIM_INVALID', claim: error.claim } }
    }
    if (error instanceof jose.errors.JOSEError) return { verdict: { code: `jose:${error.code}` } }
    // jose refuses some keys/alg pairs with a TypeError (e.g. an HMAC key for an "ES384" header).
    if (error instanceof TypeError) return { verdict: { code: `jose:TypeError` } }
    throw error
  }
}

function assertVerdictIn(actual: Verdict, allowed: Verdict[], who: string): void {
  if (allowed.length === 0) {
    assert.deepEqual(actual, ACCEPT, `${who} should accept`)
  } else {
    assert.ok(
      allowed.some((v) => v.code === actual.code && v.claim === actual.claim),
      `${who} gave ${JSON.stringify(actual)}, expected one of ${JSON.stringify(allowed)}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------
// Raw signing of arbitrary header/payload text: what a key holder (a buggy or foreign issuer)
// could produce. Used for the STRICTER cases, which must be genuinely signed to mean anything.

function rawSign(key: JwsKey, signingInput: string): string {
  const data = Buffer.from(signingInput, 'latin1')
  const hash = `sha${key.alg.slice(2)}`
  const k = key.keyObject
  let sig: Buffer
  switch (key.alg.slice(0, 2)) {
    case 'HS': sig = createHmac(hash, k).update(data).digest(); break
    case 'RS': sig = sign(hash, data, { key: k, padding: constants.RSA_PKCS1_PADDING }); break
    case 'PS': sig = sign(hash, data, { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(key.alg.slice(2)) / 8 }); break
    case 'ES': sig = sign(hash, data, { key: k, dsaEncoding: 'ieee-p1363' }); break
    default: sig = sign(null, data, k)
  }
  return sig.toString('base64url')
}

const b64 = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const signRaw = (key: JwsKey, headerSegment: string, payloadSegment: string): string =>
  `${headerSegment}.${payloadSegment}.${rawSign(key, `${headerSegment}.${payloadSegment}`)}`
const headerOf = (key: JwsKey, extra: string = ''): string => `{"alg":"${key.alg}","kid":"${key.kid}","typ":"at+jwt"${extra}}`

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const BASE64URL_CHARS = [...BASE64URL]

// The other spelling of a segment whose last character has unused bits (length % 4 of 2 or 3):
// setting the lowest, unused bit gives a different string that decodes to the same bytes.
function nonCanonicalTwin(segment: string): string | undefined {
  if (segment.length % 4 === 0) return undefined
  const last = BASE64URL.indexOf(segment[segment.length - 1]!)
  return segment.slice(0, -1) + BASE64URL[last | 1]!
}

// ---------------------------------------------------------------------------------------------
// Mutations that break a token: both libraries must refuse every one.

type Mutation = (token: string, rng: Rng, ctx: { key: JwsKey; other: string }) => string | undefined

function replaceAt(s: string, i: number, c: string): string {
  return s.slice(0, i) + c + s.slice(i + 1)
}

const MUTATIONS: Record<string, Mutation> = {
  flipHeaderChar: (t, rng) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    const i = int(rng, 0, h.length - 1)
    return `${replaceAt(h, i, otherChar(rng, h[i]!))}.${p}.${s}`
  },
  flipPayloadChar: (t, rng) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    const i = int(rng, 0, p.length - 1)
    return `${h}.${replaceAt(p, i, otherChar(rng, p[i]!))}.${s}`
  },
  flipSignatureChar: (t, rng) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    // Change decoded bytes, never only the unused trailing bits (that twin is in STRICTER).
    for (;;) {
      const i = int(rng, 0, s.length - 1)
      const mutated = replaceAt(s, i, otherChar(rng, s[i]!))
      if (!Buffer.from(mutated, 'base64url').equals(Buffer.from(s, 'base64url'))) return `${h}.${p}.${mutated}`
    }
  },
  truncate: (t, rng) => t.slice(0, int(rng, 0, t.length - 1)),
  truncateSignatureByte: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${p}.${b64(Buffer.from(s, 'base64url').subarray(0, -1))}`
  },
  appendSignatureByte: (t, rng) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${p}.${b64(Buffer.concat([Buffer.from(s, 'base64url'), Buffer.from([int(rng, 0, 255)])]))}`
  },
  appendChars: (t, rng) => t + Array.from({ length: int(rng, 1, 3) }, () => pick(rng, [...BASE64URL, '.'])).join(''),
  prependChars: (t, rng) => Array.from({ length: int(rng, 1, 3) }, () => pick(rng, [...BASE64URL, '.'])).join('') + t,
  swapHeaderPayload: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${p}.${h}.${s}`
  },
  swapPayloadSignature: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${s}.${p}`
  },
  rotateSegments: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${s}.${h}.${p}`
  },
  dropSignature: (t) => t.slice(0, t.lastIndexOf('.') + 1),
  dropSignatureSegment: (t) => t.slice(0, t.lastIndexOf('.')),
  extraSegment: (t, rng) => `${t}.${pick(rng, ['', 'AA', t.split('.')[2]!])}`,
  emptyHeader: (t) => t.slice(t.indexOf('.')),
  emptyPayload: (t) => {
    const [h, , s] = t.split('.') as [string, string, string]
    return `${h}..${s}`
  },
  changeHeaderAlg: (t, rng, { key }) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
    const algs = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'none', 'None', 'hs256', 'es256', '']
    header.alg = pick(rng, algs.filter((a) => a !== key.alg))
    return `${b64(JSON.stringify(header))}.${p}.${s}`
  },
  dropHeaderKid: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    const { kid: _kid, ...header } = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
    return `${b64(JSON.stringify(header))}.${p}.${s}`
  },
  reencodePayload: (t) => {
    // Same claims, different JSON text: the signature covers the text, not the meaning.
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${b64(JSON.stringify(JSON.parse(Buffer.from(p, 'base64url').toString()), null, 1))}.${s}`
  },
  paddedHeader: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return h.length % 4 === 0 ? `${h}====.${p}.${s}` : `${h}${'='.repeat(4 - (h.length % 4))}.${p}.${s}`
  },
  paddedPayload: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${p}${'='.repeat(p.length % 4 === 0 ? 4 : 4 - (p.length % 4))}.${s}`
  },
  standardBase64Header: (t) => {
    // Header and payload re-encoded in standard base64 alphabet/padding (a different signing input).
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${Buffer.from(h, 'base64url').toString('base64')}.${Buffer.from(p, 'base64url').toString('base64')}.${s}`
  },
  signatureFromOtherToken: (t, _rng, { other }) => {
    const [h, p] = t.split('.') as [string, string, string]
    return `${h}.${p}.${other.split('.')[2]!}`
  },
  payloadFromOtherToken: (t, _rng, { other }) => {
    const [h, , s] = t.split('.') as [string, string, string]
    return `${h}.${other.split('.')[1]!}.${s}`
  },
  zeroSignature: (t) => {
    const [h, p, s] = t.split('.') as [string, string, string]
    return `${h}.${p}.${b64(Buffer.alloc(Buffer.from(s, 'base64url').length))}`
  },
  uppercaseToken: (t) => (t.toUpperCase() === t ? undefined : t.toUpperCase()),
  noneWithOriginalParts: (t) => {
    const [, p, s] = t.split('.') as [string, string, string]
    return `${b64('{"alg":"none","typ":"at+jwt"}')}.${p}.${s}`
  },
  emptyString: () => '',
  onlyDots: () => '..',
}
const MUTATION_NAMES = Object.keys(MUTATIONS)

function otherChar(rng: Rng, c: string): string {
  for (;;) {
    const d = pick(rng, BASE64URL_CHARS)
    if (d !== c) return d
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

const ALGS: readonly JwsAlgorithm[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

const signingKeys = new Map<JwsAlgorithm, JwsKey[]>()
for (const alg of ALGS) signingKeys.set(alg, Array.from({ length: KEYS_PER_ALG(alg) }, (_, i) => generateKey(alg, { kid: `${alg}-${i}` })))

const allKeys = [...signingKeys.values()].flat()
const secretKeys = allKeys.filter((k) => k.type === 'secret')
const asymmetricKeys = allKeys.filter((k) => k.type !== 'secret')
// Verification side: HMAC keys in one keyring; asymmetric keys go through the public JWKS, as a
// resource server would receive them (export → JSON → import), and jose reads the same JWKS.
const hmacKeyring = createKeyring(secretKeys.map((key) => ({ key, state: 'retired' as const })))
const publicJwks = JSON.parse(JSON.stringify(createKeyring(asymmetricKeys.map((key) => ({ key, state: 'retired' as const }))).publicJwks())) as jose.JSONWebKeySet
const publicKeyring = importJwks(publicJwks)
const joseJwks = jose.createLocalJWKSet(publicJwks)

const verificationKeysFor = (key: JwsKey): KeyResolver => (key.type === 'secret' ? hmacKeyring : publicKeyring)
const joseKeyFor = (key: JwsKey): KeyObject | ReturnType<typeof jose.createLocalJWKSet> => (key.type === 'secret' ? key.keyObject : joseJwks)

async function joseVerify(token: string, key: JwsKey, options: jose.JWTVerifyOptions, direct = false): Promise<{ payload: unknown }> {
  // `direct` hands jose the key itself (no kid lookup), as an application pinning one key would.
  const k = direct ? (key.publicKey ?? key.keyObject) : joseKeyFor(key)
  return typeof k === 'function' ? jose.jwtVerify(token, k, options) : jose.jwtVerify(token, k, options)
}

function withSeed<T>(alg: JwsAlgorithm, index: number, run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`differential failure (replay: HALLPASS_DIFF_SEED=${SEED}; ${alg} case ${index}): ${message}`, { cause: error })
  })
}

// ---------------------------------------------------------------------------------------------

describe(`differential vs jose (seed ${SEED})`, () => {
  it('keys round-trip through the public JWKS and are found by kid in both libraries', () => {
    assert.equal(publicKeyring.entries.length, asymmetricKeys.length)
    assert.deepEqual(publicKeyring.rejected, [])
    for (const jwk of publicJwks.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal((jwk as Record<string, unknown>)[member], undefined)
    }
  })

  ALGS.forEach((alg, algIndex) => {
    it(`${alg}: ${CASES[alg]} random claim sets, both directions, claim verdicts, mutations`, async () => {
      const keys = signingKeys.get(alg)!
      const mutationCounts = new Map<string, number>()
      let accepted = 0
      let refused = 0
      for (let i = 0; i < CASES[alg]; i++) {
        await withSeed(alg, i, async () => {
          const rng = caseRng(algIndex, i)
          const key = pick(rng, keys)
          const claims = randomClaims(rng)
          const typ = chance(rng, 0.85) ? 'at+jwt' : pick(rng, ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt', 'JWT', 'rt+jwt', 'at+jwt ', ''])
          const options = randomOptions(rng, claims)
          const expected = expectedFailures(claims, typ, options)
          const expectedClaims = JSON.parse(JSON.stringify(claims)) as unknown

          // hallpass signs, both verify.
          const ours = signJwt(claims, key, { typ })
          // jose signs the same claims with the same header, both verify.
          const jwt = new jose.SignJWT(claims).setProtectedHeader(typ === '' ? { alg, kid: key.kid } : { alg, kid: key.kid, typ })
          const theirs = await jwt.sign(key.keyObject)
          const verifyHallpass = hallpassVerifier(verificationKeysFor(key), options)

          for (const token of [ours, theirs]) {
            const h = hallpassVerdict(() => verifyHallpass(token))
            const j = await joseVerdict(() => joseVerify(token, key, joseOptions(options)))
            assertVerdictIn(h.verdict, expected.hallpass, 'hallpass')
            assertVerdictIn(j.verdict, expected.jose, 'jose')
            if (expected.hallpass.length === 1 && expected.jose.length === 1) assert.deepEqual(h.verdict, j.verdict)
            if (h.verdict === ACCEPT) {
              accepted++
              assert.deepEqual(h.claims, expectedClaims)
              assert.deepEqual(j.claims, h.claims)
            } else {
              refused++
            }
          }

          // Under options that accept any genuine token, both accept with identical claims...
          const lenientHallpass = createJwtVerifier({
            keys: verificationKeysFor(key), typ: typ === '' ? false : typ, requiredClaims: [], clockToleranceSeconds: 10 ** 12, now: () => NOW * 1000,
          })
          const permissiveJose = { ...joseOptions(PERMISSIVE), typ: typ === '' ? undefined : typ }
          if (expected.hallpass.length > 0) {
            for (const token of [ours, theirs]) {
              assert.deepEqual(lenientHallpass(token).claims, expectedClaims)
              assert.deepEqual((await joseVerify(token, key, permissiveJose)).payload, expectedClaims)
            }
          }

          // ...and both refuse every mutation of either token.
          for (let m = 0; m < 3; m++) {
            const name = pick(rng, MUTATION_NAMES)
            const source = chance(rng, 0.5) ? ours : theirs
            const other = name.endsWith('FromOtherToken') ? signJwt({ ...claims, n: 1 }, key, { typ }) : ''
            const mutated = MUTATIONS[name]!(source, rng, { key, other })
            if (mutated === undefined || mutated === source) continue
            mutationCounts.set(name, (mutationCounts.get(name) ?? 0) + 1)
            const h = hallpassVerdict(() => lenientHallpass(mutated).claims)
            const j = await joseVerdict(() => joseVerify(mutated, key, permissiveJose))
            assert.notDeepEqual(h.verdict, ACCEPT, `hallpass accepted mutation ${name}: ${mutated}`)
            assert.notDeepEqual(j.verdict, ACCEPT, `jose accepted mutation ${name}: ${mutated}`)
          }
        })
      }
      // The random cases exercised both outcomes and most mutations.
      assert.ok(accepted >= 4 && refused >= 4, `accepted ${accepted}, refused ${refused}: the generator should produce both`)
      if (CASES[alg] >= 300) assert.ok(mutationCounts.size >= MUTATION_NAMES.length - 2, `mutations used: ${[...mutationCounts.keys()].join(',')}`)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// Every known disagreement, each one a token that jose accepts and hallpass refuses. Each is
// built for every algorithm (by the key holder, so the signature is genuine) and checked in both.

interface StricterCase {
  /** Why hallpass refuses (the document this test is). */
  why: string
  code: string
  build: (key: JwsKey, token: string) => string | undefined
  /** jose options that differ from the default accept-everything ones. */
  jose?: jose.JWTVerifyOptions
}

const payloadOf = (claims: string): string => b64(claims)
const EXP = `"exp":${NOW + 3600}`

function insertAt(s: string, i: number, text: string): string {
  return s.slice(0, i) + text + s.slice(i)
}

const STRICTER: Record<string, StricterCase> = {
  signatureTrailingBits: {
    why: 'B3: a signature segment whose unused trailing bits are set decodes to the same bytes; one token, one spelling',
    code: 'ERR_JWT_MALFORMED',
    build: (_key, t) => {
      const [h, p, s] = t.split('.') as [string, string, string]
      const twin = nonCanonicalTwin(s)
      return twin === undefined ? undefined : `${h}.${p}.${twin}`
    },
  },
  signaturePadding: {
    why: 'B3: base64url in JWS has no "=" padding (RFC 7515 §2)',
    code: 'ERR_JWT_MALFORMED',
    build: (_key, t) => (t.split('.')[2]!.length % 4 === 0 ? undefined : t + '='.repeat(4 - (t.split('.')[2]!.length % 4))),
  },
  signatureSpace: { why: 'B3: whitespace inside a segment', code: 'ERR_JWT_MALFORMED', build: (_k, t) => insertAt(t, t.length - 5, ' ') },
  signatureTab: { why: 'B3: whitespace inside a segment', code: 'ERR_JWT_MALFORMED', build: (_k, t) => insertAt(t, t.length - 5, '\t') },
  signatureNewline: { why: 'B3: whitespace inside a segment', code: 'ERR_JWT_MALFORMED', build: (_k, t) => insertAt(t, t.length - 5, '\r\n') },
  trailingWhitespace: { why: 'B3: a token with trailing whitespace is a different string', code: 'ERR_JWT_MALFORMED', build: (_k, t) => `${t} ` },
  headerSpaceSigned: {
    why: 'B3: whitespace in the header segment, signed as such',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, insertAt(b64(headerOf(k)), 4, ' '), payloadOf(`{${EXP}}`)),
  },
  payloadSpaceSigned: {
    why: 'B3: whitespace in the payload segment, signed as such',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), insertAt(payloadOf(`{${EXP}}`), 4, ' ')),
  },
  payloadTrailingBitsSigned: {
    why: 'B3: non-canonical payload spelling, signed as such (Wycheproof tcId 375)',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => {
      let claims = `{${EXP},"n":"x"}`
      while (b64(claims).length % 4 === 0) claims += ' '
      return signRaw(k, b64(headerOf(k)), nonCanonicalTwin(b64(claims))!)
    },
  },
  headerTrailingBitsSigned: {
    why: 'B3: non-canonical header spelling, signed as such',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => {
      let header = headerOf(k)
      while (b64(header).length % 4 === 0) header = header.replace('{', '{ ')
      return signRaw(k, nonCanonicalTwin(b64(header))!, payloadOf(`{${EXP}}`))
    },
  },
  duplicateHeaderAlg: {
    why: 'D1: duplicate header member names ({"alg":"none","alg":…}); jose keeps the last',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(`{"alg":"none","alg":"${k.alg}","kid":"${k.kid}","typ":"at+jwt"}`), payloadOf(`{${EXP}}`)),
  },
  duplicateHeaderKid: {
    why: 'D1: duplicate kid',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(`{"alg":"${k.alg}","kid":"../../dev/null","kid":"${k.kid}","typ":"at+jwt"}`), payloadOf(`{${EXP}}`)),
  },
  duplicateClaimExp: {
    why: 'D1: duplicate claim names ({"exp":1,"exp":…}); jose keeps the last',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{"exp":1,${EXP}}`)),
  },
  duplicateNestedClaim: {
    why: 'D1: duplicate names in a nested object',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"ctx":{"role":"user","role":"admin"}}`)),
  },
  protoClaim: {
    why: 'D1: a "__proto__" member would swap prototypes in a later Object.assign of the claims',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"__proto__":{"admin":true}}`)),
  },
  protoHeader: {
    why: 'D1: "__proto__" in the header',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k, ',"__proto__":{}')), payloadOf(`{${EXP}}`)),
  },
  payloadBom: {
    why: 'D1: a UTF-8 BOM before the claims; the payload must be a JSON object (RFC 7519 §7.2)',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{${EXP}}`)]))),
  },
  headerBom: {
    why: 'D1: a UTF-8 BOM before the header',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(headerOf(k))])), payloadOf(`{${EXP}}`)),
  },
  payloadLeadingWhitespace: {
    why: 'D1: JSON text not starting with "{" (hallpass takes exactly an object)',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(` {${EXP}}`)),
  },
  headerLeadingWhitespace: {
    why: 'D1: header JSON not starting with "{"',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(` ${headerOf(k)}`), payloadOf(`{${EXP}}`)),
  },
  deepNesting: {
    why: 'C3: nesting deeper than 20 levels',
    code: 'ERR_JWT_MALFORMED',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"a":${'['.repeat(20)}${']'.repeat(20)}}`)),
  },
  embeddedJwk: {
    why: 'A5: keys never come from the token (jose ignores "jwk" when given a key)',
    code: 'ERR_JWS_HEADER_UNSUPPORTED',
    build: (k) => signRaw(k, b64(headerOf(k, ',"jwk":{"kty":"oct","k":"AAAA"}')), payloadOf(`{${EXP}}`)),
  },
  jku: { why: 'A5: "jku"', code: 'ERR_JWS_HEADER_UNSUPPORTED', build: (k) => signRaw(k, b64(headerOf(k, ',"jku":"https://attacker.example/jwks.json"')), payloadOf(`{${EXP}}`)) },
  x5u: { why: 'A5: "x5u"', code: 'ERR_JWS_HEADER_UNSUPPORTED', build: (k) => signRaw(k, b64(headerOf(k, ',"x5u":"https://attacker.example/c.pem"')), payloadOf(`{${EXP}}`)) },
  x5c: { why: 'A5: "x5c"', code: 'ERR_JWS_HEADER_UNSUPPORTED', build: (k) => signRaw(k, b64(headerOf(k, ',"x5c":["MIIB"]')), payloadOf(`{${EXP}}`)) },
  zip: { why: 'C2: "zip" in any header', code: 'ERR_JWS_HEADER_UNSUPPORTED', build: (k) => signRaw(k, b64(headerOf(k, ',"zip":"DEF"')), payloadOf(`{${EXP}}`)) },
  enc: { why: 'A9: "enc" belongs to a JWE', code: 'ERR_JWS_HEADER_UNSUPPORTED', build: (k) => signRaw(k, b64(headerOf(k, ',"enc":"A128GCM"')), payloadOf(`{${EXP}}`)) },
  b64True: {
    why: 'A8: RFC 7797 "b64" is refused in any form (jose implements it and accepts b64:true)',
    code: 'ERR_JWS_HEADER_UNSUPPORTED',
    build: (k) => signRaw(k, b64(headerOf(k, ',"b64":true,"crit":["b64"]')), payloadOf(`{${EXP}}`)),
  },
  kidNumber: { why: 'A6: a non-string kid', code: 'ERR_JWT_MALFORMED', build: (k) => signRaw(k, b64(`{"alg":"${k.alg}","kid":123,"typ":"at+jwt"}`), payloadOf(`{${EXP}}`)) },
  kidEmpty: { why: 'A6: an empty kid', code: 'ERR_JWT_MALFORMED', build: (k) => signRaw(k, b64(`{"alg":"${k.alg}","kid":"","typ":"at+jwt"}`), payloadOf(`{${EXP}}`)) },
  kidTooLong: { why: 'A6: a kid over 256 characters', code: 'ERR_JWT_MALFORMED', build: (k) => signRaw(k, b64(`{"alg":"${k.alg}","kid":"${'k'.repeat(257)}","typ":"at+jwt"}`), payloadOf(`{${EXP}}`)) },
  ctyNumber: { why: 'a non-string "cty"', code: 'ERR_JWT_MALFORMED', build: (k) => signRaw(k, b64(headerOf(k, ',"cty":1')), payloadOf(`{${EXP}}`)) },
  expInfinity: {
    why: 'D2: "exp":1e400 parses to Infinity (a never-expiring token in jose)',
    code: 'ERR_JWT_CLAIM_INVALID',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf('{"exp":1e400}')),
  },
  issNotString: { why: 'D2: registered string claims have string type', code: 'ERR_JWT_CLAIM_INVALID', build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"iss":["evil","https://issuer.example"]}`)) },
  subObject: { why: 'D2: "sub":{"$ne":null}', code: 'ERR_JWT_CLAIM_INVALID', build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"sub":{"$ne":null}}`)) },
  jtiNumber: { why: 'D2: "jti":123', code: 'ERR_JWT_CLAIM_INVALID', build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"jti":123}`)) },
  audNumber: { why: 'D2: "aud" must be a string or strings', code: 'ERR_JWT_CLAIM_INVALID', build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"aud":[1]}`)) },
  sidNumber: { why: 'D2: "sid" (hallpass session id) is a string', code: 'ERR_JWT_CLAIM_INVALID', build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"sid":7}`)) },
  iatInFuture: {
    why: 'iat after now (beyond the tolerance): jose checks this only with maxTokenAge',
    code: 'ERR_JWT_CLAIM_INVALID',
    build: (k) => signJwt({ exp: NOW + 7200, iat: NOW + 3600 }, k),
    jose: { currentDate: new Date(NOW * 1000), typ: 'at+jwt' },
  },
  tooLarge: {
    why: 'C3: tokens over 8192 characters are refused before decoding',
    code: 'ERR_JWT_TOO_LARGE',
    build: (k) => signRaw(k, b64(headerOf(k)), payloadOf(`{${EXP},"pad":"${'x'.repeat(7000)}"}`)),
  },
}

describe('documented disagreements: jose accepts, hallpass refuses', () => {
  for (const [name, c] of Object.entries(STRICTER)) {
    it(`${name}: ${c.why}`, async () => {
      let built = 0
      for (const alg of ALGS) {
        const key = signingKeys.get(alg)![0]!
        const token = c.build(key, signJwt({ exp: NOW + 3600 }, key))
        if (token === undefined) continue
        built++
        const joseOptions = c.jose ?? { currentDate: new Date(NOW * 1000), typ: 'at+jwt' }
        const j = await joseVerdict(() => joseVerify(token, key, joseOptions, true))
        assert.deepEqual(j.verdict, ACCEPT, `${alg}: jose now refuses ${name} (${j.verdict.code}); move it to the mutations both must refuse`)
        const verify = createJwtVerifier({ keys: verificationKeysFor(key), now: () => NOW * 1000 })
        assert.throws(() => verify(token), (e: unknown) => isHallpassError(e) && e.code === c.code, `${alg}: hallpass must refuse ${name} with ${c.code}`)
      }
      assert.ok(built > 0)
    })
  }

  it('what both refuse although the bytes are signed: invalid UTF-8 in the payload', async () => {
    for (const alg of ALGS) {
      const key = signingKeys.get(alg)![0]!
      const token = signRaw(key, b64(headerOf(key)), b64(Buffer.concat([Buffer.from(`{${EXP},"n":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])))
      const j = await joseVerdict(() => joseVerify(token, key, { currentDate: new Date(NOW * 1000) }))
      assert.notDeepEqual(j.verdict, ACCEPT)
      assert.throws(() => createJwtVerifier({ keys: verificationKeysFor(key), now: () => NOW * 1000 })(token), { code: 'ERR_JWT_MALFORMED' })
    }
  })

  it('what both accept: fractional NumericDates and a payload nested exactly 20 deep', async () => {
    const key = signingKeys.get('EdDSA')![0]!
    const token = signRaw(key, b64(headerOf(key)), payloadOf(`{"exp":${NOW + 0.25},"a":${'['.repeat(19)}${']'.repeat(19)}}`))
    const verify = createJwtVerifier({ keys: verificationKeysFor(key), now: () => NOW * 1000 })
    assert.equal(verify(token).claims.exp, NOW + 0.25)
    assert.equal(((await joseVerify(token, key, { currentDate: new Date(NOW * 1000) })).payload as JwtClaims).exp, NOW + 0.25)
  })
})
