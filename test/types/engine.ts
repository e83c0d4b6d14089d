// The token engine on the main entry: keys are bound to one algorithm from a closed list,
// signing returns the compact token, verification returns header, claims and key, all typed.
import type { KeyObject } from 'node:crypto'
import {
  createJwtDecrypter,
  createJwtEncrypter,
  createJwtVerifier,
  createKeyring,
  decryptAndVerifyJwt,
  decryptJwt,
  encryptJwt,
  generateEncryptionKey,
  generateKey,
  importJwks,
  importKey,
  signJws,
  signJwt,
  verifyJws,
  verifyJwt,
  type JweAlgorithm,
  type JweHeader,
  type Jwk,
  type JwkSet,
  type JwsAlgorithm,
  type JwsHeader,
  type JwsKey,
  type JwtClaims,
  type JwtVerifier,
  type Keyring,
  type KeyState,
  type VerifiedJwt,
} from 'hallpass'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

declare const token: string
declare const pem: string

export type Algorithms = [
  Expect<
    Equals<
      JwsAlgorithm,
      'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'
    >
  >,
  // `none` is not an algorithm hallpass knows, in any spelling.
  Expect<Equals<Extract<JwsAlgorithm, 'none' | 'None' | 'NONE'>, never>>,
  Expect<Equals<KeyState, 'next' | 'active' | 'retired'>>,
]

// A key names its one algorithm; the header of a verified token names a supported one.
export type Keys = [
  Expect<Equals<JwsKey['alg'], JwsAlgorithm>>,
  Expect<Equals<JwsKey['type'], 'secret' | 'private' | 'public'>>,
  Expect<Equals<JwsKey['kid'], string>>,
  Expect<Equals<JwsKey['keyObject'], KeyObject>>,
  Expect<Equals<JwsHeader['alg'], JwsAlgorithm>>,
  Expect<Equals<JwsHeader['kid'], string | undefined>>,
]

// Registered claims have their RFC 7519 types; `sid` and `scope` are hallpass's.
export type Claims = [
  Expect<Equals<JwtClaims['exp'], number | undefined>>,
  Expect<Equals<JwtClaims['sub'], string | undefined>>,
  Expect<Equals<JwtClaims['aud'], string | string[] | undefined>>,
  Expect<Equals<JwtClaims['sid'], string | undefined>>,
  Expect<Equals<JwtClaims['scope'], string | undefined>>,
  Expect<Equals<JwtClaims['tenant'], unknown>>,
]

// verify returns the header, the claims and the key that verified them, read-only.
export type Verified = [
  Expect<Equals<VerifiedJwt, { readonly header: JwsHeader; readonly claims: JwtClaims; readonly key: JwsKey }>>,
  Expect<Equals<JwtVerifier, (token: string) => VerifiedJwt>>,
  Expect<Equals<ReturnType<typeof verifyJwt>, VerifiedJwt>>,
  Expect<Equals<ReturnType<typeof verifyJws>, { header: JwsHeader; payload: Buffer; key: JwsKey }>>,
  Expect<Equals<ReturnType<typeof signJwt>, string>>,
  Expect<Equals<ReturnType<typeof signJws>, string>>,
]

export function keys(): void {
  expectType<Equals<ReturnType<typeof generateKey>, JwsKey>>()
  const key = generateKey('ES256', { kid: 'k1' })
  use(generateKey('RS256', { modulusLength: 3072 }), generateKey('EdDSA', { crv: 'Ed448' }))
  // @ts-expect-error `none` is not a JWS algorithm
  use(generateKey('none'))
  // @ts-expect-error algorithm names are case-sensitive
  use(generateKey('es256'))
  // @ts-expect-error Ed25519 and Ed448 are the EdDSA curves
  use(generateKey('EdDSA', { crv: 'X25519' }))
  use(importKey(pem, { alg: 'ES256' }), importKey({ kty: 'EC', crv: 'P-256', x: '', y: '' }), importKey(new Uint8Array(32), { alg: 'HS256' }))
  // @ts-expect-error the option is `alg`, as in a JWK
  use(importKey(pem, { algorithm: 'ES256' }))
  // @ts-expect-error key material is a JWK, PEM text, a KeyObject or bytes
  use(importKey(42, { alg: 'HS256' }))

  const keyring: Keyring = createKeyring([{ key, state: 'active' }, { key: generateKey('ES256'), state: 'next' }])
  expectType<Equals<ReturnType<Keyring['signingKey']>, JwsKey>>()
  expectType<Equals<ReturnType<Keyring['publicJwks']>, JwkSet>>()
  // @ts-expect-error a key state is next, active or retired
  use(createKeyring([{ key, state: 'primary' }]))
  // @ts-expect-error a keyring holds keys made by importKey or generateKey, not JWKs
  use(createKeyring([{ kty: 'EC' } satisfies Jwk]))
  use(importJwks({ keys: [] }, { defaultRsaAlgorithm: 'PS256' }))
  // @ts-expect-error a JWKS is an object with a `keys` array
  use(importJwks([]))
  // @ts-expect-error unknown option
  use(importJwks({ keys: [] }, { allowSecrets: true }))
  use(keyring)
}

