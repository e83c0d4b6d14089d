// The CLI commands in-process, through `runCommand` with captured output and an injected
// clock and stdin: the full 13-algorithm matrix, PEM and JWKS paths, and the hostile inputs
// that would cost too many process spawns in cli.test.ts.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseCommandArgs, UsageError } from '../../src/cli/args.ts'
import { reportError, runCommand, type CliCommand, type CommandContext } from '../../src/cli/command.ts'
import { keysGenerateCommand } from '../../src/cli/commands/keys-generate.ts'
import { describeRelativeTime, tokenDecodeCommand } from '../../src/cli/commands/token-decode.ts'
import { tokenSignCommand } from '../../src/cli/commands/token-sign.ts'
import { tokenVerifyCommand } from '../../src/cli/commands/token-verify.ts'
import { readStreamLimited } from '../../src/cli/io.ts'
import { formatJson, sanitizeForTerminal } from '../../src/cli/output.ts'
import { createJwtDecrypter, createJwtEncrypter, encryptJwt, generateEncryptionKey, generateKey, JWS_ALGORITHMS, signJwt, type JwsAlgorithm } from '../../src/index.ts'

const NOW_MS = Date.UTC(2030, 0, 15, 12, 0, 0)
const NOW = NOW_MS / 1000

interface Result {
  code: number
  stdout: string
  stderr: string
}

async function cli(command: CliCommand, argv: string[], options: { stdin?: string | Buffer; tty?: boolean; now?: number } = {}): Promise<Result> {
  const out = { stdout: '', stderr: '' }
  const context: CommandContext = {
    stdout: (text) => void (out.stdout += text),
    stderr: (text) => void (out.stderr += text),
    readStdin: (maxBytes) => readStreamLimited([Buffer.from(options.stdin ?? '')], maxBytes),
    stdinIsTty: options.tty ?? false,
    now: () => options.now ?? NOW_MS,
    env: {},
  }
  const code = await runCommand(command, argv, context)
  return { code, ...out }
}

function ok(result: Result): Result {
  assert.equal(result.code, 0, `expected exit 0, got ${result.code}: ${result.stderr}`)
  return result
}

