import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, PACKED_ATTRIBUTE } from '../src/codec.ts';
import { isTopicQueue, queueName, topicQueuePrefix } from '../src/naming.ts';
import { parseSqsUrl } from '../src/options.ts';

const body = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);

/** What a receiver gets back from what a publisher encoded (SQS returns attributes sorted by name). */
function roundTrip(message: Parameters<typeof encodeMessage>[0]) {
  const encoded = encodeMessage(message, true);
  const sorted = Object.fromEntries(
    Object.entries(encoded.MessageAttributes).sort(([a], [b]) => a.localeCompare(b)),
  );
  return { encoded, decoded: decodeMessage(encoded.MessageBody, sorted) };
}

describe('sqs codec', () => {
  it('carries binary bodies, keys and every header, in order, through the 10-attribute limit', () => {
    const headers: Record<string, string> = {
      ce_id: 'id-1',
      ce_type: 'orders.placed',
      'x-empty': '',
      'x-control': 'a\u0001b',
      'x-lone-surrogate': 'a\ud800b',
      'AWS.reserved': 'v',
      'bad name!': 'v',
      omnibus: 'a header named like the packed attribute',
    };
    for (let i = 0; i < 12; i++) headers[`x-${String(i).padStart(2, '0')}`] = `v${i} ✓`;
    const { encoded, decoded } = roundTrip({ topic: 't', key: 'k €', body, headers });
    expect(Object.keys(encoded.MessageAttributes).length).toBeLessThanOrEqual(10);
    expect(encoded.MessageAttributes.ce_id?.StringValue).toBe('id-1');
    expect(Object.keys(encoded.MessageAttributes)).toContain(PACKED_ATTRIBUTE);
    expect([...decoded.body]).toEqual([...body]);
    expect(decoded.key).toBe('k €');
    expect(decoded.headers).toEqual(headers);
    expect(Object.keys(decoded.headers)).toEqual(Object.keys(headers));
  });

  it('counts the size as SQS does: base64 body plus attribute names, types and values', () => {
    const { encoded } = roundTrip({ topic: 't', body: new Uint8Array(3000), headers: { ce_id: 'x' } });
    expect(encoded.MessageBody.length).toBe(4000);
    expect(encoded.bytes).toBe(4000 + 'ce_id'.length + 'String'.length + 1);
  });

  it('groups by key, deduplicates by key and id, and gives keyless events their own group', () => {
    const a = encodeMessage({ topic: 't', key: 'k', body, headers: { ce_id: 'same' } }, true);
    const retry = encodeMessage({ topic: 't', key: 'k', body, headers: { ce_id: 'same' } }, true);
    const otherKey = encodeMessage({ topic: 't', key: 'j', body, headers: { ce_id: 'same' } }, true);
    expect(a.MessageGroupId).toBe('k');
    expect(retry.MessageDeduplicationId).toBe(a.MessageDeduplicationId);
    expect(otherKey.MessageDeduplicationId).not.toBe(a.MessageDeduplicationId);
    const keyless = encodeMessage({ topic: 't', body, headers: { ce_id: 'e-1' } }, true);
    expect(keyless.MessageGroupId).toBe('e-1');
    const long = encodeMessage({ topic: 't', key: 'ü'.repeat(200), body, headers: {} }, true);
    expect(long.MessageGroupId).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    const standard = encodeMessage({ topic: 't', key: 'k', body, headers: {} }, false);
    expect(standard.MessageGroupId).toBeUndefined();
    expect(standard.MessageDeduplicationId).toBeUndefined();
  });

  it('hands a body that omnibus did not write to the core as its own bytes', () => {
    const decoded = decodeMessage('definitely not avro', {
      [PACKED_ATTRIBUTE]: { DataType: 'String', StringValue: '{' },
    });
    expect(Buffer.from(decoded.body).toString()).toBe('definitely not avro');
    expect(decoded.headers[PACKED_ATTRIBUTE]).toBe('{');
  });
});

describe('sqs queue names and URLs', () => {
  it('keeps names within 80 characters of the allowed set, and a topic prefix no other topic shares', () => {
    const name = queueName('omnibus', 'orders.placed'.repeat(10), 'payments · EU'.repeat(10), true);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(/^[A-Za-z0-9_-]+\.fifo$/);
    const prefix = topicQueuePrefix('omnibus', 'a');
    expect(isTopicQueue(queueName('omnibus', 'a', 'g', true), prefix, true)).toBe(true);
    expect(isTopicQueue(queueName('omnibus', 'a', 'g', false), prefix, true)).toBe(false);
    // A longer topic that starts with the same text has another hash, so another prefix.
    expect(queueName('omnibus', 'a--x', 'g', true).startsWith(prefix)).toBe(false);
  });

  it('reads local endpoints, AWS hosts and credentials, and refuses what SQS would', () => {
    expect(parseSqsUrl('sqs://127.0.0.1:9324?region=eu-west-1')).toMatchObject({
      endpoint: 'http://127.0.0.1:9324',
      region: 'eu-west-1',
      credentials: undefined,
    });
    expect(parseSqsUrl('sqs://sqs.eu-central-1.amazonaws.com')).toMatchObject({
      endpoint: undefined,
      region: 'eu-central-1',
    });
    expect(parseSqsUrl('sqs://?region=us-west-2&fifo=false')).toMatchObject({
      endpoint: undefined,
      fifo: false,
    });
    expect(parseSqsUrl('sqs://AKIDEXAMPLE:se%2Fcret@localhost:9324').credentials).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'se/cret',
    });
    expect(() => parseSqsUrl('sqs://h?visibilityTimeoutMs=1500')).toThrow(/whole seconds/);
    expect(() => parseSqsUrl('sqs://h?waitTimeSeconds=21')).toThrow(/0 to 20/);
    expect(() => parseSqsUrl('sqs://h?nope=1')).toThrow(/unknown sqs URL parameter "nope"/);
    expect(() => parseSqsUrl('sqs://h/queue-name')).toThrow(/path/);
    const secret = 'Pw0rd-SENTINEL';
    for (const url of [
      `sqs://AK:${secret}/x@h:9324`,
      `sqs://AK:${secret}%zz@h:9324`,
      `sqs://AK:${secret}@h:99999`,
    ]) {
      let message = '';
      try {
        parseSqsUrl(url);
      } catch (error) {
        message = String(error);
      }
      expect(message).toMatch(/\[omnibus\]/);
      expect(message).not.toContain(secret);
    }
  });
});
