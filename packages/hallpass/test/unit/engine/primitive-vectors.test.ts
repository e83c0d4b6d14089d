// Wycheproof's primitive signature vectors (test/vectors/README.md §1b) against the signature
// check of the JWS hot path. Their messages are arbitrary bytes, not `header.payload` signing
// inputs (none of them even looks like one), so no compact token can carry them: the suite
// imports each group key with the public `importKey`, exactly as an application would, and calls
// the engine's internal `checkSignature` with the key's internals, after the same exact-length
// check `verifyCompactJws` makes first. Each file's expected verdicts must hold, except where a
// JWS is deliberately stricter than the primitive:
// - HMAC tags shorter than the hash are JWS-invalid whatever the MAC file says (RFC 7518 §3.2
//   fixes the full output), and keys shorter than the hash are refused at import (ERR_KEY_INVALID);
// - DER/ASN.1 ECDSA signatures are never a JWS signature (RFC 7518 §3.4 is r‖s), valid or not;
// - secp256k1 (ES256K, RFC 8812) is not a hallpass algorithm: its keys are refused for every ES*.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KEY_INTERNALS } from '../../../src/engine/internal/key-internals.ts'
import { checkSignature } from '../../../src/engine/jws/verify.ts'
import { importKey, isHallpassError, type Jwk, type JwsAlgorithm, type JwsKey, type KeyMaterial } from '../../../src/index.ts'
import {
  createFailureList,
  judge,
  loadWycheproof,
  type FailureList,
  type WycheproofCase,
  type WycheproofGroup,
  type WycheproofResult,
} from '../../engine/vectors/load.ts'

interface SignatureCase extends WycheproofCase {
  msg: string
  sig: string
}

interface SignatureGroup extends WycheproofGroup<SignatureCase> {
  publicKeyJwk?: Jwk
  keyJwk?: Jwk
  publicKey?: { wx?: string; wy?: string }
  publicKeyPem?: string
  sha?: string
  sLen?: number
  mgfSha?: string
}

interface MacCase extends WycheproofCase {
  key: string
  msg: string
  tag: string
}

interface MacGroup extends WycheproofGroup<MacCase> {
  keySize: number
  tagSize: number
}

/** The JWS verdict on `sig` over `msg`: the exact-length check of the hot path, then the signature check. */
function verifyPrimitive(key: JwsKey, msg: Buffer, sig: Buffer): boolean {
  const internals = key[KEY_INTERNALS]
  if (sig.length !== internals.signatureBytes) return false
  return checkSignature(msg.toString('latin1'), sig, internals)
}

type Imported = { key: JwsKey } | { refused: string }

function tryImport(material: KeyMaterial, alg: JwsAlgorithm): Imported {
  try {
    return { key: importKey(material, { alg }) }
  } catch (error) {
    if (isHallpassError(error)) return { refused: error.code }
    throw error
  }
}

// Some P1363 groups carry no `publicKeyJwk` (README §1b): build it from the hex coordinates,
// which may have a leading 00 or be short, as fixed-length base64url (RFC 7518 §6.2.1.2).
function ecJwkFromCoordinates(group: SignatureGroup, crv: string, bytes: number): Jwk {
  const coordinate = (hex: string | undefined): string => {
    const value = Buffer.from(hex ?? '', 'hex')
    const trimmed = value.subarray(Math.max(0, value.length - bytes))
    return Buffer.concat([Buffer.alloc(bytes - trimmed.length), trimmed]).toString('base64url')
  }
  return { kty: 'EC', crv, x: coordinate(group.publicKey?.wx), y: coordinate(group.publicKey?.wy) }
}

interface SignatureFileRun {
  failures: FailureList
  /** Valid cases whose key hallpass deliberately refuses, by tcId. */
  refusedValid: string[]
  builtKeys: number
}

/** Runs a signature file whose verdicts hallpass must reproduce exactly. */
function runSignatureFile(file: string, alg: JwsAlgorithm, keyOf: (group: SignatureGroup) => KeyMaterial, built?: (group: SignatureGroup) => boolean): SignatureFileRun {
  const vectors = loadWycheproof<SignatureGroup>(file)
  const run: SignatureFileRun = { failures: createFailureList(), refusedValid: [], builtKeys: 0 }
  for (const group of vectors.testGroups) {
    if (built?.(group)) run.builtKeys++
    const imported = tryImport(keyOf(group), alg)
    for (const c of group.tests) {
      const id = `${file}#${c.tcId}`
      if ('refused' in imported) {
        // A refused key rejects every token: right for invalid cases; for valid ones it must be
        // a deliberate key-policy refusal, listed in the report.
        if (c.result === 'valid') {
          run.refusedValid.push(String(c.tcId))
          run.failures.check(id, imported.refused === 'ERR_KEY_INVALID' ? undefined : `key refused with ${imported.refused}`)
        } else run.failures.check(id, undefined)
        continue
      }
      const accepted = verifyPrimitive(imported.key, Buffer.from(c.msg, 'hex'), Buffer.from(c.sig, 'hex'))
      run.failures.check(id, judge(c.result, accepted ? { accepted: true } : { accepted: false, code: 'ERR_JWS_SIGNATURE_INVALID' }))
    }
  }
  return run
}

