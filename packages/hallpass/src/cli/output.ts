/**
 * @module hallpass/cli
 *
 * Making untrusted text safe to print. A token's header and claims, its `kid` or `alg`, are
 * chosen by whoever made the token; printed raw, an ESC or CSI sequence (C0 `\x1b[`, or the
 * single C1 byte U+009B) could rewrite the terminal, and bidi overrides (U+202E) could make
 * `exp` or `iss` read differently from what the bytes say. Everything the CLI prints that
 * came from a token, a key file or the command line goes through one of these two functions.
 */

// C0 and C1 controls, DEL, zero-width and bidi formatting characters, and the two Unicode
// line separators (which would split one log line into several). Matching control characters
// is the point of this pattern.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g
// The subset JSON.stringify leaves unescaped (it already escapes U+0000-U+001F).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g

function escape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** `text` with every control or invisible formatting character written as `\uXXXX`. */
export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE, escape)
}

/**
 * Pretty JSON in which every character that could act on a terminal is `\uXXXX`-escaped.
 * The escapes only ever land inside JSON strings (the JSON syntax itself is ASCII), so the
 * output still parses to exactly the same value.
 */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, escape)
}