function codeOf(result: Result): string | undefined {
  return /^(ERR_[A-Z_]+):/m.exec(result.stderr)?.[1]
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
// Raw control or formatting characters that must never reach a terminal.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_OUTPUT = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

let dir: string
const file = (name: string) => join(dir, name)

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hallpass-cli-unit-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('every algorithm: keys generate → token sign → token verify', () => {
  for (const alg of JWS_ALGORITHMS) {
    test(alg, async () => {
      const isHmac = alg.startsWith('HS')
      const jwkPath = file(`${alg}.jwk`)
      const generated = ok(await cli(keysGenerateCommand, ['--alg', alg, '--kid', `kid-${alg}`, '--out', jwkPath, ...(isHmac ? [] : ['--public'])]))
      const claims = { sub: 'user-1', scope: 'read' }
      const token = ok(await cli(tokenSignCommand, ['--key', jwkPath, '--claims', JSON.stringify(claims), '--aud', 'api'])).stdout.trim()

      const viaKey = JSON.parse(ok(await cli(tokenVerifyCommand, ['--key', jwkPath, '--aud', 'api', token])).stdout)
      assert.deepEqual(viaKey.header, { alg, kid: `kid-${alg}`, typ: 'at+jwt' })
      assert.equal(viaKey.claims.sub, 'user-1')
      assert.equal(viaKey.claims.iat, NOW)
      assert.equal(viaKey.claims.exp, NOW + 600)
      if (isHmac) return

      await writeFile(file(`${alg}.jwks.json`), generated.stdout)
      const viaJwks = JSON.parse(ok(await cli(tokenVerifyCommand, ['--jwks', file(`${alg}.jwks.json`), '--aud', 'api', token])).stdout)
      assert.deepEqual(viaJwks.claims, viaKey.claims)

      // PEM: PKCS#8 private key signs, SPKI public key verifies; PEM names no alg, so --alg.
      const pemPath = file(`${alg}.pem`)
      const publicPem = ok(await cli(keysGenerateCommand, ['--alg', alg, '--format', 'pem', '--out', pemPath, '--public'])).stdout
      assert.match(await readFile(pemPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
      assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----/)
      await writeFile(file(`${alg}.pub.pem`), publicPem)
      const pemToken = ok(await cli(tokenSignCommand, ['--key', pemPath, '--alg', alg])).stdout.trim()
      ok(await cli(tokenVerifyCommand, ['--key', file(`${alg}.pub.pem`), '--alg', alg, pemToken]))
      // The other key of the same alg must not verify it.
      const wrong = await cli(tokenVerifyCommand, ['--key', jwkPath, pemToken])
      assert.equal(wrong.code, 1)
      assert.equal(codeOf(wrong), 'ERR_JWS_SIGNATURE_INVALID')
    })
  }

  test('EdDSA on Ed448 with --crv', async () => {
    const path = file('ed448.jwk')
    ok(await cli(keysGenerateCommand, ['--alg', 'EdDSA', '--crv', 'Ed448', '--out', path]))
    assert.equal(JSON.parse(await readFile(path, 'utf8')).crv, 'Ed448')
    const token = ok(await cli(tokenSignCommand, ['--key', path])).stdout.trim()
    ok(await cli(tokenVerifyCommand, ['--key', path, token]))
  })
})

describe('keys generate', () => {
  test('prints a private JWK by default, with alg, kid (thumbprint) and use', async () => {
    const jwk = JSON.parse(ok(await cli(keysGenerateCommand, ['--alg', 'ES384'])).stdout)
    assert.deepEqual([jwk.kty, jwk.crv, jwk.alg, jwk.use], ['EC', 'P-384', 'ES384', 'sig'])
    assert.match(jwk.kid, /^[\w-]{43}$/)
    assert.equal(typeof jwk.d, 'string')
  })

  test('--out writes 0600, refuses to overwrite, and without --public prints nothing on stdout', async () => {
    const path = file('once.jwk')
    const first = ok(await cli(keysGenerateCommand, ['--alg', 'HS512', '--out', path]))
    assert.equal(first.stdout, '')
    assert.match(first.stderr, /wrote the private HS512 key/)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const before = await readFile(path, 'utf8')
    const second = await cli(keysGenerateCommand, ['--alg', 'HS512', '--out', path])
    assert.equal(second.code, 1)
    assert.match(second.stderr, /already exists/)
    assert.equal(await readFile(path, 'utf8'), before)
  })

  test('--public without --out warns that the private key is gone', async () => {
    const result = ok(await cli(keysGenerateCommand, ['--alg', 'ES256', '--public']))
    assert.equal(JSON.parse(result.stdout).keys[0].d, undefined)
    assert.match(result.stderr, /not saved/)
  })

  const usage: ReadonlyArray<[string, string[], RegExp]> = [
    ['no --alg', [], /--alg is required/],
    ['alg none', ['--alg', 'none'], /--alg must be one of/],
    ['a lower-case alg', ['--alg', 'es256'], /--alg must be one of/],
    ['--public for HMAC', ['--alg', 'HS384', '--public'], /never published/],
    ['PEM for HMAC', ['--alg', 'HS256', '--format', 'pem'], /no PEM form/],
    ['an unknown format', ['--alg', 'ES256', '--format', 'der'], /--format must be jwk or pem/],
    ['--kid with PEM', ['--alg', 'ES256', '--format', 'pem', '--kid', 'k'], /cannot carry a kid/],
    ['--crv for ECDSA', ['--alg', 'ES256', '--crv', 'Ed448'], /only applies to EdDSA/],
    ['an unknown curve', ['--alg', 'EdDSA', '--crv', 'X25519'], /Ed25519 or Ed448/],
    ['a positional argument', ['--alg', 'ES256', 'extra'], /no positional/],
    ['a repeated option', ['--alg', 'ES256', '--alg', 'HS256'], /--alg was given more than once/],
    ['a value for a flag', ['--alg', 'ES256', '--public=yes'], /--public does not take a value/],
    ['--public for a dir key', ['--alg', 'dir', '--public'], /never published/],
    ['--crv for a dir key', ['--alg', 'dir', '--crv', 'P-256'], /only applies to ECDH-ES/],
    ['an unknown ECDH curve', ['--alg', 'ECDH-ES+A256KW', '--crv', 'secp256k1'], /P-256, P-384, P-521 or X25519/],
    ['PEM for an encryption key', ['--alg', 'ECDH-ES+A256KW', '--format', 'pem'], /only as JWK Sets/],
  ]
  for (const [what, argv, message] of usage) {
    test(`usage error: ${what}`, async () => {
      const result = await cli(keysGenerateCommand, argv)
      assert.equal(result.code, 2)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, message)
    })
  }

  test('access-token encryption keys: a JWK Set the server and the services read as it is', async () => {
    const dir = JSON.parse(ok(await cli(keysGenerateCommand, ['--alg', 'dir'])).stdout)
    assert.equal(dir.keys.length, 1)
    assert.deepEqual([dir.keys[0].kty, dir.keys[0].alg, dir.keys[0].use], ['oct', 'A256GCM', 'enc'])
    assert.equal(Buffer.from(dir.keys[0].k, 'base64url').length, 32)
    assert.match(dir.keys[0].kid, /^dir-[\w-]{8}$/)
    const path = file('orders-keys.json')
    const ecdh = ok(await cli(keysGenerateCommand, ['--alg', 'ECDH-ES+A256KW', '--crv', 'X25519', '--kid', 'orders-1', '--out', path, '--public']))
    const published = JSON.parse(ecdh.stdout).keys
    assert.deepEqual(published.map((k: Record<string, unknown>) => [k.kty, k.crv, k.alg, k.kid, k.d]), [['OKP', 'X25519', 'ECDH-ES+A256KW', 'orders-1', undefined]])
    const saved = JSON.parse(await readFile(path, 'utf8')).keys[0]
    assert.equal(typeof saved.d, 'string')
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    // What it made opens what is encrypted to its published half.
    const jws = signJwt({ sub: 'u', iat: NOW, exp: NOW + 60 }, generateKey('ES256'))
    assert.equal(createJwtDecrypter({ keys: [saved] })(createJwtEncrypter(published[0])(jws)), jws)
  })

  test('an unprintable --kid is refused by the engine (ERR_KEY_INVALID)', async () => {
    const result = await cli(keysGenerateCommand, ['--alg', 'ES256', '--kid', 'a\u001b[2Jb'])
    assert.equal(result.code, 1)
    assert.equal(codeOf(result), 'ERR_KEY_INVALID')
    assert.doesNotMatch(result.stderr, UNSAFE_OUTPUT)
  })
})

describe('token sign', () => {
  let hs: string
  let es: string
  let esPublic: string
  let rsaPublicPem: string
  before(async () => {
    hs = file('sign-hs.jwk')
    es = file('sign-es.jwk')
    ok(await cli(keysGenerateCommand, ['--alg', 'HS256', '--out', hs]))
    const jwks = ok(await cli(keysGenerateCommand, ['--alg', 'ES256', '--out', es, '--public'])).stdout
    esPublic = file('sign-es.pub.jwk')
    await writeFile(esPublic, JSON.stringify(JSON.parse(jwks).keys[0]))
    rsaPublicPem = file('rsa.pub.pem')
    await writeFile(rsaPublicPem, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }))
  })

  const decodePayload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
  const decodeHeader = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())

  test('defaults: iat now, exp now + 10m, random jti, typ at+jwt', async () => {
    const [a, b] = await Promise.all([cli(tokenSignCommand, ['--key', hs]), cli(tokenSignCommand, ['--key', hs])])
    const claims = decodePayload(ok(a).stdout.trim())
    assert.deepEqual([claims.iat, claims.exp], [NOW, NOW + 600])
    assert.match(claims.jti, /^[\w-]{22}$/)
    assert.notEqual(claims.jti, decodePayload(ok(b).stdout.trim()).jti)
    assert.equal(decodeHeader(a.stdout).typ, 'at+jwt')
  })

  test('--claims values are kept: iat, exp and jti are not overwritten', async () => {
    const claims = { iat: NOW - 100, exp: NOW + 50, jti: 'fixed', custom: { nested: [1, 2] } }
    const token = ok(await cli(tokenSignCommand, ['--key', hs, '--claims', JSON.stringify(claims)])).stdout.trim()
    assert.deepEqual(decodePayload(token), claims)
  })

  test('--exp none leaves exp out; --exp 7d; repeated --aud becomes an array; --typ and --kid go in the header', async () => {
    const none = decodePayload(ok(await cli(tokenSignCommand, ['--key', hs, '--exp', 'none'])).stdout.trim())
    assert.equal(Object.hasOwn(none, 'exp'), false)
    const week = ok(await cli(tokenSignCommand, ['--key', hs, '--exp', '7d', '--aud', 'a', '--aud', 'b', '--typ', 'JWT', '--kid', 'other']))
    assert.equal(decodePayload(week.stdout.trim()).exp, NOW + 7 * 86_400)
    assert.deepEqual(decodePayload(week.stdout.trim()).aud, ['a', 'b'])
    assert.deepEqual(decodeHeader(week.stdout), { alg: 'HS256', kid: 'other', typ: 'JWT' })
  })

  test('--claims from a file (@FILE) and from stdin (@-)', async () => {
    await writeFile(file('claims.json'), '\n  {"sub": "from-file"}\n')
    const fromFile = ok(await cli(tokenSignCommand, ['--key', hs, '--claims', `@${file('claims.json')}`]))
    assert.equal(decodePayload(fromFile.stdout.trim()).sub, 'from-file')
    const fromStdin = ok(await cli(tokenSignCommand, ['--key', hs, '--claims', '@-'], { stdin: '{"sub":"from-stdin"}\n' }))
    assert.equal(decodePayload(fromStdin.stdout.trim()).sub, 'from-stdin')
  })

  const usage: ReadonlyArray<[string, string[], RegExp]> = [
    ['no --key', ['--claims', '{}'], /--key is required/],
    ['claims that are not JSON', ['--claims', "{'sub': 'x'}"], /--claims is not valid JSON/],
    ['claims that are a string', ['--claims', '"sub"'], /--claims is not a JSON object/],
    ['claims that are null', ['--claims', 'null'], /--claims is not a JSON object/],
    ['claims that are an array', ['--claims', '[]'], /--claims is not a JSON object/],
    ['empty claims', ['--claims', ''], /--claims is not a JSON object/],
    ['claims with a duplicate member', ['--claims', '{"sub":"a","sub":"admin"}'], /duplicate member names/],
    ['claims nested too deeply', ['--claims', '{"a":'.repeat(50) + '1' + '}'.repeat(50)], /nested too deeply/],
    ['an unterminated string', ['--claims', '{"a":"\\"}'], /not valid JSON/],
    ['exp as a string', ['--claims', '{"exp":"1700000000"}'], /"exp" must be a number/],
    ['iat as a huge exponent', ['--claims', '{"iat":1e999}'], /"iat" must be a number/],
    ['iss as a number', ['--claims', '{"iss":1}'], /"iss" must be a string/],
    ['aud as an object', ['--claims', '{"aud":{"a":1}}'], /"aud" must be a string or an array/],
    ['exp both in claims and --exp', ['--claims', '{"exp":1}', '--exp', '1m'], /"exp" is set both/],
    ['sub both in claims and --sub', ['--claims', '{"sub":"a"}', '--sub', 'b'], /"sub" is set both/],
    ['aud both in claims and --aud', ['--claims', '{"aud":"a"}', '--aud', 'b'], /"aud" is set both/],
    ['--exp -5m', ['--exp=-5m'], /"--exp" must be a whole number/],
    ['--exp 1e999s', ['--exp', '1e999s'], /"--exp" must be a whole number/],
    ['--exp 10x', ['--exp', '10x'], /"--exp" must be a whole number/],
    ['--exp 0s', ['--exp', '0s'], /between 1s and 366d/],
    ['--exp 367d', ['--exp', '367d'], /between 1s and 366d/],
    ['--exp with no value', ['--exp'], /--exp needs a value/],
    ['an empty --sub', ['--sub', ''], /--sub must not be empty/],
    ['an empty --typ', ['--typ', ''], /--typ must not be empty/],
    ['an unknown --alg', ['--alg', 'HS1024'], /--alg must be one of/],
    ['a positional argument', ['{"sub":"x"}'], /no positional/],
    ['@ without a file name', ['--claims', '@'], /needs a file name/],
  ]
  for (const [what, argv, message] of usage) {
    test(`usage error (exit 2): ${what}`, async () => {
      const result = await cli(tokenSignCommand, what === 'no --key' ? argv : ['--key', hs, ...argv])
      assert.equal(result.code, 2)
      assert.equal(result.stdout, '', 'no token is printed')
      assert.match(result.stderr, message)
    })
  }

  test('too-large claims on stdin are refused without reading them all', async () => {
    const result = await cli(tokenSignCommand, ['--key', hs, '--claims', '@-'], { stdin: Buffer.alloc(200_000, 0x20) })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /larger than 65536 bytes/)
  })

  test('claims that make the token longer than 8 KiB: ERR_JWT_TOO_LARGE, nothing printed', async () => {
    const result = await cli(tokenSignCommand, ['--key', hs, '--claims', JSON.stringify({ blob: 'x'.repeat(9000) })])
    assert.equal(result.code, 1)
    assert.equal(codeOf(result), 'ERR_JWT_TOO_LARGE')
    assert.equal(result.stdout, '')
  })

  const keyFailures: ReadonlyArray<[string, () => string[], string | RegExp]> = [
    ['a public JWK', () => ['--key', esPublic], 'ERR_KEY_INVALID'],
    ['a JWK with a different --alg', () => ['--key', es, '--alg', 'ES384'], 'ERR_KEY_INVALID'],
    // CVE-2015-9235 / CVE-2023-48223: a public PEM must never become an HMAC secret.
    ['a public RSA PEM used as an HS256 secret', () => ['--key', rsaPublicPem, '--alg', 'HS256'], 'ERR_KEY_INVALID'],
    ['a missing file', () => ['--key', file('missing.jwk')], /--key file ".*missing\.jwk" does not exist/],
    ['a directory', () => ['--key', dir], /is a directory/],
  ]
  for (const [what, argv, expected] of keyFailures) {
    test(`key failure (exit 1): ${what}`, async () => {
      const result = await cli(tokenSignCommand, argv())
      assert.equal(result.code, 1)
      assert.equal(result.stdout, '')
      if (typeof expected === 'string') assert.equal(codeOf(result), expected)
      else assert.match(result.stderr, expected)
    })
  }

  test('a PEM key without --alg is a usage error', async () => {
    const result = await cli(tokenSignCommand, ['--key', rsaPublicPem])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /--alg is required with a PEM key/)
  })

  test('broken key files: ERR_KEY_INVALID, and the file content is never echoed', async () => {
    const secret = 'c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs'
    const cases = {
      'truncated.jwk': `{"kty":"oct","alg":"HS256","k":"${secret}`,
      'dup.jwk': `{"kty":"oct","alg":"HS256","k":"${secret}","k":"${secret}"}`,
      'deep.jwk': '{"a":'.repeat(100) + `"${secret}"` + '}'.repeat(100),
      'text.key': `${secret}\n`,
      'bad.pem': `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`,
      'bad-k.jwk': `{"kty":"oct","alg":"HS256","k":"${secret}+/="}`,
      'short.jwk': '{"kty":"oct","alg":"HS256","k":"c2hvcnQ"}',
      'jwks.json': `{"keys":[{"kty":"oct","alg":"HS256","k":"${secret}"}]}`,
    }
    for (const [name, content] of Object.entries(cases)) {
      await writeFile(file(name), content)
      const result = await cli(tokenSignCommand, ['--key', file(name), ...(name.endsWith('.pem') ? ['--alg', 'ES256'] : [])])
      assert.equal(result.code, 1, name)
      assert.equal(codeOf(result), 'ERR_KEY_INVALID', name)
      assert.ok(!result.stderr.includes(secret.slice(0, 12)), `${name}: key material in "${result.stderr}"`)
    }
  })
})

