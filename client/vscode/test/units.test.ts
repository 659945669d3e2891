import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatFlops, formatMacs, formatParams, formatShape, formatShare, toFixedHalfEven } from '../src/units';

// The seed article's figures as ptflops prints them (ptflops' flops_to_string / params_to_string).
test('MACs and params read as ptflops prints them', () => {
  assert.equal(formatMacs(670_730), '670.73 KMac');
  assert.equal(formatMacs(7_819_376_360), '7.82 GMac');
  assert.equal(formatParams(28_681_000), '28.68 M');
  assert.equal(formatParams(669_706), '669.71 k');
  assert.equal(formatFlops(2 * 670_730), '1.34 MFLOPs');
  assert.equal(formatMacs(999), '999 Mac');
  assert.equal(formatParams(10), '10');
  assert.equal(formatMacs(0), '0 Mac');
});

test('ties round to even, as Python formats them', () => {
  assert.equal(toFixedHalfEven(0.125, 2), '0.12');
  assert.equal(toFixedHalfEven(0.375, 2), '0.38');
  assert.equal(toFixedHalfEven(2.5, 0), '2');
  assert.equal(toFixedHalfEven(1.005, 2), (1.005).toFixed(2));
  assert.equal(toFixedHalfEven(12.345, 2), '12.35', '12.345 is a little above the tie in binary');
  assert.equal(toFixedHalfEven(3.5, 0), '4');
  assert.equal(toFixedHalfEven(-0.125, 2), '-0.12');
  assert.equal(toFixedHalfEven(0.0625, 3), '0.062');
});

test('shares and shapes', () => {
  assert.equal(formatShare(401_920, 670_730), '59.9%');
  assert.equal(formatShare(1, 0), '0.0%');
  assert.equal(formatShape([1, 64, 56, 56]), '[1, 64, 56, 56]');
  assert.equal(formatShape([[1, 4], [1, 8]]), '[1, 4] [1, 8]');
  assert.equal(formatShape(null), '—');
});

// The status bar and the report must print what the server's lenses and hints print.
const venvPython = join(__dirname, '..', '..', '..', '.venv', 'bin', 'python');
test('the same strings as flopsight.report.units', { skip: !existsSync(venvPython) && 'no repo venv' }, () => {
  const values = [0, 7, 999, 1000, 1005, 12_345, 401_920, 670_730, 999_995, 1_234_567, 7_819_376_360, 28_681_000, 669_706, 2.5e12, 125, 1125, 3_000_625, 2_500_005];
  const script = [
    'import json, sys',
    'from flopsight.report.units import format_macs, format_flops, format_params, format_share',
    'vs = json.loads(sys.argv[1])',
    'print(json.dumps([[format_macs(v), format_flops(v), format_params(v), format_share(v, 670730)] for v in vs]))',
  ].join('\n');
  const expected = JSON.parse(execFileSync(venvPython, ['-c', script, JSON.stringify(values)], { encoding: 'utf8' }));
  assert.deepEqual(
    values.map((v) => [formatMacs(v), formatFlops(v), formatParams(v), formatShare(v, 670_730)]),
    expected,
  );
});
