/**
 * @module hallpass/cli
 *
 * `hallpass keys generate`: a fresh signing key for one algorithm, as a private JWK (default)
 * or PKCS#8 PEM, optionally written to a file with its public JWKS on stdout; or an
 * access-token encryption key (`dir`, `ECDH-ES+A256KW`) as a JWK Set, the form the server's and
 * the services' key files take.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { ALGORITHMS, exportPem, exportPrivateJwk, exportPublicJwk, generateEncryptionKey, generateKey, type Jwk, type JwsKey } from '../../engine/index.ts'
import { UsageError, type ParsedArgs } from '../args.ts'
import { CliError, type CliCommand, type CommandContext } from '../command.ts'
import { parseAlgorithmOption } from '../key-files.ts'
import { formatJson } from '../output.ts'

type Format = 'jwk' | 'pem'

/** The `keys generate` command. */
export const keysGenerateCommand: CliCommand = {
  name: 'keys generate',
  summary: 'Generate a signing key (a private JWK, PKCS#8 PEM, or its public JWKS) or an access-token encryption key (a JWK Set).',
  usage: '--alg ALG [--kid ID] [--crv CRV] [--format jwk|pem] [--out FILE] [--public]',
  options: [
    { name: 'alg', type: 'string', value: 'ALG', help: 'HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA, or for encrypted access tokens dir, ECDH-ES+A256KW (required).' },
    { name: 'kid', type: 'string', value: 'ID', help: 'Key id (default: the RFC 7638 thumbprint; random for dir). JWK only: PEM cannot carry it.' },
    { name: 'crv', type: 'string', value: 'CRV', help: 'EdDSA curve: Ed25519 (default) or Ed448. ECDH-ES+A256KW: P-256 (default), P-384, P-521 or X25519.' },
    { name: 'format', type: 'string', value: 'jwk|pem', help: 'Output format (default jwk). HMAC secrets exist only as JWK.' },
    { name: 'out', type: 'string', value: 'FILE', help: 'Write the private key to FILE (mode 0600, never overwritten) instead of stdout.' },
    { name: 'public', type: 'boolean', help: 'Print the public key on stdout: a JWKS {"keys":[...]} (or SPKI PEM). Not for HS*.' },
  ],
  details: [
    'Examples:',
    '  hallpass keys generate --alg ES256 --out signing.jwk --public > jwks.json',
    '  hallpass keys generate --alg HS256 > secret.jwk',
    '  hallpass keys generate --alg RS256 --format pem > signing.pem',
    '  hallpass keys generate --alg dir --out token-keys.json          # shared access-token encryption key',
    '  hallpass keys generate --alg ECDH-ES+A256KW --crv X25519 --out orders-keys.json --public > orders-jwks.json',
    '',
    'The private key is a secret: keep it out of version control and logs.',
  ].join('\n'),
  run,
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('keys generate takes no positional arguments')
  const requested = args.string('alg')
  if (requested === 'dir' || requested === 'ECDH-ES+A256KW') return generateTokenEncryptionKey(requested, args, context)
  const alg = parseAlgorithmOption(requested)
  if (alg === undefined) throw new UsageError('--alg is required')
  const family = ALGORITHMS[alg].family
  const format = parseFormat(args.string('format'))
  const kid = args.string('kid')
  const crv = args.string('crv')
  const out = args.string('out')
  const wantPublic = args.flag('public')

  if (crv !== undefined) {
    if (family !== 'eddsa') throw new UsageError('--crv only applies to EdDSA')
    if (crv !== 'Ed25519' && crv !== 'Ed448') throw new UsageError('--crv must be Ed25519 or Ed448')
  }
  if (family === 'hmac') {
    // An HMAC secret both signs and verifies: publishing it would let anyone mint tokens.
    if (wantPublic) throw new UsageError(`${alg} keys are shared secrets and are never published: --public is not available`)
    if (format === 'pem') throw new UsageError(`${alg} secrets have no PEM form: use --format jwk`)
  }
  if (format === 'pem' && kid !== undefined) {
    throw new UsageError('a PEM key cannot carry a kid; use --format jwk, or pass --kid to "token sign"')
  }
  if (out === '') throw new UsageError('--out needs a file name')

  const key = generateKey(alg, { ...(kid !== undefined ? { kid } : {}), ...(crv === 'Ed448' ? { crv } : {}) })
  const privateText = format === 'pem' ? exportPem(key).privatePem! : formatJson(exportPrivateJwk(key)) + '\n'

  if (out !== undefined) {
    await writePrivateKey(out, privateText)
    context.stderr(`hallpass: wrote the private ${alg} key to ${out} (kid ${key.kid})\n`)
  }
  if (wantPublic) {
    context.stdout(publicText(key, format))
    if (out === undefined) context.stderr('hallpass: note: the private key was not saved; use --out FILE to keep it\n')
  } else if (out === undefined) {
    context.stdout(privateText)
  }
  return 0
}

