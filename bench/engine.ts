/**
 * @module bench/engine
 *
 * The token-engine benchmark: JWS/JWT verify and sign for HS256, ES256, EdDSA and RS256, hallpass
 * against raw node:crypto (the floor) and against jose, fast-jwt and jsonwebtoken, on a realistic
 * 350-byte access token. See bench/README.md for what each contender does and the targets.
 */
import {
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  timingSafeEqual,
  type KeyObject,
  type SignKeyObjectInput,
  type VerifyKeyObjectInput,
} from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { SignJWT, jwtVerify } from 'jose'
import jsonwebtoken from 'jsonwebtoken'
import { createJwtVerifier, importKey, signJwt, type JwsKey, type JwtClaims, type JwtVerifier } from 'hallpass'
import {
  runInterleaved,
  type BenchSection,
  type Contender,
  type ResultRow,
  type SectionOptions,
  type SectionResult,
  type TargetResult,
} from './harness.ts'

type BenchAlg = 'HS256' | 'ES256' | 'EdDSA' | 'RS256'
type Op = 'verify' | 'sign'

const ALGS: readonly BenchAlg[] = ['HS256', 'ES256', 'EdDSA', 'RS256']
const OPS: readonly Op[] = ['verify', 'sign']
const ISSUER = 'https://auth.example.com'
const AUDIENCE = 'https://api.example.com'
const TYP = 'at+jwt'
// Distinct tokens, cycled: no contender can serve a repeat from a cache of verified tokens.
const POOL_SIZE = 64

/** The issue's targets: hallpass median ratio to the floor must stay at or under these. */
const TARGETS: readonly { alg: BenchAlg; op: Op; limit: number }[] = [
  { alg: 'HS256', op: 'verify', limit: 1.2 },
  { alg: 'ES256', op: 'verify', limit: 1.05 },
  { alg: 'EdDSA', op: 'verify', limit: 1.05 },
  { alg: 'RS256', op: 'verify', limit: 1.05 },
  { alg: 'HS256', op: 'sign', limit: 1.1 },
  { alg: 'ES256', op: 'sign', limit: 1.1 },
  { alg: 'EdDSA', op: 'sign', limit: 1.1 },
]

/** One algorithm's key, in the form each contender takes. */
interface BenchKey {
  readonly alg: BenchAlg
  readonly kid: string
  /** node:crypto digest for sign/verify (`null` for EdDSA, which hashes internally). */
  readonly hash: 'sha256' | null
  readonly signKeyObject: KeyObject
  readonly verifyKeyObject: KeyObject
  /** For fast-jwt, which takes PEM text or secret bytes. */
  readonly signPem: string | Buffer
  readonly verifyPem: string | Buffer
  readonly hallpassSign: JwsKey
  /** A public-only import, as a resource server would hold it. */
  readonly hallpassVerify: JwsKey
}

