// The mapping between jupyterlab-lsp's virtual document and the cells, against a hand-built
// notebook: cells are joined with two blank lines (VirtualDocument.blankLinesBetweenCells = 2).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cellSpans, editsFor, groupByEditor, place, statusText, type VirtualLineSource } from '../src/layout';

// Notebook: cell 0 code (3 lines), cell 1 markdown (not in the virtual document), cell 2 code (2 lines).
// Virtual lines: 0-2 cell 0, 3-4 padding, 5-6 cell 2, 7-8 padding.
const editors = { a: 'editor of cell 0', b: 'editor of cell 2' };
const layout: Array<{ editor: string; line: number } | null> = [
  { editor: editors.a, line: 0 },
  { editor: editors.a, line: 1 },
  { editor: editors.a, line: 2 },
  null,
  null,
  { editor: editors.b, line: 0 },
  { editor: editors.b, line: 1 },
  null,
  null
];
const source: VirtualLineSource<string> = {
  editorAt: (line) => layout[line]?.editor ?? null,
  toEditor: (pos) => {
    const at = layout[pos.line];
    return at ? { line: at.line, ch: pos.ch } : null;
  }
};

test('a virtual position lands in its cell, at the cell line', () => {
  assert.deepEqual(place(source, { line: 6, ch: 12 }), { editor: editors.b, line: 1, ch: 12 });
  assert.deepEqual(place(source, { line: 2, ch: 0 }), { editor: editors.a, line: 2, ch: 0 });
});

test('positions on the padding between cells are dropped, never shown on a neighbour line', () => {
  assert.equal(place(source, { line: 3, ch: 0 }), null);
  assert.equal(place(source, { line: 4, ch: 0 }), null);
  assert.equal(place(source, { line: 40, ch: 0 }), null);
});

test('hints are grouped by the editor they land in', () => {
  const grouped = groupByEditor(source, [
    { position: { line: 1, ch: 30 }, label: 'x' },
    { position: { line: 4, ch: 0 }, label: 'padding' },
    { position: { line: 5, ch: 8 }, label: 'y' }
  ]);
  assert.deepEqual(grouped.get(editors.a), [{ position: { line: 1, ch: 30 }, label: 'x', line: 1, ch: 30 }]);
  assert.deepEqual(grouped.get(editors.b), [{ position: { line: 5, ch: 8 }, label: 'y', line: 0, ch: 8 }]);
});

test('cell spans count the markdown cell in the index and skip the padding', () => {
  const index = (editor: string): number => (editor === editors.a ? 0 : editor === editors.b ? 2 : -1);
  assert.deepEqual(cellSpans(source, layout.length, index), [
    { index: 0, start: 0, lineCount: 3 },
    { index: 2, start: 5, lineCount: 2 }
  ]);
});

test('a workspace edit gives the edits of one document, from changes and documentChanges', () => {
  const edit = { range: { start: { line: 5, character: 0 }, end: { line: 5, character: 0 } }, newText: '# p\n' };
  assert.deepEqual(editsFor({ changes: { 'file:///nb.ipynb': [edit], 'file:///other.py': [] } }, 'file:///nb.ipynb'), [edit]);
  assert.deepEqual(editsFor({ documentChanges: [{ textDocument: { uri: 'file:///nb.ipynb' }, edits: [edit] }] }, 'file:///nb.ipynb'), [edit]);
});

test('the status bar text names the summary and counts errors', () => {
  const ok = { name: 'Net', line: 3, status: 'ok', label: '670.73 KMac' };
  const bad = { name: 'Broken', line: 9, status: 'error', label: 'RuntimeError' };
  assert.equal(statusText(undefined), '');
  assert.equal(statusText({ uri: 'u', models: [ok], heaviest: ok, text: 'Net: 670.73 KMac · 669.71 k' }), 'flopsight: Net: 670.73 KMac · 669.71 k');
  assert.equal(statusText({ uri: 'u', models: [ok, bad], heaviest: ok, text: 'Net: 670.73 KMac' }), 'flopsight: Net: 670.73 KMac · 1 error');
});