describe('token verify', () => {
  let hs: string
  let es: string
  let jwks: string
  let token: string
  before(async () => {
    hs = file('verify-hs.jwk')
    es = file('verify-es.jwk')
    jwks = file('verify.jwks.json')
    ok(await cli(keysGenerateCommand, ['--alg', 'HS256', '--out', hs]))
    await writeFile(jwks, ok(await cli(keysGenerateCommand, ['--alg', 'ES256', '--kid', 'es', '--out', es, '--public'])).stdout)
    token = ok(await cli(tokenSignCommand, ['--key', es, '--iss', 'https://auth.example', '--aud', 'orders'])).stdout.trim()
  })

  test('valid: exit 0 with {header, claims}, nothing on stderr', async () => {
    const result = ok(await cli(tokenVerifyCommand, ['--jwks', jwks, '--iss', 'https://auth.example', '--aud', 'orders', token]))
    assert.equal(result.stderr, '')
    const out = JSON.parse(result.stdout)
    assert.deepEqual(Object.keys(out), ['header', 'claims'])
    assert.equal(out.claims.iss, 'https://auth.example')
  })

  test('token from stdin, with surrounding whitespace and CRLF', async () => {
    ok(await cli(tokenVerifyCommand, ['--jwks', jwks], { stdin: `\r\n  ${token}\r\n` }))
    ok(await cli(tokenVerifyCommand, ['--jwks', jwks, '-'], { stdin: token }))
  })

  test('clock: expired past the tolerance, accepted within it, and --clock-tolerance widens it', async () => {
    const later = NOW_MS + 600_000 + 31_000
    const expired = await cli(tokenVerifyCommand, ['--jwks', jwks, token], { now: later })
    assert.equal(expired.code, 1)
    assert.match(expired.stderr, /^ERR_JWT_EXPIRED: token has expired \(claim: exp\)\n$/)
    ok(await cli(tokenVerifyCommand, ['--jwks', jwks, token], { now: NOW_MS + 600_000 + 29_000 }))
    ok(await cli(tokenVerifyCommand, ['--jwks', jwks, '--clock-tolerance', '1m', token], { now: later }))
    const early = await cli(tokenVerifyCommand, ['--jwks', jwks, token], { now: NOW_MS - 120_000 })
    assert.equal(early.code, 1)
    assert.match(early.stderr, /^ERR_JWT_CLAIM_INVALID: .*\(claim: iat, reason: value\)/)
  })

  test('nbf in the future: ERR_JWT_NOT_YET_VALID', async () => {
    const future = ok(await cli(tokenSignCommand, ['--key', hs, '--claims', JSON.stringify({ nbf: NOW + 3600 })])).stdout.trim()
    const result = await cli(tokenVerifyCommand, ['--key', hs, future])
    assert.equal(codeOf(result), 'ERR_JWT_NOT_YET_VALID')
  })

  test('wrong key kind or key: an HS256 token against the ES256 JWKS, and vice versa', async () => {
    const hsToken = ok(await cli(tokenSignCommand, ['--key', hs])).stdout.trim()
    const a = await cli(tokenVerifyCommand, ['--jwks', jwks, hsToken])
    assert.equal(a.code, 1)
    assert.equal(codeOf(a), 'ERR_JWKS_NO_MATCHING_KEY')
    const b = await cli(tokenVerifyCommand, ['--key', hs, token])
    assert.equal(b.code, 1)
    assert.equal(codeOf(b), 'ERR_JWS_ALG_NOT_ALLOWED')
    const c = await cli(tokenVerifyCommand, ['--jwks', jwks, '--alg', 'ES384', token])
    assert.equal(codeOf(c), 'ERR_JWS_ALG_NOT_ALLOWED')
  })

  test('alg none and a token header that picks its own key are refused', async () => {
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ exp: NOW + 60 })}.`
    assert.equal(codeOf(await cli(tokenVerifyCommand, ['--key', hs, none])), 'ERR_JWS_ALG_NOT_ALLOWED')
    const jku = `${b64({ alg: 'ES256', kid: 'es', jku: 'https://evil.example/jwks' })}.${b64({ exp: NOW + 60 })}.${'A'.repeat(86)}`
    const result = await cli(tokenVerifyCommand, ['--jwks', jwks, jku])
    assert.equal(codeOf(result), 'ERR_JWS_HEADER_UNSUPPORTED')
    assert.match(result.stderr, /parameter: jku/)
  })

  test('hostile header values are escaped in error output', async () => {
    const evil = [
      `${b64({ alg: '\u001b]0;pwned\u0007' })}.${b64({})}.AAAA`,
      `${b64({ alg: 'ES256', kid: 'x\u009b31m\u202eevil' })}.${b64({ exp: NOW + 60 })}.${'A'.repeat(86)}`,
    ]
    for (const token of evil) {
      const result = await cli(tokenVerifyCommand, ['--jwks', jwks, token])
      assert.equal(result.code, 1)
      assert.doesNotMatch(result.stderr, UNSAFE_OUTPUT)
      assert.match(result.stderr, /\\u00(1b|9b)/)
    }
  })

  test('a JWKS with unusable keys: warnings (escaped), the usable key still verifies', async () => {
    const good = JSON.parse(await readFile(jwks, 'utf8')).keys[0]
    const mixed = file('mixed.jwks.json')
    await writeFile(mixed, JSON.stringify({ keys: [good, { kty: 'EC', kid: 'enc\u001b[31m', use: 'enc', crv: 'P-256', x: good.x, y: good.y }, { kty: 'RSA', kid: 'no-alg', n: 'AQAB', e: 'AQAB' }] }))
    const result = ok(await cli(tokenVerifyCommand, ['--jwks', mixed, token]))
    assert.equal(result.stderr.match(/warning: skipped a key/g)?.length, 2)
    assert.doesNotMatch(result.stderr, UNSAFE_OUTPUT)
  })

  test('a JWKS with no usable key, a single JWK given as --jwks, a JWKS given as --key', async () => {
    const empty = file('empty.jwks.json')
    await writeFile(empty, '{"keys":[{"kty":"EC","use":"enc"}]}')
    const a = await cli(tokenVerifyCommand, ['--jwks', empty, token])
    assert.equal(codeOf(a), 'ERR_KEY_INVALID')
    const b = await cli(tokenVerifyCommand, ['--jwks', es, token])
    assert.equal(codeOf(b), 'ERR_KEY_INVALID')
    assert.match(b.stderr, /must hold a JWK Set/)
    const c = await cli(tokenVerifyCommand, ['--key', jwks, token])
    assert.equal(codeOf(c), 'ERR_KEY_INVALID')
    assert.match(c.stderr, /pass it with --jwks/)
  })

  test('an "oct" secret in a --jwks file is refused: secrets are passed with --key', async () => {
    const secret = file('secret.jwks.json')
    await writeFile(secret, JSON.stringify({ keys: [JSON.parse(await readFile(hs, 'utf8'))] }))
    assert.equal(codeOf(await cli(tokenVerifyCommand, ['--jwks', secret, token])), 'ERR_KEY_INVALID')
  })

  test('oversized and malformed tokens', async () => {
    const big = await cli(tokenVerifyCommand, ['--jwks', jwks], { stdin: 'a'.repeat(100_000) })
    assert.equal(codeOf(big), 'ERR_JWT_TOO_LARGE')
    const arg = await cli(tokenVerifyCommand, ['--jwks', jwks, 'a'.repeat(8193)])
    assert.equal(codeOf(arg), 'ERR_JWT_TOO_LARGE')
    for (const bad of ['a.b', 'a.b.c.d', '..', `${token}=`, token.replace('.', '.\n'), `${token.slice(0, -2)}+/`]) {
      const result = await cli(tokenVerifyCommand, ['--jwks', jwks, bad])
      assert.equal(result.code, 1, JSON.stringify(bad))
      assert.ok(['ERR_JWT_MALFORMED', 'ERR_JWS_SIGNATURE_INVALID'].includes(codeOf(result)!), result.stderr)
    }
  })

  const usage: ReadonlyArray<[string, string[], RegExp, { tty?: boolean; stdin?: string }?]> = [
    ['neither --jwks nor --key', ['tok'], /exactly one of --jwks FILE or --key FILE/],
    ['both --jwks and --key', ['--jwks', 'a', '--key', 'b', 'tok'], /exactly one of/],
    ['--typ with --any-typ', ['--key', 'k', '--typ', 'JWT', '--any-typ', 'tok'], /cannot be combined/],
    ['a bad --clock-tolerance', ['--key', 'k', '--clock-tolerance', '30', 'tok'], /"--clock-tolerance" must be a whole number/],
    ['a huge --clock-tolerance', ['--key', 'k', '--clock-tolerance', '2d', 'tok'], /between 0s and 1d/],
    ['an empty --iss', ['--key', 'k', '--iss', '', 'tok'], /--iss must not be empty/],
    ['two tokens', ['--key', 'VERIFY_HS', 'a.b.c', 'd.e.f'], /expected one TOKEN/],
    ['no token and a terminal on stdin', ['--key', 'VERIFY_HS'], /no token/, { tty: true }],
    ['an empty stdin', ['--key', 'VERIFY_HS'], /no token on standard input/, { stdin: '\n\n' }],
  ]
  for (const [what, argv, message, options] of usage) {
    test(`usage error (exit 2): ${what}`, async () => {
      const result = await cli(tokenVerifyCommand, argv.map((a) => (a === 'VERIFY_HS' ? hs : a)), options)
      assert.equal(result.code, 2)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, message)
    })
  }
})

describe('token decode', () => {
  const header = { alg: 'ES256', kid: 'k1', typ: 'at+jwt' }
  const signature = Buffer.alloc(64, 1).toString('base64url')

  test('text output: exact relative times against the injected clock', async () => {
    const claims = { sub: 'u', iat: NOW - 30, nbf: NOW + 90, exp: NOW + 599 }
    const result = ok(await cli(tokenDecodeCommand, [`${b64(header)}.${b64(claims)}.${signature}`]))
    assert.match(result.stderr, /^UNVERIFIED: the signature was NOT checked/)
    assert.match(result.stdout, /^ {2}iat {2}2030-01-15T11:59:30\.000Z {2}30 seconds ago$/m)
    assert.match(result.stdout, /^ {2}nbf {2}2030-01-15T12:01:30\.000Z {2}in 1 minute \(not valid yet\)$/m)
    assert.match(result.stdout, /^ {2}exp {2}2030-01-15T12:09:59\.000Z {2}in 9 minutes$/m)
  })

  test('--json: not-a-date values and out-of-range dates are reported, not thrown', async () => {
    const claims = { exp: '1700000000', iat: 1e300, nbf: NOW - 3 * 3600 }
    const out = JSON.parse(ok(await cli(tokenDecodeCommand, ['--json', `${b64(header)}.${b64(claims)}.${signature}`])).stdout)
    assert.equal(out.verified, false)
    assert.match(out.times.exp.problem, /not a NumericDate \(string\)/)
    assert.match(out.times.iat.problem, /outside the range/)
    assert.deepEqual(out.times.nbf, { date: '2030-01-15T09:00:00.000Z', relative: '3 hours ago' })
    assert.equal(out.signatureBytes, 64)
  })

  test('terminal control and bidi characters in claims are escaped, and the JSON still parses to the same value', async () => {
    const claims = { sub: 'admin\u001b[2K\r\u009b2J\u202eevil\u2028x', name: 'Zoë ✓' }
    const text = ok(await cli(tokenDecodeCommand, [`${b64(header)}.${b64(claims)}.${signature}`]))
    assert.doesNotMatch(text.stdout, UNSAFE_OUTPUT)
    assert.match(text.stdout, /Zoë ✓/)
    const json = ok(await cli(tokenDecodeCommand, ['--json', `${b64(header)}.${b64(claims)}.${signature}`]))
    assert.doesNotMatch(json.stdout, UNSAFE_OUTPUT)
    assert.deepEqual(JSON.parse(json.stdout).payload, claims)
  })

  const malformed: ReadonlyArray<[string, string, string]> = [
    ['one segment', 'abc', 'ERR_JWT_MALFORMED'],
    ['four segments', 'a.b.c.d', 'ERR_JWT_MALFORMED'],
    ['a JWE', 'a.b.c.d.e', 'ERR_JWT_MALFORMED'],
    ['padding', `${b64(header)}=.${b64({})}.`, 'ERR_JWT_MALFORMED'],
    ['standard base64 characters', `${b64(header)}.${Buffer.from('{"a":"???>>>"}').toString('base64').replace(/=+$/, '')}.`, 'ERR_JWT_MALFORMED'],
    ['non-canonical trailing bits', `${b64(header)}.e30.AB`, 'ERR_JWT_MALFORMED'],
    ['a header that is not JSON', `${b64('not json')}.${b64({})}.`, 'ERR_JWT_MALFORMED'],
    ['a payload that is an array', `${b64(header)}.${b64([1, 2])}.`, 'ERR_JWT_MALFORMED'],
    ['a payload with duplicate members', `${b64(header)}.${b64('{"sub":"a","sub":"admin"}')}.`, 'ERR_JWT_MALFORMED'],
    ['a payload nested 10 000 deep', `${b64(header)}.${b64('{"a":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}')}.`, 'ERR_JWT_MALFORMED'],
    ['invalid UTF-8', `${b64(header)}.${Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64url')}.`, 'ERR_JWT_MALFORMED'],
    ['64 KiB + 1', 'a'.repeat(64 * 1024 + 1), 'ERR_JWT_TOO_LARGE'],
  ]
  for (const [what, token, code] of malformed) {
    test(`refuses ${what}: ${code}, exit 1, nothing on stdout`, async () => {
      const result = await cli(tokenDecodeCommand, [token])
      assert.equal(result.code, 1)
      assert.equal(result.stdout, '')
      assert.equal(codeOf(result), code)
      assert.ok(result.stderr.length < 300)
    })
  }

  test('a 10 MB stdin is cut off at the limit', async () => {
    const result = await cli(tokenDecodeCommand, [], { stdin: Buffer.alloc(10 * 1024 * 1024, 0x41) })
    assert.equal(codeOf(result), 'ERR_JWT_TOO_LARGE')
  })

  test('describeRelativeTime picks the largest unit and counts down', () => {
    assert.equal(describeRelativeTime(0.4), 'now')
    assert.equal(describeRelativeTime(1), 'in 1 second')
    assert.equal(describeRelativeTime(-59), '59 seconds ago')
    assert.equal(describeRelativeTime(599), 'in 9 minutes')
    assert.equal(describeRelativeTime(-3 * 3600 - 3599), '3 hours ago')
    assert.equal(describeRelativeTime(86_400 * 2), 'in 2 days')
    assert.equal(describeRelativeTime(-86_400 * 365 * 5), '5 years ago')
  })
})

