// Stable location hashes: derived from the resolver's identity for a place, never from the input text,
// so two spellings of one place share a hash on every machine.

const hashHexLength = 32;

/** Hex SHA-256 of an identity such as "geonames:2988507" or "point:51.507400,-0.127800", cut to 32 digits. */
export function locationHash(identity: string): string {
  return new Bun.CryptoHasher("sha256").update(identity).digest("hex").slice(0, hashHexLength);
}
