// "flopsight: Show Report": the server's per-layer table (markdown) rendered in a main-area panel.
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

export class ReportPanels {
  private panels = new Map<string, MainAreaWidget<Widget>>();

  constructor(
    private app: JupyterFrontEnd,
    private rendermime: IRenderMimeRegistry
  ) {}

  /** Opens (or refreshes) the panel called `title` with `markdown` in it. */
  async open(title: string, markdown: string): Promise<void> {
    let panel = this.panels.get(title);
    if (panel === undefined || panel.isDisposed) {
      const content = new Widget();
      content.addClass('fs-report');
      panel = new MainAreaWidget({ content });
      panel.id = `flopsight-report-${this.panels.size + 1}`;
      panel.title.label = title;
      panel.title.closable = true;
      this.panels.set(title, panel);
      this.app.shell.add(panel, 'main', { mode: 'split-right' });
    }
    const renderer = this.rendermime.createRenderer('text/markdown');
    await renderer.renderModel(new MimeModel({ data: { 'text/markdown': markdown } }));
    const content = panel.content;
    for (const child of [...content.node.childNodes]) {
      content.node.removeChild(child);
    }
    content.node.appendChild(renderer.node);
    this.app.shell.activateById(panel.id);
  }
}
