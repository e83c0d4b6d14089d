// The session rules on the embedded SQLite store.
import { describeSessionConformance } from '../../src/testing/index.ts'
import { makeSqliteStore } from '../../../../test/helpers/store-makers.ts'

describeSessionConformance('sqlite', makeSqliteStore)
