/**
 * Lease tokens: `<holder>.<lease>.<mac>`, all base64url. The holder is the busgate instance
 * that holds the message (its instance id), so any instance can tell where to forward an ack;
 * the lease is 16 random bytes; the MAC is an HMAC-SHA256 over holder, pull path and lease, with
 * a key the holder made at start and never shares.
 *
 * Only the holder checks the MAC, because only the holder can settle the lease: no secret has to
 * be configured on, or rotated across, the replicas. A token from a restarted holder fails the
 * check, which is right: its leases died with it and the broker has redelivered their messages.
 * The MAC keeps a client from minting tokens for other pull paths; the other instances only read
 * the holder's name from a token, which picks one of the holders' control destinations and
 * nothing else (see control.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAC_BYTES = 16;
/** A lease token is far shorter; anything longer is refused before it is parsed. */
export const MAX_TOKEN_LENGTH = 512;

export interface ParsedToken {
  readonly holder: string;
  readonly lease: string;
  readonly mac: string;
}

/** Reads a token's parts; undefined when it is not shaped like one. Checks no MAC. */
export function parseLeaseToken(token: unknown): ParsedToken | undefined {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part))) return undefined;
  const holder = Buffer.from(parts[0]!, 'base64url').toString('utf8');
  if (holder === '' || Buffer.from(holder, 'utf8').toString('base64url') !== parts[0]) return undefined;
  return { holder, lease: parts[1]!, mac: parts[2]! };
}

/** Makes and checks the tokens of one holder. */
export class LeaseSigner {
  readonly #key = randomBytes(32);

  constructor(readonly holder: string) {}

  /** A new lease id and its token for `path`. */
  issue(path: string): { lease: string; token: string } {
    const lease = randomBytes(16).toString('base64url');
    return { lease, token: `${Buffer.from(this.holder, 'utf8').toString('base64url')}.${lease}.${this.mac(path, lease)}` };
  }

  /** Whether this holder issued `token` for `path`. */
  verify(path: string, token: ParsedToken): boolean {
    if (token.holder !== this.holder) return false;
    const expected = Buffer.from(this.mac(path, token.lease), 'base64url');
    const given = Buffer.from(token.mac, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(path: string, lease: string): string {
    return createHmac('sha256', this.#key).update(`${this.holder}\n${path}\n${lease}`).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}
