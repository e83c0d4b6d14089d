/**
 * @module hallpass/cli
 *
 * `hallpass token verify`: the library's verifier on the command line. Exit 0 and the verified
 * `{"header", "claims"}` on stdout, or exit 1 and `CODE: message` on stderr. Neither the token
 * nor any key material is ever part of an error.
 */
import { createJwtVerifier, DEFAULT_CLOCK_TOLERANCE_SECONDS, DEFAULT_MAX_TOKEN_BYTES, type JwtVerifierOptions } from '../../engine/index.ts'
import { ConfigInvalid, KeyInvalid } from '../../errors.ts'
import { UsageError, type ParsedArgs } from '../args.ts'
import type { CliCommand, CommandContext } from '../command.ts'
import { parseDuration } from '../../internal/durations.ts'
import { readTokenArgument } from '../io.ts'
import { loadJwks, loadVerificationKey, parseAlgorithmOption } from '../key-files.ts'
import { formatJson, sanitizeForTerminal } from '../output.ts'

const MAX_CLOCK_TOLERANCE_SECONDS = 86_400

/** The `token verify` command. */
export const tokenVerifyCommand: CliCommand = {
  name: 'token verify',
  summary: 'Verify a JWT: signature, typ and claims. Prints {"header","claims"} when valid.',
  usage: '(--jwks FILE | --key FILE) [--iss ISS] [--aud AUD] [--typ TYP | --any-typ] [--clock-tolerance 30s] [--alg ALG] [TOKEN | -]',
  options: [
    { name: 'jwks', type: 'string', value: 'FILE', help: 'A JWK Set of public keys ({"keys":[...]}), as the issuer publishes it.' },
    { name: 'key', type: 'string', value: 'FILE', help: 'One key: a JWK (public, private or "oct" for HS*) or a PEM key (needs --alg).' },
    { name: 'iss', type: 'string', value: 'ISS', multiple: true, help: 'Accepted issuer; when given, "iss" is required.' },
    { name: 'aud', type: 'string', value: 'AUD', multiple: true, help: 'Accepted audience; when given, "aud" is required and one must match.' },
    { name: 'typ', type: 'string', value: 'TYP', help: 'Required "typ" header (default at+jwt, RFC 9068).' },
    { name: 'any-typ', type: 'boolean', help: 'Do not check the "typ" header.' },
    { name: 'clock-tolerance', type: 'string', value: 'DURATION', help: `Leeway for exp/nbf/iat (default ${DEFAULT_CLOCK_TOLERANCE_SECONDS}s, at most 1d).` },
    { name: 'alg', type: 'string', value: 'ALG', help: 'Accept only this algorithm; with --jwks, the alg of RSA keys that have none.' },
  ],
  details: [
    'The token is the TOKEN argument, or standard input when TOKEN is "-" or absent.',
    'Exit status: 0 valid, 1 invalid (the error code is printed on stderr), 2 usage error.',
    '',
    'Example:',
    '  hallpass token verify --jwks jwks.json --iss https://auth.example.com --aud orders "$TOKEN"',
  ].join('\n'),
  run,
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  const jwksPath = args.string('jwks')
  const keyPath = args.string('key')
  if ((jwksPath === undefined) === (keyPath === undefined)) throw new UsageError('give exactly one of --jwks FILE or --key FILE')
  if (jwksPath === '' || keyPath === '') throw new UsageError('--jwks and --key need a file name')
  const alg = parseAlgorithmOption(args.string('alg'))
  const typ = args.string('typ')
  if (typ !== undefined && args.flag('any-typ')) throw new UsageError('--typ and --any-typ cannot be combined')
  if (typ === '') throw new UsageError('--typ must not be empty (use --any-typ to skip the check)')
  const issuers = nonEmpty(args.strings('iss'), 'iss')
  const audiences = nonEmpty(args.strings('aud'), 'aud')
  const tolerance = parseTolerance(args.string('clock-tolerance'))

  let keys: JwtVerifierOptions['keys']
  if (jwksPath !== undefined) {
    const keyring = await loadJwks(jwksPath, alg)
    for (const { kid, reason } of keyring.rejected) {
      context.stderr(sanitizeForTerminal(`hallpass: warning: skipped a key of the --jwks file${kid === undefined ? '' : ` (kid ${kid})`}: ${reason}`) + '\n')
    }
    if (keyring.entries.length === 0) throw new KeyInvalid('the --jwks file holds no usable signature key')
    keys = keyring
  } else {
    keys = await loadVerificationKey(keyPath!, { alg })
  }

  const verify = createJwtVerifier({
    keys,
    typ: args.flag('any-typ') ? false : typ,
    ...(issuers ? { issuer: issuers } : {}),
    ...(audiences ? { audience: audiences } : {}),
    ...(tolerance !== undefined ? { clockToleranceSeconds: tolerance } : {}),
    ...(alg ? { algorithms: [alg] } : {}),
    now: context.now,
  })
  const token = await readTokenArgument(args, context, DEFAULT_MAX_TOKEN_BYTES)
  const { header, claims } = verify(token)
  context.stdout(formatJson({ header, claims }) + '\n')
  return 0
}

function nonEmpty(values: readonly string[], name: string): readonly string[] | undefined {
  if (values.length === 0) return undefined
  if (values.some((v) => v === '')) throw new UsageError(`--${name} must not be empty`)
  return values
}

function parseTolerance(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  try {
    return parseDuration(value, { path: '--clock-tolerance', maxSeconds: MAX_CLOCK_TOLERANCE_SECONDS })
  } catch (error) {
    if (error instanceof ConfigInvalid) throw new UsageError(error.message)
    throw error
  }
}
