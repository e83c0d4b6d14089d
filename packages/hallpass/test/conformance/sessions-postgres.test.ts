// The session rules on PostgreSQL (skipped with a reason when it is unreachable, except in CI).
import { after } from 'node:test'
import { describeSessionConformance } from '../../src/testing/index.ts'
import { checkPostgres } from '../../../../test/helpers/services.ts'
import { postgresMaker } from '../../../../test/helpers/store-makers.ts'

const skip = await checkPostgres()
const maker = postgresMaker()
after(() => maker.close())
describeSessionConformance('postgres', maker.make, { skip: skip ?? false })
