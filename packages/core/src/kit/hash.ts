/**
 * FNV-1a (32 bit) over the key's UTF-8 bytes: cheap, stable across processes, runs and languages (a Java,
 * Go or Python producer computes the same value from the same bytes). Lone surrogates count as U+FFFD, as
 * `Buffer.from(key, 'utf8')` encodes them. Every adapter that partitions by key uses this one function.
 */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  const step = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      step(code);
      continue;
    }
    if (code >= 0xd800 && code < 0xe000) {
      const next = key.charCodeAt(i + 1);
      if (code < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x800) {
      step(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      step(0xe0 | (code >> 12));
      step(0x80 | ((code >> 6) & 0x3f));
    } else {
      step(0xf0 | (code >> 18));
      step(0x80 | ((code >> 12) & 0x3f));
      step(0x80 | ((code >> 6) & 0x3f));
    }
    step(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}

/** The partition (0 … `partitions` − 1) a key belongs to: `hashKey(key) mod partitions`. */
export function partitionOf(key: string, partitions: number): number {
  return hashKey(key) % partitions;
}
