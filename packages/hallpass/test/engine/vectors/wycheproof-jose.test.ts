// Wycheproof's JOSE-level JWS vectors (test/vectors/README.md §1a) through the public API:
// json_web_signature_test.json, json_web_key_test.json and the JWS groups of
// json_web_crypto_test.json. Every case gets the verdict its file expects (valid: verifies,
// invalid: rejected, acceptable: either) and, where the class of attack is clear, the exact
// error code; failures are collected and reported together as `file#tcId`. A case goes through
// the JWT verifier when its payload is a JSON object and through `verifyJws` otherwise; as no
// Wycheproof payload is a JSON object, each case is also put to the JWT verifier, which must
// refuse it (a valid JWS only for its non-JSON payload).
//
// Keys: the group's `public` key when present, else its `private` one (an `oct` key there).
// A single JWK goes through `importKey`, a JWK Set through `importJwks` (with `allowPrivate`
// when the set holds `oct` secrets). A JWK without `alg` is imported for the token's header
// `alg`, as an application configures its one algorithm. A key hallpass refuses to import
// means the token is rejected (`ERR_KEY_INVALID`).
//
// Upstream quirks (README §1a), and what this suite does with them:
// - signature#367 and #370 are byte-for-byte the token of #357 (valid) but marked invalid
//   (C2SP/wycheproof#236): skipped, after asserting that they are the same string as #357.
// - signature#372/#373 insert `?` into a base64url segment and are marked valid: hallpass's
//   strict decoder must reject them with ERR_JWT_MALFORMED (RFC 7515 §2, no foreign characters).
// - signature#346/#350 pair a key with `alg: "PS256"` with a PS384 token, and #347/#351 a key with
//   the unregistered `alg: "ES521"` with an ES512 token. hallpass binds each key to its one
//   algorithm, so as given they are rejected (ERR_JWS_ALG_NOT_ALLOWED / ERR_KEY_INVALID: asserted);
//   with the key's `alg` replaced by the algorithm RFC 7520 §4.2/§4.3 used, they must verify.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  createJwtVerifier,
  importJwks,
  importKey,
  isHallpassError,
  verifyJws,
  type HallpassErrorCode,
  type Jwk,
  type JwkSet,
  type JwsAlgorithm,
  type Keyring,
  type VerificationKeys,
} from '../../../src/index.ts'
import {
  createFailureList,
  hasJsonObjectPayload,
  judge,
  loadWycheproof,
  outcomeOf,
  peekHeaderAlg,
  peekSegment,
  type FailureList,
  type Outcome,
  type WycheproofCase,
  type WycheproofGroup,
  type WycheproofResult,
} from './load.ts'

interface JoseCase extends WycheproofCase {
  /** Compact JWS, or (JsonSerialization flag) a JSON serialization, as text or as an object. */
  jws?: string | object
  jwe?: string | object
}

interface JoseGroup extends WycheproofGroup<JoseCase> {
  comment: string
  private?: Jwk | JwkSet
  public?: Jwk | JwkSet
}

const SIGNATURE_FILE = 'json_web_signature_test.json'
const KEY_FILE = 'json_web_key_test.json'
const CRYPTO_FILE = 'json_web_crypto_test.json'

/** Cases not run, with the reason (each is also checked to be what the reason says). */
const SKIPPED: Readonly<Record<string, string>> = {
  [`${SIGNATURE_FILE}#367`]: 'same token as #357, which is valid (C2SP/wycheproof#236)',
  [`${SIGNATURE_FILE}#370`]: 'same token as #357, which is valid (C2SP/wycheproof#236)',
}

/** Cases whose upstream verdict hallpass deliberately does not follow. */
const STRICTER: Readonly<Record<string, { result: WycheproofResult; code: HallpassErrorCode }>> = {
  [`${SIGNATURE_FILE}#372`]: { result: 'invalid', code: 'ERR_JWT_MALFORMED' },
  [`${SIGNATURE_FILE}#373`]: { result: 'invalid', code: 'ERR_JWT_MALFORMED' },
}

/** RFC 7520 groups whose key `alg` contradicts the token: rejected as given, verified with `alg` fixed. */
const KEY_ALG_QUIRKS: Readonly<Record<string, { asGiven: HallpassErrorCode; alg: JwsAlgorithm }>> = {
  [`${SIGNATURE_FILE}#346`]: { asGiven: 'ERR_JWS_ALG_NOT_ALLOWED', alg: 'PS384' },
  [`${SIGNATURE_FILE}#350`]: { asGiven: 'ERR_JWS_ALG_NOT_ALLOWED', alg: 'PS384' },
  [`${SIGNATURE_FILE}#347`]: { asGiven: 'ERR_KEY_INVALID', alg: 'ES512' },
  [`${SIGNATURE_FILE}#351`]: { asGiven: 'ERR_KEY_INVALID', alg: 'ES512' },
}

