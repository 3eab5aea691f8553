import { ConfigError } from '@omnibus/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, parseRabbitMqUrl } from '../src/options.ts';

describe('amqp:// URL parsing', () => {
  it('takes the publish time-out as publishTimeout or publishTimeoutMs (the name every adapter takes)', () => {
    const parse = (query: string) => parseRabbitMqUrl(new URL(`amqp://h${query}`)).options;
    expect(parse('').publishTimeoutMs).toBe(DEFAULT_OPTIONS.publishTimeoutMs);
    expect(parse('?publishTimeout=45000').publishTimeoutMs).toBe(45_000);
    expect(parse('?publishTimeoutMs=60000').publishTimeoutMs).toBe(60_000);
    expect(() => parse('?publishTimeoutMs=0')).toThrow(ConfigError);
  });

  it('takes routing=fnv (the default) or routing=hash, and nothing else', () => {
    const parse = (query: string) => parseRabbitMqUrl(new URL(`amqp://h${query}`)).options;
    expect(parse('').routing).toBe('fnv');
    expect(parse('?routing=hash').routing).toBe('hash');
    expect(parse('?routing=fnv').routing).toBe('fnv');
    expect(() => parse('?routing=consistent')).toThrow(/routing=consistent .* must be fnv or hash/);
  });
});
