// The JOSE Cookbook (RFC 7520 §4), RFC 8037 A.4 (Ed25519) and RFC 7797 examples
// (test/vectors/rfc7520/, README §2) through the public API.
//
// Every example with a compact serialization must verify with its key; one changed character
// in its header, payload or signature must not. JWTs are always compact (RFC 7519 §1) and
// hallpass reads nothing else, so the JSON-only examples are not run: 4.6 (protected `alg`,
// unprotected `kid`), 4.7 (unprotected header only), 4.8 (multiple signatures, general JSON),
// and the `json`/`json_flat` outputs of every other example. The first test checks that this
// list still matches the files.
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { test } from 'node:test'
import {
  createJwtVerifier,
  importKey,
  isHallpassError,
  verifyJws,
  type Jwk,
  type JwsAlgorithm,
  type JwsKey,
} from '../../../src/index.ts'
import { createFailureList, outcomeOf, readVectorJson, vectorPath } from './load.ts'

interface CookbookExample {
  title: string
  input: { payload: string; key: Jwk | Jwk[]; alg: string | string[] }
  signing: { protected?: Record<string, unknown> } | Array<{ protected?: Record<string, unknown> }>
  output: { compact?: string; json?: unknown; json_flat?: { protected?: string; payload?: string; signature: string } }
}

const EXAMPLES = [
  ...readdirSync(vectorPath('rfc7520/jws')).map((name) => `rfc7520/jws/${name}`),
  'rfc7520/curve25519/jws.json',
].sort()
const DETACHED = 'rfc7520/jws/4_5.signature_with_detached_content.json'
const JSON_ONLY = [
  'rfc7520/jws/4_6.protecting_specific_header_fields.json',
  'rfc7520/jws/4_7.protecting_content_only.json',
  'rfc7520/jws/4_8.multiple_signatures.json',
]

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']

/** The key a verifier holds: the public half of an asymmetric key, the secret itself for `oct`. */
function verificationKey(example: CookbookExample): JwsKey {
  const jwk = example.input.key as Jwk
  const alg = example.input.alg as JwsAlgorithm
  if (jwk.kty === 'oct') return importKey(jwk, { alg })
  const publicJwk: Jwk = Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name)))
  return importKey(publicJwk, { alg, publicOnly: true })
}

function load(file: string): CookbookExample {
  return readVectorJson<CookbookExample>(file)
}

void test('RFC 7520 cookbook: compact examples are exactly the ones this suite runs', () => {
  const withoutCompact = EXAMPLES.filter((file) => load(file).output.compact === undefined)
  assert.deepEqual(withoutCompact, JSON_ONLY)
  assert.equal(EXAMPLES.length - withoutCompact.length, 6)
})

const COMPACT = EXAMPLES.filter((file) => file !== DETACHED && !JSON_ONLY.includes(file))

for (const file of COMPACT) {
  void test(`RFC 7520 ${file}: the compact serialization verifies`, () => {
    const example = load(file)
    const token = example.output.compact!
    const key = verificationKey(example)
    const { header, payload } = verifyJws(token, key)
    assert.equal(payload.toString('utf8'), example.input.payload)
    assert.deepEqual({ ...header }, (example.signing as { protected: Record<string, unknown> }).protected)
    // The payloads are prose, not claims: the JWT verifier checks the signature, then refuses
    // a payload that is not a JSON object.
    assert.throws(() => createJwtVerifier({ keys: key, typ: false, requiredClaims: [] })(token), { code: 'ERR_JWT_MALFORMED' })
  })

  void test(`RFC 7520 ${file}: one changed character anywhere is rejected`, () => {
    const example = load(file)
    const token = example.output.compact!
    const key = verificationKey(example)
    const failures = createFailureList()
    const segments = token.split('.')
    for (const [index, name] of ['header', 'payload', 'signature'].entries()) {
      const segment = segments[index]!
      for (const position of [0, 1, segment.length >> 1, segment.length - 2, segment.length - 1]) {
        const mutated = [...segments]
        mutated[index] = mutateAt(segment, position)
        const outcome = outcomeOf(() => verifyJws(mutated.join('.'), key))
        let problem: string | undefined = outcome.accepted ? 'accepted' : undefined
        // Away from the last character the segment stays canonical base64url, so a changed
        // payload or signature must get as far as the signature check and fail there.
        if (!outcome.accepted && name !== 'header' && position < segment.length - 1 && outcome.code !== 'ERR_JWS_SIGNATURE_INVALID') {
          problem = `rejected with ${outcome.code}, expected ERR_JWS_SIGNATURE_INVALID`
        }
        failures.check(`${file} ${name}[${position}]`, problem)
      }
    }
    assert.equal(failures.checked, 15)
    assert.equal(failures.report(), '')
  })
}

/** Replaces the base64url character at `position` with a different one. */
function mutateAt(segment: string, position: number): string {
  const replacement = segment[position] === 'A' ? 'B' : 'A'
  return segment.slice(0, position) + replacement + segment.slice(position + 1)
}

void test('RFC 7520 §4.5: a compact JWS with detached content is refused; reattached, it verifies', () => {
  const example = load(DETACHED)
  const token = example.output.compact!
  const key = verificationKey(example)
  const [header, empty, signature] = token.split('.')
  assert.equal(empty, '')
  // A JWT is never detached: the JWT verifier refuses `h..s` before any crypto.
  assert.throws(() => createJwtVerifier({ keys: key, typ: false, requiredClaims: [] })(token), { code: 'ERR_JWT_MALFORMED' })
  // As a raw JWS it has an empty payload, which the signature does not cover.
  assert.throws(() => verifyJws(token, key), { code: 'ERR_JWS_SIGNATURE_INVALID' })
  // With the content put back, the signature is genuine.
  const attached = `${header}.${Buffer.from(example.input.payload).toString('base64url')}.${signature}`
  assert.equal(verifyJws(attached, key).payload.toString('utf8'), example.input.payload)
})

for (const file of ['rfc7520/rfc7797/hmac-sha2_b64_false.json', 'rfc7520/rfc7797/4.2.hmac-sha2_b64_false.json']) {
  void test(`RFC 7797 ${file}: "b64": false is refused`, () => {
    const example = load(file)
    const key = importKey(example.input.key as Jwk, { alg: 'HS256' })
    const flat = example.output.json_flat!
    const tokens = [
      // The example's own compact form (unencoded payload; only the first file has one).
      ...(example.output.compact !== undefined ? [example.output.compact] : []),
      // The same header and signature with the payload base64url-encoded, as a verifier that
      // ignored `b64` would read it: the issuer and such a verifier disagree on what was signed.
      `${flat.protected}.${Buffer.from(example.input.payload).toString('base64url')}.${flat.signature}`,
    ]
    for (const token of tokens) {
      for (const verify of [() => verifyJws(token, key), () => createJwtVerifier({ keys: key, typ: false, requiredClaims: [] })(token)]) {
        assert.throws(verify, (error) => {
          assert.ok(isHallpassError(error, 'ERR_JWS_HEADER_UNSUPPORTED'), `expected ERR_JWS_HEADER_UNSUPPORTED, got ${String(error)}`)
          assert.ok(['b64', 'crit'].includes(error.parameter))
          return true
        })
      }
    }
  })
}
