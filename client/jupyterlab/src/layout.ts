// Pure helpers (no JupyterLab, no DOM): where the server's answers go in the editors, and the
// notebook's cell layout as the server is told it. Unit-tested in test/layout.test.ts.

/** A position in the virtual document jupyterlab-lsp sends to the server (0-based). */
export interface VirtualPosition {
  line: number;
  ch: number;
}

/** The same position in one editor (a cell, or the file editor). */
export interface Placed<E> {
  editor: E;
  line: number;
  ch: number;
}

/** What the adapter's virtual document can tell about one of its lines. */
export interface VirtualLineSource<E> {
  /** The editor showing this virtual line, or null for padding between cells. */
  editorAt(line: number): E | null;
  /** The line/column in that editor, or null for padding. */
  toEditor(pos: VirtualPosition): { line: number; ch: number } | null;
}

/** A virtual position placed in its editor; null when it falls on padding between cells. */
export function place<E>(source: VirtualLineSource<E>, pos: VirtualPosition): Placed<E> | null {
  const editor = source.editorAt(pos.line);
  if (editor === null) {
    return null;
  }
  const at = source.toEditor(pos);
  return at === null ? null : { editor, line: at.line, ch: at.ch };
}

/** Items grouped by the editor they land in (items on padding lines are dropped). */
export function groupByEditor<E, T extends { position: VirtualPosition }>(
  source: VirtualLineSource<E>,
  items: readonly T[]
): Map<E, Array<T & { line: number; ch: number }>> {
  const out = new Map<E, Array<T & { line: number; ch: number }>>();
  for (const item of items) {
    const placed = place(source, item.position);
    if (placed === null) {
      continue;
    }
    const list = out.get(placed.editor) ?? [];
    list.push({ ...item, line: placed.line, ch: placed.ch });
    out.set(placed.editor, list);
  }
  return out;
}

/** One code cell in the virtual document: `flopsight/notebookCells` sends a list of these. */
export interface CellSpan {
  /** Position among all the notebook's cells, markdown included (0-based). */
  index: number;
  /** First virtual line of the cell (0-based). */
  start: number;
  lineCount: number;
}

/**
 * The code cells' spans, from walking the virtual lines: `cellIndex(editor)` gives the notebook
 * index of the cell an editor belongs to (or -1 when it is not a cell).
 */
export function cellSpans<E>(
  source: VirtualLineSource<E>,
  lineCount: number,
  cellIndex: (editor: E) => number
): CellSpan[] {
  const spans: CellSpan[] = [];
  let current: { editor: E; span: CellSpan } | null = null;
  for (let line = 0; line < lineCount; line++) {
    const editor = source.editorAt(line);
    const at = editor === null ? null : source.toEditor({ line, ch: 0 });
    if (editor === null || at === null) {
      current = null;
      continue;
    }
    if (current !== null && current.editor === editor) {
      current.span.lineCount = at.line + 1;
      continue;
    }
    const index = cellIndex(editor);
    if (index < 0) {
      current = null;
      continue;
    }
    current = { editor, span: { index, start: line - at.line, lineCount: at.line + 1 } };
    spans.push(current.span);
  }
  return spans;
}

/** An inlay hint's label as text (a string or label parts). */
export function hintLabel(label: string | Array<{ value: string }>): string {
  return typeof label === 'string' ? label : label.map((part) => part.value).join('');
}

/** A tooltip (string or markup content) as plain text. */
export function tooltipText(tooltip: string | { value: string } | undefined): string {
  if (tooltip === undefined) {
    return '';
  }
  return typeof tooltip === 'string' ? tooltip : tooltip.value;
}

/** The status bar's text for a `flopsight/summary` notification. */
export interface SummaryModel {
  name: string;
  line: number;
  status: string;
  label: string;
  error?: string | null;
}

export interface Summary {
  uri: string;
  models: SummaryModel[];
  heaviest: SummaryModel | null;
  text: string;
}

export function statusText(summary: Summary | undefined): string {
  if (summary === undefined || summary.models.length === 0) {
    return '';
  }
  const errors = summary.models.filter((m) => m.status === 'error').length;
  const more = errors > 0 ? ` · ${errors} error${errors > 1 ? 's' : ''}` : '';
  return `flopsight: ${summary.text}${more}`;
}

export function statusTooltip(summary: Summary | undefined): string {
  if (summary === undefined) {
    return '';
  }
  return summary.models.map((m) => `${m.name}: ${m.label}`).join('\n');
}

/** A text edit in virtual coordinates, as a code action carries it. */
export interface VirtualEdit {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  newText: string;
}

/** The edits of a WorkspaceEdit that belong to `uri` (plain `changes` or `documentChanges`). */
export function editsFor(
  edit: {
    changes?: Record<string, VirtualEdit[]>;
    documentChanges?: Array<{ textDocument?: { uri: string }; edits?: VirtualEdit[] }>;
  },
  uri: string
): VirtualEdit[] {
  const out: VirtualEdit[] = [...(edit.changes?.[uri] ?? [])];
  for (const change of edit.documentChanges ?? []) {
    if (change.textDocument?.uri === uri && change.edits) {
      out.push(...change.edits);
    }
  }
  return out;
}
