/** Flag values for the CLI subcommands: numbers checked with the flag named, lists, unset fields dropped. */
import { ConfigError } from "../errors";

export function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x)) throw new ConfigError(`--${name}: expected an integer, got '${v}'`);
  return x;
}

export function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new ConfigError(`--${name}: expected a number, got '${v}'`);
  return x;
}

/** Drop undefined fields so that config-file values survive. */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Repeated and comma-separated values as one list (undefined when none). */
export function list(values: string[] | undefined): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean);
}
