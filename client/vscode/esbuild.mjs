// Bundles the extension (dist/extension.js) or, with --tests, the unit tests (out/test/).
import { readdirSync } from 'node:fs';
import * as esbuild from 'esbuild';

const tests = process.argv.includes('--tests');
const production = process.argv.includes('--production');

if (tests) {
  // Tests run in plain node: a module that imports 'vscode' fails to bundle here, on purpose.
  await esbuild.build({
    entryPoints: readdirSync('test')
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`),
    outdir: 'out/test',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
} else {
  await esbuild.build({
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode'],
    minify: production,
    sourcemap: production ? false : 'linked',
    logLevel: 'warning',
  });
}
