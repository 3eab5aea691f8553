import type avro from 'avsc';

/**
 * Avro single-object encoding without a buffer per event. avsc's `toBuffer` zero-fills a fresh buffer and
 * copies into it (most of an encode's time on a 256-byte record); here each event is written straight
 * into a shared slab after its 10-byte header and handed out as a view of it — what `Buffer.allocUnsafe`
 * does with Node's own 8 KiB pool. A slab is dropped, never reused, once full: a view is never
 * overwritten, and a slab is freed when the last event written into it is.
 */
const SLAB_BYTES = 32 * 1024;
/** Events larger than this get a buffer of their own rather than most of a slab. */
const OWN_BUFFER_BYTES = SLAB_BYTES / 4;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;

/** `header` (the magic bytes and fingerprint) then `value` in Avro binary, as one buffer. */
export function writeSingleObject(type: avro.Type, header: Buffer, value: unknown): Buffer {
  const start = used;
  header.copy(slab, start);
  const end = type.encode(value, slab, start + header.length);
  if (end > 0) {
    used = end;
    return slab.subarray(start, end);
  }
  // `encode` returns minus the bytes that did not fit.
  const size = slab.length - start - end;
  if (size > OWN_BUFFER_BYTES) {
    const own = Buffer.allocUnsafe(size);
    header.copy(own, 0);
    type.encode(value, own, header.length);
    return own;
  }
  slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  used = 0;
  return writeSingleObject(type, header, value);
}
