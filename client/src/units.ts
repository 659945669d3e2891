// Units as ptflops prints them, mirroring server/flopsight/report/units.py:
// `670.73 KMac`, `7.82 GMac`, `15.64 GFLOPs`, `28.68 M`, `669.71 k`.

type Prefixes = ReadonlyArray<readonly [number, string]>;

const MAC_PREFIXES: Prefixes = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'K'],
];
const PARAM_PREFIXES: Prefixes = [
  [1e12, 'T'],
  [1e9, 'B'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** `x.toFixed(precision)` rounding exact ties to even, as Python's format does. */
export function toFixedHalfEven(x: number, precision: number): string {
  const scaled = x * 10 ** precision;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && Number.isFinite(scaled)) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 10 ** precision).toFixed(precision);
  }
  return x.toFixed(precision);
}

function scaled(value: number, prefixes: Prefixes, precision: number): [string, string] {
  for (const [scale, prefix] of prefixes) {
    if (Math.abs(value) >= scale) {
      return [toFixedHalfEven(value / scale, precision), prefix];
    }
  }
  if (Number.isInteger(value)) {
    return [String(value), ''];
  }
  return [toFixedHalfEven(value, precision), ''];
}

/** `670730` → `670.73 KMac`. */
export function formatMacs(macs: number, precision = 2): string {
  const [n, p] = scaled(macs, MAC_PREFIXES, precision);
  return `${n} ${p}Mac`;
}

/** `1341460` → `1.34 MFLOPs`. */
export function formatFlops(flops: number, precision = 2): string {
  const [n, p] = scaled(flops, MAC_PREFIXES, precision);
  return `${n} ${p}FLOPs`;
}

/** `28681000` → `28.68 M`; `669706` → `669.71 k`. */
export function formatParams(params: number, precision = 2): string {
  const [n, p] = scaled(params, PARAM_PREFIXES, precision);
  return `${n} ${p}`.trimEnd();
}

/** A share of the total as `12.3%`; `0.0%` for an empty total. */
export function formatShare(part: number, whole: number): string {
  return `${toFixedHalfEven(whole ? (100 * part) / whole : 0, 1)}%`;
}

/** `[1, 64, 56, 56]`; several outputs as `[1, 4] [1, 8]`; nothing known as `—`. */
export function formatShape(shape: unknown): string {
  if (shape === null || shape === undefined) {
    return '—';
  }
  if (Array.isArray(shape)) {
    if (shape.length > 0 && shape.every((s) => Array.isArray(s))) {
      return shape.map(formatShape).join(' ');
    }
    return `[${shape.join(', ')}]`;
  }
  return String(shape);
}

export function formatBytes(n: number, precision = 2): string {
  const units: Prefixes = [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [scale, unit] of units) {
    if (n >= scale) {
      return `${toFixedHalfEven(n / scale, precision)} ${unit}`;
    }
  }
  return `${Math.trunc(n)} B`;
}
