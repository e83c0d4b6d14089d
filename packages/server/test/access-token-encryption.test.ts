// The server's access-token encryption keys while it runs: the shared key file re-read when it
// changes (a bad new file keeps the old keys and says so), and each audience's key set fetched
// from its service over a real socket, with hostile or broken key sets refused.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateEncryptionKey, type Jwk } from 'hallpass'
import { openEncryptionKeys, type EncryptionKeys } from '../src/access-token-encryption.ts'

type Reported = { error: unknown; message: string }

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for: ${what}`)
    await sleep(25)
  }
}

function publicHalf(key: Jwk): Jwk {
  const { d: _private, ...rest } = key as Jwk & { d?: string }
  return rest
}

describe('shared key file', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hallpass-enc-keys-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  const base = { model: 'shared' as const, audiences: {}, jwksRefreshSeconds: 300 }

  test('refused at start: not JSON, no keys, a key without kid, a 16-byte key, an EC key, duplicate kids', async () => {
    const cases: Array<[string, string]> = [
      ['not json', '{"keys": ['],
      ['no keys', '{"keys": []}'],
      ['no kid', JSON.stringify({ keys: [{ ...generateEncryptionKey('dir', 'A256GCM'), kid: undefined }] })],
      ['short', JSON.stringify({ keys: [generateEncryptionKey('dir', 'A128GCM', { kid: 'short' })] })],
      ['ec', JSON.stringify({ keys: [generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'ec' })] })],
      ['duplicate', JSON.stringify({ keys: [generateEncryptionKey('dir', 'A256GCM', { kid: 'same' }), generateEncryptionKey('dir', 'A256GCM', { kid: 'same' })] })],
    ]
    for (const [name, text] of cases) {
      const path = join(dir, `${name}.json`)
      await writeFile(path, text)
      await assert.rejects(openEncryptionKeys({ ...base, keysFile: path }, { report: () => undefined }), (error: Error & { code?: string }) => {
        assert.ok(error.code === 'ERR_CONFIG_INVALID' || error.code === 'ERR_KEY_INVALID', `${name}: ${error.code}`)
        // The key material never reaches the message.
        assert.ok(!error.message.includes('"k"'), name)
        return true
      }, name)
    }
  })

  test('a changed file is picked up; a broken one keeps the keys in use and is reported', async () => {
    const path = join(dir, 'rotating.json')
    const k1 = generateEncryptionKey('dir', 'A256GCM', { kid: 'k1' })
    const k2 = generateEncryptionKey('dir', 'A256GCM', { kid: 'k2' })
    await writeFile(path, JSON.stringify({ keys: [k1] }))
    const reported: Reported[] = []
    const keys = await openEncryptionKeys({ ...base, keysFile: path }, { report: (error, message) => reported.push({ error, message }) })
    try {
      const option = keys.option as { model: 'shared'; keys: () => readonly Jwk[] }
      assert.deepEqual(option.keys().map((k) => k.kid), ['k1'])
      await writeFile(path, JSON.stringify({ keys: [k2, k1] }))
      await until('the new file', () => option.keys()[0]?.kid === 'k2')
      assert.deepEqual(keys.describe(), { model: 'shared', kids: { encrypting: 'k2', accepted1: 'k1' } })
      await writeFile(path, '{"keys": "oops"}')
      await until('the broken file reported', () => reported.length === 1)
      assert.match(reported[0]!.message, /cannot be used: still encrypting with key "k2"/)
      assert.deepEqual(option.keys().map((k) => k.kid), ['k2', 'k1'])
    } finally {
      keys.close()
    }
  })
})

describe('per-audience key sets', () => {
  let server: Server
  let base: string
  const served = new Map<string, { status: number; body: string }>()
  let requests = 0
  const orders1 = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'orders-1' })
  const orders2 = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'orders-2', crv: 'X25519' })

  before(async () => {
    server = createServer((req, res) => {
      requests++
      const answer = served.get(req.url ?? '') ?? { status: 404, body: '' }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const serve = (path: string, body: unknown, status = 200): void => {
    served.set(path, { status, body: typeof body === 'string' ? body : JSON.stringify(body) })
  }
  const open = (audiences: Record<string, string>, reported: Reported[], refreshSeconds = 0.2): Promise<EncryptionKeys> =>
    openEncryptionKeys({ model: 'audience', keysFile: undefined, audiences, jwksRefreshSeconds: refreshSeconds }, { report: (error, message) => reported.push({ error, message }) })
  type KeyFor = (audience: string) => Jwk

  test('the first usable key of the set; signing keys, keys without kid and foreign algorithms are skipped', async () => {
    serve('/mixed', { keys: [
      { ...publicHalf(generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'sig' })), use: 'sig' },
      { ...publicHalf(orders1), kid: undefined },
      { ...publicHalf(orders2), alg: 'RSA-OAEP' },
      { kty: 'oct', k: 'AAAA', kid: 'oct' },
      publicHalf(orders1),
    ] })
    const reported: Reported[] = []
    const keys = await open({ orders: `${base}/mixed` }, reported)
    try {
      const keyFor = (keys.option as { keyFor: KeyFor }).keyFor
      assert.equal(keyFor('orders').kid, 'orders-1')
      assert.equal(keyFor('orders').d, undefined)
      assert.equal(reported.length, 0)
      assert.throws(() => keyFor('billing'), { code: 'ERR_SESSION_INPUT_INVALID' })
      assert.throws(() => keyFor('__proto__'), { code: 'ERR_SESSION_INPUT_INVALID' })
    } finally {
      keys.close()
    }
  })

  test('a published private key, an empty set, a 500, a huge body, not JSON: no key, 503, and reported', async () => {
    serve('/private', { keys: [orders1] })
    serve('/empty', { keys: [] })
    serve('/error', 'nope', 500)
    serve('/huge', { keys: [publicHalf(orders1)], pad: 'x'.repeat(100_000) })
    serve('/text', 'not json')
    const audiences = { a: `${base}/private`, b: `${base}/empty`, c: `${base}/error`, d: `${base}/huge`, e: `${base}/text` }
    const reported: Reported[] = []
    const keys = await open(audiences, reported, 300)
    try {
      const keyFor = (keys.option as { keyFor: KeyFor }).keyFor
      for (const audience of Object.keys(audiences)) assert.throws(() => keyFor(audience), { code: 'ERR_JWKS_UNAVAILABLE' }, audience)
      assert.equal(reported.length, 5)
      assert.match((reported.find((r) => r.message.includes('"a"'))!.error as Error).message, /private key/)
      for (const { message } of reported) assert.match(message, /no key yet: logins for it answer 503/)
    } finally {
      keys.close()
    }
  })

  test('a service down at start is fetched as soon as a login asks; rotation is followed; an outage keeps the last key', async () => {
    const reported: Reported[] = []
    const keys = await open({ orders: `${base}/later` }, reported, 0.2)
    try {
      const keyFor = (keys.option as { keyFor: KeyFor }).keyFor
      assert.throws(() => keyFor('orders'), { code: 'ERR_JWKS_UNAVAILABLE' })
      serve('/later', { keys: [publicHalf(orders1)] })
      const before = requests
      assert.throws(() => keyFor('orders'), { code: 'ERR_JWKS_UNAVAILABLE' })
      await until('the fetch a login started', () => requests > before)
      await until('the key', () => { try { return keyFor('orders').kid === 'orders-1' } catch { return false } })
      const first = keyFor('orders')
      await sleep(500)
      // Unchanged set: the same key object (its encrypter stays cached).
      assert.equal(keyFor('orders'), first)
      serve('/later', { keys: [publicHalf(orders2), publicHalf(orders1)] })
      await until('the rotated key', () => keyFor('orders').kid === 'orders-2')
      serve('/later', 'down', 503)
      const reportedBefore = reported.length
      await until('the outage reported', () => reported.length > reportedBefore)
      assert.match(reported.at(-1)!.message, /still encrypting to "orders-2"/)
      assert.equal(keyFor('orders').kid, 'orders-2')
    } finally {
      keys.close()
    }
  })
})
