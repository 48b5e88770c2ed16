/** Sizes as people write them in config: `512b`, `64kb`, `1mb`. Returns bytes (kb = 1024 b). */
const SIZE = /^(\d+)(b|kb|mb)$/i;
const UNIT_BYTES = { b: 1, kb: 1024, mb: 1024 * 1024 } as const;

export function parseByteSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_BYTES[match[2]!.toLowerCase() as keyof typeof UNIT_BYTES];
}
