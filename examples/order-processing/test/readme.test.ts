import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);

/** Every `<!-- snippet: FILE -->` block in the README must match FILE (or its readme:start/end region). */
it('README snippets are the example files, verbatim', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const snippets = [...readme.matchAll(/<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  expect(snippets.length).toBeGreaterThanOrEqual(2);
  for (const [, file, code] of snippets) {
    const source = readFileSync(new URL(file!, root), 'utf8');
    const region = /\/\/ --- readme:start\n([\s\S]*?)\/\/ --- readme:end/.exec(source)?.[1] ?? source;
    expect(code, `README snippet of ${file}`).toBe(region);
  }
});
