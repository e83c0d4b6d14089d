// Usernames are compared after NFKC normalisation and lower-casing, so "Alice" and "ａｌｉｃｅ"
// (full-width) are one account and cannot be registered twice to impersonate each other.
import { SessionInputInvalid } from '../errors.ts'

const MAX_USERNAME_LENGTH = 128

export function normalizeUsername(input: unknown): string {
  if (typeof input !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  const name = input.normalize('NFKC').toLowerCase().trim()
  if (name.length === 0 || name.length > MAX_USERNAME_LENGTH || hasSpaceOrControl(name)) {
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
