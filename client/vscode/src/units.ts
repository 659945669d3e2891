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

/**
 * `x.toFixed(precision)` as Python formats it: both round the exact binary value, but an exact tie
 * goes to the even digit in Python and up in JavaScript. A double is an exact tie at `precision`
 * digits only when `x · 2^(precision+1)` is an odd integer (10^-p is not dyadic otherwise).
 */
export function toFixedHalfEven(x: number, precision: number): string {
  const y = Math.abs(x) * 2 ** (precision + 1);
  if (!Number.isSafeInteger(y) || y % 2 !== 1) {
    return x.toFixed(precision);
  }
  // |x|·10^p = y·5^p / 2 = k + ½ exactly: take the even one of k and k + 1.
  const twice = BigInt(y) * 5n ** BigInt(precision);
  const k = (twice - 1n) / 2n;
  const n = k % 2n === 0n ? k : k + 1n;
  const digits = n.toString().padStart(precision + 1, '0');
  const text = precision > 0 ? `${digits.slice(0, -precision)}.${digits.slice(-precision)}` : digits;
  return x < 0 && n !== 0n ? `-${text}` : text;
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
