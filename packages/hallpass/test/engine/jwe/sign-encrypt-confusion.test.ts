// docs/security.md A9, sign/encrypt confusion (CVE-2022-39174 Authlib, CVE-2022-3102 JWCrypto,
// CVE-2026-29000 pac4j-jwt): anyone can encrypt to the server's *public* encryption key, so a
// JWE authenticates nothing. A JWE made by an attacker, where a signed JWT is expected, must
// never yield claims: not as raw claims JSON, not as an unsigned `alg: none` JWT, not as a JWT
// signed by a key the verifier does not trust, and not by handing the JWE to the JWS verifier.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { CompactEncrypt } from 'jose'
import {
  createJwtVerifier,
  decryptAndVerifyJwt,
  decryptJwt,
  encryptJwt,
  exportPublicJwk,
  generateEncryptionKey,
  generateKey,
  HallpassError,
  importKey,
  signJwt,
  verifyJws,
  type Jwk,
} from '../../../src/index.ts'

const NOW = 1_900_000_000
const ISSUER = 'https://auth.example'
const claims = { iss: ISSUER, sub: 'admin', iat: NOW, exp: NOW + 600, scope: 'admin' }

// The server: one signing key (ES256) and one encryption key pair (RSA-OAEP-256), apart.
const serverSigningKey = generateKey('ES256', { kid: 'sig-2026' })
const serverEncryptionKey = generateEncryptionKey('RSA-OAEP-256', undefined, { kid: 'enc-2026' })
const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publishedEncryptionKey } = serverEncryptionKey
const verifier = createJwtVerifier({ keys: serverSigningKey, issuer: ISSUER, now: () => NOW * 1000 })

const b64u = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')

/** What an attacker can do with the published public key: encrypt anything, with any header. */
async function attackerEncrypts(plaintext: string, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT', kid: 'enc-2026', ...header })
    .encrypt(publishedEncryptionKey)
}

async function rejectsWith(run: () => Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof HallpassError, String(error))
    assert.equal(error.code, code, error.message)
    return true
  })
}