function assertRun(t: { diagnostic(message: string): void }, run: SignatureFileRun): void {
  t.diagnostic(
    `${run.failures.checked} cases` +
      (run.builtKeys ? `, ${run.builtKeys} group keys built from wx/wy` : '') +
      (run.refusedValid.length ? `, valid cases with deliberately refused keys: ${run.refusedValid.join(', ')}` : ''),
  )
  assert.ok(run.failures.checked > 0, 'no case was checked')
  assert.equal(run.failures.report(), '')
}

const ECDSA_P1363: ReadonlyArray<[file: string, alg: JwsAlgorithm, crv: string, bytes: number]> = [
  ['ecdsa_secp256r1_sha256_p1363_test.json', 'ES256', 'P-256', 32],
  ['ecdsa_secp384r1_sha384_p1363_test.json', 'ES384', 'P-384', 48],
  ['ecdsa_secp521r1_sha512_p1363_test.json', 'ES512', 'P-521', 66],
]

for (const [file, alg, crv, bytes] of ECDSA_P1363) {
  void test(`Wycheproof ${file} (${alg}): r‖s signatures, r/s range and length checks`, (t) => {
    const run = runSignatureFile(
      file,
      alg,
      (group) => group.publicKeyJwk ?? ecJwkFromCoordinates(group, crv, bytes),
      (group) => group.publicKeyJwk === undefined,
    )
    assert.ok(run.builtKeys > 0, 'expected some groups without publicKeyJwk (README §1b)')
    assert.deepEqual(run.refusedValid, [])
    assertRun(t, run)
  })
}

void test('Wycheproof ecdsa_secp256k1_sha256_p1363_test.json: secp256k1 keys are refused for every ES* algorithm', () => {
  const file = 'ecdsa_secp256k1_sha256_p1363_test.json'
  const vectors = loadWycheproof<SignatureGroup>(file)
  const failures = createFailureList()
  for (const [index, group] of vectors.testGroups.entries()) {
    const jwk = group.publicKeyJwk ?? ecJwkFromCoordinates(group, 'secp256k1', 32)
    for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
      // With and without the JWK's own crv: neither the label nor the point may pass for P-256.
      for (const material of [jwk, { ...jwk, crv: 'P-256' }]) {
        const imported = tryImport(material, alg)
        failures.check(`${file} group ${index} as ${alg} (crv ${String(material.crv)})`, 'refused' in imported && imported.refused === 'ERR_KEY_INVALID' ? undefined : 'key was not refused with ERR_KEY_INVALID')
      }
    }
  }
  assert.equal(failures.report(), '')
})

// DER: SEQUENCE { INTEGER r, INTEGER s } → r‖s, each left-padded to `bytes`; undefined when the
// signature is not that shape (only needed for the file's valid, strictly DER-encoded cases).
function derToP1363(der: Buffer, bytes: number): Buffer | undefined {
  if (der[0] !== 0x30 || der[1] !== der.length - 2) return undefined
  const integers: Buffer[] = []
  let offset = 2
  while (offset < der.length) {
    if (der[offset] !== 0x02) return undefined
    const length = der[offset + 1]!
    let value = der.subarray(offset + 2, offset + 2 + length)
    while (value.length > bytes && value[0] === 0) value = value.subarray(1)
    if (value.length > bytes) return undefined
    integers.push(Buffer.concat([Buffer.alloc(bytes - value.length), value]))
    offset += 2 + length
  }
  return integers.length === 2 ? Buffer.concat(integers) : undefined
}

void test('Wycheproof ecdsa_secp256r1_sha256_test.json: DER-encoded ECDSA is never a JWS signature', () => {
  const file = 'ecdsa_secp256r1_sha256_test.json'
  const vectors = loadWycheproof<SignatureGroup>(file)
  const failures = createFailureList()
  let convertedValid = 0
  for (const group of vectors.testGroups) {
    // This file has no JWK: the key comes in as SPKI PEM, which importKey takes too.
    const imported = tryImport(group.publicKeyPem!, 'ES256')
    if ('refused' in imported) {
      failures.check(`${file} group key`, `refused with ${imported.refused}`)
      continue
    }
    for (const c of group.tests) {
      const id = `${file}#${c.tcId}`
      const msg = Buffer.from(c.msg, 'hex')
      const der = Buffer.from(c.sig, 'hex')
      failures.check(id, verifyPrimitive(imported.key, msg, der) ? `DER signature (${c.result}) accepted` : undefined)
      if (c.result === 'valid') {
        // The same signature as r‖s does verify: the rejection above is about the encoding,
        // not a broken key or message.
        const p1363 = derToP1363(der, 32)
        failures.check(`${id} (as r‖s)`, p1363 !== undefined && verifyPrimitive(imported.key, msg, p1363) ? undefined : 'valid signature converted to r‖s does not verify')
        convertedValid++
      }
    }
  }
  assert.equal(convertedValid, 174)
  assert.equal(failures.report(), '')
})

