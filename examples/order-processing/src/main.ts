import { runDemo } from './demo.ts';

// pnpm demo [url] [--trace]; BROKER_URL and OMNIBUS_DEMO_TRACE=1 do the same.
const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--')) ?? (process.env.BROKER_URL || 'memory://');
const trace = args.includes('--trace') || process.env.OMNIBUS_DEMO_TRACE === '1';
const summary = await runDemo(url, { trace });
console.log(summary.lines.join('\n'));
if (summary.trace.length > 0) console.log(summary.trace.join('\n'));
process.exitCode = summary.lines.at(-1)?.startsWith('done') ? 0 : 1;
