export { createGate } from './create-gate.js'
export type { Gate, GateOptions } from './create-gate.js'
export { drain, listen } from './server.js'
