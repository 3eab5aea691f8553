/**
 * CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing Canonical Form, as the Avro specification
 * defines for single-object encoding. Returned as 8 little-endian bytes, the order the encoding writes.
 */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
    table.push(fp & MASK);
  }
  return table;
})();

export function rabinFingerprint(canonicalForm: string): Buffer {
  let fp = EMPTY;
  for (const byte of Buffer.from(canonicalForm, 'utf8')) {
    fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(byte)) & 0xffn)]!;
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp & MASK);
  return out;
}

/** `ce_dataschema` of a contract, built once per contract rather than once per event. */
const dataSchemas = new WeakMap<object, string>();
export function dataSchemaOf(contract: { type: string; version: number; fingerprint: string }): string {
  let urn = dataSchemas.get(contract);
  if (urn === undefined) {
    urn = `urn:omnibus:avro:${contract.type}:v${contract.version}:${contract.fingerprint}`;
    dataSchemas.set(contract, urn);
  }
  return urn;
}
