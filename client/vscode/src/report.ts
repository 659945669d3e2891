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

/** The live memory over the tracked step (issue 15): geometry and labels, all from the server. */
export interface MemoryChart {
  title: string;
  /** [x, y], both 0..1: x along the step's events, y relative to the peak. */
  points: [number, number][];
  /** The step's phases in order, as spans of x. */
  phases: { name: string; from: number; to: number }[];
  /** The highest point (`index` into points) and its label. */
  peak: { index: number; x: number; y: number; label: string };
  /** The y axis's top (the peak's bytes). */
  max_label: string;
  /** The live bytes by category at the peak, one line. */
  summary: string;
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
  /** Absent or null: memory was not tracked. */
  memory?: MemoryChart | null;
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

// The chart's drawing box: the plot area inside it leaves room for the axis and phase labels.
const CHART = { width: 600, height: 180, left: 64, right: 12, top: 18, bottom: 22 };

const MIN_LABELLED_SPAN = 0.08;

function memoryHtml(c: MemoryChart): string {
  const w = CHART.width - CHART.left - CHART.right;
  const h = CHART.height - CHART.top - CHART.bottom;
  const px = (x: number) => (CHART.left + x * w).toFixed(1);
  const py = (y: number) => (CHART.top + (1 - y) * h).toFixed(1);
  const phases = c.phases
    .map(
      (p, i) =>
        `<g class="phase phase-${i % 2}"><title>${escapeHtml(p.name)}</title>` +
        `<rect x="${px(p.from)}" y="${CHART.top}" width="${(Math.max(p.to - p.from, 0) * w).toFixed(1)}" height="${h}"></rect>` +
        // A span too narrow for its name keeps it in the tooltip only.
        (p.to - p.from >= MIN_LABELLED_SPAN
          ? `<text x="${px((p.from + p.to) / 2)}" y="${CHART.height - 6}" text-anchor="middle">${escapeHtml(p.name)}</text>`
          : '') +
        '</g>',
    )
    .join('');
  const line = c.points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ');
  // The peak's label sits on whichever side of the dot has room.
  const anchor = c.peak.x > 0.6 ? 'end' : 'start';
  const dx = anchor === 'end' ? -6 : 6;
  const peak =
    `<circle class="peak" cx="${px(c.peak.x)}" cy="${py(c.peak.y)}" r="3.5"></circle>` +
    `<text class="peak-label" x="${(Number(px(c.peak.x)) + dx).toFixed(1)}" y="${(Number(py(c.peak.y)) + 4).toFixed(1)}" text-anchor="${anchor}">${escapeHtml(c.peak.label)}</text>`;
  const axis =
    `<line class="axis" x1="${CHART.left}" y1="${CHART.top}" x2="${CHART.left}" y2="${CHART.top + h}"></line>` +
    `<line class="axis" x1="${CHART.left}" y1="${CHART.top + h}" x2="${CHART.left + w}" y2="${CHART.top + h}"></line>` +
    `<text class="axis-label" x="${CHART.left - 4}" y="${CHART.top + 4}" text-anchor="end">${escapeHtml(c.max_label)}</text>` +
    `<text class="axis-label" x="${CHART.left - 4}" y="${CHART.top + h}" text-anchor="end">0</text>`;
  return (
    `<h3>${escapeHtml(c.title)}</h3>` +
    `<svg class="memory-chart" viewBox="0 0 ${CHART.width} ${CHART.height}" role="img" aria-label="${escapeHtml(`${c.title}: ${c.peak.label}`)}">` +
    `${phases}${axis}<polyline class="memory-line" points="${line}"></polyline>${peak}</svg>` +
    `<p class="note">${escapeHtml(c.summary)}</p>`
  );
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
  const memory = m.memory ? memoryHtml(m.memory) : '';
  return (
    `<section class="model" data-model="${escapeHtml(m.name)}"><h2>${escapeHtml(m.title)} ${lineLink(m.line)}</h2>` +
    `<div class="facts">${facts}</div>${error}${bars}${memory}${table}${uncounted}</section>`
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
svg.memory-chart { width: 100%; max-width: 48em; height: auto; display: block; font-size: 11px; }
.memory-chart text { fill: var(--vscode-descriptionForeground); }
.memory-chart .phase-0 rect { fill: var(--vscode-charts-blue, #3794ff); fill-opacity: .08; }
.memory-chart .phase-1 rect { fill: var(--vscode-charts-purple, #b180d7); fill-opacity: .08; }
.memory-chart .axis { stroke: var(--vscode-panel-border, #8886); }
.memory-line { fill: none; stroke: var(--vscode-charts-blue, #3794ff); stroke-width: 1.5; }
.memory-chart circle.peak { fill: var(--vscode-charts-red, #f14c4c); }
.memory-chart text.peak-label { fill: var(--vscode-foreground); font-weight: 600; }
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