describe('sign/encrypt confusion (docs/security.md A9)', () => {
  it('the legitimate nested JWT is accepted', async () => {
    const jwe = await encryptJwt(signJwt(claims, serverSigningKey), publishedEncryptionKey)
    const { claims: verified, key } = await decryptAndVerifyJwt(jwe, serverEncryptionKey, verifier)
    assert.deepEqual(verified, claims)
    assert.equal(key, serverSigningKey)
  })

  it('refuses raw claims JSON encrypted to the public key (Authlib/JWCrypto)', async () => {
    for (const cty of ['JWT', 'JSON']) {
      const jwe = await attackerEncrypts(JSON.stringify(claims), { cty })
      await rejectsWith(() => decryptJwt(jwe, serverEncryptionKey), 'ERR_JWE_INVALID')
      await rejectsWith(() => decryptAndVerifyJwt(jwe, serverEncryptionKey, verifier), 'ERR_JWE_INVALID')
    }
  })

  it('refuses an unsigned alg:none JWT inside the JWE (pac4j CVE-2026-29000)', async () => {
    const payload = b64u(JSON.stringify(claims))
    const unsigned = [
      `${b64u('{"alg":"none"}')}.${payload}.`,
      `${b64u('{"alg":"none","typ":"JWT"}')}.${payload}.`,
      `${b64u('{"alg":"None"}')}.${payload}.${b64u('x'.repeat(64))}`,
      `${b64u('{"alg":"none"}')}.${payload}.${b64u('x'.repeat(64))}`,
      `${b64u('{"typ":"JWT"}')}.${payload}.${b64u('x'.repeat(64))}`,
      `${b64u('{"alg":"ES256"}')}.${payload}`,
      `${b64u('{"alg":"ES256"}')}..${b64u('x'.repeat(64))}`,
    ]
    for (const inner of unsigned) {
      const jwe = await attackerEncrypts(inner)
      await rejectsWith(() => decryptJwt(jwe, serverEncryptionKey), 'ERR_JWE_INVALID')
      await rejectsWith(() => decryptAndVerifyJwt(jwe, serverEncryptionKey, verifier), 'ERR_JWE_INVALID')
    }
  })

  it('refuses a JWE inside the JWE and non-text plaintext', async () => {
    const innerJwe = await encryptJwt(signJwt(claims, serverSigningKey), publishedEncryptionKey)
    for (const inner of [innerJwe, '\u0000\u00ff', '']) {
      const jwe = await attackerEncrypts(inner)
      await rejectsWith(() => decryptJwt(jwe, serverEncryptionKey), 'ERR_JWE_INVALID')
    }
  })

  it('a JWT the attacker signed decrypts, but never verifies', async () => {
    // Own ES256 key, with the server's kid.
    const attackerKey = generateKey('ES256', { kid: 'sig-2026' })
    const forged = await attackerEncrypts(signJwt(claims, attackerKey))
    assert.equal(typeof (await decryptJwt(forged, serverEncryptionKey)), 'string')
    await rejectsWith(() => decryptAndVerifyJwt(forged, serverEncryptionKey, verifier), 'ERR_JWS_SIGNATURE_INVALID')

    // HS256 keyed with the bytes of the server's published keys (A2 inside A9).
    for (const secret of [JSON.stringify(publishedEncryptionKey), JSON.stringify(exportPublicJwk(serverSigningKey))]) {
      const signingInput = `${b64u(JSON.stringify({ alg: 'HS256', kid: 'sig-2026', typ: 'at+jwt' }))}.${b64u(JSON.stringify(claims))}`
      const hs256 = `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
      const jwe = await attackerEncrypts(hs256)
      await rejectsWith(() => decryptAndVerifyJwt(jwe, serverEncryptionKey, verifier), 'ERR_JWS_ALG_NOT_ALLOWED')
    }
  })

  it('a JWE handed to the JWS verifier is malformed, never a JWT', async () => {
    const legit = await encryptJwt(signJwt(claims, serverSigningKey), publishedEncryptionKey)
    const forged = await attackerEncrypts(JSON.stringify(claims))
    for (const jwe of [legit, forged]) {
      assert.throws(() => verifier(jwe), { code: 'ERR_JWT_MALFORMED' })
      assert.throws(() => verifyJws(jwe, serverSigningKey), { code: 'ERR_JWT_MALFORMED' })
      // A verifier whose only key is the encryption key cannot exist: importKey refuses it.
      assert.throws(() => importKey(publishedEncryptionKey, { alg: 'RS256' }), { code: 'ERR_KEY_INVALID' })
    }
    // Nor can a JWS header carrying `enc` pass as a JWS (a JWE header with the last two segments cut).
    const [header, encryptedKey] = legit.split('.')
    assert.throws(() => verifier(`${header}.${encryptedKey}.${b64u('x'.repeat(64))}`), (error: unknown) => error instanceof HallpassError)
  })

  it('keys for signing and for encryption never stand in for each other', async () => {
    const jwe = await encryptJwt(signJwt(claims, serverSigningKey), publishedEncryptionKey)
    await rejectsWith(() => decryptJwt(jwe, serverSigningKey as never, { algorithms: ['RSA-OAEP-256'] }), 'ERR_KEY_INVALID')
    const signingJwk: Jwk = { ...serverEncryptionKey, use: 'sig' }
    await rejectsWith(() => decryptJwt(jwe, signingJwk), 'ERR_KEY_INVALID')
    // Decrypting needs the private key: the published key cannot open what it sealed.
    await rejectsWith(() => decryptJwt(jwe, publishedEncryptionKey), 'ERR_KEY_INVALID')
  })

  it('hallpass itself never encrypts anything but a signed JWT', async () => {
    const payload = b64u(JSON.stringify(claims))
    for (const input of [JSON.stringify(claims), `${b64u('{"alg":"none"}')}.${payload}.`, `${b64u('{"alg":"none"}')}.${payload}.c2ln`, 'a.b', 42]) {
      await rejectsWith(() => encryptJwt(input as string, publishedEncryptionKey), 'ERR_CONFIG_INVALID')
    }
    await rejectsWith(() => decryptAndVerifyJwt('x', serverEncryptionKey, 'not a function' as never), 'ERR_CONFIG_INVALID')
  })
})
