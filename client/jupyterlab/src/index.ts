// flopsight in JupyterLab: asks the flopsight language server (over the connection jupyterlab-lsp
// already holds) for inlay hints, code lenses and quick fixes, and draws them in the CodeMirror
// editors; shows the save summary in the status bar and the report in a panel.
import type { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ILabShell as ILabShellToken } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import {
  type ILSPConnection,
  ILSPDocumentConnectionManager,
  ILSPFeatureManager,
  type VirtualDocument,
  type WidgetLSPAdapter
} from '@jupyterlab/lsp';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import type { Widget } from '@lumino/widgets';

import { type FixItem, type HintItem, type Kind, type LensItem, has, show } from './decorations';
import {
  type CellSpan,
  type Summary,
  type VirtualEdit,
  type VirtualLineSource,
  cellSpans,
  editsFor,
  groupByEditor,
  hintLabel,
  place,
  tooltipText
} from './layout';
import { ReportPanels } from './report';
import { SummaryStatus } from './status';

const PLUGIN_ID = 'flopsight-jupyterlab:plugin';
const SERVER_ID = 'flopsight';
const SHOW_REPORT = 'flopsight:show-report';
const SERVER_SHOW_REPORT = 'flopsight.server.showReport';

/** The extension's own settings (schema/plugin.json). */
interface Options {
  inlayHints: boolean;
  codeLens: boolean;
  quickFixes: boolean;
  statusBar: boolean;
}

/** The JSON-RPC connection under @jupyterlab/lsp's LSPConnection (its protected `connection`). */
interface RawConnection {
  sendRequest(method: string, params: unknown): Promise<unknown>;
  sendNotification(method: string, params: unknown): Promise<void>;
  onRequest(method: string, handler: (params: unknown) => unknown): unknown;
  onNotification(method: string, handler: (params: never) => void): unknown;
}

interface Range {
  start: { line: number; character: number };
  end: { line: number; character: number };
}
interface InlayHint {
  position: { line: number; character: number };
  label: string | Array<{ value: string }>;
  tooltip?: string | { value: string };
  paddingLeft?: boolean;
}
interface CodeLens {
  range: Range;
  command?: { title: string; command: string; arguments?: unknown[] };
}
interface Diagnostic {
  range: Range;
  code?: string | number;
  source?: string;
  message: string;
}
interface CodeAction {
  title: string;
  kind?: string;
  edit?: Parameters<typeof editsFor>[0];
}

function raw(connection: ILSPConnection): RawConnection {
  return (connection as unknown as { connection: RawConnection }).connection;
}

function viewOf(editor: unknown): CodeMirrorEditor['editor'] | null {
  const view = (editor as Partial<CodeMirrorEditor> | null)?.editor;
  return view ?? null;
}

/** The virtual document's lines as @jupyterlab/lsp maps them to editors. */
function linesOf(doc: VirtualDocument): VirtualLineSource<unknown> {
  return {
    editorAt(line) {
      try {
        return doc.getEditorAtVirtualLine({ line, ch: 0 } as never)?.getEditor() ?? null;
      } catch {
        return null; // past the end, or the cell's editor is gone
      }
    },
    toEditor(pos) {
      const at = doc.transformVirtualToEditor(pos as never);
      return at === null ? null : { line: at.line, ch: at.ch };
    }
  };
}

class Flopsight {
  private hooked = new WeakSet<object>();
  private pending = new Map<string, number>();
  private summaries = new Map<string, Summary>();
  private busy = new Set<string>();
  options: Options = { inlayHints: true, codeLens: true, quickFixes: true, statusBar: true };

  constructor(
    private app: JupyterFrontEnd,
    private manager: ILSPDocumentConnectionManager,
    private reports: ReportPanels,
    private status: SummaryStatus | null
  ) {
    manager.connected.connect((_, { connection, virtualDocument }) => {
      this.attach(connection, virtualDocument as VirtualDocument);
    });
    for (const [uri, connection] of manager.connections) {
      const doc = manager.documents.get(uri);
      if (doc !== undefined && connection.isReady) {
        this.attach(connection, doc as VirtualDocument);
      }
    }
  }

  /** The flopsight connection and root virtual document of a widget (notebook or file). */
  find(widget: Widget | null): { adapter: WidgetLSPAdapter<never>; doc: VirtualDocument; connection: ILSPConnection } | null {
    for (const adapter of this.manager.adapters.values()) {
      const doc = adapter.virtualDocument;
      if (widget === null || adapter.widget !== widget || doc === null) {
        continue;
      }
      const connection = this.manager.connections.get(doc.uri);
      if (connection !== undefined && connection.serverIdentifier === SERVER_ID) {
        return { adapter: adapter as WidgetLSPAdapter<never>, doc, connection };
      }
    }
    return null;
  }

