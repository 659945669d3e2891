import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isReportView, markdownHtml, reportHtml } from '../src/report';
import { seedView } from './fixtures';

test('a report view is recognised by its schema', () => {
  assert.ok(isReportView(seedView));
  assert.ok(!isReportView('## NeuralNetwork'));
  assert.ok(!isReportView({ schema: 'flopsight.report/1', models: [] }), 'the FileReport JSON is not the page');
});

test('the page shows the server strings as they are', () => {
  const html = reportHtml(seedView, { cspSource: 's', nonce: 'n' });
  for (const text of ['670.73 KMac', '1.34 MFLOPs', '669.71 k', 'x: [1, 28, 28]', '401.92 KMac', '59.9%', '[1, 512]']) {
    assert.ok(html.includes(text), text);
  }
  assert.match(html, /<rect class="bar" width="65.4"/);
  assert.match(html, /convention <b>ptflops<\/b>/);
});

test('the page: no network, escaped, lines clickable', () => {
  const html = reportHtml(seedView, { cspSource: 'vscode-resource:', nonce: 'abc', focus: 'NeuralNetwork' });
  assert.match(html, /default-src 'none'/);
  assert.doesNotMatch(html, /https?:\/\//);
  assert.match(html, /<a href="#" class="line" data-line="12">12<\/a>/);
  assert.match(html, /<rect class="bar" width="100"/);
  assert.doesNotMatch(html, / style="/, 'no inline style attributes: the CSP would drop them');
  assert.match(html, /<td class="path depth-2" title="linear_relu_stack.0">0 <small>Linear<\/small><\/td>/);
  assert.match(html, /data-focus="NeuralNetwork"/);
  const md = markdownHtml('/w/a.py', '| <b>x</b> |', { cspSource: 's', nonce: 'n' });
  assert.match(md, /&lt;b&gt;x&lt;\/b&gt;/);
});

test('a failed model shows the error the server wrote', () => {
  const broken = structuredClone(seedView);
  broken.models[0] = { ...broken.models[0], status: 'error', error: 'RuntimeError: mat1 & mat2 (line 21)', rows: [], bars: [] };
  const html = reportHtml(broken, { cspSource: 's', nonce: 'n' });
  assert.match(html, /<p class="error">RuntimeError: mat1 &amp; mat2 \(line 21\)<\/p>/);
  assert.doesNotMatch(html, /Heaviest layers/);
});

test('a Calls column only when a layer runs more than once', () => {
  const opts = { cspSource: 's', nonce: 'n' };
  assert.doesNotMatch(reportHtml(seedView, opts), /<th class="num">Calls<\/th>/);
  const shared = structuredClone(seedView);
  shared.models[0].rows[4].calls = 2;
  const html = reportHtml(shared, opts);
  assert.match(html, /<th class="num">Calls<\/th>/);
  assert.match(html, /<td class="num">×2<\/td>/);
});

test('the memory chart: a polyline of the points, the phases, the peak marked and labelled', () => {
  const opts = { cspSource: 's', nonce: 'n' };
  assert.doesNotMatch(reportHtml(seedView, opts), /<svg class="memory-chart"/, 'no chart when memory was not tracked');
  const tracked = structuredClone(seedView);
  tracked.models[0].memory = {
    title: 'Memory over the step',
    points: [
      [0, 0.2],
      [0.25, 0.5],
      [0.5, 0.8],
      [0.75, 1],
      [1, 0.6],
    ],
    phases: [
      { name: 'forward', from: 0, to: 0.5 },
      { name: 'backward', from: 0.5, to: 0.75 },
      { name: 'optimizer', from: 0.75, to: 1 },
    ],
    peak: { index: 3, x: 0.75, y: 1, label: 'peak 12.8 MiB (backward, at <layer1> & "conv2")' },
    max_label: '12.8 MiB',
    summary: 'At the peak: params 2.55 MiB · grads 2.55 MiB',
  };
  const html = reportHtml(tracked, opts);
  assert.match(html, /<h3>Memory over the step<\/h3><svg class="memory-chart"/);
  const [, points] = html.match(/<polyline class="memory-line" points="([^"]*)"/) ?? [];
  assert.equal(points.split(' ').length, 5);
  // The plot area is 524 × 140 from (64, 18): the peak (0.75, 1) is at x 64 + 393, y 18.
  assert.equal(points.split(' ')[3], '457.0,18.0');
  assert.match(html, /<circle class="peak" cx="457.0" cy="18.0"/);
  assert.ok(html.includes('peak 12.8 MiB (backward, at &lt;layer1&gt; &amp; &quot;conv2&quot;)</text>'));
  assert.doesNotMatch(html, /<layer1>/);
  assert.match(html, /text-anchor="end">12.8 MiB<\/text>/);
  for (const name of ['forward', 'backward', 'optimizer']) {
    assert.match(html, new RegExp(`<title>${name}</title>`));
  }
  assert.ok(html.includes('At the peak: params 2.55 MiB · grads 2.55 MiB'));
  assert.doesNotMatch(html, / style="/);
  assert.doesNotMatch(html, /https?:\/\//);
});
