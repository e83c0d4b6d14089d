/**
 * @module hallpass/testing
 *
 * Test kits shipped with hallpass: the `SessionStore` conformance suite and the session
 * conformance suite (run both against your own store), and the record fixture they build on.
 */
export {
  describeStoreConformance,
  FIXTURE_NOW,
  sessionRecordFixture,
  type StoreConformanceOptions,
  type StoreUnderTest,
} from './store-conformance.ts'
export { createTestClock, describeSessionConformance, type MakeStore, type TestClock } from './session-conformance.ts'
export { describeUserStoreConformance, userRecordFixture, type UserStoreConformanceOptions, type UserStoreUnderTest } from './user-store-conformance.ts'
