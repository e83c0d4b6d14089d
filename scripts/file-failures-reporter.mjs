// A node:test reporter for scripts/run-tests.mjs: one JSON line per failed top-level test, with
// whether it was a whole test file that timed out (its process never finished).
// node:test loads a reporter from its default export.
// eslint-disable-next-line no-restricted-syntax
export default async function* fileFailures(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail' || event.data.nesting !== 0) continue
    const { name, file, details } = event.data
    const timedOut = details?.error?.failureType === 'testTimeoutFailure' && file !== undefined && name === file
    yield `${JSON.stringify({ name, file, timedOut })}\n`
  }
}
