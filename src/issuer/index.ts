export { mintToken } from './mint.js'
export type { MintOptions } from './mint.js'
