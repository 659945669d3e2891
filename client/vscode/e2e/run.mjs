// End-to-end: the packaged extension in a real VS Code (code-server 4.100.3 = VS Code 1.100.3),
// driven through headless Chromium. Opens a copy of examples/ with the ptflops convention and checks
// the seed MLP's inlay hints (on the right lines), code lens, status bar, hover, Measure and report view;
// a model over two files (examples/gpt: hints, lens and hover in layers.py, and the lens's change
// against HEAD after an unsaved edit of layers.py); densenet161's status bar and lens, Restart Server, Show Report from the palette; the seed notebook;
// and the message for an interpreter without flopsight. Saves screenshots to docs/.
//
//   node e2e/run.mjs [--keep] [--no-notebook]      (make -C client e2e builds the .vsix first)
//
// Environment: FLOPSIGHT_PYTHON (server interpreter; default <repo>/.venv/bin/python),
// VSCODE_WEB (the vscode-web.sh tool; default <repo>/../shared/tools/vscode-web.sh),
// CHROMIUM (default /usr/bin/chromium), E2E_PORT (default 8791).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const client = resolve(here, '..');
const repo = resolve(client, '..', '..');
const tool = process.env.VSCODE_WEB ?? resolve(repo, '..', 'shared', 'tools', 'vscode-web.sh');
const python = process.env.FLOPSIGHT_PYTHON ?? join(repo, '.venv', 'bin', 'python');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const port = Number(process.env.E2E_PORT ?? 8791);
const keep = process.argv.includes('--keep');
const withNotebook = !process.argv.includes('--no-notebook');
const docs = join(repo, 'docs');
const version = JSON.parse(readFileSync(join(client, 'package.json'), 'utf8')).version;
const vsix = join(client, `flopsight-${version}.vsix`);
const stateDir = join(process.env.VSCODE_WEB_HOME ?? join(process.env.HOME ?? '/root', '.cache', 'vscode-web'), 'state');

const started = Date.now();
function log(message) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
}

class Failure extends Error {}
const failures = [];
function check(ok, what) {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    failures.push(what);
  }
}