for (const [file, curve] of [['ed25519_test.json', 'Ed25519'], ['ed448_test.json', 'Ed448']] as const) {
  void test(`Wycheproof ${file} (EdDSA ${curve})`, (t) => {
    assertRun(t, runSignatureFile(file, 'EdDSA', (group) => group.publicKeyJwk!))
  })
}

const HASH_ALG: Readonly<Record<string, { rsa: JwsAlgorithm; pss: JwsAlgorithm; bytes: number }>> = {
  'SHA-256': { rsa: 'RS256', pss: 'PS256', bytes: 32 },
  'SHA-384': { rsa: 'RS384', pss: 'PS384', bytes: 48 },
  'SHA-512': { rsa: 'RS512', pss: 'PS512', bytes: 64 },
}

const RSA_PKCS1 = [
  'rsa_signature_2048_sha256_test.json',
  'rsa_signature_2048_sha384_test.json',
  'rsa_signature_2048_sha512_test.json',
  'rsa_signature_3072_sha256_test.json',
  'rsa_signature_4096_sha512_test.json',
]

for (const file of RSA_PKCS1) {
  void test(`Wycheproof ${file} (RSASSA-PKCS1-v1_5)`, (t) => {
    const sha = loadWycheproof<SignatureGroup>(file).testGroups[0]!.sha!
    // The RSA files name their JWK `keyJwk`, not `publicKeyJwk` (README §1b).
    assertRun(t, runSignatureFile(file, HASH_ALG[sha]!.rsa, (group) => group.keyJwk!))
  })
}

const RSA_PSS = [
  'rsa_pss_2048_sha256_mgf1_32_test.json',
  'rsa_pss_3072_sha256_mgf1_32_test.json',
  'rsa_pss_4096_sha384_mgf1_48_test.json',
  'rsa_pss_4096_sha512_mgf1_64_test.json',
]

for (const file of RSA_PSS) {
  void test(`Wycheproof ${file} (RSASSA-PSS)`, (t) => {
    const vectors = loadWycheproof<SignatureGroup>(file)
    const sha = vectors.testGroups[0]!.sha!
    // JWS PS* fixes MGF1 with the same hash and a salt as long as the hash (RFC 7518 §3.5), so
    // these files' verdicts apply to PS* unchanged only with exactly those parameters.
    for (const group of vectors.testGroups) {
      assert.equal(group.sha, sha)
      assert.equal(group.mgfSha, sha)
      assert.equal(group.sLen, HASH_ALG[sha]!.bytes)
    }
    assertRun(t, runSignatureFile(file, HASH_ALG[sha]!.pss, (group) => group.publicKeyJwk!))
  })
}

const HMAC: ReadonlyArray<[file: string, alg: JwsAlgorithm, bits: number]> = [
  ['hmac_sha256_test.json', 'HS256', 256],
  ['hmac_sha384_test.json', 'HS384', 384],
  ['hmac_sha512_test.json', 'HS512', 512],
]

for (const [file, alg, bits] of HMAC) {
  void test(`Wycheproof ${file} (${alg}): full-length tags only, short keys refused`, (t) => {
    const vectors = loadWycheproof<MacGroup>(file)
    const failures = createFailureList()
    const refusedValid: string[] = []
    let truncated = 0
    for (const group of vectors.testGroups) {
      for (const c of group.tests) {
        const id = `${file}#${c.tcId}`
        const imported = tryImport(Buffer.from(c.key, 'hex'), alg)
        if ('refused' in imported) {
          // RFC 7518 §3.2: a key shorter than the hash output is refused at import.
          const deliberate = imported.refused === 'ERR_KEY_INVALID' && group.keySize < bits
          if (c.result === 'valid') refusedValid.push(String(c.tcId))
          failures.check(id, deliberate ? undefined : `key of ${group.keySize} bits refused with ${imported.refused}`)
          continue
        }
        // A JWS carries the whole HMAC output: a truncated tag is invalid however it was made.
        const expected: WycheproofResult = group.tagSize < bits ? 'invalid' : c.result
        if (group.tagSize < bits) truncated++
        const accepted = verifyPrimitive(imported.key, Buffer.from(c.msg, 'hex'), Buffer.from(c.tag, 'hex'))
        failures.check(id, judge(expected, accepted ? { accepted: true } : { accepted: false, code: 'ERR_JWS_SIGNATURE_INVALID' }))
      }
    }
    t.diagnostic(`${failures.checked} cases, ${truncated} truncated-tag cases rejected, valid cases with deliberately refused short keys: ${refusedValid.length}`)
    assert.ok(truncated > 0, 'expected truncated-tag groups')
    assert.ok(refusedValid.length > 0, 'expected short-key groups')
    assert.equal(failures.report(), '')
  })
}
