import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SummaryParams, statusView } from '../src/status';

// What the server sends for the seed MLP (ptflops: 670,730 MACs, 669,706 params, by hand) and a
// broken model; the client shows these strings and computes none.
const mlp = {
  name: 'NeuralNetwork',
  line: 6,
  status: 'ok',
  cost: '670.73 KMac · 669.71 k',
  detail: 'NeuralNetwork (line 7): 670.73 KMac · 1.34 MFLOPs · 669.71 k params',
};
const broken = { name: 'Broken', line: 20, status: 'error', cost: null, detail: 'Broken (line 21): failed — mat1 and mat2 shapes cannot be multiplied' };

const summary: SummaryParams = {
  uri: 'file:///w/a.py',
  models: [mlp],
  heaviest: mlp,
  status: { text: '⚡ 670.73 KMac · 669.71 k', tooltip: `NeuralNetwork\n${mlp.detail}`, warning: false },
  lines: [mlp.detail],
};

test("the server's status text and tooltip, with a click hint", () => {
  const view = statusView({ running: false, summary });
  assert.equal(view.text, '⚡ 670.73 KMac · 669.71 k');
  assert.equal(view.tooltip, `NeuralNetwork\n${mlp.detail}\nClick for the per-layer report.`);
  assert.equal(view.severity, 'none');
  assert.ok(view.visible);
});

test('a spinner while the analysis runs, keeping the last figures', () => {
  const view = statusView({ running: true, summary });
  assert.equal(view.text, '$(sync~spin) 670.73 KMac · 669.71 k');
  assert.equal(view.tooltip, `flopsight: analysing…\n${mlp.detail}`);
  assert.equal(statusView({ running: true }).text, '$(sync~spin) flopsight');
});

test('a warning icon when the server says a model failed, or the analysis failed', () => {
  const failed: SummaryParams = {
    uri: 'file:///w/a.py',
    models: [broken],
    heaviest: null,
    status: { text: 'flopsight: Broken failed', tooltip: broken.detail, warning: true },
    lines: [broken.detail],
  };
  const view = statusView({ running: false, summary: failed });
  assert.equal(view.text, '$(warning) flopsight: Broken failed');
  assert.equal(view.severity, 'warning');
  assert.match(view.tooltip, /Broken \(line 21\): failed — mat1 and mat2/);
  assert.equal(statusView({ running: true, summary: failed }).text, '$(sync~spin) flopsight');
  const crashed = statusView({ running: false, failure: 'worker died' });
  assert.equal(crashed.text, '$(warning) flopsight');
  assert.match(crashed.tooltip, /worker died/);
});

test('untrusted: the status bar says why nothing runs', () => {
  const view = statusView({ running: false, summary }, 'This workspace is not trusted');
  assert.match(view.text, /not running models/);
  assert.equal(view.tooltip, 'This workspace is not trusted');
});

test('nothing to show without a status (a file without models)', () => {
  assert.equal(statusView(undefined).visible, false);
  assert.equal(statusView({ running: false }).visible, false);
  assert.equal(statusView({ running: false, summary: { uri: 'file:///w/a.py', models: [], status: null } }).visible, false);
});
