// The `hallpass` binary end to end, as a child process (`node --import tsx src/cli/main.ts`):
// exit statuses, stdout/stderr, stdin, and dispatch. Each spawn costs ~300 ms, so keys are
// made once in `before` and the tests run concurrently; the alg-by-alg matrix and the finer
// hostile-input cases run in-process in commands.test.ts.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const MAIN = join(REPO_ROOT, 'packages/hallpass/src/cli/main.ts')

interface Run {
  code: number
  stdout: string
  stderr: string
}

// At most this many CLI processes at once: the tests are concurrent, but dozens of node
// processes starting together on a 2-core CI runner only slow each other down.
const MAX_RUNNING = 4
let running = 0
const waiting: Array<() => void> = []

async function hallpass(args: readonly string[], stdin = ''): Promise<Run> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await spawnCli(args, stdin)
  } finally {
    running--
    waiting.shift()?.()
  }
}

// cwd is the repo root so that `--import tsx` resolves; every file argument is absolute.
function spawnCli(args: readonly string[], stdin: string): Promise<Run> {
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  delete env.HALLPASS_DEBUG
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: REPO_ROOT, env, encoding: 'utf8', maxBuffer: 4 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr })
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr })
        else reject(new Error(`hallpass did not exit normally (${String(error.signal ?? error.code)}): ${stderr}`, { cause: error }))
      },
    )
    // The CLI stops reading stdin past its limit; the rest of a huge input then hits EPIPE.
    child.stdin!.on('error', () => {})
    child.stdin!.end(stdin)
  })
}

function assertOk(run: Run): void {
  assert.equal(run.code, 0, `expected exit 0, got ${run.code}: ${run.stderr}`)
}

