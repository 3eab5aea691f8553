import { DEAD_LETTER_HEADERS, encodedSize, WRITER_SCHEMA_HEADER } from './envelope.ts';

/**
 * Transports accept dead letters up to `DEAD_LETTER_HEADROOM_BYTES` above the event limit. Should the
 * headers still not fit (a long non-ASCII error), a dead letter that can never be published would block its
 * key for good, so the copy is fitted: first the embedded
 * writer schema goes (the fingerprint stays, so the contract still decodes the body), then the error text
 * is shortened, then the optional time and error headers go. Body and original headers stay intact.
 */
export function fitDeadLetter(
  body: Uint8Array,
  headers: Record<string, string>,
  limit: number,
  key?: string,
): Record<string, string> {
  const fitted = { ...headers };
  const over = () => encodedSize(body, fitted, key) - limit;
  if (over() > 0) delete fitted[WRITER_SCHEMA_HEADER];
  const error = fitted[DEAD_LETTER_HEADERS.error] ?? '';
  if (over() > 0 && error.length > 0) {
    const keep = Math.max(0, Buffer.byteLength(error) - over() - 3);
    fitted[DEAD_LETTER_HEADERS.error] = `${Buffer.from(error)
      .subarray(0, keep)
      .toString()
      .replace(/\uFFFD$/, '')}…`;
  }
  if (over() > 0) delete fitted[DEAD_LETTER_HEADERS.time];
  if (over() > 0) delete fitted[DEAD_LETTER_HEADERS.error];
  return fitted;
}