describe('token decode of an encrypted token (JWE)', () => {
  const signingKey = generateKey('ES256')
  const inner = signJwt({ sub: 'alice', iss: 'https://auth.example.com', exp: NOW + 600, iat: NOW }, signingKey)
  const ecdh = generateEncryptionKey('ECDH-ES+A256KW')
  const shared = generateEncryptionKey('dir', 'A256GCM')

  test('without --key: says it is encrypted and shows only the JWE header', async () => {
    const jwe = await encryptJwt(inner, ecdh)
    const text = ok(await cli(tokenDecodeCommand, [jwe]))
    assert.match(text.stderr, /ENCRYPTED/)
    assert.match(text.stdout, /"alg": "ECDH-ES\+A256KW"/)
    assert.doesNotMatch(text.stdout, /alice/)
    const json = JSON.parse(ok(await cli(tokenDecodeCommand, ['--json', jwe])).stdout)
    assert.equal(json.encrypted, true)
    assert.equal(json.header.enc, 'A256GCM')
    assert.equal(json.payload, undefined)
  })

  test('with --key (ECDH-ES+A256KW JWK, dir oct JWK, PEM private key): the inner signed token, still unverified', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await writeFile(file('ecdh.jwk'), JSON.stringify(ecdh))
    await writeFile(file('dir.jwk'), JSON.stringify(shared))
    await writeFile(file('ecdh.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const cases: Array<[string, string]> = [
      [await encryptJwt(inner, ecdh), file('ecdh.jwk')],
      [await encryptJwt(inner, shared), file('dir.jwk')],
      [await encryptJwt(inner, publicKey, { alg: 'ECDH-ES+A256KW' }), file('ecdh.pem')],
    ]
    for (const [jwe, key] of cases) {
      const result = ok(await cli(tokenDecodeCommand, ['--json', '--key', key, jwe]))
      assert.match(result.stderr, /UNVERIFIED/)
      const json = JSON.parse(result.stdout)
      assert.equal(json.verified, false)
      assert.equal(json.encrypted, true)
      assert.equal(json.payload.sub, 'alice')
      assert.equal(json.header.alg, 'ES256')
      assert.equal(json.encryption.cty, 'JWT')
    }
  })

  test('a wrong key, a key set, or a refused algorithm: a clear error, nothing on stdout', async () => {
    const jwe = await encryptJwt(inner, ecdh)
    await writeFile(file('other.jwk'), JSON.stringify(generateEncryptionKey('ECDH-ES+A256KW')))
    await writeFile(file('set.jwks'), JSON.stringify({ keys: [ecdh] }))
    await writeFile(file('random.jwk'), JSON.stringify({ kty: 'oct', k: randomBytes(32).toString('base64url') }))
    const pbes2 = `${b64({ alg: 'PBES2-HS256+A128KW', enc: 'A128GCM', p2c: 1e9, p2s: 'AAAAAAAAAAA' })}.${'A'.repeat(54)}.${'A'.repeat(16)}.${'A'.repeat(20)}.${'A'.repeat(22)}`
    const cases: Array<[string, string, string]> = [
      [jwe, file('other.jwk'), 'ERR_JWE_DECRYPTION_FAILED'],
      [jwe, file('set.jwks'), 'ERR_KEY_INVALID'],
      [pbes2, file('random.jwk'), 'ERR_JWE_INVALID'],
    ]
    for (const [token, key, code] of cases) {
      const result = await cli(tokenDecodeCommand, ['--key', key, token])
      assert.equal(result.code, 1, result.stderr)
      assert.equal(result.stdout, '')
      assert.equal(codeOf(result), code, result.stderr)
    }
  })
})

