/**
 * Tracks the deliveries of one partition between hand-over and settlement, and says which offset is safe to
 * commit: the lowest offset still unsettled (or one past the last handed-over offset when all are settled).
 * Handlers finish out of order, so an ack of offset 7 while 5 is still running must not commit past 5:
 * after a crash or rebalance, 5 would be lost. Offsets arrive in increasing order (Kafka fetch order) but
 * need not be contiguous (compaction, transaction markers).
 */
export class OffsetTracker {
  /** Handed-over offsets in fetch order; `acked` marks the settled ones. Settled entries at the head are dropped. */
  readonly #offsets: number[] = [];
  readonly #acked: boolean[] = [];
  #head = 0;
  #unsettled = 0;
  /** Everything below this offset is settled (Kafka's commit value: the next offset to read). */
  #safe: number | undefined;
  #committed: number | undefined;
  /** One past the last handed-over offset: where fetching resumes after a rebalance keeps this partition. */
  #next: number | undefined;

  /** Records that `offset` was handed to the core; offsets must increase. */
  add(offset: number): void {
    if (this.#next !== undefined && offset < this.#next) {
      throw new Error(`offset ${offset} handed over after ${this.#next - 1}: offsets must increase`);
    }
    if (this.#head === this.#offsets.length) this.#safe = offset;
    this.#offsets.push(offset);
    this.#acked.push(false);
    this.#unsettled++;
    this.#next = offset + 1;
  }

  /** Marks `offset` settled (acked). Returns true when the safe commit offset moved. */
  ack(offset: number): boolean {
    const index = this.#indexOf(offset);
    if (index < 0 || this.#acked[index]) return false;
    this.#acked[index] = true;
    this.#unsettled--;
    if (index !== this.#head) return false;
    while (this.#head < this.#offsets.length && this.#acked[this.#head]) this.#head++;
    this.#safe = this.#head < this.#offsets.length ? this.#offsets[this.#head] : this.#next;
    if (this.#head > 1024 && this.#head * 2 > this.#offsets.length) this.#compact();
    return true;
  }

  /** Deliveries handed over and not acked yet (running, waiting, or handed back). */
  get unsettled(): number {
    return this.#unsettled;
  }

  /** Everything handed over was acked: fetching may resume after the last handed-over offset. */
  get allAcked(): boolean {
    return this.#unsettled === 0;
  }

  /** The offset to commit if it moved since the last {@link markCommitted}, else undefined. */
  pendingCommit(): number | undefined {
    if (this.#safe === undefined || this.#safe === this.#committed) return undefined;
    return this.#safe;
  }

  /** Everything below `offset` is now committed on the broker. */
  markCommitted(offset: number): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }

  /** Where to resume fetching when the partition stays assigned across a rebalance. */
  get nextFetchOffset(): number | undefined {
    return this.#next;
  }

  #indexOf(offset: number): number {
    // Binary search: offsets are sorted.
    let low = this.#head;
    let high = this.#offsets.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.#offsets[mid]!;
      if (value === offset) return mid;
      if (value < offset) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  #compact(): void {
    this.#offsets.splice(0, this.#head);
    this.#acked.splice(0, this.#head);
    this.#head = 0;
  }
}
