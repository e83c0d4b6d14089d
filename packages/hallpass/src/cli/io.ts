/**
 * @module hallpass/cli
 *
 * Bounded input. Every file and every stdin read has a byte limit and stops reading as soon as
 * it is passed, so `--key /dev/zero` or a gigabyte piped into `token decode` fails fast with a
 * clear error instead of exhausting memory (docs/security.md C3).
 */
import { open } from 'node:fs/promises'
import { JwtTooLarge } from '../errors.ts'
import { UsageError, type ParsedArgs } from './args.ts'
import { CliError, InputTooLarge, type CommandContext } from './command.ts'

/** Key files and JWKS: an 8192-bit RSA private JWK is ~6 KB, a JWKS holds at most 100 keys. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024
/** Claims: far above what fits in a token, small enough to refuse a mistaken path at once. */
export const MAX_CLAIMS_BYTES = 64 * 1024
// Room for surrounding whitespace (a trailing newline, CRLF, indentation) around a piped token.
const WHITESPACE_SLACK = 4096

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  EACCES: 'is not readable (permission denied)',
  EPERM: 'is not readable (permission denied)',
  EISDIR: 'is a directory',
  ENOTDIR: 'is not under a directory',
  ELOOP: 'is a symbolic link loop',
}

/**
 * Reads at most `maxBytes` of a file. Throws `CliError` naming the option (`what`) and the path
 * when the file cannot be read or is larger. The content is never part of the message.
 */
export async function readFileLimited(path: string, maxBytes: number, what: string): Promise<Buffer> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    throw fileError(error, path, what)
  }
  try {
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total))
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      total += bytesRead
      if (total > maxBytes) throw new CliError(`${what} file "${path}" is larger than ${maxBytes} bytes`)
    }
    return Buffer.concat(chunks, total)
  } catch (error) {
    if (error instanceof CliError) throw error
    throw fileError(error, path, what)
  } finally {
    await handle.close()
  }
}

function fileError(error: unknown, path: string, what: string): CliError {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  const text = typeof code === 'string' ? (ERRNO_TEXT[code] ?? `cannot be read (${code})`) : 'cannot be read'
  return new CliError(`${what} file "${path}" ${text}`)
}

/**
 * The token of `token verify` / `token decode`: the one positional argument, or standard input
 * when it is `-` or absent. Surrounding whitespace is dropped (a pasted or piped token usually
 * ends in a newline). Throws `ERR_JWT_TOO_LARGE` past `maxBytes` without reading further.
 */
export async function readTokenArgument(args: ParsedArgs, context: CommandContext, maxBytes: number): Promise<string> {
  if (args.positionals.length > 1) throw new UsageError('expected one TOKEN argument (or "-" for standard input)')
  const given = args.positionals[0]
  let text: string
  if (given !== undefined && given !== '-') {
    text = given
  } else {
    // With nothing piped, waiting on the terminal would look like a hang.
    if (given === undefined && context.stdinIsTty) throw new UsageError('no token: pass TOKEN, or "-" to read it from standard input')
    let bytes: Buffer
    try {
      bytes = await context.readStdin(maxBytes + WHITESPACE_SLACK)
    } catch (error) {
      if (error instanceof InputTooLarge) throw new JwtTooLarge(maxBytes)
      throw error
    }
    text = bytes.toString('utf8')
  }
  const token = text.trim()
  if (token.length === 0) throw new UsageError(given === undefined || given === '-' ? 'no token on standard input' : 'the TOKEN argument is empty')
  if (token.length > maxBytes) throw new JwtTooLarge(maxBytes)
  return token
}

/**
 * Text given inline, as `@FILE`, or as `@-` (standard input): the convention of curl and
 * others for values too long or too secret for the command line.
 */
export async function readInlineOrFile(value: string, context: CommandContext, maxBytes: number, what: string): Promise<string> {
  if (!value.startsWith('@')) {
    if (Buffer.byteLength(value) > maxBytes) throw new UsageError(`${what} is larger than ${maxBytes} bytes`)
    return value
  }
  const path = value.slice(1)
  if (path === '-') {
    try {
      return (await context.readStdin(maxBytes)).toString('utf8')
    } catch (error) {
      if (error instanceof InputTooLarge) throw new UsageError(`${what} on standard input is larger than ${maxBytes} bytes`)
      throw error
    }
  }
  if (path === '') throw new UsageError(`${what} "@" needs a file name (or "@-" for standard input)`)
  return (await readFileLimited(path, maxBytes, what)).toString('utf8')
}

/**
 * Reads a stream to the end, or throws `InputTooLarge` once more than `maxBytes` arrived.
 * Leaving the loop early destroys the stream, so the excess is never buffered.
 */
export async function readStreamLimited(stream: AsyncIterable<unknown> | Iterable<unknown>, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    total += bytes.length
    if (total > maxBytes) throw new InputTooLarge(maxBytes)
    chunks.push(bytes)
  }
  return Buffer.concat(chunks, total)
}
