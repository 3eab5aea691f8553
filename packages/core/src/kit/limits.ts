import { DEAD_LETTER_HEADROOM_BYTES, sizeOf } from '../envelope.ts';
import { MessageTooLargeError } from '../errors.ts';
import type { Capabilities, OutgoingMessage } from '../transport.ts';

/**
 * The size check every transport's `publish` makes: body + header names and values + key against
 * `maxMessageBytes + DEAD_LETTER_HEADROOM_BYTES` (events stop at `maxMessageBytes` in the bus; dead letters
 * may use the headroom). Throws {@link MessageTooLargeError}; returns the measured size.
 */
export function assertPublishable(
  message: OutgoingMessage,
  capabilities: Pick<Capabilities, 'maxMessageBytes'>,
  adapter: string,
  extraBytes = 0,
): number {
  const size = sizeOf(message) + extraBytes;
  const limit = capabilities.maxMessageBytes + DEAD_LETTER_HEADROOM_BYTES;
  if (size > limit)
    throw new MessageTooLargeError(message.headers.ce_type ?? message.topic, size, limit, adapter);
  return size;
}
