import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyProbe, installCommandLine, resolveModelPython, resolveServerPython, shellQuote } from '../src/interpreter';

test('the server interpreter: setting, then the selected one, then python3', () => {
  assert.deepEqual(resolveServerPython({ serverPythonSetting: '/s/python', selected: '/sel/python' }), { path: '/s/python', source: 'setting' });
  assert.deepEqual(resolveServerPython({ serverPythonSetting: '  ', selected: '/sel/python' }), {
    path: '/sel/python',
    source: 'python-extension',
  });
  assert.deepEqual(resolveServerPython({ platform: 'linux' }), { path: 'python3', source: 'default' });
  assert.deepEqual(resolveServerPython({ platform: 'win32' }), { path: 'python', source: 'default' });
});

test('the models’ interpreter: setting, then the selected one, else the server’s', () => {
  assert.deepEqual(resolveModelPython({ pythonSetting: '/m/python', selected: '/sel/python' }), { path: '/m/python', source: 'setting' });
  assert.deepEqual(resolveModelPython({ selected: '/sel/python' }), { path: '/sel/python', source: 'python-extension' });
  assert.equal(resolveModelPython({ serverPythonSetting: '/s/python' }), undefined);
});

test('the install line is quoted for the shell', () => {
  assert.equal(installCommandLine('/usr/bin/python3', 'linux'), '/usr/bin/python3 -m pip install flopsight');
  assert.equal(installCommandLine('/home/me/my env/bin/python', 'linux'), "'/home/me/my env/bin/python' -m pip install flopsight");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(installCommandLine('C:\\Program Files\\Python\\python.exe', 'win32'), '& "C:\\Program Files\\Python\\python.exe" -m pip install flopsight');
});

test('a failed import probe says what is missing', () => {
  assert.deepEqual(classifyProbe(null, ''), { ok: true });
  assert.equal(classifyProbe({ code: 'ENOENT' }, '').ok, false);
  const missing = classifyProbe({ code: 1 }, "Traceback...\nModuleNotFoundError: No module named 'flopsight'\n");
  assert.ok(!missing.ok && missing.reason === 'no-flopsight');
  const broken = classifyProbe({ code: 1 }, 'ImportError: cannot import name x');
  assert.ok(!broken.ok && broken.reason === 'other');
  const noPython = classifyProbe({ code: 'ENOENT' }, '');
  assert.ok(!noPython.ok && noPython.reason === 'no-interpreter');
});
