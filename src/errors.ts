/**
 * The error for a bad run configuration (unknown key, wrong type, missing file), raised before any
 * work starts. One class for every stage, so the CLI and callers recognise it by name or instanceof.
 * (Bad data records raise DataError from src/data/item.ts, which names file, record and field.)
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A zod issue, as much of it as the message needs. */
interface ConfigIssue {
  path: readonly PropertyKey[];
  message: string;
  keys?: string[];
}

/**
 * One line naming every bad field of a config that failed validation
 * (`invalid eval config: a.b: expected number; train: unknown key(s) 'lrr'`), so the CLI's
 * one-line error rule holds for configs too.
 */
export function configIssuesError(where: string, issues: readonly ConfigIssue[]): ConfigError {
  const parts = issues.map((i) => {
    const path = i.path.map(String).join(".") || "(config)";
    return i.keys?.length ? `${path}: unknown key(s) ${i.keys.map((k) => `'${k}'`).join(", ")}` : `${path}: ${i.message}`;
  });
  return new ConfigError(`invalid ${where}: ${parts.join("; ")}`);
}
