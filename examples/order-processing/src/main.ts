import { runDemo } from './demo.ts';

const summary = await runDemo(process.env.BROKER_URL ?? 'memory://');
console.log(summary.lines.join('\n'));
process.exitCode = summary.lines.at(-1)?.startsWith('done') ? 0 : 1;
