// omnibus's Avro longs against Apache Avro for Java (the reference implementation, from Maven Central):
// both directions, every int64 boundary and random values. Needs a JDK and Maven; CI has both (and sets
// CI=true, which makes their absence a failure here, not a skip).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError, defineEvent } from '../src/index.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const INTEROP = path.join(HERE, 'interop');
const CACHE = path.join(os.homedir(), '.cache', 'omnibus', 'avro-java');
const tools = ['java', 'javac', 'mvn'].filter((tool) => spawnSync(tool, ['-version']).error !== undefined);
if (tools.length > 0 && process.env.CI)
  throw new Error(`the Avro Java interop test needs ${tools.join(', ')}`);

const schema = { type: 'record', name: 'N', fields: [{ name: 'v', type: 'long' }] } as const;
const numbers = defineEvent({ type: 'interop.numbers', version: 1, avro: schema });
const bigints = defineEvent({
  type: 'interop.bigints',
  version: 1,
  avro: {
    type: 'record',
    name: 'N',
    fields: [{ name: 'v', type: { type: 'long', jsType: 'bigint' } }],
  } as const,
});
const HEADER = 10; // C3 01 + 8-byte fingerprint

function boundaries(): bigint[] {
  const out = new Set<bigint>([0n, 1n, -1n]);
  for (const bit of [7n, 14n, 31n, 32n, 52n, 53n, 56n, 62n, 63n]) {
    for (const base of [2n ** bit, -(2n ** bit)]) for (const d of [-2n, -1n, 0n, 1n, 2n]) out.add(base + d);
  }
  return [...out].filter((v) => v >= -(2n ** 63n) && v < 2n ** 63n);
}
function randomInt64(): bigint {
  const word = () => BigInt(Math.floor(Math.random() * 2 ** 32));
  return BigInt.asIntN(64, (word() << 32n) | word());
}
const safe = (v: bigint) => v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);

describe.skipIf(tools.length > 0)(`Avro long against Apache Avro 1.12 for Java`, () => {
  let classpath = '';

  /** Apache Avro answers one line per request line: `encode <decimal>` → hex, `decode <hex>` → decimal. */
  function java(lines: string[]): string[] {
    const output = execFileSync('java', ['-cp', classpath, 'AvroLongs', JSON.stringify(schema)], {
      input: `${lines.join('\n')}\n`,
      maxBuffer: 64 * 1024 * 1024,
    });
    return output.toString().trimEnd().split('\n');
  }

  beforeAll(() => {
    fs.mkdirSync(CACHE, { recursive: true });
    const cpFile = path.join(CACHE, 'classpath.txt');
    execFileSync(
      'mvn',
      [
        '-q',
        '-B',
        'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath',
        `-Dmdep.outputFile=${cpFile}`,
      ],
      { cwd: INTEROP, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const jars = fs.readFileSync(cpFile, 'utf8').trim();
    execFileSync('javac', ['-cp', jars, '-d', CACHE, path.join(INTEROP, 'AvroLongs.java')], {
      stdio: 'inherit',
    });
    classpath = `${CACHE}${path.delimiter}${jars}`;
  }, 180_000);

  const values = [...boundaries(), ...Array.from({ length: 2_000 }, randomInt64)];

  it('Java reads what omnibus writes, and omnibus reads what Java writes, over the whole int64 range', () => {
    const ours = values.map((v) => bigints.encode({ v }).subarray(HEADER).toString('hex'));
    const theirs = java(values.map((v) => `encode ${v}`));
    expect(ours).toEqual(theirs);
    expect(java(ours.map((hex) => `decode ${hex}`))).toEqual(values.map(String));
    const header = bigints.encode({ v: 0n }).subarray(0, HEADER);
    for (const [i, hex] of theirs.entries()) {
      const bytes = Buffer.concat([header, Buffer.from(hex, 'hex')]);
      expect(bigints.decode(bytes).v).toBe(values[i]);
      // As a number: exact within ±(2^53−1), a DecodeError beyond (the event is dead-lettered), never rounded.
      if (safe(values[i]!)) expect(numbers.decode(bytes).v).toBe(Number(values[i]));
      else expect(() => numbers.decode(bytes)).toThrow(DecodeError);
    }
  });

  it('number longs: the same bytes as Java for every safe value', () => {
    const inRange = values.filter(safe);
    const ours = inRange.map((v) =>
      numbers
        .encode({ v: Number(v) })
        .subarray(HEADER)
        .toString('hex'),
    );
    expect(ours).toEqual(java(inRange.map((v) => `encode ${v}`)));
  });
});
