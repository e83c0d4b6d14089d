// Wycheproof JWE vectors (test/vectors/README.md §1a): `json_web_encryption_test.json` (139
// cases) and the JWE cases of `json_web_crypto_test.json`. They test raw JWE decryption (the
// plaintexts are not JWTs), so they go through the internal `decryptCompact`, which applies
// the same policy as `decryptJwt`, with each group's private JWK as given.
//
// Every case gets its expected verdict, except where hallpass's policy refuses on purpose what
// Wycheproof calls valid (listed below): RSA1_5 key transport and `zip`. Invalid cases are also
// held to a code: tampering with an authenticated part is ERR_JWE_DECRYPTION_FAILED (one error
// for every cryptographic failure: no padding or curve oracle), structure and policy is
// ERR_JWE_INVALID.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { HallpassError, type Jwk } from '../../../src/index.ts'
import { decryptCompact } from '../../../src/engine/jwe/decrypt.ts'
import { VECTORS_ROOT } from '../vectors/load.ts'

const VECTORS = new URL('wycheproof/testvectors_v1/', VECTORS_ROOT)

interface JweCase {
  tcId: number
  comment: string
  jwe: string | Record<string, unknown>
  pt?: string
  result: 'valid' | 'invalid' | 'acceptable'
  flags: string[]
}
interface JweGroup {
  type: string
  comment: string
  private: Jwk
  tests: Array<JweCase | { tcId: number; jws: unknown }>
}
interface WycheproofFile {
  numberOfTests: number
  testGroups: JweGroup[]
}

function load(name: string): WycheproofFile {
  const file = JSON.parse(readFileSync(fileURLToPath(new URL(name, VECTORS)), 'utf8')) as WycheproofFile
  assert.equal(file.testGroups.reduce((n, g) => n + g.tests.length, 0), file.numberOfTests)
  return file
}

/** Wycheproof-valid cases hallpass refuses by policy, and why. */
const REFUSED_VALID: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  'json_web_encryption_test.json': {
    100: 'RSA1_5', 101: 'RSA1_5', 102: 'RSA1_5', 103: 'RSA1_5', 104: 'RSA1_5', 105: 'RSA1_5', 112: 'RSA1_5',
    128: 'RSA1_5 (RFC 7520 Figure 81)',
    135: 'zip (RFC 7520 Figure 170, CompressedPlaintext)',
  },
  'json_web_crypto_test.json': {},
}

// An authenticated part was changed (or the epk is off the curve): the crypto must fail, and
// fail the same way whatever was changed.
const TAMPERED = /^(rejectsModified(AuthenticationTag|Ciphertext|Iv|EncryptedKey)|rejectsMissingCiphertext|rejectsInvalidCurvePoint|WrongPKCS5Padding|ModifiedIV|ModifiedCiphertext|ModifiedHmac)$/

type Outcome = { accepted: true; plaintext: Uint8Array } | { accepted: false; code: string; reason: string }

async function outcomeOf(run: () => Promise<{ plaintext: Uint8Array }>): Promise<Outcome> {
  try {
    return { accepted: true, plaintext: (await run()).plaintext }
  } catch (error) {
    // Anything but a HallpassError (a TypeError escaping jose, say) fails the case.
    if (!(error instanceof HallpassError)) throw error
    return { accepted: false, code: error.code, reason: (error as { reason?: string }).reason ?? '' }
  }
}

