/**
 * @module hallpass/cli
 *
 * `hallpass keys public`: the public half of an existing signing key, as the JWK Set a
 * verifier loads (default), one public JWK, or SPKI PEM. Never a private member, never an HMAC
 * secret.
 */
import { ALGORITHMS, exportPem, exportPublicJwk } from '../../engine/index.ts'
import { UsageError, type ParsedArgs } from '../args.ts'
import type { CliCommand, CommandContext } from '../command.ts'
import { loadVerificationKey, parseAlgorithmOption } from '../key-files.ts'
import { formatJson } from '../output.ts'

/** The `keys public` command. */
export const keysPublicCommand: CliCommand = {
  name: 'keys public',
  summary: 'Print the public key of a signing key: a JWKS (default), one JWK, or SPKI PEM.',
  usage: '--key FILE [--alg ALG] [--kid ID] [--format jwks|jwk|pem]',
  options: [
    { name: 'key', type: 'string', value: 'FILE', help: 'The private key: a JWK or a PKCS#8 PEM (required).' },
    { name: 'alg', type: 'string', value: 'ALG', help: 'Algorithm of a PEM key (a JWK names its own).' },
    { name: 'kid', type: 'string', value: 'ID', help: 'Key id to publish (default: the JWK\'s, else the RFC 7638 thumbprint).' },
    { name: 'format', type: 'string', value: 'jwks|jwk|pem', help: 'Output format (default jwks, what a verifier loads).' },
  ],
  details: [
    'Examples:',
    '  hallpass keys public --key signing.jwk > jwks.json',
    '  hallpass keys public --key signing.pem --alg RS256 --format pem',
  ].join('\n'),
  run,
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('keys public takes no positional arguments')
  const path = args.string('key')
  if (path === undefined || path === '') throw new UsageError('--key is required')
  const format = args.string('format') ?? 'jwks'
  if (format !== 'jwks' && format !== 'jwk' && format !== 'pem') throw new UsageError('--format must be jwks, jwk or pem')
  const kid = args.string('kid')
  const key = await loadVerificationKey(path, { alg: parseAlgorithmOption(args.string('alg')), ...(kid !== undefined ? { kid } : {}) })
  // An HMAC secret both signs and verifies: its "public key" is the secret itself.
  if (ALGORITHMS[key.alg].family === 'hmac') throw new UsageError(`${key.alg} keys are shared secrets and have no public half to publish`)
  if (format === 'pem') context.stdout(exportPem(key).publicPem)
  else {
    const jwk = exportPublicJwk(key)
    context.stdout(`${formatJson(format === 'jwk' ? jwk : { keys: [jwk] })}\n`)
  }
  return 0
}