export function signAndVerify(key: JwsKey, keyring: Keyring): void {
  const jwt = signJwt({ sub: 'user-1', iat: 1, exp: 2, sid: 's', scope: 'a b', tenant: 'acme' }, key, { typ: 'at+jwt' })
  expectType<Equals<typeof jwt, string>>()
  use(jwt)
  // @ts-expect-error numeric dates are numbers, not strings
  use(signJwt({ exp: '1700000000' }, key))
  // @ts-expect-error `sub` is a string
  use(signJwt({ sub: 42 }, key))
  // @ts-expect-error signing takes a key made by importKey or generateKey, not a bare secret
  use(signJwt({}, new Uint8Array(32)))
  // @ts-expect-error unknown signing option
  use(signJwt({}, key, { algorithm: 'HS256' }))

  const verify = createJwtVerifier({
    keys: keyring,
    issuer: 'https://auth.example.com',
    audience: ['orders', 'billing'],
    typ: 'at+jwt',
    algorithms: ['ES256', 'EdDSA'],
    requiredClaims: ['exp', 'sub'],
    clockToleranceSeconds: 30,
    maxTokenAgeSeconds: 3600,
    maxTokenBytes: 8192,
    now: () => 0,
  })
  const verified = verify(token)
  expectType<Equals<typeof verified.header, JwsHeader>>()
  expectType<Equals<typeof verified.claims, JwtClaims>>()
  expectType<Equals<typeof verified.key, JwsKey>>()
  expectType<Equals<typeof verified.claims.exp, number | undefined>>()
  use(verified)
  const result = verifyJwt(token, { keys: key, typ: false })
  // @ts-expect-error the result is read-only
  result.claims = {}
  // @ts-expect-error `none` cannot be allowed
  use(createJwtVerifier({ keys: key, algorithms: ['none'] }))
  // @ts-expect-error durations say they are seconds: `maxTokenAgeSeconds`
  use(createJwtVerifier({ keys: key, maxTokenAge: 60 }))
  // @ts-expect-error `keys` is required: there is never a default key
  use(createJwtVerifier({ issuer: 'https://auth.example.com' }))
  // @ts-expect-error a bare secret is not a key: import it first
  use(createJwtVerifier({ keys: new Uint8Array(32) }))
  // @ts-expect-error `typ` is a media type or false
  use(createJwtVerifier({ keys: key, typ: true }))

  const jws = verifyJws(token, key, { maxTokenBytes: 1024, algorithms: ['HS256'] })
  expectType<Equals<typeof jws.payload, Buffer>>()
  use(jws)
  // @ts-expect-error verifyJws checks only the signature: claim options belong to verifyJwt
  use(verifyJws(token, key, { issuer: 'x' }))
}

export async function encryption(key: JwsKey): Promise<void> {
  const jwk = generateEncryptionKey('ECDH-ES+A256KW')
  expectType<Equals<typeof jwk, Jwk>>()
  const jwe = await encryptJwt(signJwt({ sub: 'u' }, key), jwk, { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
  expectType<Equals<typeof jwe, string>>()
  expectType<Equals<Awaited<ReturnType<typeof decryptJwt>>, string>>()
  expectType<Equals<JweHeader['alg'], JweAlgorithm>>()
  expectType<Equals<Awaited<ReturnType<typeof decryptAndVerifyJwt>>, VerifiedJwt>>()
  // @ts-expect-error RSA1_5 is refused: not a JWE algorithm hallpass knows
  use(generateEncryptionKey('RSA1_5'))
  // @ts-expect-error PBES2 is refused too
  use(await encryptJwt(jwe, jwk, { alg: 'PBES2-HS256+A128KW' }))
  // @ts-expect-error a signing key is not an encryption key (RFC 8725 §3.3)
  use(await encryptJwt(jwe, key))
}

// Encrypted access tokens: synchronous both ways, the decrypter returns the signed JWT inside.
export function accessTokenEncryption(key: JwsKey): void {
  const encrypt = createJwtEncrypter(generateEncryptionKey('dir', 'A256GCM', { kid: 'k1' }))
  const jwe = encrypt(signJwt({ sub: 'u' }, key))
  expectType<Equals<typeof jwe, string>>()
  use(jwe)
  const decrypt = createJwtDecrypter({ keys: [generateEncryptionKey('ECDH-ES+A256KW')], issuerKey: new Uint8Array(32) })
  expectType<Equals<ReturnType<typeof decrypt>, string>>()
  use(decrypt)
  // @ts-expect-error a signing key is not an encryption key
  use(createJwtEncrypter(key))
  // @ts-expect-error the decrypter takes an options object
  use(createJwtDecrypter([generateEncryptionKey('dir')]))
}
