/**
 * @module hallpass/cli
 *
 * `hallpass token decode`: shows a token's header and payload WITHOUT verifying anything, for
 * debugging. Anyone can write any claims into an unverified token, so every run says so on
 * stderr, and `--json` output carries `"verified": false`.
 *
 * The input is hostile by assumption (a token pasted from a bug report, a log, an attacker):
 * it is size-capped before it is split, each segment goes through the engine's strict
 * base64url decoder and its strict JSON parser (bounded depth, no duplicate members), the
 * bytes must be valid UTF-8, and everything printed is escaped for the terminal.
 */
import { createPrivateKey } from 'node:crypto'
import { decryptJwt, isJweAlgorithm, type JweKeyMaterial } from '../../engine/index.ts'
import { JweInvalid, JwtMalformed, KeyInvalid } from '../../errors.ts'
import { decodeBase64url } from '../../internal/base64url.ts'
import { parseJsonObject } from '../../internal/strict-json.ts'
import type { ParsedArgs } from '../args.ts'
import type { CliCommand, CommandContext } from '../command.ts'
import { readTokenArgument } from '../io.ts'
import { readKeyFile } from '../key-files.ts'
import { formatJson, sanitizeForTerminal } from '../output.ts'

/**
 * Larger than the verifier's 8 KiB default on purpose: decode is also for looking at other
 * issuers' tokens (an ID token with many groups), yet small enough to bound the work.
 */
export const MAX_DECODE_TOKEN_BYTES = 64 * 1024

const NUMERIC_DATE_CLAIMS = ['iat', 'nbf', 'exp'] as const
const UNVERIFIED_NOTICE =
  'UNVERIFIED: the signature was NOT checked; anyone can forge these contents. Use "hallpass token verify" to trust a token.\n'

/** The `token decode` command. */
export const tokenDecodeCommand: CliCommand = {
  name: 'token decode',
  summary: 'Show the header and payload of a JWT WITHOUT verifying it (debugging only).',
  usage: '[--json] [--key FILE] [TOKEN | -]',
  options: [
    { name: 'json', type: 'boolean', help: 'Print one JSON object (with "verified": false) instead of text.' },
    { name: 'key', type: 'string', value: 'FILE', help: 'An encrypted token (JWE): the key that decrypts it (a private JWK, an "oct" JWK for dir, or a PEM private key).' },
  ],
  details: [
    'The token is the TOKEN argument, or standard input when TOKEN is "-" or absent.',
    'An encrypted token (JWE) shows its header; with --key, the signed token inside it too.',
    'exp, iat and nbf are shown as UTC dates with the time from now.',
    'Nothing is verified: never base a decision on this output.',
  ].join('\n'),
  run,
}

interface TimeInfo {
  readonly date: string | null
  readonly relative: string | null
  readonly problem?: string
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  const input = await readTokenArgument(args, context, MAX_DECODE_TOKEN_BYTES)
  let token = input
  let encryption: Record<string, unknown> | undefined
  if (input.split('.').length === 5) {
    encryption = decodeSegment(input.split('.')[0]!, 'header')
    const keyFile = args.string('key')
    if (keyFile === undefined) {
      context.stderr('ENCRYPTED: this is a JWE; its claims cannot be read without the key. Pass --key FILE to decrypt it.\n')
      context.stdout(args.flag('json') ? formatJson({ verified: false, encrypted: true, header: encryption }) + '\n' : ['Encrypted (JWE) header', formatJson(encryption), ''].join('\n'))
      return 0
    }
    // The key chosen by the person may name no algorithm (a PEM, a JWK without alg): the
    // token's own is taken, when it is one hallpass decrypts at all (never PBES2 or RSA1_5).
    if (!isJweAlgorithm(encryption.alg)) throw new JweInvalid(`alg ${sanitizeForTerminal(String(encryption.alg).slice(0, 32))} is not one hallpass decrypts`)
    token = await decryptJwt(input, await decryptionKey(keyFile), { algorithms: [encryption.alg], maxTokenBytes: MAX_DECODE_TOKEN_BYTES })
  }
  const segments = token.split('.')
  if (segments.length !== 3) throw new JwtMalformed('a compact JWS has exactly three segments')
  const header = decodeSegment(segments[0]!, 'header')
  const payload = decodeSegment(segments[1]!, 'payload')
  const signatureBytes = decodeBase64url(segments[2]!, 'signature').length

