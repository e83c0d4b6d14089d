// JSON for token headers and payloads: must be an object, with no duplicate member names
// (RFC 7515 §5.2 step 4 / RFC 7519 §4: a parser that keeps the last duplicate and one that
// keeps the first would disagree on what was signed) and bounded nesting.
//
// JSON.parse is V8's iterative parser (deep nesting cannot overflow the stack) and is the
// fastest way to build the value, but it keeps the last duplicate silently. So we count the
// members twice: ':' outside strings in the text (each member has exactly one), and the keys
// of the parsed value. A duplicate makes the first count larger. The text scan skips strings
// with indexOf, so it costs little more than a pass over the punctuation.
//
// A member named "__proto__" is refused anywhere: JSON.parse makes it an own property, but any
// later Object.assign or property-by-property merge of the claims would run the __proto__
// setter and swap the target's prototype for attacker data (docs/security.md D1).
import { JwtMalformed } from '../errors.ts'

export const MAX_JSON_DEPTH = 20

// Invalid UTF-8 is an error, never U+FFFD (RFC 8259 §8.1, RFC 8725 §3.7): Buffer#toString would
// let two different byte strings decode to the same claims. ignoreBOM keeps a leading BOM in the
// text, so the object check below refuses it instead of silently stripping it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Decodes strict UTF-8 or throws `ERR_JWT_MALFORMED` naming `what`. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw new JwtMalformed(`${what} is not valid UTF-8`)
  }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d

/** Parses `text` as a JSON object under the rules above, or throws `ERR_JWT_MALFORMED`. */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text.charCodeAt(0) !== OPEN_BRACE) throw new JwtMalformed(`${what} is not a JSON object`)
  const members = countMembersInText(text, what)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new JwtMalformed(`${what} is not valid JSON`)
  }
  // JSON text that starts with "{" and parses is an object: no further type check is needed.
  if (countMembersInValue(value as object) !== members) {
    throw new JwtMalformed(`${what} has duplicate member names`)
  }
  return value as Record<string, unknown>
}

// Counts ':' outside strings and enforces the depth limit before JSON.parse ever runs.
function countMembersInText(text: string, what: string): number {
  let members = 0
  let depth = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = skipString(text, i, what)
      continue
    }
    if (c === COLON) members++
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) throw new JwtMalformed(`${what} is nested too deeply`)
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--
    i++
  }
  return members
}

// Returns the index after the closing quote of the string opening at `start`.
function skipString(text: string, start: number, what: string): number {
  let end = text.indexOf('"', start + 1)
  for (;;) {
    if (end === -1) throw new JwtMalformed(`${what} is not valid JSON`)
    // The quote is escaped when preceded by an odd number of backslashes.
    let slashes = 0
    while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++
    if ((slashes & 1) === 0) return end + 1
    end = text.indexOf('"', end + 1)
  }
}

// Depth is already bounded by the text scan, so this recursion is bounded too.
function countMembersInValue(value: object): number {
  let count = 0
  if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'object' && item !== null) count += countMembersInValue(item as object)
    return count
  }
  for (const key in value) {
    if (key === '__proto__') throw new JwtMalformed('a member named "__proto__" is not accepted')
    count++
    const item = (value as Record<string, unknown>)[key]
    if (typeof item === 'object' && item !== null) count += countMembersInValue(item)
  }
  return count
}
