import assert from 'node:assert/strict';
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
});

test('shares and shapes', () => {
  assert.equal(formatShare(401_920, 670_730), '59.9%');
  assert.equal(formatShare(1, 0), '0.0%');
  assert.equal(formatShape([1, 64, 56, 56]), '[1, 64, 56, 56]');
  assert.equal(formatShape([[1, 4], [1, 8]]), '[1, 4] [1, 8]');
  assert.equal(formatShape(null), '—');
});
