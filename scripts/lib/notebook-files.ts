/**
 * Notebook files as JSON: list them, check they are committed without outputs, clear outputs.
 * Pure TypeScript (no Python) so the clean check runs anywhere the tests run.
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface NotebookCell {
  cell_type: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
}
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export function readNotebook(path: string): Notebook {
  const nb = JSON.parse(readFileSync(path, "utf8")) as Notebook;
  if (!nb || !Array.isArray(nb.cells)) throw new Error(`${path}: not a notebook (no 'cells' array)`);
  return nb;
}

/** notebooks/*.ipynb under the repo, sorted by name (01-data before 02-curate). */
export function listNotebooks(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => resolve(dir, f));
}

export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/** Why a notebook is not clean (outputs, execution counts, nbclient timing metadata); [] if clean. */
export function dirtyCells(nb: Notebook): string[] {
  const problems: string[] = [];
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== "code") return;
    if (cell.outputs && cell.outputs.length > 0) problems.push(`cell ${i}: ${cell.outputs.length} output(s)`);
    if (cell.execution_count != null) problems.push(`cell ${i}: execution_count ${cell.execution_count}`);
    if (cell.metadata && "execution" in cell.metadata) problems.push(`cell ${i}: execution timing metadata`);
  });
  if ("signature" in nb.metadata) problems.push("notebook: trust signature in metadata");
  return problems;
}

/** A copy without outputs, execution counts or timing metadata. */
export function clearNotebook(nb: Notebook): Notebook {
  const cells = nb.cells.map((cell) => {
    if (cell.cell_type !== "code") return cell;
    const metadata = { ...(cell.metadata ?? {}) };
    delete metadata.execution;
    return { ...cell, outputs: [], execution_count: null, metadata };
  });
  const metadata = { ...nb.metadata };
  delete metadata.signature;
  return { ...nb, cells, metadata };
}

/** Keys sorted recursively, like nbformat's writer, so a cleared file diffs cleanly against Jupyter's. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, sortKeys(o[k])]),
    );
  }
  return v;
}

/** nbformat's on-disk layout: one-space indent, sorted keys, trailing newline. */
export function formatNotebook(nb: Notebook): string {
  return JSON.stringify(sortKeys(nb), null, 1) + "\n";
}

/** Atomic write (temp file + rename): a notebook is never left half-written. */
export function writeNotebook(path: string, nb: Notebook): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, formatNotebook(nb));
  renameSync(tmp, path);
}

export function notebookName(path: string): string {
  return path.replace(/^.*[\\/]/, "").replace(/\.ipynb$/, "");
}

export const NOTEBOOKS_DIR = (root: string) => join(root, "notebooks");
