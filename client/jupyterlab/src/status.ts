// The status bar item: the last save summary of the current document (`flopsight/summary`).
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { type Summary, statusText, statusTooltip } from './layout';

export class SummaryStatus extends Widget {
  readonly activeStateChanged = new Signal<this, void>(this);
  private text = '';

  constructor(onClick: () => void) {
    super();
    this.addClass('fs-status');
    this.node.addEventListener('click', onClick);
  }

  hasText(): boolean {
    return this.text !== '';
  }

  setSummary(summary: Summary | undefined, busy: boolean): void {
    const text = statusText(summary) || (busy ? 'flopsight: analysing…' : '');
    const changed = (text === '') !== (this.text === '');
    this.text = text;
    this.node.textContent = busy && summary !== undefined ? `${text} ⟳` : text;
    this.node.title = summary !== undefined ? `${statusTooltip(summary)}\n(click: flopsight: Show Report)` : '';
    if (changed) {
      this.activeStateChanged.emit();
    }
  }
}