  private adapterOf(doc: VirtualDocument): WidgetLSPAdapter<never> | null {
    for (const adapter of this.manager.adapters.values()) {
      if (adapter.virtualDocument === doc) {
        return adapter as WidgetLSPAdapter<never>;
      }
    }
    return null;
  }

  private attach(connection: ILSPConnection, doc: VirtualDocument): void {
    if (connection.serverIdentifier !== SERVER_ID || doc.root !== doc) {
      return; // another server, or an embedded (foreign) document
    }
    this.hook(connection);
    if (!this.hooked.has(doc)) {
      this.hooked.add(doc);
      doc.changed.connect(() => this.sendCells(doc));
      // A cell scrolled into view (windowed notebooks) or added gets its editor now: draw there.
      this.adapterOf(doc)?.editorAdded.connect(() => this.schedule(doc, 100));
    }
    this.sendCells(doc);
    this.schedule(doc, 0);
  }

  /** One set of handlers per connection: server requests and flopsight's notifications. */
  private hook(connection: ILSPConnection): void {
    if (this.hooked.has(connection)) {
      return;
    }
    this.hooked.add(connection);
    const rpc = raw(connection);
    const refreshAll = (): null => {
      for (const doc of this.documents(connection)) {
        this.schedule(doc, 50);
      }
      return null;
    };
    rpc.onRequest('workspace/inlayHint/refresh', refreshAll);
    rpc.onRequest('workspace/codeLens/refresh', refreshAll);
    rpc.onNotification('flopsight/analysisStarted', (params: { uri: string }) => {
      this.busy.add(params.uri);
      this.updateStatus();
    });
    rpc.onNotification('flopsight/analysisFinished', (params: { uri: string }) => {
      this.busy.delete(params.uri);
      this.updateStatus();
      for (const doc of this.documents(connection)) {
        if (doc.documentInfo.uri === params.uri) {
          this.schedule(doc, 50);
        }
      }
    });
    rpc.onNotification('flopsight/summary', (params: Summary) => {
      this.summaries.set(params.uri, params);
      this.updateStatus();
    });
    connection.serverNotifications['textDocument/publishDiagnostics'].connect((_, params) => {
      for (const doc of this.documents(connection)) {
        if (doc.documentInfo.uri === params.uri) {
          void this.showFixes(doc, connection, params.diagnostics as Diagnostic[]);
        }
      }
    });
  }

  private documents(connection: ILSPConnection): VirtualDocument[] {
    const out: VirtualDocument[] = [];
    for (const [uri, candidate] of this.manager.connections) {
      const doc = this.manager.documents.get(uri) as VirtualDocument | undefined;
      if (candidate === connection && doc !== undefined && doc.root === doc && !doc.isDisposed) {
        out.push(doc);
      }
    }
    return out;
  }

  /** Tells the server which virtual lines are which notebook cell, so it can say "cell 3, line 6". */
  private sendCells(doc: VirtualDocument): void {
    const adapter = this.adapterOf(doc);
    const connection = this.manager.connections.get(doc.uri);
    if (adapter === null || connection === undefined || !connection.isReady || doc.hasLspSupportedFile) {
      return;
    }
    const panel = adapter.widget as unknown as NotebookPanel;
    const cells = panel.content?.widgets ?? [];
    const spans: CellSpan[] = cellSpans(linesOf(doc), doc.lastVirtualLine, (editor) =>
      cells.findIndex((cell) => cell.editor === editor)
    );
    void raw(connection)
      .sendNotification('flopsight/notebookCells', {
        uri: doc.documentInfo.uri,
        version: doc.documentInfo.version,
        cells: spans
      })
      .catch(console.warn);
  }

  schedule(doc: VirtualDocument, delayMs: number): void {
    const key = doc.uri;
    const timer = this.pending.get(key);
    if (timer !== undefined) {
      window.clearTimeout(timer);
    }
    this.pending.set(
      key,
      window.setTimeout(() => {
        this.pending.delete(key);
        void this.refresh(doc).catch((error) => console.warn('flopsight: refresh failed', error));
      }, delayMs)
    );
  }

  refreshAll(): void {
    for (const adapter of this.manager.adapters.values()) {
      const doc = adapter.virtualDocument;
      if (doc !== null && this.manager.connections.get(doc.uri)?.serverIdentifier === SERVER_ID) {
        this.schedule(doc, 0);
      }
    }
  }

