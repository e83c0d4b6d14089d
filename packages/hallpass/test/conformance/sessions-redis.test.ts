// The session rules on Redis (skipped with a reason when it is unreachable, except in CI).
import { after } from 'node:test'
import { describeSessionConformance } from '../../src/testing/index.ts'
import { checkRedis } from '../../../../test/helpers/services.ts'
import { redisMaker } from '../../../../test/helpers/store-makers.ts'

const skip = await checkRedis()
const maker = redisMaker()
after(() => maker.close())
describeSessionConformance('redis', maker.make, { skip: skip ?? false })
