// String well-formedness (ES2024), in Node since 20. TypeScript declares it only in lib
// ES2024, which would also admit APIs that Node 20 lacks (Promise.withResolvers), so only
// these two methods are declared here.
interface String {
  isWellFormed(): boolean
  toWellFormed(): string
}
