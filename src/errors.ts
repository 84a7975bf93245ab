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