describe('shared plumbing', () => {
  test('readStreamLimited stops at the limit and reads nothing past the chunk that crossed it', async () => {
    let pulled = 0
    function* chunks() {
      for (let i = 0; i < 1000; i++) {
        pulled++
        yield Buffer.alloc(1024)
      }
    }
    await assert.rejects(readStreamLimited(chunks(), 4096), { name: 'InputTooLarge' })
    assert.equal(pulled, 5)
    assert.equal((await readStreamLimited([Buffer.from('ab'), 'cd'], 4)).toString(), 'abcd')
  })

  test('parse errors never echo the offending argument beyond the option name', () => {
    assert.throws(() => parseCommandArgs(['--secret=hunter2'], []), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.equal(error.message, 'unknown option --secret')
      return true
    })
    assert.throws(() => parseCommandArgs([`--\u001b[2J${'x'.repeat(100)}`], []), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.doesNotMatch(error.message, UNSAFE_OUTPUT)
      assert.ok(error.message.length < 80)
      return true
    })
  })

  test('an unexpected error prints only its class name unless HALLPASS_DEBUG=1', () => {
    let stderr = ''
    const context = { stdout: () => {}, stderr: (t: string) => void (stderr += t), readStdin: () => Promise.resolve(Buffer.alloc(0)), stdinIsTty: false, now: Date.now, env: {} }
    const code = reportError(new SyntaxError('Unexpected token in JSON at "-----BEGIN PRIVATE KEY----- MIIE"'), context)
    assert.equal(code, 1)
    assert.match(stderr, /internal error \(SyntaxError\)/)
    assert.ok(!stderr.includes('PRIVATE KEY'))
  })

  test('sanitizeForTerminal and formatJson', () => {
    assert.equal(sanitizeForTerminal('a\u001bb\u009bc\u202ed\ne'), 'a\\u001bb\\u009bc\\u202ed\\u000ae')
    const value = { s: '\u0000\u007f\u0085\u2029\ufeff', n: 1 }
    assert.doesNotMatch(formatJson(value), /[\u007f-\u009f\u2029\ufeff]/)
    assert.deepEqual(JSON.parse(formatJson(value)), value)
  })

  test('--help for every command lists every option', async () => {
    for (const command of [keysGenerateCommand, tokenSignCommand, tokenVerifyCommand, tokenDecodeCommand]) {
      const result = ok(await cli(command, ['--unknown', '--help']))
      assert.match(result.stdout, new RegExp(`^Usage: hallpass ${command.name} `, 'm'))
      for (const option of command.options) assert.ok(result.stdout.includes(`--${option.name}`), `${command.name} --${option.name}`)
    }
  })
})

// Keeps the alg list in this file honest: a new algorithm in the engine must reach the matrix.
test('the matrix covers the 13 JWS algorithms', () => {
  const expected: JwsAlgorithm[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
  assert.deepEqual([...JWS_ALGORITHMS], expected)
})