  /** Asks for the document's hints and lenses and redraws them in its editors. */
  private async refresh(doc: VirtualDocument): Promise<void> {
    const connection = this.manager.connections.get(doc.uri);
    const adapter = this.adapterOf(doc);
    if (connection === undefined || adapter === null || doc.isDisposed || !connection.isReady) {
      return;
    }
    await doc.updateManager.updateDone;
    const version = doc.documentInfo.version;
    const uri = doc.documentInfo.uri;
    const everything: Range = { start: { line: 0, character: 0 }, end: { line: doc.lastVirtualLine + 1, character: 0 } };
    const [hints, lenses] = await Promise.all([
      this.options.inlayHints
        ? (raw(connection).sendRequest('textDocument/inlayHint', { textDocument: { uri }, range: everything }) as Promise<InlayHint[] | null>)
        : Promise.resolve([] as InlayHint[]),
      this.options.codeLens
        ? (raw(connection).sendRequest('textDocument/codeLens', { textDocument: { uri } }) as Promise<CodeLens[] | null>)
        : Promise.resolve([] as CodeLens[])
    ]);
    if (doc.isDisposed) {
      return;
    }
    if (doc.documentInfo.version !== version) {
      this.schedule(doc, 200); // typed meanwhile: these positions are of an older text
      return;
    }
    const lines = linesOf(doc);
    const hintItems = groupByEditor(
      lines,
      (hints ?? []).map((hint) => ({
        position: { line: hint.position.line, ch: hint.position.character },
        label: hintLabel(hint.label), // the CSS margin stands for paddingLeft
        tooltip: tooltipText(hint.tooltip)
      }))
    );
    const lensItems = groupByEditor(
      lines,
      (lenses ?? [])
        .filter((lens) => lens.command !== undefined)
        .map((lens) => ({ position: { line: lens.range.start.line, ch: 0 }, command: lens.command! }))
    );
    for (const editor of this.editorsOf(adapter)) {
      const view = viewOf(editor);
      if (view === null) {
        continue;
      }
      const mine: HintItem[] = hintItems.get(editor) ?? [];
      const lensHere: LensItem[] = (lensItems.get(editor) ?? []).map((lens) => ({
        line: lens.line,
        title: lens.command.title,
        run: () => void this.runCommand(connection, lens.command.command, lens.command.arguments ?? [])
      }));
      this.put(view, 'hints', mine);
      this.put(view, 'lenses', lensHere);
      if (!this.options.quickFixes) {
        this.put(view, 'fixes', []);
      }
    }
  }

  private put(view: NonNullable<ReturnType<typeof viewOf>>, kind: Kind, items: HintItem[] | LensItem[] | FixItem[]): void {
    if (items.length > 0 || has(view, kind)) {
      show(view, kind, items);
    }
  }

  private editorsOf(adapter: WidgetLSPAdapter<never>): unknown[] {
    return adapter.editors.map((block) => block.ceEditor.getEditor()).filter((e) => e !== null);
  }

  /** FS107 (no input shape): a button at the end of the line that applies the server's fix. */
  private async showFixes(doc: VirtualDocument, connection: ILSPConnection, diagnostics: Diagnostic[]): Promise<void> {
    const adapter = this.adapterOf(doc);
    if (adapter === null) {
      return;
    }
    const uri = doc.documentInfo.uri;
    const wanted = this.options.quickFixes
      ? diagnostics.filter((d) => d.source === SERVER_ID && String(d.code) === 'FS107')
      : [];
    const lines = linesOf(doc);
    const byEditor = new Map<unknown, FixItem[]>();
    for (const diagnostic of wanted) {
      const answer = (await raw(connection).sendRequest('textDocument/codeAction', {
        textDocument: { uri },
        range: diagnostic.range,
        context: { diagnostics: [diagnostic], only: ['quickfix'] }
      })) as CodeAction[] | null;
      const at = place(lines, { line: diagnostic.range.start.line, ch: 0 });
      if (at === null) {
        continue;
      }
      for (const action of answer ?? []) {
        if (action.edit === undefined) {
          continue;
        }
        const edits = editsFor(action.edit, uri);
        const list = byEditor.get(at.editor) ?? [];
        list.push({ line: at.line, title: action.title, apply: () => this.applyEdits(doc, edits) });
        byEditor.set(at.editor, list);
      }
    }
    for (const editor of this.editorsOf(adapter)) {
      const view = viewOf(editor);
      if (view !== null) {
        this.put(view, 'fixes', byEditor.get(editor) ?? []);
      }
    }
  }

