/** Tables, HTML and Markdown in notebooks: arquero formats the table, tslab shows it. */
import * as aq from "arquero";
import { escapeHtml, showBundle, type MimeBundle } from "./display";

type ColumnTable = ReturnType<typeof aq.from>;

export interface TableOptions {
  /** Rows shown (default 20); the caption says how many were left out. */
  limit?: number;
  /** Columns shown, in order (default: all). */
  columns?: string[];
  caption?: string;
  /** Most fractional digits for numbers (default 4). */
  maxdigits?: number;
}

function asTable(t: ColumnTable | Record<string, unknown>[]): ColumnTable {
  return Array.isArray(t) ? aq.from(t) : t;
}

/** HTML (arquero's toHTML, with a caption) and text/plain (arquero's Markdown) for a table. */
export function tableBundle(t: ColumnTable | Record<string, unknown>[], opts: TableOptions = {}): MimeBundle {
  const table = asTable(t);
  const limit = opts.limit ?? 20;
  const rows = table.numRows();
  const format = { limit, columns: opts.columns, maxdigits: opts.maxdigits ?? 4 };
  const shown = Math.min(limit, rows);
  const note = shown < rows ? `${shown} of ${rows} rows` : `${rows} row${rows === 1 ? "" : "s"}`;
  const caption = opts.caption ? `${opts.caption} (${note})` : note;
  const html = table
    .toHTML({ ...format, style: { table: "border-collapse: collapse;", th: "padding: 2px 8px;", td: "padding: 2px 8px;" } })
    .replace(/^<table([^>]*)>/, `<table$1><caption style="caption-side: top; text-align: left;">${escapeHtml(caption)}</caption>`);
  return { "text/html": html, "text/plain": `${caption}\n${table.toMarkdown(format)}` };
}

/** Show an arquero table or an array of row objects. */
export function showTable(t: ColumnTable | Record<string, unknown>[], opts: TableOptions = {}): void {
  showBundle(tableBundle(t, opts));
}

/** Show trusted HTML (with a text fallback for plain front-ends and logs). */
export function showHtml(html: string, plain?: string): void {
  showBundle({ "text/html": html, "text/plain": plain ?? html.replace(/<[^>]*>/g, "") });
}

export function showMarkdown(markdown: string): void {
  showBundle({ "text/markdown": markdown, "text/plain": markdown });
}