function sh(...args) {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Polls `fn` until it returns something truthy, or fails after `timeout` ms. */
async function waitFor(what, fn, timeout = 60_000, every = 500) {
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
  throw new Failure(`timed out after ${timeout / 1000}s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** The active editor's lines as shown (inlay hints included), in order, with their index. */
async function editorLines(page, root = '.monaco-editor') {
  return page.evaluate((rootSelector) => {
    const editors = [...document.querySelectorAll(rootSelector)].filter((e) => e.offsetParent !== null && e.querySelector('.view-lines'));
    const editor = editors.find((e) => e.classList.contains('focused')) ?? editors[0];
    if (!editor) {
      return [];
    }
    return [...editor.querySelectorAll('.view-lines .view-line')]
      .map((el) => ({ top: parseFloat(el.style.top), text: (el.textContent ?? '').replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top);
  }, root);
}

/** Finds a frame (webviews are nested iframes) whose body text matches. */
async function frameWithText(page, needle) {
  for (const frame of page.frames()) {
    try {
      const text = await frame.evaluate(() => document.body?.innerText ?? '');
      if (text.includes(needle)) {
        return frame;
      }
    } catch {
      // detached or cross-origin frame
    }
  }
  return undefined;
}

async function quickOpen(page, name) {
  // The workbench takes keybindings only once it is fully up: retry until the picker lists the file.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    const listed = await waitFor(
      `quick open to list ${name}`,
      async () => {
        const input = await page.$('.quick-input-widget input');
        if (!input || !(await input.isVisible())) {
          return false;
        }
        if ((await input.inputValue()) !== name) {
          await input.fill(name);
        }
        return page.evaluate((n) => [...document.querySelectorAll('.quick-input-list .monaco-list-row')].some((r) => r.textContent?.includes(n)), name);
      },
      5_000,
    ).catch((error) => {
      if (attempt >= 6) {
        throw error;
      }
      return false;
    });
    if (listed) {
      await page.keyboard.press('Enter');
      return;
    }
  }
}

async function runCommand(page, title) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = await page.waitForSelector('.quick-input-widget input >> visible=true', { timeout: 10_000 });
  await input.fill(`>${title}`);
  await waitFor(`the command palette to list ${title}`, async () =>
    page.evaluate((t) => [...document.querySelectorAll('.quick-input-list .monaco-list-row')].some((r) => r.textContent?.includes(t)), title.split(': ')[1]),
  10_000);
  await page.keyboard.press('Enter');
}

async function statusBarText(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.statusbar-item')].map((e) => (e.textContent ?? '').trim()).filter((t) => t.includes('⚡') || t.includes('flopsight')),
  );
}

function serverLogs() {
  // The output channel is mirrored into the extension host's log folder.
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        walk(p);
      } else if (/flopsight/i.test(name)) {
        out.push(p);
      }
    }
  };
  const logs = join(stateDir, 'user', 'logs');
  if (existsSync(logs)) {
    walk(logs);
  }
  return out.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

function writeWorkspace() {
  const ws = mkdtempSync(join(tmpdir(), 'flopsight-e2e-'));
  const folder = join(ws, 'examples');
  cpSync(join(repo, 'examples'), folder, { recursive: true, filter: (src) => !src.includes('__pycache__') });
  mkdirSync(join(folder, '.vscode'), { recursive: true });
  const settings = {
    'flopsight.convention': 'ptflops',
    'flopsight.serverPython': python,
    'workbench.startupEditor': 'none',
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.colorTheme': 'Default Dark Modern',
    'workbench.tips.enabled': false,
    'workbench.editor.enablePreview': false,
    'editor.minimap.enabled': false,
    'editor.inlayHints.enabled': 'on',
    'editor.fontSize': 13,
    'files.autoSave': 'off',
    'extensions.ignoreRecommendations': true,
    'git.enabled': false,
    'python.languageServer': 'None',
  };
  writeFileSync(join(folder, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  // Some of these are read before the workspace's settings: the test VS Code's user settings too.
  const user = join(stateDir, 'user', 'User', 'settings.json');
  mkdirSync(dirname(user), { recursive: true });
  const ui = Object.fromEntries(Object.entries(settings).filter(([key]) => !key.startsWith('flopsight.')));
  writeFileSync(user, JSON.stringify({ ...readJson(user), ...ui }, null, 2));
  // A repository, as projects are: the code lens adds the change against HEAD (flopsight.compareWith).
  const git = (...args) => sh('git', '-C', folder, '-c', 'user.email=e2e@flopsight.dev', '-c', 'user.name=e2e', ...args);
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'the examples');
  return { ws, folder };
}

/** The middle of the first `needle` on the editor line that contains `line`, in page coordinates. */
async function pointAt(page, line, needle) {
  return page.evaluate(
    ([lineText, word]) => {
      const el = [...document.querySelectorAll('.view-lines .view-line')].find((e) => e.textContent?.replace(/\u00a0/g, ' ').includes(lineText));
      if (!el) {
        return null;
      }
      const walker = document.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.textContent.indexOf(word);
        if (at >= 0) {
          const range = document.createRange();
          range.setStart(node, at);
          range.setEnd(node, at + word.length);
          const r = range.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
      }
      return null;
    },
    [line, needle],
  );
}

async function lensTexts(page) {
  return page.evaluate(() => [...document.querySelectorAll('.codelens-decoration')].map((e) => e.textContent ?? ''));
}

async function crossFile(page, folder) {
  // examples/gpt: model.py's GPT (ptflops convention, tokens T = 64, width d = 64, 2 blocks) runs
  // the blocks of layers.py. ptflops counts a Linear(i, o) on T tokens as T·i·o + T·o (the bias).
  const layersText = readFileSync(join(folder, 'gpt', 'layers.py'), 'utf8').split('\n');
  const modelText = readFileSync(join(folder, 'gpt', 'model.py'), 'utf8').split('\n');
  const gptLine = modelText.findIndex((l) => l.startsWith('class GPT')) + 1;
  await quickOpen(page, 'model.py');
  await waitFor('the GPT code lens', async () => (await lensTexts(page)).find((t) => t.includes('MMac')), 240_000);
  await quickOpen(page, 'layers.py');
  // qkv = Linear(64, 192): 64·64·192 + 64·192 = 798,720 MACs per block, two blocks.
  const shown = await waitFor(
    'the hint on the qkv line of layers.py',
    async () => {
      const current = await editorLines(page);
      return current.some((l) => l.text.includes('self.qkv = nn.Linear') && l.text.includes('Mac')) ? current : undefined;
    },
    120_000,
  ).catch(() => []);
  const qkv = shown.find((l) => l.text.includes('self.qkv = nn.Linear'))?.text ?? '';
  check(qkv.includes('1.60 MMac') && qkv.includes('×2'), `layers.py's qkv line shows GPT's two qkv Linears, 1.60 MMac ×2: "${qkv.trim()}"`);
  const lens = (await lensTexts(page)).find((t) => t.includes('in GPT')) ?? '';
  check(lens.includes('in GPT:') && lens.includes('×2') && lens.includes(`gpt/model.py:${gptLine}`), `a lens above CausalSelfAttention says what GPT spends in it: "${lens}"`);
  const point = await pointAt(page, 'self.qkv = nn.Linear', 'qkv');
  if (point) {
    await page.mouse.move(point.x, point.y);
    const hover = await waitFor(
      'the hover on layers.py',
      async () => page.evaluate(() => [...document.querySelectorAll('.monaco-hover')].map((e) => e.textContent ?? '').find((t) => t.includes('in GPT'))),
      20_000,
    ).catch(() => '');
    check(hover.includes(`in GPT, gpt/model.py:${gptLine} · ×2`) && hover.includes('1.60 MMac'), `the hover names the model, its line and how often: "${hover.slice(0, 120)}"`);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(docs, 'vscode-cross-file.png') });
    log('saved docs/vscode-cross-file.png');
    await page.keyboard.press('Escape');
    await page.mouse.move(5, 400);
  } else {
    check(false, 'found the qkv token to hover');
  }

  // An unsaved edit of layers.py: the MLP twice as wide. model.py is counted again with the
  // buffer, and its lens gives the change against HEAD. Per block, ptflops' MLP at hidden h:
  // (64·64·h + 64·h) + (64·h·64 + 64·64); h 256 → 512 adds 2,113,536 MACs a block, 4,227,072 in
  // all = +4.23 MMac; params (64·h + h) + (h·64 + 64) add 33,024 a block, +66.05 k in all.
  const hidden = layersText.findIndex((l) => l.includes('hidden = 4 * d')) + 1;
  await page.keyboard.press('Control+G');
  await page.keyboard.type(String(hidden));
  await page.keyboard.press('Enter');
  await page.keyboard.press('End');
  for (let i = 0; i < 'x4 * d'.length - 1; i++) {
    await page.keyboard.press('Backspace');
  }
  await page.keyboard.type('8 * d');
  // Close the suggestions the typing opened, then back to model.py's tab (still open).
  await page.keyboard.press('Escape');
  await page.click('.tabs-container .tab:has-text("model.py")');
  const delta = await waitFor(
    'the GPT lens with the change against HEAD',
    async () => (await lensTexts(page)).find((t) => t.includes('vs HEAD')),
    180_000,
  ).catch(async () => (await lensTexts(page)).join(' | '));
  check(delta.includes('Δ +4.23 MMac') && delta.includes('+66.05 k params vs HEAD'), `after widening the MLP in layers.py (unsaved), model.py's lens shows Δ +4.23 MMac · +66.05 k params vs HEAD: "${delta}"`);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(docs, 'vscode-lens-delta.png') });
  log('saved docs/vscode-lens-delta.png');
  // Leave layers.py as it was (unsaved), so the next sections see the committed code.
  await quickOpen(page, 'layers.py');
  await runCommand(page, 'File: Revert File');
}

async function main() {
  if (!existsSync(vsix)) {
    throw new Failure(`${vsix} is missing: run make -C client vsix first`);
  }
  if (!existsSync(python)) {
    throw new Failure(`no server interpreter at ${python}: set FLOPSIGHT_PYTHON or run make dev`);
  }
  log('installing VS Code (code-server) if needed');
  sh(tool, 'install');
  log(`installing ${vsix}`);
  sh(tool, 'ext', vsix);
  const { ws, folder } = writeWorkspace();
  mkdirSync(docs, { recursive: true });
  sh(tool, 'stop', String(port));
  const url = sh(tool, 'start', folder, String(port)).trim().split('\n').pop();
  log(`VS Code at ${url}`);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
  page.on('pageerror', (error) => log(`page error: ${error.message}`));
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.monaco-workbench', { timeout: 120_000 });
    await page.waitForSelector('.statusbar', { timeout: 60_000 });
    log('workbench loaded');

    // --- the seed MLP -----------------------------------------------------------------------
    await quickOpen(page, 'seed_mlp.py');
    await page.waitForSelector('.monaco-editor .view-lines', { timeout: 30_000 });
    const lines = await waitFor(
      'the inlay hint on nn.Linear(28 * 28, 512)',
      async () => {
        const current = await editorLines(page);
        return current.some((l) => l.text.includes('nn.Linear(28 * 28, 512)') && l.text.includes('KMac')) ? current : undefined;
      },
      180_000,
    );
    log('hints arrived');
    // Allow the rest of the hints (forward lines) to land after the first refresh.
    await page.waitForTimeout(1500);
    const shown = await editorLines(page);
    const source = readFileSync(join(folder, 'seed_mlp.py'), 'utf8').split('\n');
    const lineOf = (needle) => source.findIndex((l) => l.includes(needle));
    const expectHint = (needle, figure) => {
      const index = lineOf(needle);
      const text = shown[index]?.text ?? '';
      check(text.startsWith(source[index]) && text.includes(figure), `line ${index + 1} (${needle.trim()}) shows ${figure}: "${text.trim()}"`);
      const elsewhere = shown.filter((l, i) => i !== index && l.text.includes(figure)).length;
      check(elsewhere === 0, `${figure} appears on no other line`);
    };
    // ptflops' figures for the seed MLP: Linear(784, 512) = 784·512 + 512, Linear(512, 512) =
    // 512·512 + 512, Linear(512, 10) = 512·10 + 10 MACs.
    check(lines.length >= source.length - 1, `all ${source.length} lines are on screen`);
    expectHint('nn.Linear(28 * 28, 512)', '401.92 KMac');
    expectHint('nn.Linear(512, 512)', '262.66 KMac');
    expectHint('nn.Linear(512, 10)', '5.13 KMac');

    const lens = await waitFor(
      'the code lens',
      async () => {
        const texts = await page.evaluate(() => [...document.querySelectorAll('.codelens-decoration')].map((e) => e.textContent ?? ''));
        return texts.find((t) => t.includes('KMac'));
      },
      60_000,
    );
    check(lens.includes('670.73 KMac'), `the code lens shows 670.73 KMac: "${lens}"`);
    check(lens.includes('669.71 k params'), 'the code lens shows 669.71 k params');
    const lensAboveClass = await page.evaluate(() => {
      const lensEl = [...document.querySelectorAll('.codelens-decoration')].find((e) => e.textContent?.includes('KMac'));
      const classLine = [...document.querySelectorAll('.view-lines .view-line')].find((e) => e.textContent?.replace(/\u00a0/g, ' ').includes('class NeuralNetwork'));
      if (!lensEl || !classLine) {
        return `lens ${Boolean(lensEl)}, class line ${Boolean(classLine)}`;
      }
      const a = lensEl.getBoundingClientRect();
      const b = classLine.getBoundingClientRect();
      return a.top < b.top && b.top - a.top < 2.5 * b.height ? true : `lens top ${a.top}, class line top ${b.top}, height ${b.height}`;
    });
    check(lensAboveClass === true, `the code lens sits right above the class line${lensAboveClass === true ? '' : ` (${lensAboveClass})`}`);

    // No save: the server sends flopsight/summary, with the status bar's strings, after every analysis.
    const status = await waitFor('the status bar', async () => (await statusBarText(page)).find((t) => t.includes('⚡')), 60_000).catch(
      async () => (await statusBarText(page)).join(' | '),
    );
    check(String(status).includes('670.73 KMac') && String(status).includes('669.71 k'), `the status bar shows the total without a save: "${status}"`);
    await page.mouse.move(5, 400);
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(docs, 'vscode-seed-mlp.png') });
    log('saved docs/vscode-seed-mlp.png');

    // --- hover on the first Linear ------------------------------------------------------------
    // The middle of `Linear` in `nn.Linear(28 * 28, 512)`, found through a DOM range over the line's text.
    const point = await page.evaluate(() => {
      const line = [...document.querySelectorAll('.view-lines .view-line')].find((e) => e.textContent?.replace(/\u00a0/g, ' ').includes('nn.Linear(28 * 28, 512)'));
      if (!line) {
        return null;
      }
      const walker = document.createTreeWalker(line, 4 /* NodeFilter.SHOW_TEXT */);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.textContent.indexOf('Linear');
        if (at >= 0) {
          const range = document.createRange();
          range.setStart(node, at);
          range.setEnd(node, at + 'Linear'.length);
          const r = range.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
      }
      return null;
    });
    if (point) {
      await page.mouse.move(point.x, point.y);
      const hover = await waitFor(
        'the hover card',
        async () => page.evaluate(() => [...document.querySelectorAll('.monaco-hover')].map((e) => e.textContent ?? '').find((t) => t.includes('Mac'))),
        20_000,
      ).catch(() => undefined);
      check(Boolean(hover && hover.includes('401.92 KMac')), `the hover on Linear shows 401.92 KMac: "${(hover ?? '').slice(0, 120)}…"`);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(docs, 'vscode-hover.png') });
      log('saved docs/vscode-hover.png');
      await page.keyboard.press('Escape');
      await page.mouse.move(5, 400);

      // --- flopsight: Measure from the palette; the measured figures join the hover ------------
      await runCommand(page, 'flopsight: Measure');
      const measured = await waitFor(
        'the measured hover',
        async () => {
          await page.mouse.move(5, 400);
          await page.waitForTimeout(300);
          await page.mouse.move(point.x, point.y);
          await page.waitForTimeout(1200);
          return page.evaluate(() => [...document.querySelectorAll('.monaco-hover')].map((e) => e.textContent ?? '').find((t) => t.includes('GFLOP/s')));
        },
        90_000,
        1_000,
      ).catch(() => undefined);
      check(Boolean(measured && /\d (µs|ms|s) · [\d.]+ GFLOP\/s/.test(measured)), `after flopsight: Measure the hover on Linear shows latency and GFLOP/s: "${(measured ?? '').slice(0, 160)}…"`);
      await page.screenshot({ path: join(docs, 'vscode-measure.png') });
      log('saved docs/vscode-measure.png');
      await page.keyboard.press('Escape');
      await page.mouse.move(5, 400);
    } else {
      check(false, 'found the Linear token to hover');
    }

    // --- the report, through the code lens (the server's flopsight.server.showReport, which the
    // extension maps to its own flopsight.showReport: the report page) ------------------------
    await page.evaluate(() => {
      const link = [...document.querySelectorAll('.codelens-decoration a')].find((e) => e.textContent?.includes('KMac'));
      link?.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
      link?.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    });
    const report = await waitFor('the report view', () => frameWithText(page, 'Heaviest layers'), 30_000).catch(() => undefined);
    check(Boolean(report), 'the code lens opens the report view with the heaviest layers');
    if (report) {
      await page.keyboard.press('Control+B'); // the side bar off: room for the table
      const text = await report.evaluate(() => document.body.innerText);
      check(text.includes('linear_relu_stack.0') && text.includes('401.92 KMac') && text.includes('59.9%'), 'the report lists linear_relu_stack.0 at 401.92 KMac, 59.9%');
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(docs, 'vscode-report.png') });
      log('saved docs/vscode-report.png');
      // A line number in the report puts the cursor on that line of the file.
      await report.click('a.line[data-line="14"]');
      const cursor = await waitFor(
        'the cursor on line 14',
        async () => page.evaluate(() => [...document.querySelectorAll('.statusbar-item')].map((e) => e.textContent ?? '').find((t) => /Ln 14\b/.test(t))),
        10_000,
      ).catch(() => '');
      check(cursor.includes('Ln 14'), `clicking line 14 in the report reveals it in the editor: "${cursor}"`);
    }

    // --- a model over two files (issue 17): layers.py shows what GPT in model.py spends there ------
    await runCommand(page, 'View: Close All Editors');
    await crossFile(page, folder);

    // --- densenet161, the seed article's script; the report through the command palette ------------
    await runCommand(page, 'View: Close All Editors');
    await quickOpen(page, 'seed_densenet.py');
    // ptflops' figures for densenet161 at (1, 3, 224, 224), as the seed article prints them.
    const denseStatus = await waitFor('the status bar for densenet161', async () => (await statusBarText(page)).find((t) => t.includes('GMac')), 240_000).catch(
      async () => (await statusBarText(page)).join(' | '),
    );
    check(String(denseStatus).includes('⚡ 7.82 GMac · 28.68 M'), `the status bar shows densenet161's 7.82 GMac · 28.68 M: "${denseStatus}"`);
    const denseLens = await waitFor(
      'the densenet161 code lens',
      async () => page.evaluate(() => [...document.querySelectorAll('.codelens-decoration')].map((e) => e.textContent ?? '').find((t) => t.includes('GMac'))),
      30_000,
    ).catch(() => '');
    check(denseLens.includes('7.82 GMac') && denseLens.includes('28.68 M params'), `the code lens shows 7.82 GMac and 28.68 M params: "${denseLens}"`);
    await page.mouse.move(5, 400);
    await page.screenshot({ path: join(docs, 'vscode-densenet.png') });
    log('saved docs/vscode-densenet.png');
    // Restart: the new client registers the server's commands (flopsight.server.*) again, beside the
    // extension's own (flopsight.showReport, flopsight.measure), and analyses the open file anew.
    const starts = () => serverLogs().map((f) => readFileSync(f, 'utf8').split('server interpreter').length - 1).reduce((a, b) => a + b, 0);
    const before = starts();
    await runCommand(page, 'flopsight: Restart Server');
    await waitFor('the server to start again', () => starts() > before, 30_000);
    const restarted = await waitFor('the status bar after a restart', async () => (await statusBarText(page)).find((t) => t.includes('GMac')), 120_000).catch(
      async () => (await statusBarText(page)).join(' | '),
    );
    check(String(restarted).includes('⚡ 7.82 GMac · 28.68 M'), `after flopsight: Restart Server the status bar is back: "${restarted}"`);
    await runCommand(page, 'flopsight: Show Report');
    const denseReport = await waitFor('the densenet161 report', () => frameWithText(page, 'DenseNet'), 30_000).catch(() => undefined);
    check(Boolean(denseReport), 'flopsight: Show Report from the command palette opens the report of the active file');
    if (!denseReport) {
      await page.screenshot({ path: join(tmpdir(), 'flopsight-e2e-report-failure.png') });
    }
    if (denseReport) {
      const text = await denseReport.evaluate(() => document.body.innerText);
      check(text.includes('7.82 GMac') && text.includes('Heaviest layers'), 'the densenet161 report shows 7.82 GMac and its heaviest layers');
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(docs, 'vscode-densenet-report.png') });
      log('saved docs/vscode-densenet-report.png');
    }

    // --- the notebook --------------------------------------------------------------------------
    if (withNotebook && existsSync(join(folder, 'seed_mlp.ipynb'))) {
      await runCommand(page, 'View: Close All Editors');
      await page.waitForTimeout(500);
      await quickOpen(page, 'seed_mlp.ipynb');
      await page.waitForSelector('.notebook-editor >> visible=true', { timeout: 30_000 });
      const cellLine = await waitFor(
        'the inlay hint in the notebook cell',
        async () => {
          const texts = await page.evaluate(() =>
            [...document.querySelectorAll('.notebook-editor .cell-editor-container .view-line')].map((e) => (e.textContent ?? '').replace(/\u00a0/g, ' ')),
          );
          return texts.find((t) => t.includes('nn.Linear(28 * 28, 512)') && t.includes('Mac'));
        },
        120_000,
      ).catch(() => undefined);
      check(Boolean(cellLine && cellLine.includes('401.92 KMac')), `the notebook cell's nn.Linear(28 * 28, 512) shows 401.92 KMac: "${(cellLine ?? '').trim()}"`);
      const nbLens = await waitFor(
        'the code lens in the notebook',
        async () => page.evaluate(() => [...document.querySelectorAll('.notebook-editor .codelens-decoration')].map((e) => e.textContent ?? '').find((t) => t.includes('Mac'))),
        30_000,
      ).catch(() => undefined);
      const nbStatus = (await statusBarText(page)).find((t) => t.includes('⚡'));
      check(Boolean(nbStatus && nbStatus.includes('670.73 KMac · 669.71 k')), `the status bar follows the notebook: "${nbStatus ?? ''}"`);
      check(Boolean(nbLens && nbLens.includes('670.73 KMac')), `the notebook's code lens shows 670.73 KMac: "${nbLens ?? ''}"`);
      await page.mouse.move(5, 400);
      await page.waitForTimeout(800);
      await page.screenshot({ path: join(docs, 'vscode-notebook.png') });
      log('saved docs/vscode-notebook.png');
    }

    // --- an interpreter without flopsight: say so, offer to install it ------------------------------
    const bare = process.env.E2E_BARE_PYTHON ?? '/usr/bin/python3';
    const hasFlopsight = (() => {
      try {
        execFileSync(bare, ['-c', 'import flopsight'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (existsSync(bare) && !hasFlopsight) {
      const settingsPath = join(folder, '.vscode', 'settings.json');
      writeFileSync(settingsPath, JSON.stringify({ ...readJson(settingsPath), 'flopsight.serverPython': bare }, null, 2));
      const toast = await waitFor(
        'the missing-flopsight notification',
        async () => page.evaluate(() => [...document.querySelectorAll('.notification-toast')].map((e) => e.textContent ?? '').find((t) => t.includes('not installed'))),
        30_000,
      ).catch(() => '');
      check(toast.includes(`flopsight is not installed in ${bare}`) && toast.includes('Install flopsight'), `an interpreter without flopsight gets a message with an install button: "${toast}"`);
      const warning = (await statusBarText(page)).join(' | ');
      check(warning.includes('flopsight'), `the status bar shows the problem: "${warning}"`);
      await page.screenshot({ path: join(docs, 'vscode-not-installed.png') });
      log('saved docs/vscode-not-installed.png');
    } else {
      log(`skipped the missing-flopsight check: ${bare} ${existsSync(bare) ? 'has flopsight' : 'does not exist'}`);
    }
  } catch (error) {
    const shot = join(tmpdir(), 'flopsight-e2e-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    log(`failure screenshot: ${shot}`);
    throw error;
  } finally {
    await browser.close();
    sh(tool, 'stop', String(port));
    const logs = serverLogs();
    if (failures.length > 0 || process.exitCode) {
      for (const file of logs.slice(-1)) {
        log(`server log (${file}):\n${readFileSync(file, 'utf8').split('\n').slice(-40).join('\n')}`);
      }
    }
    if (!keep) {
      rmSync(ws, { recursive: true, force: true });
    } else {
      log(`kept ${ws}`);
    }
  }
}

main().then(
  () => {
    if (failures.length > 0) {
      console.error(`\n${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
      process.exit(1);
    }
    log('all checks passed');
  },
  (error) => {
    console.error(error instanceof Failure ? `e2e: ${error.message}` : error);
    if (failures.length > 0) {
      console.error(`failed checks:\n  ${failures.join('\n  ')}`);
    }
    process.exit(1);
  },
);
