/**
 * Watches handler runs across every instance of a case and checks the per-key promise itself, not a proxy
 * of it: a key's next handler never *starts* before the previous one *finished* (redeliveries included),
 * first starts follow publish order, completions follow publish order, and — where no fault is injected —
 * no event runs twice.
 */
interface Run {
  seq: number;
  instance: string;
}

interface Overlap {
  key: string;
  running: Run;
  started: Run;
}

export class RunObserver {
  /** Per key, the run in progress (at most one when the promise holds). */
  readonly #running = new Map<string, Run[]>();
  readonly #firstStarts = new Map<string, number[]>();
  readonly #completions = new Map<string, number[]>();
  readonly #started = new Set<string>();
  readonly #completed = new Set<string>();
  /** Runs per `key/seq`, and on which instances. */
  readonly #runs = new Map<string, string[]>();
  readonly overlaps: Overlap[] = [];
  completedCount = 0;

  /** Records a handler start; call the returned function when it finishes (successfully or not). */
  start(key: string, seq: number, instance: string): (outcome?: 'completed' | 'failed') => void {
    const run = { seq, instance };
    const running = this.#running.get(key) ?? [];
    for (const other of running) this.overlaps.push({ key, running: other, started: run });
    running.push(run);
    this.#running.set(key, running);
    const id = `${key}/${seq}`;
    const instances = this.#runs.get(id) ?? [];
    instances.push(instance);
    this.#runs.set(id, instances);
    if (!this.#started.has(id)) {
      this.#started.add(id);
      append(this.#firstStarts, key, seq);
    }
    return (outcome = 'completed') => {
      running.splice(running.indexOf(run), 1);
      if (outcome === 'completed' && !this.#completed.has(id)) {
        this.#completed.add(id);
        append(this.#completions, key, seq);
        this.completedCount++;
      }
    };
  }

  /** Wraps a handler body: start, run, finish — the usual use. */
  async observe(key: string, seq: number, instance: string, body: () => Promise<void>): Promise<void> {
    const finish = this.start(key, seq, instance);
    try {
      await body();
      finish('completed');
    } catch (error) {
      finish('failed');
      throw error;
    }
  }

  /** "k3: seq 41 (instance b) started while seq 40 (instance a) was running" for the first few overlaps. */
  describeOverlaps(limit = 3): string {
    const shown = this.overlaps
      .slice(0, limit)
      .map(
        (o) =>
          `key ${o.key}: seq ${o.started.seq} (instance ${o.started.instance}) started while seq ${o.running.seq} (instance ${o.running.instance}) was running`,
      );
    return `${this.overlaps.length} same-key overlap(s): ${shown.join('; ')}`;
  }

  /** Events that ran more than once: "3 events ran twice or more: k1/4 on a,b; …". */
  duplicates(): { id: string; instances: string[] }[] {
    return [...this.#runs]
      .filter(([, runs]) => runs.length > 1)
      .map(([id, instances]) => ({ id, instances }));
  }

  describeDuplicates(limit = 3): string {
    const duplicates = this.duplicates();
    const shown = duplicates.slice(0, limit).map((d) => `${d.id} on ${d.instances.join(',')}`);
    return `${duplicates.length} event(s) ran more than once: ${shown.join('; ')}`;
  }

  /**
   * Checks, for every key of `expected` (seqs in publish order): first starts and completions in that
   * order, each seq completed. Returns the first broken promise in words, or undefined.
   */
  orderProblem(expected: Map<string, number[]>): string | undefined {
    for (const [key, seqs] of expected) {
      const starts = this.#firstStarts.get(key) ?? [];
      const bad = firstInversion(starts);
      if (bad !== undefined)
        return `key ${key}: seq ${starts[bad]} first started after seq ${starts[bad - 1]}`;
      const done = this.#completions.get(key) ?? [];
      const badDone = firstInversion(done);
      if (badDone !== undefined)
        return `key ${key}: seq ${done[badDone]} completed after seq ${done[badDone - 1]} (completion order must equal publish order)`;
      if (done.length < seqs.length) {
        const missing = seqs.filter((s) => !this.#completed.has(`${key}/${s}`));
        return `key ${key}: ${missing.length} of ${seqs.length} events never completed (first: seq ${missing.slice(0, 5).join(', ')})`;
      }
    }
    return undefined;
  }
}

function append(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function firstInversion(values: number[]): number | undefined {
  for (let i = 1; i < values.length; i++) if (values[i]! < values[i - 1]!) return i;
  return undefined;
}

/** Seqs per key in publish order, from what `publishKeyed` returned. */
export function expectedOrder(sent: { key: string; seq: number }[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const { key, seq } of sent) append(byKey, key, seq);
  for (const seqs of byKey.values()) seqs.sort((a, b) => a - b);
  return byKey;
}
