/**
 * Ctrl-C for the long CLI jobs (curate, eval, train): the first one stops the job gracefully
 * through `signal` (what arrived is saved; the same command resumes), a second one kills the
 * process as usual. A job that ends with an AbortError prints its message and exits 130.
 */
export async function runInterruptible(message: string, job: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const ac = new AbortController();
  const onSigint = () => {
    console.error(`\n${message}`);
    ac.abort();
  };
  process.once("SIGINT", onSigint);
  try {
    return await job(ac.signal);
  } catch (e) {
    if ((e as Error).name === "AbortError") {
      console.error((e as Error).message);
      return 130;
    }
    throw e;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