/**
 * json_web_key_test.json is about keyset policy, so each refusal must come from the key (or the
 * set), not from some later check: how the set is refused, and the `reason` hallpass gives.
 * `throws`: `importJwks` refuses the whole set. `dropped`: the key lands in `keyring.rejected`
 * and the token then finds no key (ERR_JWKS_NO_MATCHING_KEY).
 */
const KEYSET_REFUSALS: Readonly<Record<number, { how: 'throws' | 'dropped'; reason: RegExp }>> = {
  1: { how: 'throws', reason: /cannot mix "oct" and asymmetric keys/ },
  4: { how: 'throws', reason: /duplicate kid/ },
  6: { how: 'dropped', reason: /"alg" is not a supported JWS algorithm/ }, // RSA1_5, use: enc
  7: { how: 'dropped', reason: /ROCA/ },
  8: { how: 'dropped', reason: /1024 bits is shorter than 2048/ },
  9: { how: 'dropped', reason: /exponent/ },
  10: { how: 'dropped', reason: /HS256 secrets must be at least 32 bytes/ },
  11: { how: 'dropped', reason: /HS384 secrets must be at least 48 bytes/ },
  12: { how: 'dropped', reason: /HS512 secrets must be at least 64 bytes/ },
  16: { how: 'dropped', reason: /HS256 secrets must be at least 32 bytes/ },
  17: { how: 'dropped', reason: /HS384 secrets must be at least 48 bytes/ },
  18: { how: 'dropped', reason: /HS512 secrets must be at least 64 bytes/ },
  19: { how: 'dropped', reason: /"alg" is not a supported JWS algorithm/ }, // ES521
  20: { how: 'dropped', reason: /"alg" is not a supported JWS algorithm/ }, // ES224
  21: { how: 'dropped', reason: /"use" is not "sig"/ },
  22: { how: 'dropped', reason: /could not be imported/ }, // point not on P-256
  23: { how: 'dropped', reason: /could not be imported/ }, // P-256 coordinates labelled P-384
  24: { how: 'dropped', reason: /needs a "EC" key/ }, // EC members labelled kty RSA
  25: { how: 'dropped', reason: /"alg" is not a supported JWS algorithm/ }, // A256GCM
  26: { how: 'dropped', reason: /"alg" is not a supported JWS algorithm/ }, // A256KW
}

function isJwkSet(value: Jwk | JwkSet): value is JwkSet {
  return Array.isArray((value as JwkSet).keys)
}

function tokenText(c: JoseCase): string {
  const raw = c.jws ?? c.jwe
  // json_web_crypto_test.json stores its JSON serializations as objects: send them as the text
  // a server would receive.
  return typeof raw === 'string' ? raw : JSON.stringify(raw)
}

type ImportedKeys = { keys: VerificationKeys; keyring?: Keyring } | { refused: HallpassErrorCode; reason: string }

/** Imports a group's key once per algorithm (only alg-less JWKs need the header's). */
function createGroupKeys(group: JoseGroup): (headerAlg: string | undefined) => ImportedKeys {
  const material = group.public ?? group.private
  if (material === undefined) throw new Error(`group "${group.comment}" has no key`)
  const cache = new Map<string, ImportedKeys>()
  return (headerAlg) => {
    const slot = isJwkSet(material) || material.alg !== undefined ? '' : String(headerAlg)
    let imported = cache.get(slot)
    if (imported === undefined) {
      imported = importGroupKey(material, headerAlg)
      cache.set(slot, imported)
    }
    return imported
  }
}

function importGroupKey(material: Jwk | JwkSet, headerAlg: string | undefined): ImportedKeys {
  try {
    if (isJwkSet(material)) {
      const hasSecrets = material.keys.some((k) => k.kty === 'oct')
      const keyring = importJwks(material, hasSecrets ? { allowPrivate: true } : {})
      return { keys: keyring, keyring }
    }
    return { keys: importKey(material, material.alg === undefined ? { alg: headerAlg as JwsAlgorithm } : {}) }
  } catch (error) {
    if (!isHallpassError(error)) throw error
    return { refused: error.code, reason: 'reason' in error ? String(error.reason) : '' }
  }
}

/** Verifies like an application would: as a JWT when the payload is a JSON object, else as a raw JWS. */
function verify(token: string, keys: VerificationKeys): { payload: Buffer } {
  if (!hasJsonObjectPayload(token)) return verifyJws(token, keys)
  createJwtVerifier({ keys, typ: false, requiredClaims: [] })(token)
  return { payload: peekSegment(token.split('.')[1]) }
}

function run(token: string, imported: ImportedKeys): Outcome {
  if ('refused' in imported) return { accepted: false, code: imported.refused }
  return outcomeOf(() => {
    const { payload } = verify(token, imported.keys)
    // The bytes handed back are the bytes that were signed.
    if (!payload.equals(peekSegment(token.split('.')[1]))) throw new Error('verified payload differs from the token payload')
  })
}

