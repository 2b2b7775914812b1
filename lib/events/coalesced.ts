/**
 * A call whose concurrent callers share work: while a run is in flight, every call shares one
 * more run after it, which starts after each of them. So each caller still gets a run that began
 * after its call (it sees whatever the caller committed before), and a burst of calls costs two
 * runs, not one each. `settled()` resolves once nothing is running or waiting.
 */
export function coalesced<T>(run: () => Promise<T>): (() => Promise<T>) & { settled(): Promise<void> } {
  let current: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const call = (): Promise<T> => {
    if (!current) {
      current = run().finally(() => {
        current = undefined;
      });
      return current;
    }
    next ??= current
      .catch(() => {})
      .then(() => {
        next = undefined;
        return call();
      });
    return next;
  };
  return Object.assign(call, {
    async settled() {
      while (current || next) await Promise.allSettled([current, next]);
    },
  });
}
