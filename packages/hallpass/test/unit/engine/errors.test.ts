// The engine's error classes: codes, families and fields, and messages that never echo
// attacker-controlled content. test/errors.test.ts covers the registry as a whole.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ConfigInvalid,
  HallpassError,
  isHallpassError,
  JweDecryptionFailed,
  JweInvalid,
  JwksNoMatchingKey,
  JwsAlgorithmNotAllowed,
  JwsHeaderUnsupported,
  JwsSignatureInvalid,
  JwtClaimInvalid,
  JwtExpired,
  JwtMalformed,
  JwtNotYetValid,
  JwtTooLarge,
  KeyInvalid,
  KeyringNoSigningKey,
} from '../../../src/errors.ts'

describe('engine errors', () => {
  it('carry their code, family, name and fields', () => {
    const cases: Array<[HallpassError, string, string, Record<string, unknown>]> = [
      [new JwtMalformed('header is not valid JSON'), 'ERR_JWT_MALFORMED', 'credential', { reason: 'header is not valid JSON' }],
      [new JwtTooLarge(8192), 'ERR_JWT_TOO_LARGE', 'credential', { limit: 8192 }],
      [new JwsAlgorithmNotAllowed('none'), 'ERR_JWS_ALG_NOT_ALLOWED', 'credential', { alg: 'none' }],
      [new JwsHeaderUnsupported('jku'), 'ERR_JWS_HEADER_UNSUPPORTED', 'credential', { parameter: 'jku' }],
      [new JwksNoMatchingKey('k1'), 'ERR_JWKS_NO_MATCHING_KEY', 'credential', { kid: 'k1' }],
      [new JwksNoMatchingKey(undefined, 'several keys'), 'ERR_JWKS_NO_MATCHING_KEY', 'credential', { kid: undefined }],
      [new JwsSignatureInvalid(), 'ERR_JWS_SIGNATURE_INVALID', 'credential', {}],
      [new JwtExpired('exp'), 'ERR_JWT_EXPIRED', 'credential', { claim: 'exp' }],
      [new JwtExpired('iat'), 'ERR_JWT_EXPIRED', 'credential', { claim: 'iat' }],
      [new JwtNotYetValid(), 'ERR_JWT_NOT_YET_VALID', 'credential', { claim: 'nbf' }],
      [new JwtClaimInvalid('aud', 'missing'), 'ERR_JWT_CLAIM_INVALID', 'credential', { claim: 'aud', reason: 'missing' }],
      [new JwtClaimInvalid('exp', 'type'), 'ERR_JWT_CLAIM_INVALID', 'credential', { claim: 'exp', reason: 'type' }],
      [new JwtClaimInvalid('iss', 'value'), 'ERR_JWT_CLAIM_INVALID', 'credential', { claim: 'iss', reason: 'value' }],
      [new JweInvalid('zip'), 'ERR_JWE_INVALID', 'credential', { reason: 'zip' }],
      [new JweDecryptionFailed(), 'ERR_JWE_DECRYPTION_FAILED', 'credential', {}],
      [new KeyInvalid('too short'), 'ERR_KEY_INVALID', 'config', { reason: 'too short' }],
      [new ConfigInvalid('refresh.reuseWindowSeconds', 'must be a number'), 'ERR_CONFIG_INVALID', 'config', { path: 'refresh.reuseWindowSeconds' }],
      [new KeyringNoSigningKey(), 'ERR_KEYRING_NO_SIGNING_KEY', 'config', {}],
    ]
    for (const [error, code, family, fields] of cases) {
      assert.equal(error.code, code)
      assert.equal((error.constructor as unknown as { code: string }).code, code)
      assert.equal(error.family, family)
      assert.equal(error.name, error.constructor.name)
      assert.ok(error instanceof HallpassError && error instanceof Error)
      assert.ok(isHallpassError(error) && isHallpassError(error, code as 'ERR_JWT_MALFORMED'))
      assert.equal(isHallpassError(error, code === 'ERR_KEY_INVALID' ? 'ERR_JWT_MALFORMED' : 'ERR_KEY_INVALID'), false)
      for (const [name, value] of Object.entries(fields)) assert.equal((error as unknown as Record<string, unknown>)[name], value, `${code}.${name}`)
      assert.ok(error.message.length > 0)
    }
  })

  it('keep the cause they are given', () => {
    const cause = new Error('openssl said no')
    assert.equal(new KeyInvalid('PEM could not be parsed', { cause }).cause, cause)
    assert.equal(new JweInvalid('bad', { cause }).cause, cause)
    assert.equal(new JweDecryptionFailed({ cause }).cause, cause)
  })

  it('never echo a long or non-string alg from a token', () => {
    const long = new JwsAlgorithmNotAllowed(`HS256${'A'.repeat(1000)}`)
    assert.equal(long.alg, 'string')
    assert.ok(!long.message.includes('AAAA'))
    assert.equal(new JwsAlgorithmNotAllowed({ alg: 'x' }).alg, 'object')
    assert.equal(new JwsAlgorithmNotAllowed(undefined).alg, 'undefined')
    assert.equal(new JwsAlgorithmNotAllowed('A'.repeat(32)).alg, 'A'.repeat(32))
  })

  it('isHallpassError refuses look-alikes', () => {
    for (const value of [new Error('x'), { code: 'ERR_JWT_MALFORMED', family: 'credential' }, null, undefined, 'ERR_JWT_MALFORMED', new TypeError('ERR_JWT_MALFORMED')]) {
      assert.equal(isHallpassError(value), false)
      assert.equal(isHallpassError(value, 'ERR_JWT_MALFORMED'), false)
    }
  })
})
