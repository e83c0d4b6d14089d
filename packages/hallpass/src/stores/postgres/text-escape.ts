// Text that PostgreSQL cannot hold. PostgreSQL text (and jsonb strings) cannot hold U+0000, and
// lone UTF-16 surrogates would be replaced by U+FFFD on the way in; the contract says records
// round-trip exactly and subjects, claims and device facts may hold anything. So those code
// units are stored as U+FFFF (a Unicode noncharacter, reserved for internal use) followed by
// four hex digits, and U+FFFF itself is escaped the same way, which keeps the mapping injective
// (equality on stored text is equality on the original). Every other string is stored byte for
// byte, readable in psql.
import { readJson } from '../internal/rows.ts'

const ESCAPE = '\uffff'
const TEXT_NEEDS_ESCAPE = /[\0\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
// In JSON.stringify output NUL and lone surrogates appear as \u escapes (any \udXXX it emits is
// a lone surrogate; valid pairs are written raw). `\\.` consumes every other escape, so an
// escaped backslash followed by "u0000" is never misread.
const JSON_NEEDS_ESCAPE = /\\u(0000|d[89a-f][0-9a-f]{2})|\\.|\uffff/g
const ESCAPED = /\uffff([0-9a-f]{4})/g

function hex4(code: number): string {
  return code.toString(16).padStart(4, '0')
}

export function encodeText(value: string): string {
  return value.replace(TEXT_NEEDS_ESCAPE, (c) => ESCAPE + hex4(c.charCodeAt(0)))
}

export function decodeText(value: string): string {
  return value.includes(ESCAPE) ? value.replace(ESCAPED, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : value
}

export function encodeNullableText(value: string | null): string | null {
  return value === null ? null : encodeText(value)
}

export function decodeNullableText(value: string | null): string | null {
  return value === null ? null : decodeText(value)
}

/** JSON text for a jsonb parameter, with the same escape applied inside every string and key. */
export function encodeJson(value: unknown): string {
  const json = JSON.stringify(value)
  return json.replace(JSON_NEEDS_ESCAPE, (match: string, code: string | undefined) =>
    match === ESCAPE ? ESCAPE + 'ffff' : code === undefined ? match : ESCAPE + code,
  )
}

/** Parses jsonb text (selected as `::text`, so no driver or global type parser is involved). */
export function decodeJson(text: string, what: string): unknown {
  const json = text.includes(ESCAPE) ? text.replace(ESCAPED, (_, hex: string) => (hex === 'ffff' ? ESCAPE : `\\u${hex}`)) : text
  return readJson(json, what)
}
