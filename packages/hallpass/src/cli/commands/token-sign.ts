/**
 * @module hallpass/cli
 *
 * `hallpass token sign`: signs a claim set with a key file and prints the compact JWT.
 * `iat` defaults to now, `exp` to now + 10 minutes (the session server's access-token lifetime) and
 * `jti` to 128 random bits. A claim given both in `--claims` and by its own flag is refused
 * rather than silently overridden one way or the other.
 */
import { randomBytes } from 'node:crypto'
import { ACCESS_TOKEN_TYP, signJwt, type JwtClaims } from '../../engine/index.ts'
import { parseJsonObject } from '../../internal/strict-json.ts'
import { ConfigInvalid, JwtMalformed } from '../../errors.ts'
import { UsageError, type ParsedArgs } from '../args.ts'
import type { CliCommand, CommandContext } from '../command.ts'
import { parseDuration } from '../../internal/durations.ts'
import { MAX_CLAIMS_BYTES, readInlineOrFile } from '../io.ts'
import { loadSigningKey, parseAlgorithmOption } from '../key-files.ts'

const DEFAULT_LIFETIME_SECONDS = 600
const MAX_LIFETIME_SECONDS = 366 * 86_400

/** The `token sign` command. */
export const tokenSignCommand: CliCommand = {
  name: 'token sign',
  summary: 'Sign a JWT with a key file and print it.',
  usage: '--key FILE [--claims JSON|@FILE|@-] [--exp 10m|none] [--iss ISS] [--aud AUD] [--sub SUB] [--typ at+jwt] [--alg ALG] [--kid ID]',
  options: [
    { name: 'key', type: 'string', value: 'FILE', help: 'Private JWK, "oct" JWK (HS*) or PKCS#8/PKCS#1/SEC1 PEM key (required).' },
    { name: 'claims', type: 'string', value: 'JSON', help: 'Claims as a JSON object, @FILE to read a file, @- for stdin (default {}).' },
    { name: 'exp', type: 'string', value: 'DURATION', help: 'Lifetime: 30s, 10m, 1h, 7d (default 10m, at most 366d); "none" omits exp.' },
    { name: 'iss', type: 'string', value: 'ISS', help: 'Issuer claim.' },
    { name: 'aud', type: 'string', value: 'AUD', multiple: true, help: 'Audience claim; repeat for several audiences.' },
    { name: 'sub', type: 'string', value: 'SUB', help: 'Subject claim.' },
    { name: 'typ', type: 'string', value: 'TYP', help: `The "typ" header (default ${ACCESS_TOKEN_TYP}, RFC 9068).` },
    { name: 'alg', type: 'string', value: 'ALG', help: "Algorithm: required for PEM keys; must match a JWK's own alg." },
    { name: 'kid', type: 'string', value: 'ID', help: 'Key id for the header (default: the JWK kid, else the key thumbprint).' },
  ],
  details: [
    'iat is set to now and jti to a random value unless --claims sets them. A claim may be given',
    'in --claims or by its flag, not both. hallpass verifiers require exp unless told otherwise.',
    '',
    'Example:',
    '  hallpass token sign --key signing.jwk --sub user-1 --aud orders --claims \'{"scope":"read"}\'',
  ].join('\n'),
  run,
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('token sign takes no positional arguments (claims go in --claims)')
  const keyPath = args.string('key')
  if (keyPath === undefined || keyPath === '') throw new UsageError('--key is required')
  const alg = parseAlgorithmOption(args.string('alg'))
  const kid = args.string('kid')
  const typ = args.string('typ') ?? ACCESS_TOKEN_TYP
  if (typ === '') throw new UsageError('--typ must not be empty')

  const claims = await readClaims(args.string('claims'), context)
  const nowSeconds = Math.floor(context.now() / 1000)
  const lifetime = parseLifetime(args.string('exp'), claims)

  for (const name of ['iss', 'sub'] as const) {
    const value = args.string(name)
    if (value === undefined) continue
    if (value === '') throw new UsageError(`--${name} must not be empty`)
    setOnce(claims, name, value)
  }
  const audiences = args.strings('aud')
  if (audiences.some((a) => a === '')) throw new UsageError('--aud must not be empty')
  if (audiences.length > 0) setOnce(claims, 'aud', audiences.length === 1 ? audiences[0] : [...audiences])
  claims.iat ??= nowSeconds
  if (lifetime !== undefined) claims.exp = nowSeconds + lifetime
  // RFC 7519 §4.1.7: unique per token; 128 bits from the CSPRNG make a collision negligible.
  claims.jti ??= randomBytes(16).toString('base64url')
  checkClaimTypes(claims)

  const key = await loadSigningKey(keyPath, { alg, kid })
  context.stdout(signJwt(claims, key, { typ }) + '\n')
  return 0
}

async function readClaims(value: string | undefined, context: CommandContext): Promise<JwtClaims> {
  if (value === undefined) return {}
  const text = (await readInlineOrFile(value, context, MAX_CLAIMS_BYTES, '--claims')).trim()
  try {
    // The engine's strict parser: a JSON object, bounded depth, no duplicate member names
    // (a token whose claims parse differently in different libraries is worse than none).
    return parseJsonObject(text, 'claims')
  } catch (error) {
    if (error instanceof JwtMalformed) throw new UsageError(`--${error.reason}`)
    throw error
  }
}

// Seconds until exp, or undefined when exp is left as --claims set it (or out, with "none").
function parseLifetime(value: string | undefined, claims: JwtClaims): number | undefined {
  if (value === undefined) return claims.exp === undefined ? DEFAULT_LIFETIME_SECONDS : undefined
  if (claims.exp !== undefined) throw new UsageError('"exp" is set both in --claims and by --exp')
  if (value === 'none') return undefined
  try {
    return parseDuration(value, { path: '--exp', minSeconds: 1, maxSeconds: MAX_LIFETIME_SECONDS })
  } catch (error) {
    if (error instanceof ConfigInvalid) throw new UsageError(error.message)
    throw error
  }
}

function setOnce(claims: JwtClaims, name: 'iss' | 'sub' | 'aud', value: string | string[] | undefined): void {
  if (claims[name] !== undefined) throw new UsageError(`"${name}" is set both in --claims and by --${name}`)
  ;(claims as Record<string, unknown>)[name] = value
}

// The verifier's type rules (validate-claims.ts), checked before signing: hallpass should
// never mint a token that its own verifier refuses for a claim of the wrong type.
function checkClaimTypes(claims: JwtClaims): void {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new UsageError(`--claims: "${name}" must be a number of seconds since the epoch`)
    }
  }
  for (const name of ['iss', 'sub', 'jti', 'sid', 'scope'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') throw new UsageError(`--claims: "${name}" must be a string`)
  }
  const aud = claims.aud
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw new UsageError('--claims: "aud" must be a string or an array of strings')
  }
}