// A JWK Set of one private key: the shape of the key files (`HALLPASS_ACCESS_TOKEN_ENCRYPTION_KEYS_FILE`,
// `watchDecryptionKeyFile`), so keys are added to a file by merging sets.
async function generateTokenEncryptionKey(alg: 'dir' | 'ECDH-ES+A256KW', args: ParsedArgs, context: CommandContext): Promise<number> {
  const crv = args.string('crv')
  const out = args.string('out')
  if (args.string('format') !== undefined && args.string('format') !== 'jwk') throw new UsageError('encryption keys exist only as JWK Sets: leave out --format')
  if (out === '') throw new UsageError('--out needs a file name')
  if (alg === 'dir') {
    if (crv !== undefined) throw new UsageError('--crv only applies to ECDH-ES+A256KW (and EdDSA)')
    // A shared secret decrypts every token: publishing it would let anyone read them.
    if (args.flag('public')) throw new UsageError('dir keys are shared secrets and are never published: --public is not available')
  } else if (crv !== undefined && !['P-256', 'P-384', 'P-521', 'X25519'].includes(crv)) {
    throw new UsageError('--crv must be P-256, P-384, P-521 or X25519')
  }
  const kid = args.string('kid') ?? (alg === 'dir' ? `dir-${randomBytes(6).toString('base64url')}` : undefined)
  const key = generateEncryptionKey(alg, alg === 'dir' ? 'A256GCM' : undefined, {
    ...(kid !== undefined ? { kid } : {}),
    ...(crv !== undefined ? { crv: crv as 'P-256' | 'P-384' | 'P-521' | 'X25519' } : {}),
  })
  const privateText = formatJson({ keys: [key] }) + '\n'
  if (out !== undefined) {
    await writePrivateKey(out, privateText)
    context.stderr(`hallpass: wrote the private ${alg} key to ${out} (kid ${key.kid})\n`)
  }
  if (args.flag('public')) {
    const { d: _private, ...publicKey } = key as Jwk & { d?: string }
    context.stdout(formatJson({ keys: [publicKey] }) + '\n')
    if (out === undefined) context.stderr('hallpass: note: the private key was not saved; use --out FILE to keep it\n')
  } else if (out === undefined) {
    context.stdout(privateText)
  }
  return 0
}

function parseFormat(value: string | undefined): Format {
  if (value === undefined || value === 'jwk') return 'jwk'
  if (value === 'pem') return 'pem'
  throw new UsageError('--format must be jwk or pem')
}

function publicText(key: JwsKey, format: Format): string {
  return format === 'pem' ? exportPem(key).publicPem : formatJson({ keys: [exportPublicJwk(key)] }) + '\n'
}

async function writePrivateKey(path: string, text: string): Promise<void> {
  try {
    // `wx`: never replace an existing file (it may be the key that signs production tokens);
    // 0600: readable by the owner only, from the moment the file exists.
    await writeFile(path, text, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
    if (code === 'EEXIST') throw new CliError(`--out file "${path}" already exists; refusing to overwrite a key`)
    throw new CliError(`--out file "${path}" cannot be written (${typeof code === 'string' ? code : 'error'})`)
  }
}
