// Prints the progress lines of the downloads benchmark on a timer, so a long statement or transfer
// still shows that it is alive, and on demand after each step.

export interface Ticker {
  /** Prints the line now and restarts the interval. */
  print(): void;
  stop(): void;
}

/** Prints `line()` every `intervalMs` until stopped. */
export function startTicker(intervalMs: number, line: () => string): Ticker {
  let timer = setInterval(() => console.log(line()), intervalMs);
  return {
    print() {
      clearInterval(timer);
      console.log(line());
      timer = setInterval(() => console.log(line()), intervalMs);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
