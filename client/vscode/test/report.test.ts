import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFileReport, leafLayers, markdownHtml, reportHtml, reportView } from '../src/report';
import { l1, l2, l3, seed } from './fixtures';

test('a report is recognised by its schema', () => {
  assert.ok(isFileReport(seed));
  assert.ok(!isFileReport('## NeuralNetwork'));
  assert.ok(!isFileReport({ schema: 'other', models: [] }));
});

test('rows: every layer, in order, indented, in ptflops units', () => {
  const view = reportView(seed).models[0];
  assert.equal(view.title, 'NeuralNetwork');
  assert.deepEqual(
    view.rows.map((r) => [r.path, r.name, r.depth, r.macs, r.share, r.params]),
    [
      ['(NeuralNetwork)', '(NeuralNetwork)', 0, '670.73 KMac', '100.0%', '669.71 k'],
      ['flatten', 'flatten', 1, '0 Mac', '0.0%', '0'],
      ['linear_relu_stack', 'linear_relu_stack', 1, '670.73 KMac', '100.0%', '669.71 k'],
      ['linear_relu_stack.0', '0', 2, '401.92 KMac', '59.9%', '401.92 k'],
      ['linear_relu_stack.1', '1', 2, '512 Mac', '0.1%', '0'],
      ['linear_relu_stack.2', '2', 2, '262.66 KMac', '39.2%', '262.66 k'],
      ['linear_relu_stack.3', '3', 2, '512 Mac', '0.1%', '0'],
      ['linear_relu_stack.4', '4', 2, '5.13 KMac', '0.8%', '5.13 k'],
    ],
  );
  assert.deepEqual(Object.fromEntries(view.facts), {
    MACs: '670.73 KMac',
    FLOPs: '1.34 MFLOPs',
    Params: '669.71 k',
    'Param memory': '2.55 MiB',
    Activations: '0 B',
    Input: 'x: [1, 28, 28]',
    'Built on': 'meta',
    Analysis: '41 ms',
  });
});

test('bars: the heaviest leaf layers, widths relative to the heaviest', () => {
  const bars = reportView(seed, 3).models[0].bars;
  assert.deepEqual(
    bars.map((b) => [b.label, b.width]),
    [
      ['linear_relu_stack.0', 100],
      ['linear_relu_stack.2', Math.round((1000 * l2) / l1) / 10],
      ['linear_relu_stack.4', Math.round((1000 * l3) / l1) / 10],
    ],
  );
  assert.deepEqual(
    leafLayers(seed.models[0].layers).map((l) => l.path),
    ['flatten', 'linear_relu_stack.0', 'linear_relu_stack.1', 'linear_relu_stack.2', 'linear_relu_stack.3', 'linear_relu_stack.4'],
  );
});

test('a failed model shows its error where it happened', () => {
  const broken = structuredClone(seed);
  broken.models[0] = { ...broken.models[0], status: 'error', total: null, layers: [], error: { type: 'RuntimeError', message: 'mat1 and mat2 shapes cannot be multiplied (1x784 and 748x512)', line: 21 } };
  const view = reportView(broken).models[0];
  assert.equal(view.error, 'RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x784 and 748x512) (line 21)');
  assert.deepEqual(view.bars, []);
});

test('the page: no network, escaped, lines clickable', () => {
  const html = reportHtml(reportView(seed), { cspSource: 'vscode-resource:', nonce: 'abc', focus: 'NeuralNetwork' });
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

test('a Calls column only when a layer runs more than once', () => {
  const opts = { cspSource: 's', nonce: 'n' };
  assert.doesNotMatch(reportHtml(reportView(seed), opts), /<th class="num">Calls<\/th>/);
  const shared = structuredClone(seed);
  shared.models[0].layers[4].calls = 2;
  const html = reportHtml(reportView(shared), opts);
  assert.match(html, /<th class="num">Calls<\/th>/);
  assert.match(html, /<td class="num">×2<\/td>/);
});