let dir: string
const file = (name: string) => join(dir, name)
const nowSeconds = () => Math.floor(Date.now() / 1000)

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hallpass-cli-'))
  const [hs, es, ed, rs] = await Promise.all([
    hallpass(['keys', 'generate', '--alg', 'HS256']),
    hallpass(['keys', 'generate', '--alg', 'ES256', '--kid', 'es-1', '--out', join(dir, 'es.jwk'), '--public']),
    hallpass(['keys', 'generate', '--alg', 'EdDSA']),
    hallpass(['keys', 'generate', '--alg', 'RS256', '--format', 'pem']),
  ])
  for (const run of [hs, es, ed, rs]) assertOk(run)
  await Promise.all([
    writeFile(file('hs.jwk'), hs.stdout),
    writeFile(file('es.jwks.json'), es.stdout),
    writeFile(file('ed.jwk'), ed.stdout),
    writeFile(file('rs.pem'), rs.stdout),
  ])
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('hallpass CLI (child process)', { concurrency: true }, () => {
  test('keys generate prints a private JWK, or a PEM, or writes --out 0600 and prints the public JWKS', async () => {
    const hs = JSON.parse(await readFile(file('hs.jwk'), 'utf8'))
    assert.equal(hs.kty, 'oct')
    assert.equal(hs.alg, 'HS256')
    assert.equal(Buffer.from(hs.k, 'base64url').length, 32)
    const ed = JSON.parse(await readFile(file('ed.jwk'), 'utf8'))
    assert.deepEqual([ed.kty, ed.crv, ed.alg, typeof ed.d], ['OKP', 'Ed25519', 'EdDSA', 'string'])
    assert.match(await readFile(file('rs.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/)

    const jwks = JSON.parse(await readFile(file('es.jwks.json'), 'utf8'))
    assert.equal(jwks.keys.length, 1)
    assert.deepEqual([jwks.keys[0].kid, jwks.keys[0].alg, jwks.keys[0].crv], ['es-1', 'ES256', 'P-256'])
    assert.equal(jwks.keys[0].d, undefined, 'the public JWKS carries no private member')
    const written = JSON.parse(await readFile(file('es.jwk'), 'utf8'))
    assert.equal(typeof written.d, 'string')
    assert.equal(written.x, jwks.keys[0].x)
    assert.equal((await stat(file('es.jwk'))).mode & 0o777, 0o600)
  })

  test('HS256: sign with iss/aud/sub/claims, verify with --key and the same expectations', async () => {
    const startedAt = nowSeconds()
    const signed = await hallpass([
      'token', 'sign', '--key', file('hs.jwk'), '--iss', 'https://auth.example', '--aud', 'orders', '--sub', 'user-1',
      '--claims', '{"scope":"read write"}', '--exp', '5m',
    ])
    assertOk(signed)
    const token = signed.stdout.trim()
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    const verified = await hallpass(['token', 'verify', '--key', file('hs.jwk'), '--iss', 'https://auth.example', '--aud', 'orders', token])
    assertOk(verified)
    const { header, claims } = JSON.parse(verified.stdout)
    assert.deepEqual([header.alg, header.typ], ['HS256', 'at+jwt'])
    assert.deepEqual([claims.iss, claims.aud, claims.sub, claims.scope], ['https://auth.example', 'orders', 'user-1', 'read write'])
    assert.equal(claims.exp - claims.iat, 300)
    assert.ok(claims.iat >= startedAt && claims.iat <= nowSeconds(), 'iat is the time of signing')
    assert.match(claims.jti, /^[\w-]{22}$/)
  })

  test('ES256: verify with the --public JWKS, token on stdin via "-"', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('es.jwk'), '--sub', 'user-2'])
    assertOk(signed)
    const verified = await hallpass(['token', 'verify', '--jwks', file('es.jwks.json'), '-'], signed.stdout)
    assertOk(verified)
    const { header, claims } = JSON.parse(verified.stdout)
    assert.deepEqual([header.alg, header.kid], ['ES256', 'es-1'])
    assert.equal(claims.sub, 'user-2')
    assert.equal(claims.exp - claims.iat, 600, 'the default lifetime is 10 minutes')
  })

  test('EdDSA: verify with the private JWK, token on stdin without an argument', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('ed.jwk'), '--typ', 'JWT', '--exp', 'none'])
    assertOk(signed)
    // --exp none: no exp, so the default verifier (which requires exp) must refuse it...
    const refused = await hallpass(['token', 'verify', '--key', file('ed.jwk'), '--any-typ'], signed.stdout)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^ERR_JWT_CLAIM_INVALID: "exp" is missing \(claim: exp, reason: missing\)$/m)
  })

  test('EdDSA: a JWT typ fails the default at+jwt check and passes with --typ JWT', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('ed.jwk'), '--typ', 'JWT'])
    assertOk(signed)
    const [strict, relaxed] = await Promise.all([
      hallpass(['token', 'verify', '--key', file('ed.jwk')], signed.stdout),
      hallpass(['token', 'verify', '--key', file('ed.jwk'), '--typ', 'JWT'], signed.stdout),
    ])
    assert.equal(strict.code, 1)
    assert.match(strict.stderr, /^ERR_JWT_CLAIM_INVALID: .*claim: typ/m)
    assertOk(relaxed)
    assert.equal(JSON.parse(relaxed.stdout).header.alg, 'EdDSA')
  })

  test('RS256: a PEM key signs and verifies with --alg', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('rs.pem'), '--alg', 'RS256', '--kid', 'rsa-1'])
    assertOk(signed)
    const verified = await hallpass(['token', 'verify', '--key', file('rs.pem'), '--alg', 'RS256', signed.stdout.trim()])
    assertOk(verified)
    assert.equal(JSON.parse(verified.stdout).header.kid, 'rsa-1')
  })

  test('an expired token: exit 1, ERR_JWT_EXPIRED on stderr, nothing on stdout, no token echoed', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('hs.jwk'), '--claims', JSON.stringify({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 })])
    assertOk(signed)
    const token = signed.stdout.trim()
    const run = await hallpass(['token', 'verify', '--key', file('hs.jwk'), token])
    assert.equal(run.code, 1)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /^ERR_JWT_EXPIRED: token has expired \(claim: exp\)\n$/)
    for (const segment of token.split('.')) assert.ok(!run.stderr.includes(segment))
  })

  test('wrong issuer and wrong audience: exit 1 with the claim named', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('es.jwk'), '--iss', 'https://auth.example', '--aud', 'orders', '--aud', 'billing'])
    assertOk(signed)
    const token = signed.stdout.trim()
    const [iss, aud, ok] = await Promise.all([
      hallpass(['token', 'verify', '--jwks', file('es.jwks.json'), '--iss', 'https://evil.example', token]),
      hallpass(['token', 'verify', '--jwks', file('es.jwks.json'), '--aud', 'payroll', token]),
      hallpass(['token', 'verify', '--jwks', file('es.jwks.json'), '--iss', 'https://auth.example', '--aud', 'billing', token]),
    ])
    assert.equal(iss.code, 1)
    assert.match(iss.stderr, /^ERR_JWT_CLAIM_INVALID: .*\(claim: iss, reason: value\)$/m)
    assert.equal(aud.code, 1)
    assert.match(aud.stderr, /^ERR_JWT_CLAIM_INVALID: .*\(claim: aud, reason: value\)$/m)
    assertOk(ok)
    assert.deepEqual(JSON.parse(ok.stdout).claims.aud, ['orders', 'billing'])
  })

  test('a tampered token: exit 1, ERR_JWS_SIGNATURE_INVALID', async () => {
    const signed = await hallpass(['token', 'sign', '--key', file('hs.jwk'), '--sub', 'user-1'])
    assertOk(signed)
    const [header, payload, signature] = signed.stdout.trim().split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    const forged = `${header}.${base64urlJson({ ...claims, sub: 'admin' })}.${signature}`
    const run = await hallpass(['token', 'verify', '--key', file('hs.jwk'), forged])
    assert.equal(run.code, 1)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /^ERR_JWS_SIGNATURE_INVALID: /)
  })

  test('decode: header, payload, ISO dates with relative times, and UNVERIFIED on stderr', async () => {
    // Decode verifies nothing, so the token is made here. The times sit mid-unit (3 h 30 min
    // ago, 9 days 12 h ahead) so the wording holds however slow a loaded runner is; the exact
    // minute-level wording is tested in-process with an injected clock.
    const now = nowSeconds()
    const claims = { sub: 'user-9', iat: now - 3 * 3600 - 1800, nbf: now - 3 * 3600 - 1800, exp: now + 9 * 86_400 + 43_200 }
    const token = `${base64urlJson({ alg: 'EdDSA', typ: 'at+jwt' })}.${base64urlJson(claims)}.${Buffer.alloc(64, 7).toString('base64url')}`
    const run = await hallpass(['token', 'decode', token])
    assertOk(run)
    assert.match(run.stderr, /^UNVERIFIED: /)
    assert.match(run.stdout, /"alg": "EdDSA"/)
    assert.match(run.stdout, /"sub": "user-9"/)
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString()
    assert.match(run.stdout, new RegExp(`^  iat  ${iso(claims.iat)}  3 hours ago$`, 'm'))
    assert.match(run.stdout, new RegExp(`^  nbf  ${iso(claims.nbf)}  3 hours ago$`, 'm'))
    assert.match(run.stdout, new RegExp(`^  exp  ${iso(claims.exp)}  in 9 days$`, 'm'))
    assert.match(run.stdout, /^Signature: 64 bytes, NOT VERIFIED$/m)
  })

  test('decode --json from stdin: machine-readable, verified: false, expired marked', async () => {
    const header = base64urlJson({ alg: 'none' })
    const exp = nowSeconds() - 2 * 86_400 - 60
    const run = await hallpass(['token', 'decode', '--json'], `${header}.${base64urlJson({ exp })}.\n`)
    assertOk(run)
    assert.match(run.stderr, /UNVERIFIED/)
    const out = JSON.parse(run.stdout)
    assert.equal(out.verified, false)
    assert.deepEqual(out.header, { alg: 'none' })
    assert.deepEqual(out.times.exp, { date: new Date(exp * 1000).toISOString(), relative: '2 days ago (expired)' })
    assert.equal(out.signatureBytes, 0)
  })

  test('decode: a malformed token is ERR_JWT_MALFORMED, exit 1, and no UNVERIFIED output', async () => {
    const run = await hallpass(['token', 'decode', 'not-a-token'])
    assert.equal(run.code, 1)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /^ERR_JWT_MALFORMED: /)
  })

  test('decode and verify: a 2 MB token on stdin is ERR_JWT_TOO_LARGE, exit 1', async () => {
    const huge = `${base64urlJson({ alg: 'HS256' })}.${'A'.repeat(2 * 1024 * 1024)}.sig`
    const [decode, verify] = await Promise.all([
      hallpass(['token', 'decode'], huge),
      hallpass(['token', 'verify', '--key', file('hs.jwk')], huge),
    ])
    for (const run of [decode, verify]) {
      assert.equal(run.code, 1)
      assert.match(run.stderr, /^ERR_JWT_TOO_LARGE: /)
      assert.ok(run.stderr.length < 200)
    }
  })

  const hostileSign: ReadonlyArray<[string, string[], RegExp]> = [
    ['non-JSON claims', ['--claims', '{"sub": user}'], /--claims is not valid JSON/],
    ['claims that are an array', ['--claims', '[{"sub":"a"}]'], /--claims is not a JSON object/],
    ['a negative --exp', ['--exp=-5m'], /"--exp" must be a whole number/],
    ['an overflowing --exp', ['--exp', '1e999s'], /"--exp" must be a whole number/],
    ['an unknown --exp unit', ['--exp', '10x'], /"--exp" must be a whole number/],
  ]
  for (const [what, args, message] of hostileSign) {
    test(`token sign refuses ${what}: exit 2, usage on stderr, no token`, async () => {
      const run = await hallpass(['token', 'sign', '--key', file('hs.jwk'), ...args])
      assert.equal(run.code, 2)
      assert.equal(run.stdout, '')
      assert.match(run.stderr, message)
      assert.match(run.stderr, /^Usage: hallpass token sign /m)
    })
  }

  test('keys generate --public for an HMAC secret: exit 2', async () => {
    const run = await hallpass(['keys', 'generate', '--alg', 'HS256', '--public'])
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '', 'no secret is printed')
    assert.match(run.stderr, /never published/)
  })

  test('--help on the top level, on a group and on every command: exit 0, usage on stdout', async () => {
    const runs = await Promise.all([
      hallpass(['--help']),
      hallpass(['token', '--help']),
      hallpass(['keys', 'generate', '--help']),
      hallpass(['token', 'sign', '--help']),
      hallpass(['token', 'verify', '-h']),
      hallpass(['help', 'token', 'decode']),
    ])
    for (const run of runs) {
      assertOk(run)
      assert.equal(run.stderr, '')
    }
    const [top, group, generate, sign, verify, decode] = runs.map((r) => r.stdout)
    for (const name of ['keys generate', 'token sign', 'token verify', 'token decode']) assert.ok(top!.includes(name), name)
    assert.match(group!, /token sign[\s\S]*token verify[\s\S]*token decode/)
    assert.match(generate!, /^Usage: hallpass keys generate --alg ALG/m)
    assert.match(generate!, /--public/)
    assert.match(sign!, /^Usage: hallpass token sign --key FILE/m)
    assert.match(sign!, /--claims JSON/)
    assert.match(verify!, /^Usage: hallpass token verify \(--jwks FILE \| --key FILE\)/m)
    assert.match(verify!, /--clock-tolerance DURATION/)
    assert.match(decode!, /^Usage: hallpass token decode/m)
    assert.match(decode!, /WITHOUT verifying/)
  })

  test('an unknown command, verb or option: exit 2, usage on stderr, input not echoed in full', async () => {
    const pasted = `eyJ${'x'.repeat(200)}`
    const [command, verb, option, none] = await Promise.all([
      hallpass([pasted]),
      hallpass(['token', 'frobnicate']),
      hallpass(['token', 'verify', '--key', file('hs.jwk'), '--issuer', 'x', 'tok']),
      hallpass([]),
    ])
    for (const run of [command, verb, option, none]) {
      assert.equal(run.code, 2)
      assert.equal(run.stdout, '')
      assert.match(run.stderr, /Usage: hallpass/)
    }
    assert.match(command.stderr, /^hallpass: unknown command "eyJx+…"$/m)
    assert.ok(!command.stderr.includes(pasted))
    assert.match(verb.stderr, /^hallpass: unknown command "token frobnicate"$/m)
    assert.match(option.stderr, /^hallpass: unknown option --issuer$/m)
    assert.match(none.stderr, /no command given/)
  })
})
