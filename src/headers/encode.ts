import { GateError } from '../errors.js'

export type HeaderEncoding = 'quoted-printable' | 'none'

/**
 * C0 controls (TAB included), DEL, C1 controls, and the Unicode line and paragraph separators.
 * Any of them in a header value could split or smuggle a header in some proxy, so a claim that
 * holds one fails the request instead of being cleaned.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** Printable ASCII that quoted-printable may leave as is; `=` is its escape and never is. */
const PLAIN_QP = /^[\u0021-\u003c\u003e-\u007e]*$/

const encoder = new TextEncoder()

/**
 * Turns a claim value into a header value. With quoted-printable (Grafana's
 * `headers_encoded = true`) every byte outside printable ASCII, every `=`, and a space at
 * either end becomes `=XX`, with no soft line breaks. With `none`, a non-ASCII value fails
 * closed. Throws ERR_CLAIM_UNSAFE.
 */
export function encodeHeaderValue(value: string, encoding: HeaderEncoding, claim: string): string {
  if (UNSAFE.test(value)) {
    throw new GateError('ERR_CLAIM_UNSAFE', `claim ${claim} holds a control character`)
  }
  if (encoding === 'none') {
    if (!/^[\u0020-\u007e]*$/.test(value)) {
      throw new GateError('ERR_CLAIM_UNSAFE', `claim ${claim} is not ASCII and encoding is off`)
    }
    return value
  }
  if (PLAIN_QP.test(value)) return value
  return quotedPrintable(value)
}

function quotedPrintable(value: string): string {
  const bytes = encoder.encode(value)
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    const edgeSpace = byte === 0x20 && (i === 0 || i === bytes.length - 1)
    if (byte > 0x20 && byte < 0x7f && byte !== 0x3d) out += String.fromCharCode(byte)
    else if (byte === 0x20 && !edgeSpace) out += ' '
    else out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