/**
 * The error code an invalid case must be rejected with, when the class of attack pins it down;
 * undefined when any hallpass error will do.
 */
function expectedCode(group: JoseGroup, c: JoseCase, keyAlg: string | undefined, headerAlg: string | undefined): HallpassErrorCode | undefined {
  const flags = c.flags ?? []
  if (flags.includes('AlgIsNone') || c.comment === 'rejectsNoneAlgorithmAndMissingSignature') return 'ERR_JWS_ALG_NOT_ALLOWED'
  if (c.comment.startsWith('rejectsSymmetryConfusionAttacks')) return 'ERR_JWS_ALG_NOT_ALLOWED'
  if (c.comment === 'rejectsAttackerProvidedEmbeddedJwk') return 'ERR_JWS_HEADER_UNSUPPORTED'
  if (c.comment === 'rejectWrongUse' || c.comment === 'rejectWrongKeyOps') return 'ERR_KEY_INVALID'
  if (c.comment === 'rejectsKeyWithRocaVulnerability' && group.public !== undefined && !isJwkSet(group.public)) return 'ERR_KEY_INVALID'
  if (group.comment === 'base64') return 'ERR_JWT_MALFORMED'
  if (flags.includes('JsonSerialization')) return 'ERR_JWT_MALFORMED'
  // `h..s` is a JWS with an empty payload (allowed by RFC 7515): it fails on the signature.
  if (c.comment === 'rejectsMissingPayload') return 'ERR_JWS_SIGNATURE_INVALID'
  if (/^rejects(Missing|EmptyString|Extra)/.test(c.comment)) return 'ERR_JWT_MALFORMED'
  if (flags.includes('WrongPrimitive')) return headerAlg === keyAlg ? 'ERR_JWS_SIGNATURE_INVALID' : 'ERR_JWS_ALG_NOT_ALLOWED'
  if (flags.includes('ModifiedPadding') || flags.includes('ModifiedSignature') || group.comment === 'SpecialCaseEs256') {
    return 'ERR_JWS_SIGNATURE_INVALID'
  }
  if (/^rejectsModified(Signature|Payload|Header)$/.test(c.comment)) return 'ERR_JWS_SIGNATURE_INVALID'
  return undefined
}

function keyAlgOf(group: JoseGroup): string | undefined {
  const material = group.public ?? group.private
  return material !== undefined && !isJwkSet(material) && typeof material.alg === 'string' ? material.alg : undefined
}

/** Runs every JWS case of one file, recording mismatches in `failures` and skips in `skipped`. */
function runFile(file: string, failures: FailureList, skipped: string[]): void {
  const vectors = loadWycheproof<JoseGroup>(file)
  const tokensById = new Map<number, string>()
  for (const group of vectors.testGroups) for (const c of group.tests) tokensById.set(c.tcId, tokenText(c))

  for (const group of vectors.testGroups) {
    // JWE groups (json_web_crypto_test.json) are not JWS: covered separately below.
    if (group.tests.every((c) => c.jwe !== undefined)) continue
    const keysFor = createGroupKeys(group)
    for (const c of group.tests) {
      const id = `${file}#${c.tcId}`
      const token = tokenText(c)
      if (SKIPPED[id] !== undefined) {
        assert.equal(token, tokensById.get(357), `${id} is skipped as a duplicate of #357 but differs from it`)
        skipped.push(`${id} (${SKIPPED[id]})`)
        continue
      }
      const headerAlg = peekHeaderAlg(token)
      const imported = keysFor(headerAlg)
      const outcome = run(token, imported)

      const quirk = KEY_ALG_QUIRKS[id]
      if (quirk !== undefined) {
        failures.check(id, outcome.accepted || outcome.code !== quirk.asGiven ? `as given: expected ${quirk.asGiven}, got ${describe(outcome)}` : undefined)
        const material = group.public ?? group.private
        const fixed = importGroupKey({ ...(material as Jwk), alg: quirk.alg }, quirk.alg)
        failures.check(`${id} (key alg ${quirk.alg})`, judge('valid', run(token, fixed)))
        continue
      }

      const stricter = STRICTER[id]
      const expected = stricter?.result ?? c.result
      let problem = judge(expected, outcome)
      if (problem === undefined && !outcome.accepted && expected === 'invalid') {
        const code = stricter?.code ?? expectedCode(group, c, keyAlgOf(group), headerAlg)
        if (code !== undefined && outcome.code !== code) problem = `rejected with ${outcome.code}, expected ${code}`
      }
      if (problem === undefined && file === KEY_FILE) problem = checkKeysetRefusal(c, imported, outcome)
      failures.check(id, problem)
      if (!hasJsonObjectPayload(token)) failures.check(`${id} (JWT verifier)`, checkAsJwt(token, imported, expected))
    }
  }
}

