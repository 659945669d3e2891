// The `flopsight: Show Report` webview: one panel, reused, following the file it shows.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { type HtmlOptions, baseName, isReportView, markdownHtml, messageHtml, reportHtml } from './report';

export type ReportSource = (uri: string, model: string | undefined) => Promise<unknown>;

export class ReportPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private uri: string | undefined;
  private model: string | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly source: ReportSource) {}

  async show(uri: string, model?: string): Promise<void> {
    this.uri = uri;
    this.model = model;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'flopsight.report',
        'flopsight',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, localResourceRoots: [] },
      );
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
      this.panel.webview.onDidReceiveMessage((message: { type?: string; line?: number }) => {
        if (message.type === 'reveal' && typeof message.line === 'number') {
          void this.reveal(message.line);
        }
      });
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    await this.render();
  }

  /** Re-renders after a fresh analysis of the file on show (debounced). */
  refreshIfShowing(uri: string): void {
    if (!this.panel || !this.uri || vscode.Uri.parse(uri).toString() !== vscode.Uri.parse(this.uri).toString()) {
      return;
    }
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.render(), 200);
  }

  private async render(): Promise<void> {
    const panel = this.panel;
    const uri = this.uri;
    if (!panel || !uri) {
      return;
    }
    const file = vscode.Uri.parse(uri);
    const name = baseName(file.path);
    panel.title = `flopsight: ${name}`;
    const opts: HtmlOptions = { cspSource: panel.webview.cspSource, nonce: randomBytes(16).toString('hex'), focus: this.model };
    let answer: unknown;
    try {
      answer = await this.source(uri, this.model);
    } catch (error) {
      panel.webview.html = messageHtml(`flopsight — ${name}`, `No report: ${error instanceof Error ? error.message : String(error)}`, opts);
      return;
    }
    if (typeof answer === 'string') {
      try {
        answer = JSON.parse(answer);
      } catch {
        // markdown, shown below
      }
    }
    if (isReportView(answer)) {
      panel.webview.html = reportHtml(answer, opts);
    } else if (typeof answer === 'string') {
      panel.webview.html = markdownHtml(file.path, answer, opts);
    } else {
      panel.webview.html = messageHtml(`flopsight — ${name}`, 'No report yet: the file has not been analysed.', opts);
    }
  }

  private async reveal(line: number): Promise<void> {
    if (!this.uri) {
      return;
    }
    const uri = vscode.Uri.parse(this.uri);
    const position = new vscode.Position(Math.max(0, line - 1), 0);
    const notebook = vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === uri.toString());
    if (notebook) {
      // Notebook lines are those of the virtual module; open the notebook itself.
      await vscode.window.showNotebookDocument(notebook, { viewColumn: vscode.ViewColumn.One });
      return;
    }
    const editor = await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.One, preserveFocus: false });
    editor.selection = new vscode.Selection(position, position);
    editor.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    this.panel?.dispose();
  }
}
