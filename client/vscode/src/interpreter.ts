// Which interpreters run the server and the models, in the order the user expects:
// an explicit setting, then the Python extension's selected interpreter, then `python3`.

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** `flopsight.serverPython` (already expanded), empty when unset. */
  serverPythonSetting?: string;
  /** `flopsight.python` (already expanded), empty when unset. */
  pythonSetting?: string;
  /** The Python extension's selected interpreter, when it is installed and has one. */
  selected?: string;
  platform?: string;
}

export function defaultPython(platform: string = process.platform): string {
  return platform === 'win32' ? 'python' : 'python3';
}

/** The interpreter that runs `python -m flopsight serve`. */
export function resolveServerPython(inputs: InterpreterInputs): Interpreter {
  const setting = inputs.serverPythonSetting?.trim();
  if (setting) {
    return { path: setting, source: 'setting' };
  }
  const selected = inputs.selected?.trim();
  if (selected) {
    return { path: selected, source: 'python-extension' };
  }
  return { path: defaultPython(inputs.platform), source: 'default' };
}

/** The interpreter the models run in; undefined lets the server use its own. */
export function resolveModelPython(inputs: InterpreterInputs): Interpreter | undefined {
  const setting = inputs.pythonSetting?.trim();
  if (setting) {
    return { path: setting, source: 'setting' };
  }
  const selected = inputs.selected?.trim();
  if (selected) {
    return { path: selected, source: 'python-extension' };
  }
  return undefined;
}

/** The shell line that installs flopsight into `python`, quoted for the platform's default shell. */
export function installCommandLine(python: string, platform: string = process.platform): string {
  if (platform === 'win32') {
    // PowerShell needs the call operator in front of a quoted program.
    return /[\s'"&]/.test(python) ? `& "${python}" -m pip install flopsight` : `${python} -m pip install flopsight`;
  }
  return `${shellQuote(python)} -m pip install flopsight`;
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export type ProbeResult = { ok: true } | { ok: false; reason: 'no-interpreter' | 'no-flopsight' | 'other'; detail: string };

/** Classifies the outcome of `<python> -c "import flopsight"`. */
export function classifyProbe(error: { code?: string | number | null } | null, stderr: string): ProbeResult {
  if (!error) {
    return { ok: true };
  }
  if (error.code === 'ENOENT' || error.code === 'EACCES') {
    return { ok: false, reason: 'no-interpreter', detail: stderr || String(error.code) };
  }
  if (/No module named '?flopsight/.test(stderr)) {
    return { ok: false, reason: 'no-flopsight', detail: stderr.trim() };
  }
  return { ok: false, reason: 'other', detail: stderr.trim() };
}
