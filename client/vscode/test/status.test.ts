import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SummaryParams, heaviestModel, statusView, summaryFromReport } from '../src/status';
import { seed } from './fixtures';

// densenet161 at (1, 3, 224, 224) as ptflops prints it in the seed article: 7.82 GMac, 28.68 M params.
const densenet = { name: 'net', line: 9, status: 'ok', macs: 7_820_000_000, flops: 15_640_000_000, params: 28_680_000 };
// The seed MLP, by hand: Linear 784·512+512, ReLU 512, Linear 512·512+512, ReLU 512, Linear 512·10+10.
const mlpMacs = 784 * 512 + 512 + 512 + (512 * 512 + 512) + 512 + (512 * 10 + 10);
const mlpParams = 784 * 512 + 512 + (512 * 512 + 512) + (512 * 10 + 10);
const mlp = { name: 'NeuralNetwork', line: 6, status: 'ok', macs: mlpMacs, flops: 2 * mlpMacs, params: mlpParams };

const summary = (models: SummaryParams['models'], heaviest?: SummaryParams['heaviest']): SummaryParams => ({
  uri: 'file:///w/a.py',
  models,
  heaviest,
});

test('the heaviest model, in ptflops units', () => {
  const view = statusView({ running: false, summary: summary([mlp, densenet]) });
  assert.equal(view.text, '⚡ 7.82 GMac · 28.68 M');
  assert.match(view.tooltip, /Heaviest model: net/);
  assert.match(view.tooltip, /NeuralNetwork \(line 7\): 670.73 KMac · 1.34 MFLOPs · 669.71 k params/);
  assert.equal(view.severity, 'none');
  assert.equal(statusView({ running: false, summary: summary([mlp]) }).text, '⚡ 670.73 KMac · 669.71 k');
});

test('heaviest as the server sends it: an object, a name or an index', () => {
  assert.equal(heaviestModel(summary([mlp, densenet], mlp))?.name, 'NeuralNetwork');
  assert.equal(heaviestModel(summary([mlp, densenet], 'NeuralNetwork'))?.name, 'NeuralNetwork');
  assert.equal(heaviestModel(summary([mlp, densenet], 1))?.name, 'net');
  assert.equal(heaviestModel(summary([mlp, densenet], null))?.name, 'net');
});

test('a spinner while the analysis runs, keeping the last figures', () => {
  assert.equal(statusView({ running: true, summary: summary([mlp]) }).text, '$(sync~spin) 670.73 KMac · 669.71 k');
  assert.equal(statusView({ running: true }).text, '$(sync~spin) flopsight');
});

test('a warning icon when a model or the analysis failed', () => {
  const broken = { name: 'Broken', line: 20, status: 'error', macs: null, flops: null, params: null, error: 'mat1 and mat2 shapes cannot be multiplied' };
  const only = statusView({ running: false, summary: summary([broken]) });
  assert.equal(only.text, '$(warning) flopsight: Broken failed');
  assert.equal(only.severity, 'warning');
  assert.match(only.tooltip, /Broken \(line 21\): failed — mat1 and mat2/);
  const mixed = statusView({ running: false, summary: summary([mlp, broken]) });
  assert.equal(mixed.text, '$(warning) ⚡ 670.73 KMac · 669.71 k');
  const crashed = statusView({ running: false, failure: 'worker died' });
  assert.equal(crashed.text, '$(warning) flopsight');
  assert.match(crashed.tooltip, /worker died/);
});

test('untrusted: the status bar says why nothing runs', () => {
  const view = statusView({ running: false, summary: summary([mlp]) }, 'This workspace is not trusted');
  assert.match(view.text, /not running models/);
  assert.equal(view.tooltip, 'This workspace is not trusted');
});

test('nothing to show for a file without models; a hint for models without shapes', () => {
  assert.equal(statusView(undefined).visible, false);
  assert.equal(statusView({ running: false, summary: summary([]) }).visible, false);
  const skipped = statusView({ running: false, summary: summary([{ name: 'Net', status: 'skipped', line: 3 }]) });
  assert.equal(skipped.text, '⚡ no input shape');
});

test('a FileReport gives the same summary the server sends on save', () => {
  const summary = summaryFromReport('file:///w/seed_mlp.py', seed);
  assert.deepEqual(summary.models, [
    { name: 'NeuralNetwork', line: 6, status: 'ok', macs: mlpMacs, flops: 2 * mlpMacs, params: mlpParams, error: null },
  ]);
  assert.equal((summary.heaviest as { name: string }).name, 'NeuralNetwork');
  assert.equal(statusView({ running: false, summary }).text, '⚡ 670.73 KMac · 669.71 k');
});
