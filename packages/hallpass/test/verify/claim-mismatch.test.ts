// A verifier set up for another audience (or issuer) than the server's tokens carry refuses
// every token with the same 401; it must also tell the operator why, once, then at most once a
// minute per claim, with the values kept printable and short.
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { createVerifier, type VerifierEvent } from 'hallpass/verify'
import { JwtClaimInvalid } from '../../src/errors.ts'
import { createClaimMismatchExplainer } from '../../src/verify/internal/claim-mismatch.ts'
import { createManualClock } from './helpers/clock.ts'
import { accessClaims, startIssuer, type TestIssuer } from './helpers/issuer.ts'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!()
})

interface Logged {
  level: string
  details: Record<string, unknown>
  message: string
}

async function setup(audience: string | undefined): Promise<{ issuer: TestIssuer; clock: ReturnType<typeof createManualClock>; logged: Logged[]; events: VerifierEvent[]; verify: (token: string) => unknown }> {
  const issuer = await startIssuer()
  cleanup.push(() => issuer.close())
  const clock = createManualClock(Date.now())
  const logged: Logged[] = []
  const events: VerifierEvent[] = []
  const record = (level: string) => (details: Record<string, unknown>, message: string): void => void logged.push({ level, details, message })
  const verifier = await createVerifier({
    issuer: issuer.url,
    ...(audience !== undefined ? { audience } : {}),
    revocation: false,
    now: clock.now,
    timers: clock.timers,
    logger: { info: record('info'), warn: record('warn'), error: record('error') },
    onEvent: (event) => events.push(event),
  })
  cleanup.push(() => verifier.close())
  return { issuer, clock, logged, events, verify: (token) => verifier.verify(token) }
}

describe('a verifier whose audience or issuer the tokens do not carry', () => {
  it('logs what the tokens carry and what it expects, on the first refusal, then once a minute', async () => {
    const { issuer, clock, logged, events, verify } = await setup('orders')
    const mismatches = (): Logged[] => logged.filter((line) => line.details.event === 'token.claim_mismatch')
    const token = issuer.sign(accessClaims(issuer.url, clock.now(), { aud: 'billing' }))
    for (let i = 0; i < 20; i++) assert.throws(() => verify(token), { code: 'ERR_JWT_CLAIM_INVALID' })
    assert.equal(mismatches().length, 1)
    const [line] = mismatches()
    assert.equal(line!.level, 'warn')
    assert.deepEqual(line!.details, { event: 'token.claim_mismatch', claim: 'aud', expected: ['orders'], got: ['billing'] })
    assert.match(line!.message, /their aud is "billing", this verifier expects one of "orders"/)
    assert.deepEqual(events.filter((e) => e.type === 'token.claim_mismatch').length, 1)

    clock.advance(59_000)
    assert.throws(() => verify(token))
    assert.equal(mismatches().length, 1)
    clock.advance(1_000)
    assert.throws(() => verify(token))
    assert.equal(mismatches().length, 2)
  })

  it('a token with no aud at all, and hostile values: printable, short, at most five', async () => {
    const { issuer, clock, logged, verify } = await setup('orders')
    const claims = accessClaims(issuer.url, clock.now())
    delete claims.aud
    assert.throws(() => verify(issuer.sign(claims)), { code: 'ERR_JWT_CLAIM_INVALID' })
    const first = logged.find((line) => line.details.event === 'token.claim_mismatch')!
    assert.deepEqual(first.details.got, [])
    assert.match(first.message, /their aud is none/)

    clock.advance(60_000)
    const hostile = ['\u001b[31mred', `x${'y'.repeat(500)}`, 'é\u202e', 'a', 'b', 'c', 'd']
    assert.throws(() => verify(issuer.sign(accessClaims(issuer.url, clock.now(), { aud: hostile }))))
    const second = logged.filter((line) => line.details.event === 'token.claim_mismatch')[1]!
    const got = second.details.got as string[]
    assert.equal(got.length, 5)
    for (const value of got) assert.match(value, /^[\x20-\x7e]{0,100}$/)
    assert.match(second.message, /^[\x20-\x7e]+$/)
  })

  it('other refusals (a bad signature, an expired token) are not explained as a mismatch', async () => {
    const { issuer, clock, logged, verify } = await setup(undefined)
    assert.throws(() => verify(issuer.sign(accessClaims(issuer.url, clock.now() - 3_600_000))), { code: 'ERR_JWT_EXPIRED' })
    const [h, p] = issuer.sign(accessClaims(issuer.url, clock.now())).split('.')
    assert.throws(() => verify(`${h}.${p}.${'A'.repeat(86)}`))
    assert.equal(logged.filter((line) => line.details.event === 'token.claim_mismatch').length, 0)
  })
})

describe('claim mismatch explainer', () => {
  it('an encrypted token that no longer opens (its keys changed meanwhile) explains nothing, and never throws', () => {
    const explain = createClaimMismatchExplainer({ iss: ['https://auth.example.com'], aud: ['orders'] }, () => 0)
    const event = explain(new JwtClaimInvalid('aud', 'value'), () => {
      throw new Error('the keys changed')
    })
    assert.deepEqual(event, { type: 'token.claim_mismatch', claim: 'aud', expected: ['orders'], got: [] })
  })
})
