// hallpass/verify: createVerifier's options (by name, with the revocation policy as a closed
// set) and what verify() returns: the claims, read-only.
import type { JwkSet, JwtClaims, SessionStore } from 'hallpass'
import {
  createRemoteJwks,
  createVerifier,
  hasScopes,
  requireScopes,
  VERIFIER_DEFAULTS,
  type RevocationOptions,
  type RevocationPolicy,
  type RevocationStore,
  type Verifier,
  type VerifierEvent,
  type VerifierHealth,
  type VerifierOptions,
  watchDecryptionKeyFile,
  type DecryptionKeyFile,
} from 'hallpass/verify'
import type * as main from 'hallpass'
import { expectType, use, value, type Equals, type Expect, type HasKey } from './helpers.ts'

declare const token: string

export type Results = [
  Expect<Equals<ReturnType<typeof createVerifier>, Promise<Verifier>>>,
  Expect<Equals<ReturnType<Verifier['verify']>, Readonly<JwtClaims>>>,
  Expect<Equals<ReturnType<Verifier['verifyAsync']>, Promise<Readonly<JwtClaims>>>>,
  Expect<Equals<ReturnType<Verifier['health']>, VerifierHealth>>,
  Expect<Equals<ReturnType<Verifier['close']>, Promise<void>>>,
  Expect<Equals<RevocationPolicy, 'fail-open' | 'fail-closed'>>,
  Expect<Equals<VerifierOptions['onEvent'], ((event: VerifierEvent) => void) | undefined>>,
  Expect<Equals<VerifierHealth['feed']['policy'], RevocationPolicy | 'disabled'>>,
  Expect<Equals<VerifierOptions['revocation'], RevocationOptions | false | undefined>>,
  Expect<Equals<(typeof VERIFIER_DEFAULTS)['revocation']['policy'], 'fail-closed'>>,
  // The main entry does not carry the verifier (it would load the adapters).
  Expect<Equals<HasKey<typeof main, 'createVerifier'>, false>>,
  // Verifier events carry ids and reasons, never a token.
  Expect<Equals<Extract<VerifierEvent, { token: unknown }>, never>>,
]

export async function options(): Promise<void> {
  const verifier = await createVerifier({
    issuer: 'https://auth.example.com',
    audience: ['orders', 'billing'],
    algorithms: ['ES256', 'EdDSA'],
    typ: 'at+jwt',
    clockToleranceSeconds: 30,
    requiredScopes: 'orders:read',
    requiredClaims: ['exp', 'sub'],
    maxTokenBytes: 8192,
    jwksUri: 'https://auth.example.com/.well-known/jwks.json',
    jwksCache: value(),
    fetchTimeoutSeconds: 5,
    maxResponseBytes: 65536,
    revocation: {
      feedUrl: 'https://auth.example.com/revocations',
      client: { id: 'orders', secret: 's' },
      policy: 'fail-closed',
      failOpenForSeconds: 60,
      maxEntries: 1000,
      sweepIntervalSeconds: 60,
    },
    cache: { maxEntries: 1000 },
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
    random: Math.random,
    onEvent: (event) => use(event.type),
    logger: false,
  })
  use(await createVerifier({ issuer: 'https://auth.example.com', revocation: false, cache: false, typ: false }))
  // Encrypted access tokens: keys as a list, or a function of the current ones (a watched file).
  const keyFile = watchDecryptionKeyFile('/run/secrets/token-keys.json')
  use(await createVerifier({ issuer: 'https://auth.example.com', decryption: { keys: keyFile.keys, allowPlainTokens: true } }))
  expectType<Equals<ReturnType<DecryptionKeyFile['publicJwks']>, JwkSet>>()
  // @ts-expect-error decryption keys are required
  use(await createVerifier({ issuer: 'https://auth.example.com', decryption: { allowPlainTokens: true } }))
  // @ts-expect-error `issuer` is required
  use(await createVerifier({ audience: 'orders' }))
  // @ts-expect-error misspelled option names are errors
  use(await createVerifier({ issuer: 'https://auth.example.com', audiance: 'orders' }))
  // @ts-expect-error durations are seconds and say so
  use(await createVerifier({ issuer: 'https://auth.example.com', clockTolerance: 30 }))
  // @ts-expect-error `none` is never an algorithm
  use(await createVerifier({ issuer: 'https://auth.example.com', algorithms: ['none'] }))
  // @ts-expect-error the revocation policy is fail-open or fail-closed
  use(await createVerifier({ issuer: 'https://auth.example.com', revocation: { policy: 'fail-soft' } }))
  // @ts-expect-error revocation is an options object or false, never true
  use(await createVerifier({ issuer: 'https://auth.example.com', revocation: true }))
  // @ts-expect-error unknown revocation option
  use(await createVerifier({ issuer: 'https://auth.example.com', revocation: { failOpenFor: 60 } }))
  // @ts-expect-error feed credentials are { id, secret }
  use(await createVerifier({ issuer: 'https://auth.example.com', revocation: { client: { id: 'orders' } } }))
  // @ts-expect-error `typ` is a media type or false
  use(await createVerifier({ issuer: 'https://auth.example.com', typ: true }))

  const claims = verifier.verify(token)
  expectType<Equals<typeof claims, Readonly<JwtClaims>>>()
  expectType<Equals<typeof claims.sub, string | undefined>>()
  expectType<Equals<typeof claims.sid, string | undefined>>()
  expectType<Equals<typeof claims.exp, number | undefined>>()
  // @ts-expect-error verified claims are read-only
  claims.sub = 'someone-else'
  // @ts-expect-error the token is a string
  use(verifier.verify(Buffer.from(token)))
  expectType<Equals<Awaited<ReturnType<typeof verifier.verifyAsync>>, Readonly<JwtClaims>>>()
  expectType<Equals<ReturnType<typeof hasScopes>, boolean>>()
  requireScopes(claims, ['orders:read'])
  use(createRemoteJwks)
}

/** A revocation store is the read half of a SessionStore: any hallpass store fits. */
export function revocationStore(store: SessionStore): RevocationStore {
  return store
}
