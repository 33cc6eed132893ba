export type PruneOptions = {
  /** Rows per statement: each batch is its own short statement, so no lock is held for long. */
  batch: number;
  /**
   * Stops starting new batches after this long (default 30 s), so one replica's pass over a
   * huge backlog still ends; the next pass, a minute later, goes on where it stopped.
   */
  budgetMs?: number;
};

/**
 * Clean-up that keeps up with intake: `deleteBatch(limit)` deletes at most `limit` rows and says
 * how many it deleted; it is called again until a batch comes back short (the backlog is gone)
 * or the time budget is spent. A fixed batch per pass would cap clean-up at a rate (5,000 rows a
 * minute) far below what the hot paths write, and the tables would grow without end.
 */
export async function deleteUntilShort(
  options: PruneOptions,
  deleteBatch: (limit: number) => Promise<number>,
): Promise<number> {
  const stopAt = performance.now() + (options.budgetMs ?? 30_000);
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch(options.batch);
    total += deleted;
    if (deleted < options.batch || performance.now() >= stopAt) return total;
  }
}
