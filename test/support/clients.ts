/** The API clients and the awkward body the end-to-end suites (pulls, streams) share. */

/** The daemon's `apiKeys` for `clients`: each client's key is `secret-<name>`. */
export function apiKeysFor(...clients: string[]): Map<string, string> {
  return new Map(clients.map((client) => [client, `secret-${client}`]));
}

/** The header that presents `client`'s key from apiKeysFor. */
export function bearer(client: string): { authorization: string } {
  return { authorization: `Bearer secret-${client}` };
}

/** Not UTF-8: only byte-exact handling gets it through unchanged. */
export const BINARY_BODY = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x0a, 0xff]);
