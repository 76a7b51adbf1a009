export { mintToken } from './mint.js'
export type { MintOptions, Signer } from './mint.js'
