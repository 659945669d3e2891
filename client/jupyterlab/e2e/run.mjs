// End-to-end: flopsight's wheel installed (prebuilt extension included) into a temporary prefix,
// a real JupyterLab on loopback with jupyterlab-lsp, driven by Debian's Chromium through
// playwright-core. A notebook with the seed MLP in cell 2 and an unannotated model in cell 3;
// `language_servers.flopsight.serverSettings` sets the ptflops convention. Checks: per-layer hints
// on the right cell lines with hand-counted figures, the totals above the class line against
// ptflops run here, the hover in cells, the status bar after a save, an edit that re-analyses,
// the FS107 quick fix, Show Report. Screenshots go to docs/.
//
//   node e2e/run.mjs [--keep]          (make -C client/jupyterlab e2e; `make e2e` at the top)
//
// Environment: FLOPSIGHT_PYTHON (default <repo>/.venv/bin/python), CHROMIUM (default
// /usr/bin/chromium), E2E_PORT (default 8893).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const python = process.env.FLOPSIGHT_PYTHON ?? join(repo, '.venv', 'bin', 'python');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const port = Number(process.env.E2E_PORT ?? 8893);
const token = 'flopsight-e2e';
const keep = process.argv.includes('--keep');
const docs = join(repo, 'docs');
// jupyter labextension list colours "enabled" and "OK".
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const started = Date.now();
function log(message) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
}
const failures = [];
function check(ok, what) {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    failures.push(what);
  }
}
async function waitFor(what, fn, timeout = 90_000, every = 500) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

// ptflops' units, written out: MACs ≥ 10³ as KMac with two decimals; params ≥ 10³ as "k".
const kmac = (macs) => (macs >= 1e3 ? `${(macs / 1e3).toFixed(2)} KMac` : `${macs} Mac`);
// A Linear layer in the ptflops convention: in·out multiply-accumulates plus out for the bias.
const linear = (inputs, outputs) => inputs * outputs + outputs;

const SEED = [
  'class NeuralNetwork(nn.Module):  # flopsight: input=(1, 28, 28)',
  '    def __init__(self):',
  '        super().__init__()',
  '        self.flatten = nn.Flatten()',
  '        self.linear_relu_stack = nn.Sequential(',
  '            nn.Linear(28 * 28, 512),',
  '            nn.ReLU(),',
  '            nn.Linear(512, 512),',
  '            nn.ReLU(),',
  '            nn.Linear(512, 10),',
  '        )',
  '',
  '    def forward(self, x):',
  '        x = self.flatten(x)',
  '        logits = self.linear_relu_stack(x)',
  '        return logits'
].join('\n');
const TINY = [
  'class Tiny(nn.Module):',
  '    def __init__(self):',
  '        super().__init__()',
  '        self.fc = nn.Linear(8, 4)',
  '',
  '    def forward(self, x):',
  '        return self.fc(x)'
].join('\n');
const CELLS = [
  ['code', 'import torch\nfrom torch import nn'],
  ['code', SEED],
  ['code', TINY],
  ['markdown', 'The seed article: ptflops says 670.73 KMac and 669.71 k params.']
];

/** The seed MLP's totals as ptflops prints them (pytorch backend, input (1, 28, 28)). */
function ptflopsReference() {
  const script = [
    'import json, torch',
    'from torch import nn',
    // ptflops imports torchvision.ops, which needs this fix in this environment.
    'from flopsight.counting.tvfix import ensure_torchvision_importable',
    'ensure_torchvision_importable()',
    'from ptflops import get_model_complexity_info',
    `exec(${JSON.stringify(SEED)})`,
    'macs, params = get_model_complexity_info(NeuralNetwork(), (28, 28), as_strings=True,',
    '    print_per_layer_stat=False, backend="pytorch",',
    // Module hooks only (what flopsight's ptflops convention follows): F.relu inside nn.ReLU
    // is not counted a second time.
    '    backend_specific_config={"count_functional": False})',
    'print(json.dumps({"macs": macs, "params": params}))'
  ].join('\n');
  const env = { ...process.env, PYTHONPATH: join(repo, 'server') };
  const out = execFileSync(python, ['-c', script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop());
}

function notebook() {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python', file_extension: '.py', mimetype: 'text/x-python' }
    },
    cells: CELLS.map(([kind, text], i) => ({
      id: `cell-${i}`,
      cell_type: kind,
      metadata: {},
      source: text,
      ...(kind === 'code' ? { outputs: [], execution_count: null } : {})
    }))
  };
}