  const nowSeconds = context.now() / 1000
  const times: Record<string, TimeInfo> = {}
  for (const name of NUMERIC_DATE_CLAIMS) {
    if (Object.hasOwn(payload, name)) times[name] = describeNumericDate(payload[name], nowSeconds, name)
  }

  context.stderr(UNVERIFIED_NOTICE)
  if (args.flag('json')) {
    context.stdout(formatJson({ verified: false, ...(encryption !== undefined ? { encrypted: true, encryption } : {}), header, payload, times, signatureBytes }) + '\n')
    return 0
  }
  const lines = [...(encryption !== undefined ? ['Encrypted (JWE) header, decrypted with --key', formatJson(encryption), ''] : []), 'Header', formatJson(header), '', 'Payload', formatJson(payload)]
  const names = Object.keys(times)
  if (names.length > 0) {
    lines.push('', 'Times (UTC)')
    for (const name of names) {
      const time = times[name]!
      lines.push(`  ${name}  ${time.date ?? '-'}  ${time.problem ?? time.relative}`)
    }
  }
  lines.push('', `Signature: ${signatureBytes} bytes, NOT VERIFIED`)
  context.stdout(lines.join('\n') + '\n')
  return 0
}

/** The `--key` of an encrypted token: one JWK (private or `oct`) or a PEM private key. */
async function decryptionKey(path: string): Promise<JweKeyMaterial> {
  const content = await readKeyFile(path, '--key')
  if (content.kind === 'jwks') throw new KeyInvalid('the --key file is a JWK Set; pass the one key that decrypts')
  if (content.kind === 'jwk') return content.jwk
  try {
    return createPrivateKey(content.pem)
  } catch {
    throw new KeyInvalid('the --key PEM is not a private key this machine can read')
  }
}

// RFC 7519 §7.2 steps 2-4 (and RFC 7515 §5.2 for the header): base64url, then UTF-8, then
// a JSON object. A fatal decoder refuses invalid UTF-8 instead of showing U+FFFD, which would
// display something other than what was signed.
function decodeSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  const bytes = decodeBase64url(segment, what)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    throw new JwtMalformed(`${what} is not valid UTF-8`)
  }
  return parseJsonObject(text, what)
}

// JS dates span ±8.64e15 ms (ECMA-262 §21.4.1.1); a NumericDate beyond that has no date.
const MAX_DATE_SECONDS = 8.64e12

function describeNumericDate(value: unknown, nowSeconds: number, name: string): TimeInfo {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return { date: null, relative: null, problem: `not a NumericDate (${typeof value}); verifiers reject it` }
  }
  if (Math.abs(value) > MAX_DATE_SECONDS) return { date: null, relative: null, problem: 'outside the range of dates' }
  const relative = describeRelativeTime(value - nowSeconds)
  const passed = value <= nowSeconds
  const note = name === 'exp' && passed ? ' (expired)' : name === 'nbf' && !passed ? ' (not valid yet)' : name === 'iat' && !passed ? ' (in the future)' : ''
  return { date: new Date(value * 1000).toISOString(), relative: relative + note }
}

const UNITS: ReadonlyArray<readonly [Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86_400],
  ['day', 86_400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
]
const RELATIVE = new Intl.RelativeTimeFormat('en', { numeric: 'always' })

/**
 * "in 9 minutes", "3 hours ago": the largest unit that fits, counted down (a token with 9 min
 * 59 s left shows "in 9 minutes", never more time than it has).
 *
 * @example
 * describeRelativeTime(-3 * 3600) // '3 hours ago'
 */
export function describeRelativeTime(deltaSeconds: number): string {
  const abs = Math.abs(deltaSeconds)
  if (abs < 1) return 'now'
  const [unit, size] = UNITS.find(([, s]) => abs >= s)!
  const count = Math.floor(abs / size)
  return RELATIVE.format(deltaSeconds < 0 ? -count : count, unit)
}
