/** Image grids for notebooks: PNG bytes as data URLs in one HTML display (no files to serve). */
import { escapeHtml, showBundle, type MimeBundle } from "./display";

export interface GridItem {
  png: Uint8Array;
  caption: string;
}

/** HTML for a grid of PNGs with captions; `width` is each image's displayed width in pixels. */
export function imageGridBundle(items: GridItem[], opts: { columns?: number; width?: number } = {}): MimeBundle {
  const columns = opts.columns ?? 4;
  const width = opts.width ?? 192;
  const cells = items.map((it) => {
    const url = `data:image/png;base64,${Buffer.from(it.png).toString("base64")}`;
    return `<figure style="margin:0"><img src="${url}" style="width:${width}px;image-rendering:auto" alt="${escapeHtml(it.caption)}"><figcaption style="font-size:12px;max-width:${width}px;overflow-wrap:anywhere">${escapeHtml(it.caption)}</figcaption></figure>`;
  });
  const html = `<div style="display:grid;grid-template-columns:repeat(${columns}, ${width}px);gap:8px">${cells.join("")}</div>`;
  const plain = `<${items.length} image(s): ${items.map((i) => i.caption).join(" | ")}>`;
  return { "text/html": html, "text/plain": plain };
}

export function showImageGrid(items: GridItem[], opts: { columns?: number; width?: number } = {}): void {
  showBundle(imageGridBundle(items, opts));
}