/** Each code cell's lines as shown: text (widgets left out), hints, lens and fix buttons. */
async function cellView(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell) => {
      const content = cell.querySelector('.cm-content');
      const rows = [];
      for (const child of content ? content.children : []) {
        if (child.classList.contains('fs-code-lens')) {
          rows.push({ lens: child.textContent });
        } else if (child.classList.contains('cm-line')) {
          const copy = child.cloneNode(true);
          copy.querySelectorAll('.fs-inlay-hint, .fs-quick-fix, .cm-widgetBuffer').forEach((e) => e.remove());
          rows.push({
            text: copy.textContent,
            hints: [...child.querySelectorAll('.fs-inlay-hint')].map((e) => e.textContent),
            fixes: [...child.querySelectorAll('.fs-quick-fix')].map((e) => e.textContent)
          });
        }
      }
      return rows;
    })
  );
}

function lineOf(rows, needle) {
  return rows.find((row) => row.text !== undefined && row.text.includes(needle));
}

/** The lens row right above the line holding `needle`. */
function lensAbove(rows, needle) {
  const at = rows.findIndex((row) => row.text !== undefined && row.text.includes(needle));
  return at > 0 && rows[at - 1].lens !== undefined ? rows[at - 1].lens : null;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'flopsight-jl-e2e-'));
  log(`work dir ${work}`);
  const reference = ptflopsReference();
  log(`ptflops: ${reference.macs}, ${reference.params} params`);

  // The package as a user gets it: the wheel, installed, its data files under share/jupyter.
  const wheels = join(work, 'wheel');
  execFileSync(python, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', wheels, repo], { stdio: 'inherit' });
  const prefix = join(work, 'prefix');
  const wheel = execFileSync('sh', ['-c', `ls ${wheels}/flopsight-*.whl`], { encoding: 'utf8' }).trim();
  execFileSync(python, ['-m', 'pip', 'install', '--no-deps', '--ignore-installed', '-q', '--prefix', prefix, wheel], { stdio: 'inherit' });

  const ws = join(work, 'ws');
  const settings = join(work, 'settings');
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(ws, 'model.ipynb'), JSON.stringify(notebook(), null, 1));
  writeFileSync(join(ws, 'seed_mlp.py'), readFileSync(join(repo, 'examples', 'seed_mlp.py'), 'utf8'));
  // What a user types in the settings editor (Language Servers): the convention for flopsight.
  const lspSettings = join(settings, '@jupyter-lsp', 'jupyterlab-lsp');
  mkdirSync(lspSettings, { recursive: true });
  writeFileSync(
    join(lspSettings, 'plugin.jupyterlab-settings'),
    JSON.stringify({ language_servers: { flopsight: { serverSettings: { 'flopsight.convention': 'ptflops' } } } })
  );
  // No news popup over the screenshots.
  const apputils = join(settings, '@jupyterlab', 'apputils-extension');
  mkdirSync(apputils, { recursive: true });
  writeFileSync(join(apputils, 'notification.jupyterlab-settings'), JSON.stringify({ fetchNews: 'false', checkForUpdates: false }));

  const env = {
    ...process.env,
    JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
    JUPYTER_CONFIG_DIR: join(work, 'config'),
    JUPYTER_DATA_DIR: join(work, 'data'),
    JUPYTER_RUNTIME_DIR: join(work, 'runtime'),
    JUPYTERLAB_SETTINGS_DIR: settings,
    JUPYTERLAB_WORKSPACES_DIR: join(work, 'workspaces'),
    // The server jupyter-lsp starts (python -m flopsight serve) runs this checkout's code.
    PYTHONPATH: join(repo, 'server'),
    PATH: `${dirname(python)}:${process.env.PATH}`
  };
  const listing = spawnSync(python, ['-m', 'jupyter', 'labextension', 'list'], { env, encoding: 'utf8' });
  const ours = `${listing.stdout}\n${listing.stderr}`.split('\n').find((line) => line.includes('flopsight-jupyterlab')) ?? '';
  check(/enabled/.test(ours) && /OK/.test(ours), `jupyter labextension list: ${ours.replace(ANSI_COLOUR, '').trim()}`);

  const lab = spawn(
    python,
    ['-m', 'jupyter', 'lab', '--no-browser', '--allow-root', '--ServerApp.ip=127.0.0.1', `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0', `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${ws}`,
      '--LabApp.expose_app_in_browser=True', '--LanguageServerManager.autodetect=True'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  let labLog = '';
  lab.stdout.on('data', (d) => (labLog += d));
  lab.stderr.on('data', (d) => (labLog += d));
  const base = `http://127.0.0.1:${port}`;
  let browser;
  try {
    await waitFor('JupyterLab to answer', async () => (await fetch(`${base}/api/status?token=${token}`)).ok, 60_000);
    log('JupyterLab is up');
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    page.on('console', (message) => {
      if (message.type() === 'error' && /flopsight/i.test(message.text())) {
        log(`browser: ${message.text()}`);
      }
    });
    await page.goto(`${base}/lab/tree/model.ipynb?token=${token}`);
    await waitFor('the notebook', async () => (await page.locator('.jp-Notebook .jp-Cell').count()) >= 4, 60_000);
    log('notebook open');

    // 1. Per-layer hints on the right lines of cell 2, in the ptflops convention.
    const first = await waitFor('hints in cell 2', async () => {
      const cells = await cellView(page);
      // Until the ptflops convention (the serverSettings) is in: the bias makes 784·512 + 512.
      const row = lineOf(cells[1], 'nn.Linear(28 * 28, 512)');
      const ptflops = row && row.hints.some((h) => h.includes(kmac(linear(784, 512))));
      return ptflops && lensAbove(cells[1], 'class NeuralNetwork') ? cells : null;
    }, 180_000);
    const seed = first[1];
    for (const [needle, macs] of [
      ['nn.Linear(28 * 28, 512)', linear(784, 512)],
      ['nn.Linear(512, 512)', linear(512, 512)],
      ['nn.Linear(512, 10)', linear(512, 10)]
    ]) {
      const row = lineOf(seed, needle);
      check(row.hints.length === 1 && row.hints[0].includes(kmac(macs)), `cell 2 \`${needle}\`: hint ${JSON.stringify(row.hints)} has ${kmac(macs)}`);
    }
    check(lineOf(seed, 'nn.ReLU()').hints.some((h) => h.includes('512 Mac')), 'cell 2 `nn.ReLU()`: 512 Mac (one per element of [1, 512])');
    check(first[0].every((row) => !row.hints || row.hints.length === 0), 'cell 1 (imports): no hints');
    check(lineOf(seed, 'class NeuralNetwork').hints.length === 0 && lineOf(seed, 'def forward').hints.length === 0, 'no hint on the class or def line');

    // 2. The totals above the class line, as ptflops counts them.
    const lens = lensAbove(seed, 'class NeuralNetwork') ?? '';
    check(lens.includes(reference.macs) && lens.includes(`${reference.params} params`), `lens above \`class NeuralNetwork\`: "${lens}" has ptflops' ${reference.macs} and ${reference.params}`);

    // 3. The hover names cells: the heaviest layer is cell 2, line 6.
    const classLine = page.locator('.jp-Cell').nth(1).locator('.cm-line').first();
    const box = await classLine.boundingBox();
    await page.keyboard.down('Control');
    await page.mouse.move(box.x + 90, box.y + box.height / 2);
    const hover = await waitFor('the hover card', async () => {
      await page.mouse.move(box.x + 92, box.y + box.height / 2);
      const text = await page.locator('.lsp-hover').first().textContent({ timeout: 1000 });
      return text && text.includes('heaviest') ? text : null;
    }, 30_000).catch((error) => String(error));
    await page.keyboard.up('Control');
    check(hover.includes('(cell 2, line 6)') && !/\(line \d+\)/.test(hover), `hover on NeuralNetwork names "cell 2, line 6": ${hover.slice(0, 160).replace(/\s+/g, ' ')}…`);
    await page.mouse.move(5, 500);

    // 4. The save summary in the status bar.
    await page.locator('.jp-Cell').nth(1).locator('.cm-content').click();
    await page.keyboard.press('Control+s');
    const status = await waitFor('the status bar summary', async () => {
      const text = await page.locator('.fs-status').textContent({ timeout: 1000 });
      return text && text.includes('KMac') ? text : null;
    }, 60_000).catch((error) => String(error));
    check(status.includes(`NeuralNetwork: ${reference.macs} · ${reference.params}`), `status bar after save: "${status}"`);
    await page.mouse.move(5, 500);
    await page.screenshot({ path: join(docs, 'jupyterlab-notebook.png') });
    log('screenshot docs/jupyterlab-notebook.png');

    // 5. An edit re-analyses: Linear(512, 10) -> Linear(512, 20) is 512·20 + 20 = 10,260 MACs.
    const lastLinear = page.locator('.jp-Cell').nth(1).locator('.cm-line', { hasText: 'nn.Linear(512, 10)' });
    await lastLinear.click();
    await page.keyboard.press('End');
    for (const key of ['ArrowLeft', 'ArrowLeft', 'Backspace', 'Backspace']) {
      await page.keyboard.press(key);
    }
    await page.keyboard.type('20');
    const total = linear(784, 512) + 512 + linear(512, 512) + 512 + linear(512, 20);
    const edited = await waitFor('the hint of the edited line', async () => {
      const cells = await cellView(page);
      const row = lineOf(cells[1], 'nn.Linear(512, 20)');
      return row && row.hints.some((h) => h.includes(kmac(linear(512, 20)))) ? cells : null;
    }, 90_000).catch(() => null);
    check(edited !== null, `after the edit, \`nn.Linear(512, 20)\` shows ${kmac(linear(512, 20))}`);
    if (edited) {
      const newLens = lensAbove(edited[1], 'class NeuralNetwork') ?? '';
      check(newLens.includes(kmac(total)), `lens after the edit has ${kmac(total)} (670,730 − 5,130 + 10,260): "${newLens}"`);
    }

    // 6. FS107: the unannotated model in cell 3 gets a quick fix that inserts the pragma.
    const fix = page.locator('.jp-Cell').nth(2).locator('.fs-quick-fix').first();
    const fixShown = await waitFor('the FS107 quick fix', async () => (await fix.count()) > 0, 60_000).catch(() => false);
    check(fixShown, 'cell 3 `class Tiny`: a quick-fix button');
    if (fixShown) {
      log(`quick fix: ${await fix.textContent()}`);
      await fix.click();
      const fixed = await waitFor('Tiny counted', async () => {
        const cells = await cellView(page);
        const row = lineOf(cells[2], 'nn.Linear(8, 4)');
        return row && row.hints.length > 0 ? cells : null;
      }, 90_000).catch(() => null);
      const classRow = fixed ? lineOf(fixed[2], 'class Tiny') : null;
      check(classRow !== null && classRow.text.includes('# flopsight: input=(1, 8)'), `the fix put the pragma on the class line: "${classRow?.text}"`);
      const fcRow = fixed ? lineOf(fixed[2], 'nn.Linear(8, 4)') : null;
      check(fcRow !== null && fcRow.hints[0].includes(`${linear(8, 4)} Mac`), `then \`nn.Linear(8, 4)\` shows ${linear(8, 4)} Mac (8·4 + 4): ${JSON.stringify(fcRow?.hints)}`);
    }

    // 7. flopsight: Show Report, from the command palette's command.
    await page.evaluate(() => window.jupyterapp.commands.execute('flopsight:show-report'));
    const report = await waitFor('the report panel', async () => {
      const text = await page.locator('.fs-report').first().textContent({ timeout: 1000 });
      return text && text.includes('Linear') ? text : null;
    }, 30_000).catch((error) => String(error));
    check(report.includes(kmac(linear(784, 512))) && report.includes('2:6'), `Show Report: the table has ${kmac(linear(784, 512))} at 2:6 (cell 2, line 6)`);
    await page.screenshot({ path: join(docs, 'jupyterlab-report.png') });
    log('screenshot docs/jupyterlab-report.png');

    // 8. A Python file in the file editor: the same hints and totals.
    await page.evaluate(() => window.jupyterapp.commands.execute('docmanager:open', { path: 'seed_mlp.py' }));
    const file = await waitFor('hints in seed_mlp.py', async () => {
      const rows = await page.evaluate(() => {
        const editor = document.querySelector('.jp-FileEditor:not(.lm-mod-hidden) .cm-content');
        return editor
          ? [...editor.children].map((child) => ({
              lens: child.classList.contains('fs-code-lens') ? child.textContent : undefined,
              // The line's text with the hint widgets' text; lineOf only looks for code in it.
              text: child.classList.contains('cm-line') ? child.textContent : undefined,
              hints: [...child.querySelectorAll('.fs-inlay-hint')].map((e) => e.textContent)
            }))
          : [];
      });
      const row = lineOf(rows, 'nn.Linear(28 * 28, 512)');
      return row && row.hints.some((h) => h.includes(kmac(linear(784, 512)))) && lensAbove(rows, 'class NeuralNetwork') ? rows : null;
    }, 90_000).catch(() => null);
    check(file !== null, `seed_mlp.py in the file editor: ${kmac(linear(784, 512))} on its first Linear, the totals above the class`);
    if (file) {
      check((lensAbove(file, 'class NeuralNetwork') ?? '').includes(reference.macs), `seed_mlp.py lens has ptflops' ${reference.macs}`);
    }

    // 9. The extension's own settings turn parts off: hints off, the totals stay.
    const put = await page.evaluate(async (xsrf) => {
      const response = await fetch('/lab/api/settings/flopsight-jupyterlab:plugin', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Authorization: `token ${xsrf}` },
        body: JSON.stringify({ raw: JSON.stringify({ inlayHints: false }) })
      });
      return response.status;
    }, token);
    check(put === 204 || put === 200, `settings PUT inlayHints=false (HTTP ${put})`);
    await page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
    await page.reload();
    const quiet = await waitFor('the lens after the reload', async () => {
      const cells = await cellView(page);
      return cells.length >= 3 && lensAbove(cells[1], 'class NeuralNetwork') ? cells : null;
    }, 120_000).catch(() => null);
    check(quiet !== null && quiet.every((rows) => rows.every((row) => !row.hints || row.hints.length === 0)), 'with inlayHints off: the totals above the class line, no per-layer hints');
  } catch (error) {
    failures.push(String(error));
    log(`FAIL ${error}`);
    log(labLog.split('\n').slice(-40).join('\n'));
  } finally {
    await browser?.close();
    lab.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    if (!keep) {
      rmSync(work, { recursive: true, force: true });
    }
  }
  if (failures.length > 0) {
    console.error(`\n${failures.length} check(s) failed:\n- ${failures.join('\n- ')}`);
    process.exit(1);
  }
  log('all checks passed');
}

await main();
