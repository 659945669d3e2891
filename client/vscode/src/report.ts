// The report webview's content: the report page's display strings, as the server sends them for
// `flopsight.server.showReport` with `{format: "view"}` (server/flopsight/lsp/summary.py), → HTML.
// Every figure is formatted by the server; nothing here computes one.

export interface Row {
  path: string;
  /** The last part of the path: the tree's indentation says the rest. */
  name: string;
  type: string;
  depth: number;
  /** 1-based, or null when the layer was built outside the file. */
  line: number | null;
  calls: number;
  macs: string;
  share: string;
  params: string;
  shape: string;
}

export interface Bar {
  label: string;
  type: string;
  line: number | null;
  macs: string;
  share: string;
  /** Width relative to the heaviest bar, 0..100. */
  width: number;
}

export interface ModelView {
  /** The class or variable name (what the code lens passes). */
  name: string;
  title: string;
  line: number;
  status: string;
  error?: string | null;
  facts: [string, string][];
  rows: Row[];
  bars: Bar[];
  uncounted: string[];
}

export interface ReportView {
  schema: string;
  file: string;
  convention: string;
  models: ModelView[];
  warnings: string[];
  notes: string[];
}

export function isReportView(x: unknown): x is ReportView {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { schema?: unknown }).schema === 'string' &&
    (x as { schema: string }).schema.startsWith('flopsight.view/') &&
    Array.isArray((x as { models?: unknown }).models)
  );
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export interface HtmlOptions {
  cspSource: string;
  nonce: string;
  /** The model to scroll to (the code lens's model). */
  focus?: string;
}

function lineLink(line: number | null): string {
  return line ? `<a href="#" class="line" data-line="${line}">${line}</a>` : '';
}

function modelHtml(m: ModelView): string {
  const facts = m.facts.map(([k, v]) => `<div class="fact"><span>${escapeHtml(k)}</span><b>${escapeHtml(v)}</b></div>`).join('');
  const error = m.error ? `<p class="error">${escapeHtml(m.error)}</p>` : '';
  const bars = m.bars.length
    ? `<h3>Heaviest layers</h3><div class="bars">${m.bars
        .map(
          (b) =>
            `<div class="bar-row" title="${escapeHtml(`${b.label} (${b.type}): ${b.macs}, ${b.share}`)}">` +
            `<div class="bar-label">${escapeHtml(b.label)} <small>${escapeHtml(b.type)}</small> ${lineLink(b.line)}</div>` +
            // SVG geometry, not a style attribute: the page's CSP allows no inline styles.
            `<svg class="bar-track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">` +
            `<rect class="bar" width="${Math.max(b.width, 0.3)}" height="10" rx="0.5"></rect></svg>` +
            `<div class="bar-value">${escapeHtml(b.macs)} <small>${escapeHtml(b.share)}</small></div></div>`,
        )
        .join('')}</div>`
    : '';
  // A Calls column only when some layer runs more than once (shared or looped modules).
  const calls = m.rows.some((r) => r.calls > 1);
  const rows = m.rows
    .map(
      (r) =>
        `<tr><td class="path depth-${Math.min(r.depth, MAX_INDENT)}" title="${escapeHtml(r.path)}">` +
        `${escapeHtml(r.name)} <small>${escapeHtml(r.type)}</small></td><td class="num">${lineLink(r.line)}</td>` +
        (calls ? `<td class="num">${r.calls > 1 ? `×${r.calls}` : ''}</td>` : '') +
        `<td class="num">${escapeHtml(r.macs)}</td><td class="num">${escapeHtml(r.share)}</td>` +
        `<td class="num">${escapeHtml(r.params)}</td><td class="shape">${escapeHtml(r.shape)}</td></tr>`,
    )
    .join('');
  const head =
    `<tr><th>Layer</th><th class="num">Line</th>${calls ? '<th class="num">Calls</th>' : ''}` +
    `<th class="num">MACs</th><th class="num">Share</th><th class="num">Params</th><th>Output shape</th></tr>`;
  const table = m.rows.length
    ? `<h3>Layers</h3><div class="table"><table><thead>${head}</thead><tbody>${rows}</tbody></table></div>`
    : '';
  const uncounted = m.uncounted.length
    ? `<p class="note">Ops without a formula (not counted): ${escapeHtml(m.uncounted.join(', '))}</p>`
    : '';
  return (
    `<section class="model" data-model="${escapeHtml(m.name)}"><h2>${escapeHtml(m.title)} ${lineLink(m.line)}</h2>` +
    `<div class="facts">${facts}</div>${error}${bars}${table}${uncounted}</section>`
  );
}