  /** Applies a code action's edits (virtual coordinates) in the editors they land in. */
  private applyEdits(doc: VirtualDocument, edits: VirtualEdit[]): void {
    const lines = linesOf(doc);
    const byView = new Map<NonNullable<ReturnType<typeof viewOf>>, Array<{ from: number; to: number; insert: string }>>();
    for (const edit of edits) {
      const start = place(lines, { line: edit.range.start.line, ch: edit.range.start.character });
      const end = place(lines, { line: edit.range.end.line, ch: edit.range.end.character }) ?? start;
      const view = start === null ? null : viewOf(start.editor);
      if (start === null || end === null || view === null) {
        continue;
      }
      const offset = (p: { line: number; ch: number }): number => {
        const line = view.state.doc.line(Math.min(p.line + 1, view.state.doc.lines));
        return Math.min(line.from + p.ch, line.to);
      };
      const list = byView.get(view) ?? [];
      list.push({ from: offset(start), to: offset(end.editor === start.editor ? end : start), insert: edit.newText });
      byView.set(view, list);
    }
    for (const [view, changes] of byView) {
      view.dispatch({ changes });
      view.focus();
    }
  }

  private async runCommand(connection: ILSPConnection, command: string, args: unknown[]): Promise<void> {
    const result = await raw(connection).sendRequest('workspace/executeCommand', { command, arguments: args });
    if (command === SERVER_SHOW_REPORT && typeof result === 'string') {
      const title = typeof args[1] === 'string' ? `flopsight: ${args[1]}` : 'flopsight report';
      await this.reports.open(title, result);
    }
  }

  /** "flopsight: Show Report" for the current notebook or file. */
  async showReport(): Promise<void> {
    const found = this.find(this.app.shell.currentWidget);
    if (found === null) {
      await this.reports.open('flopsight report', '_No flopsight connection for this document: open a Python notebook or file with jupyterlab-lsp running the flopsight server._');
      return;
    }
    const path = found.adapter.documentPath.split('/').pop() ?? found.adapter.documentPath;
    const result = await raw(found.connection).sendRequest('workspace/executeCommand', {
      command: SERVER_SHOW_REPORT,
      arguments: [found.doc.documentInfo.uri]
    });
    await this.reports.open(`flopsight: ${path}`, typeof result === 'string' ? result : String(result));
  }

  updateStatus(): void {
    if (this.status === null) {
      return;
    }
    const found = this.find(this.app.shell.currentWidget);
    const uri = found?.doc.documentInfo.uri;
    this.status.setSummary(
      this.options.statusBar && uri !== undefined ? this.summaries.get(uri) : undefined,
      uri !== undefined && this.busy.has(uri)
    );
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'flopsight: per-layer MACs and params inline, model totals, quick fixes, save summary.',
  autoStart: true,
  requires: [ILSPDocumentConnectionManager, ILSPFeatureManager, IRenderMimeRegistry],
  optional: [ISettingRegistry, ICommandPalette, IStatusBar, ILabShellToken],
  activate: (
    app: JupyterFrontEnd,
    manager: ILSPDocumentConnectionManager,
    features: ILSPFeatureManager,
    rendermime: IRenderMimeRegistry,
    settings: ISettingRegistry | null,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    // Merged into the client capabilities of connections opened from now on: the server then
    // answers inlay hints / code lenses and asks for refreshes after each analysis.
    features.register({
      id: PLUGIN_ID,
      capabilities: {
        textDocument: {
          inlayHint: { dynamicRegistration: false },
          codeLens: { dynamicRegistration: false },
          codeAction: {
            dynamicRegistration: false,
            codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } }
          }
        },
        workspace: {
          inlayHint: { refreshSupport: true },
          codeLens: { refreshSupport: true },
          executeCommand: { dynamicRegistration: false }
        }
      }
    });
    let status: SummaryStatus | null = null;
    if (statusBar !== null) {
      status = new SummaryStatus(() => void app.commands.execute(SHOW_REPORT));
      statusBar.registerStatusItem('flopsight:summary', {
        item: status,
        align: 'left',
        rank: 900,
        isActive: () => status?.hasText() ?? false,
        activeStateChanged: status.activeStateChanged
      });
    }
    const flopsight = new Flopsight(app, manager, new ReportPanels(app, rendermime), status);
    app.commands.addCommand(SHOW_REPORT, {
      label: 'flopsight: Show Report',
      caption: 'The per-layer MACs/params table of the models in the current notebook or file',
      execute: () => flopsight.showReport()
    });
    palette?.addItem({ command: SHOW_REPORT, category: 'flopsight' });
    labShell?.currentChanged.connect(() => flopsight.updateStatus());
    if (settings !== null) {
      void settings.load(PLUGIN_ID).then((loaded) => {
        const apply = (): void => {
          flopsight.options = { ...flopsight.options, ...(loaded.composite as Partial<Options>) };
          flopsight.refreshAll();
          flopsight.updateStatus();
        };
        loaded.changed.connect(apply);
        apply();
      }).catch((error) => console.warn('flopsight: settings not loaded', error));
    }
  }
};

export default plugin;
