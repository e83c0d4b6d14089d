// Reading the Authorization header (RFC 6750 §2.1) and the resource server's answers when it
// holds no usable bearer token (§3.1): the one parser the server and every adapter share.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SessionRevoked, ScopeInsufficient, StoreUnavailable } from 'hallpass/errors'
import { bearerFailure, parseBearerHeader, resourceErrorFailure } from 'hallpass/http'

describe('parseBearerHeader', () => {
  test('a Bearer credential, the scheme in any case', () => {
    assert.deepEqual(parseBearerHeader('Bearer abc.def-_~+/=='), { kind: 'token', token: 'abc.def-_~+/==' })
    assert.deepEqual(parseBearerHeader('bEARER x'), { kind: 'token', token: 'x' })
  })

  test('no header, or an empty list of them: none', () => {
    assert.deepEqual(parseBearerHeader(undefined), { kind: 'none' })
    assert.deepEqual(parseBearerHeader([]), { kind: 'none' })
  })

  test("another scheme's credential, or a scheme name alone: other-scheme", () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Negotiate', 'Digest username="a"', 'DPoP abc', 'Token abc']) {
      assert.deepEqual(parseBearerHeader(header), { kind: 'other-scheme' }, header)
    }
  })

  test('a Bearer credential that does not parse, hostile text or several headers: invalid', () => {
    const hostile = ['', ' ', 'Bearer', 'Bearer ', 'Bearer  x', 'Bearer a b', 'Bearer a\tb', 'Bearer ä', 'Bearer\tx', 'Bearer x\r\nSet-Cookie: a=b', '{"token":"x"}', ' Basic x', '=abc', `Bearer ${'a'.repeat(16 * 1024)}`]
    for (const header of hostile) assert.equal(parseBearerHeader(header).kind, 'invalid', JSON.stringify(header.slice(0, 40)))
    assert.equal(parseBearerHeader(['Bearer a', 'Bearer b']).kind, 'invalid')
    assert.equal(parseBearerHeader(['Bearer a']).kind, 'invalid')
  })
})

describe('bearerFailure and resourceErrorFailure', () => {
  test('none and another scheme: 401 with a bare challenge, no error code', () => {
    for (const kind of ['none', 'other-scheme'] as const) {
      assert.deepEqual(bearerFailure({ kind }, 'api'), {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="api"' },
        body: { error: 'unauthorized', error_description: 'Authentication required' },
      })
    }
  })

  test('a malformed header: 400 invalid_request, whatever the reason, which is never echoed', () => {
    const failure = bearerFailure({ kind: 'invalid', reason: 'secret "detail"' }, 'api')
    assert.equal(failure.status, 400)
    assert.equal(failure.body.error, 'invalid_request')
    assert.doesNotMatch(JSON.stringify(failure), /secret|detail/)
  })

  test('hallpass errors: 401 invalid_token and 403 with challenges, 503 without; anything else is rethrown', () => {
    assert.deepEqual(resourceErrorFailure(new SessionRevoked('sid'), 'api').status, 401)
    const scope = resourceErrorFailure(new ScopeInsufficient(['orders:write']), 'api')
    assert.equal(scope.status, 403)
    assert.match(scope.headers['www-authenticate']!, /scope="orders:write"/)
    const outage = resourceErrorFailure(new StoreUnavailable('read'), 'api')
    assert.equal(outage.status, 503)
    assert.deepEqual(outage.headers, {})
    const bug = new TypeError('bug')
    assert.throws(() => resourceErrorFailure(bug, 'api'), (error) => error === bug)
  })
})
