// Header members named like Object.prototype properties are ordinary members: `constructor`
// or `toString` in a header must neither be refused as an "unsupported parameter" nor leak
// `function Object() { [native code] }` into an error message.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { createJwtVerifier, generateKey, type JwsKey } from '../../src/index.ts'

function signWithHeader(header: Record<string, unknown>, claims: Record<string, unknown>, key: JwsKey): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${input}.${createHmac('sha256', key.keyObject).update(input).digest('base64url')}`
}

test('prototype-named header members are plain members', () => {
  const key = generateKey('HS256')
  const verify = createJwtVerifier({ keys: key })
  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
    const token = signWithHeader({ alg: 'HS256', kid: key.kid, typ: 'at+jwt', [name]: 'x' }, { exp: 4_000_000_000 }, key)
    assert.equal(verify(token).header[name], 'x')
  }
})
