import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { adjustConfiguration, executionBlockedReason, expandPath, nestSection, serverSection } from '../src/settings';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
const props: Record<string, { default: unknown; enum?: string[]; enumDescriptions?: string[]; items?: { enum?: string[] }; markdownDescription?: string; description?: string }> =
  pkg.contributes.configuration.properties;

// The design's Settings table (shared/docs/design.md), written out by hand.
const DESIGN_TABLE: Record<string, unknown> = {
  'flopsight.convention': 'macs',
  'flopsight.execute': true,
  'flopsight.python': '',
  'flopsight.dims': { batch: 1, b: 1 },
  'flopsight.limits.timeoutSeconds': 20,
  'flopsight.limits.memoryMB': 8192,
  'flopsight.debounceMs': 400,
  'flopsight.inlayHints.enabled': true,
  'flopsight.inlayHints.show': ['macs', 'params', 'share', 'shape'],
  'flopsight.inlayHints.minShare': 0,
  'flopsight.measure': 'never',
  'flopsight.maxFileSizeKB': 1024,
  'flopsight.sandbox': 'auto',
  'flopsight.compare': true,
  'flopsight.mode': 'inference',
  'flopsight.train.memory': false,
  'flopsight.train.optimizer': 'adamw',
  'flopsight.train.precision': 'fp32',
  'flopsight.gpu': null,
  'flopsight.compareWith': 'HEAD',
};

test('every setting of the design is contributed with its default and a description', () => {
  for (const [key, value] of Object.entries(DESIGN_TABLE)) {
    assert.ok(props[key], `${key} is contributed`);
    assert.deepEqual(props[key].default, value, key);
    assert.ok((props[key].markdownDescription ?? props[key].description ?? '').length > 10, `${key} is described`);
  }
  assert.deepEqual(Object.keys(props).sort(), [...Object.keys(DESIGN_TABLE), 'flopsight.serverPython'].sort());
});

test('enums are those of the design', () => {
  assert.deepEqual(props['flopsight.convention'].enum, ['macs', 'ptflops', 'fvcore', 'deepspeed']);
  assert.equal(props['flopsight.convention'].enumDescriptions?.length, 4);
  assert.deepEqual(props['flopsight.measure'].enum, ['never', 'onSave', 'onCommand']);
  assert.deepEqual(props['flopsight.sandbox'].enum, ['auto', 'off']);
  assert.deepEqual(props['flopsight.inlayHints.show'].items?.enum, ['macs', 'flops', 'params', 'share', 'shape']);
});

test('untrusted workspaces restrict the interpreters and execution', () => {
  const untrusted = pkg.capabilities.untrustedWorkspaces;
  assert.equal(untrusted.supported, 'limited');
  assert.deepEqual(untrusted.restrictedConfigurations.sort(), ['flopsight.execute', 'flopsight.python', 'flopsight.serverPython']);
});

test('dotted keys nest as VS Code nests them', () => {
  assert.deepEqual(nestSection({ 'flopsight.limits.timeoutSeconds': 5, 'flopsight.limits.memoryMB': 100, convention: 'ptflops' }), {
    limits: { timeoutSeconds: 5, memoryMB: 100 },
    convention: 'ptflops',
  });
});

const section = { convention: 'ptflops', execute: true, python: '', serverPython: '/x/python', limits: { timeoutSeconds: 20 } };

test('an untrusted workspace never executes, whatever the settings say', () => {
  const out = serverSection(section, { trusted: false });
  assert.equal(out.execute, false);
  assert.equal(out.convention, 'ptflops');
  assert.equal(section.execute, true, 'the input is not modified');
  assert.match(executionBlockedReason(section, false) ?? '', /not trusted/);
  assert.equal(executionBlockedReason(section, true), undefined);
  assert.match(executionBlockedReason({ execute: false }, true) ?? '', /flopsight.execute is off/);
});

test('the models run in the selected interpreter unless flopsight.python says otherwise', () => {
  assert.equal(serverSection(section, { trusted: true, defaultModelPython: '/venv/bin/python' }).python, '/venv/bin/python');
  assert.equal(serverSection({ ...section, python: '/mine/python' }, { trusted: true, defaultModelPython: '/venv/bin/python' }).python, '/mine/python');
  assert.ok(!('python' in serverSection(section, { trusted: true })), 'empty: the server keeps its interpreter');
  assert.ok(!('serverPython' in serverSection(section, { trusted: true })), 'serverPython is the client’s own');
  assert.equal(
    serverSection({ python: '${workspaceFolder}/.venv/bin/python' }, { trusted: true, workspaceFolder: '/w' }).python,
    '/w/.venv/bin/python',
  );
});

test('paths expand ${workspaceFolder}, ${userHome} and ~', () => {
  const ctx = { workspaceFolder: '/w', home: '/home/u' };
  assert.equal(expandPath('~/venv/bin/python', ctx), '/home/u/venv/bin/python');
  assert.equal(expandPath('${userHome}/p', ctx), '/home/u/p');
  assert.equal(expandPath(' /usr/bin/python3 ', ctx), '/usr/bin/python3');
  assert.equal(expandPath('a~b', ctx), 'a~b');
});

// The server's own reader (flopsight.settings.Settings.from_lsp) on the contributed defaults.
// out/test -> the repository root (the extension lives in client/vscode/).
const venvPython = join(__dirname, '..', '..', '..', '..', '.venv', 'bin', 'python');
test('the server reads the contributed defaults as its own defaults', { skip: !existsSync(venvPython) && 'no repo venv' }, () => {
  const defaults = nestSection(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.default])));
  const sent = serverSection(defaults, { trusted: true });
  const script = [
    'import json, sys',
    'from flopsight.settings import Settings',
    'sent = Settings.from_lsp(json.loads(sys.argv[1])).to_lsp()',
    'default = Settings().to_lsp()',
    'print(json.dumps([sent, default]))',
  ].join('\n');
  let out: string;
  try {
    // This checkout's server, whatever the shared venv has installed.
    const env = { ...process.env, PYTHONPATH: join(__dirname, '..', '..', '..', '..', 'server') };
    out = execFileSync(venvPython, ['-c', script, JSON.stringify(sent)], { encoding: 'utf8', env });
  } catch (error) {
    assert.fail(`flopsight.settings could not be imported from ${venvPython}: ${String(error)}`);
  }
  const [read, defaultSettings] = JSON.parse(out);
  assert.deepEqual(read, defaultSettings);
});

test('workspace/configuration answers carry the adjusted section however it is asked for', () => {
  const raw = { convention: 'ptflops', execute: true, limits: { timeoutSeconds: 20 } };
  const adjusted = () => serverSection(raw, { trusted: false });
  const answers = adjustConfiguration(
    [{ section: 'flopsight' }, { section: 'flopsight.execute' }, { section: 'flopsight.limits.timeoutSeconds' }, { section: 'editor' }, {}],
    [raw, true, 20, { tabSize: 4 }, { flopsight: raw, editor: {} }],
    adjusted,
  );
  assert.deepEqual(answers, [
    { convention: 'ptflops', execute: false, limits: { timeoutSeconds: 20 } },
    false,
    20,
    { tabSize: 4 },
    { flopsight: { convention: 'ptflops', execute: false, limits: { timeoutSeconds: 20 } }, editor: {} },
  ]);
});