function headerAlg(jwe: JweCase['jwe']): unknown {
  if (typeof jwe !== 'string') return undefined
  try {
    return (JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8')) as { alg?: unknown }).alg
  } catch {
    return undefined
  }
}

function expectRejected(outcome: Outcome, code: string | readonly string[], reason?: RegExp): void {
  assert.equal(outcome.accepted, false, 'accepted')
  if (outcome.accepted) return
  const codes = typeof code === 'string' ? [code] : code
  assert.ok(codes.includes(outcome.code), `rejected with ${outcome.code} (${outcome.reason}), expected ${codes.join(' or ')}`)
  if (reason !== undefined) assert.match(outcome.reason, reason)
}

for (const name of ['json_web_encryption_test.json', 'json_web_crypto_test.json']) {
  describe(`Wycheproof ${name}`, () => {
    const file = load(name)
    const cases = file.testGroups.flatMap((group) =>
      group.tests.filter((t): t is JweCase => 'jwe' in t).map((test) => ({ group, test })),
    )
    const refused = REFUSED_VALID[name]!

    it('has the expected number of JWE cases', () => {
      assert.equal(cases.length, name === 'json_web_encryption_test.json' ? 139 : 34)
      // Every listed refusal is a case Wycheproof calls valid.
      for (const tcId of Object.keys(refused).map(Number)) {
        assert.equal(cases.find((c) => c.test.tcId === tcId)?.test.result, 'valid', `tcId ${tcId}`)
      }
    })

    for (const { group, test } of cases) {
      it(`#${test.tcId} ${test.comment} (${test.result})`, async () => {
        const outcome = await outcomeOf(() => decryptCompact(test.jwe, group.private))

        if (group.private.alg === 'RSA1_5') {
          // The key itself is refused at the options stage: RSA1_5 never gets a key.
          expectRejected(outcome, 'ERR_KEY_INVALID', /RSA1_5 is refused/)
          // With the same key material offered for RSA-OAEP, the token is refused by its header.
          const { alg: _alg, ...unbound } = group.private
          const relabelled = await outcomeOf(() => decryptCompact(test.jwe, unbound, { algorithms: ['RSA-OAEP'] }))
          expectRejected(relabelled, 'ERR_JWE_INVALID', /RSA1_5 is refused/)
          return
        }
        if (headerAlg(test.jwe) === 'RSA1_5') {
          expectRejected(outcome, 'ERR_JWE_INVALID', /RSA1_5 is refused/)
          return
        }
        if (refused[test.tcId] !== undefined) {
          assert.match(refused[test.tcId]!, /zip/)
          expectRejected(outcome, 'ERR_JWE_INVALID', /"zip" is refused/)
          return
        }
        if (test.result === 'valid') {
          assert.equal(outcome.accepted, true, outcome.accepted ? '' : `rejected with ${outcome.code} (${outcome.reason})`)
          if (outcome.accepted && test.pt !== undefined) assert.equal(Buffer.from(outcome.plaintext).toString('hex'), test.pt)
          return
        }
        assert.equal(test.result, 'invalid', 'no acceptable cases in these files')
        if (TAMPERED.test(test.comment)) expectRejected(outcome, 'ERR_JWE_DECRYPTION_FAILED')
        else if (test.comment === 'rejectsModifiedHeader') expectRejected(outcome, ['ERR_JWE_DECRYPTION_FAILED', 'ERR_JWE_INVALID'])
        else expectRejected(outcome, 'ERR_JWE_INVALID')
      })
    }
  })
}

describe('Wycheproof JWE quirks (vectors README §1a)', () => {
  const file = load('json_web_encryption_test.json')
  const find = (tcId: number): { group: JweGroup; test: JweCase } => {
    for (const group of file.testGroups) for (const test of group.tests) if (test.tcId === tcId) return { group, test: test as JweCase }
    throw new Error(`no tcId ${tcId}`)
  }

  it('tcId 132: a key whose alg names the content cipher (A128GCM) is a dir key for that cipher only', async () => {
    const { group, test } = find(132)
    assert.equal(group.private.alg, 'A128GCM')
    assert.equal(headerAlg(test.jwe), 'dir')
    const { plaintext } = await decryptCompact(test.jwe, group.private)
    assert.equal(Buffer.from(plaintext).toString('hex'), test.pt)
    assert.equal((await decryptCompact(test.jwe, group.private, { algorithms: ['dir'], encryptions: ['A128GCM'] })).header.enc, 'A128GCM')
    await assert.rejects(decryptCompact(test.jwe, group.private, { algorithms: ['A128KW'] }), { code: 'ERR_KEY_INVALID' })
    await assert.rejects(decryptCompact(test.jwe, group.private, { encryptions: ['A256GCM'] }), { code: 'ERR_KEY_INVALID' })
  })

  it('tcId 135: the compressed RFC 7520 figure is refused before decryption, even with a wrong key', async () => {
    const { test } = find(135)
    const wrongKey: Jwk = { kty: 'oct', k: Buffer.alloc(16, 7).toString('base64url'), alg: 'A128KW' }
    await assert.rejects(decryptCompact(test.jwe, wrongKey), { code: 'ERR_JWE_INVALID', reason: 'header "zip" is refused: compressed plaintext is not supported' })
  })
})