const MAX_INDENT = 12;
const INDENT = Array.from({ length: MAX_INDENT + 1 }, (_, d) => `td.depth-${d} { padding-left: ${(0.4 + 1.1 * d).toFixed(1)}em; }`).join('\n');

const STYLE = `${INDENT}
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1.2em 2em; }
h1 { font-size: 1.3em; font-weight: 600; margin-bottom: .2em; }
h1 + .sub { color: var(--vscode-descriptionForeground); margin-top: 0; }
h2 { font-size: 1.15em; border-bottom: 1px solid var(--vscode-panel-border, #8884); padding-bottom: .3em; }
h3 { font-size: 1em; margin: 1.2em 0 .5em; }
small { color: var(--vscode-descriptionForeground); }
a.line { color: var(--vscode-textLink-foreground); text-decoration: none; font-size: .9em; }
a.line:hover { text-decoration: underline; }
.facts { display: flex; flex-wrap: wrap; gap: .6em 1.6em; }
.fact span { color: var(--vscode-descriptionForeground); margin-right: .4em; }
.error { color: var(--vscode-errorForeground); white-space: pre-wrap; }
.note { color: var(--vscode-descriptionForeground); }
.bars { display: grid; grid-template-columns: minmax(12em, max-content) 1fr max-content; gap: .25em .8em; align-items: center; }
.bar-row { display: contents; }
.bar-label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.bar-track { background: var(--vscode-editorWidget-background, #8882); height: 1em; width: 100%; border-radius: 2px; display: block; }
.bar { fill: var(--vscode-charts-blue, #3794ff); }
.bar-value { font-variant-numeric: tabular-nums; white-space: nowrap; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .15em .5em; border-bottom: 1px solid var(--vscode-panel-border, #8882); white-space: nowrap; }
th { position: sticky; top: 0; background: var(--vscode-editor-background); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.shape { font-family: var(--vscode-editor-font-family); font-size: .9em; }
pre { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); }
`;

// Line links ask the extension to reveal the line in the editor.
const SCRIPT = `
const vscode = acquireVsCodeApi();
const focus = document.body.dataset.focus;
if (focus) {
  const section = [...document.querySelectorAll('section.model')].find((s) => s.dataset.model === focus);
  if (section) section.scrollIntoView();
}
document.addEventListener('click', (e) => {
  const a = e.target.closest('a.line');
  if (a) { e.preventDefault(); vscode.postMessage({ type: 'reveal', line: Number(a.dataset.line) }); }
});
`;

function page(title: string, body: string, opts: HtmlOptions): string {
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${opts.cspSource} 'nonce-${opts.nonce}'; script-src 'nonce-${opts.nonce}';">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1.0"><title>${escapeHtml(title)}</title>` +
    `<style nonce="${opts.nonce}">${STYLE}</style></head>` +
    `<body${opts.focus ? ` data-focus="${escapeHtml(opts.focus)}"` : ''}>${body}` +
    `<script nonce="${opts.nonce}">${SCRIPT}</script></body></html>`
  );
}

export function reportHtml(view: ReportView, opts: HtmlOptions): string {
  const models = view.models.length
    ? view.models.map(modelHtml).join('')
    : '<p>No models found. Annotate a model class with <code># flopsight: input=(1, 3, 224, 224)</code>.</p>';
  const warnings = view.warnings.length
    ? `<h3>Warnings</h3><ul>${view.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>`
    : '';
  const notes = view.notes.length ? `<ul class="note">${view.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
  const body =
    `<h1>flopsight — ${escapeHtml(baseName(view.file))}</h1>` +
    `<p class="sub">convention <b>${escapeHtml(view.convention)}</b> · 1 GMac = 2 GFLOPs</p>${models}${warnings}${notes}`;
  return page(`flopsight: ${baseName(view.file)}`, body, opts);
}

/** The server answered with markdown only: show it as text. */
export function markdownHtml(file: string, markdown: string, opts: HtmlOptions): string {
  return page(`flopsight: ${baseName(file)}`, `<h1>flopsight — ${escapeHtml(baseName(file))}</h1><pre>${escapeHtml(markdown)}</pre>`, opts);
}

export function messageHtml(title: string, message: string, opts: HtmlOptions): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`, opts);
}

export function baseName(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts[parts.length - 1] || file;
}
