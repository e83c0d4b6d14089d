/**
 * @module hallpass/server
 *
 * Headers every response of the server carries, errors and streams included: the API never
 * serves a document to render, so nothing may sniff it into one, frame it, or load from it.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
})