function makeKey(alg: BenchAlg): BenchKey {
  const kid = `bench-${alg.toLowerCase()}-2024`
  if (alg === 'HS256') {
    const secret = randomBytes(32)
    const keyObject = createSecretKey(secret)
    const hallpass = importKey(keyObject, { alg, kid })
    return {
      alg, kid, hash: 'sha256', signKeyObject: keyObject, verifyKeyObject: keyObject,
      signPem: secret, verifyPem: secret, hallpassSign: hallpass, hallpassVerify: hallpass,
    }
  }
  const { privateKey, publicKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : alg === 'EdDSA' ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  return {
    alg,
    kid,
    hash: alg === 'EdDSA' ? null : 'sha256',
    signKeyObject: privateKey,
    verifyKeyObject: publicKey,
    signPem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
    verifyPem: publicKey.export({ format: 'pem', type: 'spki' }),
    hallpassSign: importKey(privateKey, { alg, kid }),
    hallpassVerify: importKey(publicKey, { alg, kid, publicOnly: true }),
  }
}

/**
 * A realistic access-token claim set (RFC 9068 §2.2 plus a session id and two custom claims),
 * about 300 bytes of JSON. `n` varies sub, jti and sid so every token in the pool is distinct.
 * The verify section uses it too, with its own issuer and a longer lifetime.
 */
export function makeClaims(n: number, now: number, issuer = ISSUER, lifetimeSeconds = 900): JwtClaims {
  return {
    iss: issuer,
    sub: `user_${randomBytes(12).toString('hex')}`,
    aud: AUDIENCE,
    exp: now + lifetimeSeconds,
    iat: now,
    nbf: now,
    jti: randomBytes(16).toString('base64url'),
    sid: `sess_${n.toString(36).padStart(4, '0')}${randomBytes(9).toString('base64url')}`,
    client_id: 'orders-web',
    scope: 'openid profile orders:read orders:write',
    tenant: 'acme-eu-west',
    roles: ['member', 'billing-admin'],
  }
}

/** The floor for verify: only what any correct verifier must do, on raw node:crypto. */
function makeFloorVerify(key: BenchKey): (token: string) => Record<string, unknown> {
  const { alg, hash } = key
  const secret = key.verifyKeyObject
  const verifyWith: VerifyKeyObjectInput | KeyObject =
    alg === 'ES256' ? { key: key.verifyKeyObject, dsaEncoding: 'ieee-p1363' } : key.verifyKeyObject
  return (token) => {
    const dot1 = token.indexOf('.')
    const dot2 = token.indexOf('.', dot1 + 1)
    const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8')) as { alg?: unknown }
    if (header.alg !== alg) throw new Error('floor: wrong alg')
    const signingInput = token.slice(0, dot2)
    const signature = Buffer.from(token.slice(dot2 + 1), 'base64url')
    if (alg === 'HS256') {
      const mac = createHmac('sha256', secret).update(signingInput).digest()
      if (mac.length !== signature.length || !timingSafeEqual(mac, signature)) throw new Error('floor: bad signature')
    } else if (!cryptoVerify(hash, Buffer.from(signingInput, 'latin1'), verifyWith, signature)) {
      throw new Error('floor: bad signature')
    }
    const claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as Record<string, unknown>
    const now = Math.floor(Date.now() / 1000)
    if (
      !((claims.exp as number) > now) ||
      (claims.nbf !== undefined && (claims.nbf as number) > now) ||
      claims.iss !== ISSUER ||
      claims.aud !== AUDIENCE
    ) {
      throw new Error('floor: claims')
    }
    return claims
  }
}

/** The floor for sign: JSON.stringify, base64url, the signature op (the header is constant). */
function makeFloorSign(key: BenchKey): (claims: JwtClaims) => string {
  const { alg, hash } = key
  const headerSegment = Buffer.from(JSON.stringify({ alg, kid: key.kid, typ: TYP })).toString('base64url')
  const signWith: SignKeyObjectInput | KeyObject =
    alg === 'ES256' ? { key: key.signKeyObject, dsaEncoding: 'ieee-p1363' } : key.signKeyObject
  return (claims) => {
    const signingInput = headerSegment + '.' + Buffer.from(JSON.stringify(claims)).toString('base64url')
    const signature =
      alg === 'HS256'
        ? createHmac('sha256', key.signKeyObject).update(signingInput).digest('base64url')
        : cryptoSign(hash, Buffer.from(signingInput, 'latin1'), signWith).toString('base64url')
    return signingInput + '.' + signature
  }
}

/** A contender plus how to read the verified claims out of its result, for the up-front check. */
interface CheckedContender extends Contender {
  readonly claimsOf?: (result: unknown) => Record<string, unknown>
}

function verifyContenders(key: BenchKey, tokens: readonly string[]): CheckedContender[] {
  const at = (i: number): string => tokens[i % POOL_SIZE]!
  const floor = makeFloorVerify(key)
  const hallpass: JwtVerifier = createJwtVerifier({ keys: key.hallpassVerify, issuer: ISSUER, audience: AUDIENCE })
  const fast = createVerifier({
    key: key.verifyPem,
    algorithms: [key.alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    checkTyp: TYP,
    cache: false,
  })
  const contenders: CheckedContender[] = [
    { name: 'floor', run: (i) => floor(at(i)), claimsOf: (r) => r as Record<string, unknown> },
    { name: 'hallpass', run: (i) => hallpass(at(i)), claimsOf: (r) => (r as { claims: Record<string, unknown> }).claims },
    {
      name: 'jose',
      async: true,
      run: (i) => jwtVerify(at(i), key.verifyKeyObject, { algorithms: [key.alg], issuer: ISSUER, audience: AUDIENCE, typ: TYP }),
      claimsOf: (r) => (r as { payload: Record<string, unknown> }).payload,
    },
    { name: 'fast-jwt', run: (i) => fast(at(i)) as unknown, claimsOf: (r) => r as Record<string, unknown> },
  ]
  // jsonwebtoken 9 (through jws/jwa) has no EdDSA.
  if (key.alg !== 'EdDSA') {
    const options = { algorithms: [key.alg as jsonwebtoken.Algorithm], issuer: ISSUER, audience: AUDIENCE }
    contenders.push({
      name: 'jsonwebtoken',
      run: (i) => jsonwebtoken.verify(at(i), key.verifyKeyObject, options),
      claimsOf: (r) => r as Record<string, unknown>,
    })
  }
  return contenders
}

function signContenders(key: BenchKey, claims: readonly JwtClaims[]): Contender[] {
  const at = (i: number): JwtClaims => claims[i % POOL_SIZE]!
  const floor = makeFloorSign(key)
  const fast = createSigner({ key: key.signPem, algorithm: key.alg, kid: key.kid, header: { alg: key.alg, typ: TYP } })
  const contenders: Contender[] = [
    { name: 'floor', run: (i) => floor(at(i)) },
    { name: 'hallpass', run: (i) => signJwt(at(i), key.hallpassSign) },
    {
      name: 'jose',
      async: true,
      run: (i) => new SignJWT(at(i)).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: TYP }).sign(key.signKeyObject),
    },
    { name: 'fast-jwt', run: (i) => fast(at(i)) },
  ]
  if (key.alg !== 'EdDSA') {
    const options: jsonwebtoken.SignOptions = { algorithm: key.alg, keyid: key.kid, header: { alg: key.alg, typ: TYP } }
    contenders.push({ name: 'jsonwebtoken', run: (i) => jsonwebtoken.sign(at(i), key.signKeyObject, options) })
  }
  return contenders
}

