/**
 * A message body for JSON consumers (tap, streams): text when it is valid UTF-8 without control
 * characters other than whitespace, else base64, so that any byte sequence gets through unchanged.
 */
export function encodeBody(payload: Buffer): { encoding: 'utf8' | 'base64'; body: string } {
  const text = payload.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(payload) && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
  return isText ? { encoding: 'utf8', body: text } : { encoding: 'base64', body: payload.toString('base64') };
}
