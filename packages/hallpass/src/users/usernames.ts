// Usernames are compared after NFKC normalisation and lower-casing, so "Alice" and "ａｌｉｃｅ"
// (full-width) are one account and cannot be registered twice to impersonate each other.
import { SessionInputInvalid } from '../errors.ts'

const MAX_USERNAME_LENGTH = 128
/** A UTF-16 code unit of a surrogate pair without its other half. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function normalizeUsername(input: unknown): string {
  if (typeof input !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  const name = input.normalize('NFKC').toLowerCase().trim()
  // A lone surrogate is not text: stores would turn it into U+FFFD and merge distinct names.
  if (name.length === 0 || name.length > MAX_USERNAME_LENGTH || hasSpaceOrControl(name) || LONE_SURROGATE.test(name)) {
    throw new SessionInputInvalid('username', `must be 1-${MAX_USERNAME_LENGTH} characters without spaces or control characters`)
  }
  return name
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
}
