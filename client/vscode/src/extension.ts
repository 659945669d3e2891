// The VS Code side of flopsight: starts `python -m flopsight serve`, shows the active file's
// heaviest model in the status bar, and the per-layer report in a webview.
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { type Interpreter, classifyProbe, installCommandLine, resolveModelPython, resolveServerPython } from './interpreter';
import { onDidChangeInterpreter, selectedInterpreter } from './python';
import { ReportPanel } from './reportPanel';
import { type ClientContext, type FlopsightSection, adjustConfiguration, executionBlockedReason, expandPath, serverSection } from './settings';
import { type FileState, type SummaryParams, statusView } from './status';

const SECTION = 'flopsight';
// The extension's commands (palette, status bar, code lenses) ...
const SHOW_REPORT = 'flopsight.showReport';
const MEASURE = 'flopsight.measure';
// ... and the server's, with ids of their own: the language client registers these, and the two
// never collide (server/flopsight/lsp/handlers.py documents them).
const SERVER_SHOW_REPORT = 'flopsight.server.showReport';
const SERVER_MEASURE = 'flopsight.server.measure';
const STATUS_CLICK = 'flopsight.statusBarClicked';

interface UriParams {
  uri: string;
  cancelled?: boolean;
  error?: string | null;
}

class Flopsight implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly output = vscode.window.createOutputChannel('flopsight');
  private readonly status = vscode.window.createStatusBarItem('flopsight.status', vscode.StatusBarAlignment.Right, 100);
  private readonly files = new Map<string, FileState>();
  private readonly report: ReportPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private selected: string | undefined;
  private serverPython: Interpreter | undefined;
  /** Why the server is not running, shown in the status bar. */
  private problem: { message: string; reason: 'no-interpreter' | 'no-flopsight' | 'other' } | undefined;

  constructor() {
    this.status.name = 'flopsight';
    this.report = new ReportPanel((uri, model) => this.fetchReport(uri, model));
    this.disposables.push(
      this.output,
      this.status,
      this.report,
      vscode.commands.registerCommand('flopsight.restartServer', () => this.restart()),
      vscode.commands.registerCommand('flopsight.showOutput', () => this.output.show(true)),
      vscode.commands.registerCommand(STATUS_CLICK, () => this.statusClicked()),
      // Ours for the extension's lifetime (palette, status bar, the server's code lenses), so that it
      // works across restarts and says why when the server is down.
      vscode.commands.registerCommand(SHOW_REPORT, (uri?: unknown, model?: unknown) => this.showReport(uri, model)),
      vscode.commands.registerCommand(MEASURE, () => this.measure()),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        this.updateStatus();
        this.lookedAt(editor?.document.uri);
      }),
      vscode.window.onDidChangeActiveNotebookEditor((editor) => {
        this.updateStatus();
        this.lookedAt(editor?.notebook.uri);
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => this.files.delete(doc.uri.toString())),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.trustGranted()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('flopsight.serverPython')) {
          void this.restart();
        } else if (e.affectsConfiguration(SECTION)) {
          this.updateStatus();
        }
      }),
    );
  }

  /** Tells the server which document the user looks at: the hints of the files its models run
   * (layers.py of model.py's GPT) follow it when several models run the same file. */
  private lookedAt(uri: vscode.Uri | undefined): void {
    if (uri && this.client?.isRunning()) {
      void this.client.sendNotification('flopsight/activeDocument', { uri: uri.toString() });
    }
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  async start(): Promise<void> {
    if (vscode.workspace.isTrusted) {
      await this.followSelectedInterpreter();
    }
    await this.startClient();
  }

  /** The Python extension's interpreter is consulted only in trusted workspaces (it may live in one). */
  private async followSelectedInterpreter(): Promise<void> {
    this.selected = await selectedInterpreter(this.workspaceUri());
    const watch = await onDidChangeInterpreter(() => void this.interpreterChanged());
    if (watch) {
      this.disposables.push(watch);
    }
  }

  private async trustGranted(): Promise<void> {
    await this.followSelectedInterpreter();
    await this.restart();
  }

  private workspaceUri(): vscode.Uri | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri;
  }

  private clientContext(): ClientContext {
    const folder = this.workspaceUri()?.fsPath;
    const ctx: ClientContext = { trusted: vscode.workspace.isTrusted, workspaceFolder: folder, home: homedir() };
    const config = vscode.workspace.getConfiguration(SECTION);
    const models = resolveModelPython({ pythonSetting: expandPath(config.get<string>('python') ?? '', ctx), selected: this.selected });
    return { ...ctx, defaultModelPython: models?.path };
  }

  private section(): FlopsightSection {
    return serverSection(currentSection(), this.clientContext());
  }

  private async interpreterChanged(): Promise<void> {
    this.selected = await selectedInterpreter(this.workspaceUri());
    if (this.serverPython?.source === 'setting') {
      await this.sendSettings();
    } else {
      await this.restart();
    }
  }

  private async sendSettings(): Promise<void> {
    if (this.client?.state === State.Running) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: this.section() } });
    }
    this.updateStatus();
  }

  private async startClient(): Promise<void> {
    const ctx = this.clientContext();
    const config = vscode.workspace.getConfiguration(SECTION);
    const python = resolveServerPython({
      serverPythonSetting: expandPath(config.get<string>('serverPython') ?? '', ctx),
      selected: this.selected,
    });
    this.serverPython = python;
    this.output.appendLine(`flopsight: server interpreter ${python.path} (from ${python.source})`);
    const probe = await probeFlopsight(python.path);
    if (!probe.ok) {
      const message =
        probe.reason === 'no-interpreter'
          ? `Python interpreter not found: ${python.path}`
          : probe.reason === 'no-flopsight'
            ? `flopsight is not installed in ${python.path}`
            : `\`import flopsight\` fails in ${python.path}`;
      this.problem = { message, reason: probe.reason };
      this.output.appendLine(`flopsight: ${message}\n${probe.detail}`);
      this.updateStatus();
      void this.offerFix(python, probe.reason);
      return;
    }
    this.problem = undefined;

    const serverOptions: ServerOptions = {
      command: python.path,
      args: ['-m', 'flopsight', 'serve'],
      // No transport: plain stdio without a `--stdio` argument, which `flopsight serve` does not take.
      options: { cwd: ctx.workspaceFolder, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { notebook: 'jupyter-notebook', language: 'python' },
      ],
      synchronize: { configurationSection: SECTION },
      initializationOptions: this.section(),
      outputChannel: this.output,
      diagnosticCollectionName: 'flopsight',
      middleware: this.middleware(),
    };
    const client = new LanguageClient('flopsight', 'flopsight', serverOptions, clientOptions);
    client.onNotification('flopsight/summary', (params: SummaryParams) => {
      this.fileState(params.uri).summary = params;
      this.updateStatus();
    });
    client.onNotification('flopsight/analysisStarted', (params: UriParams) => {
      const state = this.fileState(params.uri);
      state.running = true;
      this.updateStatus();
    });
    client.onNotification('flopsight/analysisFinished', (params: UriParams) => {
      const state = this.fileState(params.uri);
      state.running = false;
      state.failure = params.error ?? undefined;
      this.updateStatus();
      if (!params.cancelled) {
        // The round's flopsight/summary came just before; the report page follows it too.
        this.report.refreshIfShowing(params.uri);
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.problem = { message: `the server failed to start: ${String(error)}`, reason: 'other' };
      this.output.appendLine(`flopsight: ${this.problem.message}`);
    }
    this.updateStatus();
  }

  private middleware(): Middleware {
    return {
      workspace: {
        // The server pulls `flopsight`; trust and the selected interpreter adjust what it gets.
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          return Array.isArray(result) ? adjustConfiguration(params.items, result, () => this.section()) : result;
        },
        didChangeConfiguration: async () => this.sendSettings(),
      },
      // A lens runs the server's showReport; in VS Code it opens the report page instead.
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        for (const lens of lenses ?? []) {
          if (lens.command?.command === SERVER_SHOW_REPORT) {
            lens.command = { ...lens.command, command: SHOW_REPORT };
          }
        }
        return lenses;
      },
    };
  }

  private async showReport(uri: unknown, model: unknown): Promise<void> {
    const target = typeof uri === 'string' ? uri : uri instanceof vscode.Uri ? uri.toString() : this.activeUri()?.toString();
    if (!target) {
      void vscode.window.showInformationMessage('flopsight: open a Python file or notebook to see its report.');
      return;
    }
    await this.report.show(target, typeof model === 'string' ? model : undefined);
  }

  /** Runs the active file's models for real and times them; the figures join the hovers. */
  private async measure(): Promise<void> {
    const target = this.activeUri()?.toString();
    const client = this.client;
    if (!target) {
      void vscode.window.showInformationMessage('flopsight: open a Python file or notebook to measure its models.');
      return;
    }
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage(`flopsight: ${this.problem?.message ?? 'the flopsight server is not running'}`);
      return;
    }
    const answer: unknown = await client.sendRequest('workspace/executeCommand', { command: SERVER_MEASURE, arguments: [target] });
    if (typeof answer === 'string' && answer) {
      void vscode.window.setStatusBarMessage(answer, 5000);
    }
  }

  /** The report page's strings when the server gives them, else its markdown table. */
  private async fetchReport(uri: string, model: string | undefined): Promise<unknown> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      throw new Error(this.problem?.message ?? 'the flopsight server is not running');
    }
    try {
      const view: unknown = await client.sendRequest('workspace/executeCommand', {
        command: SERVER_SHOW_REPORT,
        arguments: [uri, { format: 'view', model: null }],
      });
      if (view !== null && view !== undefined) {
        return view;
      }
    } catch (error) {
      this.output.appendLine(`flopsight: showReport with {format: "view"} failed, asking for markdown: ${String(error)}`);
    }
    return client.sendRequest('workspace/executeCommand', { command: SERVER_SHOW_REPORT, arguments: model ? [uri, model] : [uri] });
  }

  private activeUri(): vscode.Uri | undefined {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    const doc = vscode.window.activeTextEditor?.document;
    if (notebook && (!doc || doc.uri.scheme === 'vscode-notebook-cell')) {
      return notebook.uri;
    }
    return doc?.uri;
  }

  /** The keys the server may use for the active file: the document, and its notebook. */
  private activeKeys(): string[] {
    const keys: string[] = [];
    const doc = vscode.window.activeTextEditor?.document;
    if (doc) {
      keys.push(doc.uri.toString());
    }
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    if (notebook) {
      keys.push(notebook.uri.toString(), ...notebook.getCells().map((c) => c.document.uri.toString()));
    }
    return keys;
  }

  private fileState(uri: string): FileState {
    const key = vscode.Uri.parse(uri).toString();
    let state = this.files.get(key);
    if (!state) {
      state = { running: false };
      this.files.set(key, state);
    }
    return state;
  }

  private updateStatus(): void {
    if (this.problem) {
      this.status.text = '$(warning) flopsight';
      this.status.tooltip = `${this.problem.message}. Click to ${this.problem.reason === 'other' ? 'see the log' : 'fix it'}.`;
      this.status.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      this.status.command = STATUS_CLICK;
      this.status.show();
      return;
    }
    const keys = this.activeKeys();
    const state = keys.map((k) => this.files.get(k)).find((s) => s !== undefined);
    const isPython = vscode.window.activeTextEditor?.document.languageId === 'python' || vscode.window.activeNotebookEditor !== undefined;
    const config = currentSection();
    const blocked = isPython ? executionBlockedReason(config, vscode.workspace.isTrusted) : undefined;
    const view = statusView(state, blocked);
    if (!view.visible) {
      this.status.hide();
      return;
    }
    this.status.text = view.text;
    this.status.tooltip = view.tooltip;
    this.status.backgroundColor = view.severity === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.status.command = blocked && !vscode.workspace.isTrusted ? 'workbench.trust.manage' : STATUS_CLICK;
    this.status.show();
  }

  private async statusClicked(): Promise<void> {
    if (this.problem?.reason === 'other') {
      this.output.show(true);
      return;
    }
    if (this.problem && this.serverPython) {
      await this.offerFix(this.serverPython, this.problem.reason);
      return;
    }
    await vscode.commands.executeCommand(SHOW_REPORT);
  }

  private async offerFix(python: Interpreter, reason: string): Promise<void> {
    const settings = 'Open Settings';
    if (reason === 'no-interpreter') {
      const choice = await vscode.window.showErrorMessage(
        `flopsight: the Python interpreter "${python.path}" was not found. Set flopsight.serverPython to an interpreter.`,
        settings,
      );
      if (choice === settings) {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'flopsight.serverPython');
      }
      return;
    }
    if (reason === 'other') {
      const log = 'Show Log';
      if ((await vscode.window.showErrorMessage(`flopsight: \`import flopsight\` fails in ${python.path}.`, log)) === log) {
        this.output.show(true);
      }
      return;
    }
    const install = 'Install flopsight';
    const choice = await vscode.window.showErrorMessage(
      `flopsight is not installed in ${python.path}. Install it there, or set flopsight.serverPython to an interpreter that has it.`,
      install,
      settings,
    );
    if (choice === install) {
      const terminal = vscode.window.createTerminal({ name: 'flopsight: install' });
      terminal.show();
      terminal.sendText(installCommandLine(python.path));
      const restart = 'Restart Server';
      const next = await vscode.window.showInformationMessage('flopsight: when pip has finished, restart the server.', restart);
      if (next === restart) {
        await this.restart();
      }
    } else if (choice === settings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'flopsight.serverPython');
    }
  }

  private restarting: Promise<void> = Promise.resolve();

  /** Restarts one at a time: a settings change and the command may ask together. */
  restart(): Promise<void> {
    this.restarting = this.restarting
      .then(() => this.restartNow())
      .catch((error) => this.output.appendLine(`flopsight: restarting the server: ${String(error)}`));
    return this.restarting;
  }

  private async restartNow(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.files.clear();
    if (client) {
      try {
        await client.stop();
      } catch (error) {
        this.output.appendLine(`flopsight: stopping the server: ${String(error)}`);
      }
      await client.dispose().catch(() => undefined);
    }
    await this.startClient();
  }

  async stop(): Promise<void> {
    if (this.client?.state === State.Running) {
      await this.client.stop();
    }
  }
}

/** `<python> -c "import flopsight"`: does the interpreter exist and have flopsight? */
function probeFlopsight(python: string): Promise<ReturnType<typeof classifyProbe>> {
  return new Promise((resolve) => {
    execFile(python, ['-c', 'import flopsight'], { timeout: 30_000 }, (error, _stdout, stderr) => {
      resolve(classifyProbe(error as { code?: string | number | null } | null, String(stderr)));
    });
  });
}

/** The `flopsight` section as nested JSON (the same object the language client syncs). */
function currentSection(): FlopsightSection {
  const value = vscode.workspace.getConfiguration().get<FlopsightSection>(SECTION);
  return JSON.parse(JSON.stringify(value ?? {})) as FlopsightSection;
}

let instance: Flopsight | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  instance = new Flopsight();
  context.subscriptions.push(instance);
  await instance.start();
}

export async function deactivate(): Promise<void> {
  await instance?.stop();
}
