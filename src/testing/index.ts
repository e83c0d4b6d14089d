/**
 * @module hallpass/testing
 *
 * Test kits shipped with hallpass: the `SessionStore` conformance suite (run it against your
 * own store) and the record fixture its cases are built from.
 */
export {
  describeStoreConformance,
  FIXTURE_NOW,
  sessionRecordFixture,
  type StoreConformanceOptions,
  type StoreUnderTest,
} from './store-conformance.ts'
