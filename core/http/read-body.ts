/**
 * Reads a request body as raw bytes, byte for byte (no decoding, no decompression), refusing at
 * once when Content-Length announces more than the limit and as soon as the stream exceeds it.
 */
import type { IncomingMessage } from 'node:http';
import { BusgateError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    return Promise.reject(tooLarge(limitBytes));
  }
  if (declared === '0') return Promise.resolve(EMPTY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(new BusgateError('bad_request', 'the request body was not received completely'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

function tooLarge(limitBytes: number): BusgateError {
  return new BusgateError('payload_too_large', `the body is larger than the limit of ${limitBytes} bytes`);
}