// No Wycheproof payload is a JSON object, so each case also goes through the JWT verifier, which
// must refuse it: an invalid case for whatever reason, a valid JWS only because its payload is
// not a JSON object (ERR_JWT_MALFORMED), which shows every other check passed.
function checkAsJwt(token: string, imported: ImportedKeys, expected: WycheproofResult): string | undefined {
  if ('refused' in imported) return undefined
  const outcome = outcomeOf(() => createJwtVerifier({ keys: imported.keys, typ: false, requiredClaims: [] })(token))
  if (outcome.accepted) return 'accepted by the JWT verifier, but the payload is not a JSON object'
  if (expected === 'valid' && outcome.code !== 'ERR_JWT_MALFORMED') return `valid JWS refused by the JWT verifier with ${outcome.code}`
  return undefined
}

function checkKeysetRefusal(c: JoseCase, imported: ImportedKeys, outcome: Outcome): string | undefined {
  const refusal = KEYSET_REFUSALS[c.tcId]
  if (refusal === undefined) {
    if ('keyring' in imported && imported.keyring !== undefined && imported.keyring.rejected.length > 0) {
      return `no key should be refused, got ${JSON.stringify(imported.keyring.rejected)}`
    }
    return undefined
  }
  if (refusal.how === 'throws') {
    if (!('refused' in imported)) return 'expected importJwks to refuse the whole set'
    return refusal.reason.test(imported.reason) ? undefined : `set refused for "${imported.reason}"`
  }
  if (!('keyring' in imported) || imported.keyring === undefined) return 'expected importJwks to accept the set and drop the key'
  const reasons = imported.keyring.rejected.map((r) => r.reason)
  if (imported.keyring.entries.length !== 0 || reasons.length !== 1 || !refusal.reason.test(reasons[0]!)) {
    return `expected the one key to be dropped for ${String(refusal.reason)}, got ${JSON.stringify(reasons)}`
  }
  return !outcome.accepted && outcome.code === 'ERR_JWKS_NO_MATCHING_KEY' ? undefined : `expected ERR_JWKS_NO_MATCHING_KEY, got ${describe(outcome)}`
}

function describe(outcome: Outcome): string {
  return outcome.accepted ? 'acceptance' : outcome.code
}

for (const file of [SIGNATURE_FILE, KEY_FILE, CRYPTO_FILE]) {
  void test(`Wycheproof ${file}: every JWS case gets its expected verdict`, (t) => {
    const failures = createFailureList()
    const skipped: string[] = []
    runFile(file, failures, skipped)
    t.diagnostic(`${failures.checked} checks, ${skipped.length} skipped${skipped.length ? `: ${skipped.join('; ')}` : ''}`)
    assert.ok(failures.checked > 0, 'no case was checked')
    assert.equal(failures.report(), '')
  })
}

void test('Wycheproof json_web_signature_test.json: the case counts this suite was written against', () => {
  // If upstream adds or changes cases, the skip and quirk tables above need a fresh look.
  const vectors = loadWycheproof<JoseGroup>(SIGNATURE_FILE)
  const byResult = { valid: 0, invalid: 0, acceptable: 0 }
  for (const group of vectors.testGroups) for (const c of group.tests) byResult[c.result]++
  assert.deepEqual(byResult, { valid: 46, invalid: 355, acceptable: 0 })
  assert.equal(loadWycheproof<JoseGroup>(KEY_FILE).numberOfTests, 26)
})

void test('Wycheproof json_web_crypto_test.json: a JWE is never taken for a JWS or a JWT', () => {
  // The JWE groups are out of scope for the JWS engine, but handing one of their tokens to a
  // verifier is token-format confusion (docs/security.md A9): it must be refused as malformed.
  const vectors = loadWycheproof<JoseGroup>(CRYPTO_FILE)
  const key = importKey({ kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url') }, { alg: 'HS256' })
  const verifyJwt = createJwtVerifier({ keys: key, typ: false, requiredClaims: [] })
  const failures = createFailureList()
  for (const group of vectors.testGroups) {
    for (const c of group.tests) {
      if (c.jwe === undefined) continue
      const token = tokenText(c)
      for (const [how, fn] of [['verifyJws', () => verifyJws(token, key)], ['JWT verifier', () => verifyJwt(token)]] as const) {
        const outcome = outcomeOf(fn)
        failures.check(`${CRYPTO_FILE}#${c.tcId} (${how})`, outcome.accepted || outcome.code !== 'ERR_JWT_MALFORMED' ? `got ${describe(outcome)}` : undefined)
      }
    }
  }
  assert.equal(failures.checked, 2 * 34)
  assert.equal(failures.report(), '')
})
