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
