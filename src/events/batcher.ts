/**
 * Group commit for work items: at most `lanes` batches run at once, and items
 * that arrive while they run wait to form the next batch (up to `maxBatch`).
 * Idle, an item goes alone at once with no added wait; under load, many items
 * share one batch's fixed costs.
 */
export function createBatcher<I, R>(
  run: (items: I[]) => Promise<PromiseSettledResult<R>[]>,
  options: { maxBatch: number; lanes: number },
): (item: I) => Promise<R> {
  let pending: { item: I; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  let running = 0;

  const pump = () => {
    while (running < options.lanes && pending.length > 0) {
      const batch = pending.slice(0, options.maxBatch);
      pending = pending.slice(batch.length);
      running += 1;
      void run(batch.map((p) => p.item))
        .then(
          (results) => batch.forEach((p, i) => settle(p, results[i] ?? { status: 'rejected', reason: new Error('the batch returned no result for this item') })),
          (error: unknown) => batch.forEach((p) => p.reject(error)),
        )
        .finally(() => {
          running -= 1;
          pump();
        });
    }
  };
  const settle = (p: (typeof pending)[number], result: PromiseSettledResult<R>) => (result.status === 'fulfilled' ? p.resolve(result.value) : p.reject(result.reason));

  return (item) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      pump();
    });
}