// Every verify contender must accept every pool token and return its claims, and every signer
// must produce a token hallpass accepts with the same claims: nobody is timed on a fast failure
// or on a token of a different shape.
async function checkVerifiers(contenders: readonly CheckedContender[], claims: readonly JwtClaims[]): Promise<void> {
  for (const contender of contenders) {
    for (let i = 0; i < POOL_SIZE; i++) {
      const result = await contender.run(i)
      const got = contender.claimsOf!(result)
      if (got.jti !== claims[i]!.jti || got.sid !== claims[i]!.sid) throw new Error(`${contender.name} returned the wrong claims`)
    }
  }
}

async function checkSigners(contenders: readonly Contender[], key: BenchKey, claims: readonly JwtClaims[]): Promise<void> {
  const verify = createJwtVerifier({ keys: key.hallpassVerify, issuer: ISSUER, audience: AUDIENCE })
  for (const contender of contenders) {
    for (let i = 0; i < POOL_SIZE; i++) {
      const token = (await contender.run(i)) as string
      const { header, claims: got } = verify(token)
      if (header.kid !== key.kid || got.jti !== claims[i]!.jti || got.iat !== claims[i]!.iat) {
        throw new Error(`${contender.name} signed a token with the wrong header or claims`)
      }
    }
  }
}

async function runEngine(options: SectionOptions): Promise<SectionResult> {
  const rounds = options.quick
    ? { rounds: 5, warmupRounds: 1, batchMs: 2, clock: options.clock }
    : { rounds: 80, warmupRounds: 6, batchMs: 8, clock: options.clock }
  const now = Math.floor(Date.now() / 1000)
  const claims = Array.from({ length: POOL_SIZE }, (_, n) => makeClaims(n, now))
  const results: ResultRow[] = []
  const ratios: Record<string, number> = {}
  const hallpassRatio = new Map<string, number>()

  for (const alg of ALGS) {
    const cases = OPS.filter((op) => options.filter === undefined || `${alg} ${op}`.toLowerCase().includes(options.filter.toLowerCase()))
    if (cases.length === 0) continue
    const key = makeKey(alg)
    const tokens = claims.map((c) => signJwt(c, key.hallpassSign))
    for (const op of cases) {
      let contenders: Contender[]
      if (op === 'verify') {
        const verifiers = verifyContenders(key, tokens)
        await checkVerifiers(verifiers, claims)
        contenders = verifiers
      } else {
        contenders = signContenders(key, claims)
        await checkSigners(contenders, key, claims)
      }
      options.log(`engine: ${alg} ${op} (${contenders.map((c) => c.name).join(', ')})`)
      for (const r of await runInterleaved(contenders, rounds)) {
        results.push({ labels: { alg, op }, ...r })
        if (r.contender !== 'floor') ratios[`${alg} ${op} ${r.contender}`] = r.ratio
        if (r.contender === 'hallpass') hallpassRatio.set(`${alg} ${op}`, r.ratio)
      }
    }
  }

  const targets: TargetResult[] = TARGETS.map(({ alg, op, limit }) => {
    const ratio = hallpassRatio.get(`${alg} ${op}`)
    return { name: `${alg} ${op} hallpass ≤ ${limit}× floor`, limit, ratio, pass: ratio === undefined ? undefined : ratio <= limit }
  })
  return { section: 'engine', clock: options.clock, results, ratios, targets }
}

/** The `engine` section of `npm run bench`. */
export const engineSection: BenchSection = {
  name: 'engine',
  description: 'JWS/JWT verify and sign (HS256, ES256, EdDSA, RS256): hallpass vs node:crypto floor, jose, fast-jwt, jsonwebtoken',
  run: runEngine,
}
