// A node:test reporter for scripts/run-tests.mjs: one JSON line per failed test, at any depth,
// saying whether it was a whole test file that timed out (its process never finished).
// node:test loads a reporter from its default export.
// eslint-disable-next-line no-restricted-syntax
export default async function* fileFailures(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue
    const { name, file, nesting, details } = event.data
    const timedOut = nesting === 0 && details?.error?.failureType === 'testTimeoutFailure' && file !== undefined && name === file
    yield `${JSON.stringify({ name, file, nesting, timedOut })}\n`
  }
}
