// Set of 1-based row numbers, stored as a bitset with one bit per row that grows as larger rows arrive.

export class RowSet {
  #words = new Uint32Array(256);
  #size = 0;

  constructor(readonly maxRow: number) {}

  get size(): number {
    return this.#size;
  }

  has(row: number): boolean {
    const index = row >>> 5;
    return index < this.#words.length && (this.#words[index]! & (1 << (row & 31))) !== 0;
  }

  /** Adds a row. Returns false when the row was already in the set or lies outside 1..maxRow. */
  add(row: number): boolean {
    if (!Number.isInteger(row) || row < 1 || row > this.maxRow) return false;
    const index = row >>> 5;
    if (index >= this.#words.length) {
      let length = this.#words.length;
      while (length <= index) length *= 2;
      const grown = new Uint32Array(length);
      grown.set(this.#words);
      this.#words = grown;
    }
    const bit = 1 << (row & 31);
    if ((this.#words[index]! & bit) !== 0) return false;
    this.#words[index] = this.#words[index]! | bit;
    this.#size += 1;
    return true;
  }
}
