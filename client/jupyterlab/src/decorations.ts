// CodeMirror 6 decorations for one editor: inlay hints at line ends, code lenses above their
// line, quick-fix buttons. A StateField holds them so they move with edits until the next answer.
import { StateEffect, StateField, type EditorState } from '@codemirror/state';
import { Decoration, type DecorationSet, EditorView, WidgetType } from '@codemirror/view';

/** One hint, lens or fix in editor coordinates. */
export interface HintItem {
  line: number;
  ch: number;
  label: string;
  tooltip: string;
}

export interface LensItem {
  line: number;
  title: string;
  run: () => void;
}

export interface FixItem {
  line: number;
  title: string;
  apply: () => void;
}

export type Kind = 'hints' | 'lenses' | 'fixes';

interface Payload {
  hints: HintItem[];
  lenses: LensItem[];
  fixes: FixItem[];
}

const setItems = StateEffect.define<{ kind: Kind; items: HintItem[] | LensItem[] | FixItem[] }>();

class HintWidget extends WidgetType {
  constructor(
    readonly label: string,
    readonly tooltip: string
  ) {
    super();
  }
  eq(other: HintWidget): boolean {
    return other.label === this.label && other.tooltip === this.tooltip;
  }
  toDOM(): HTMLElement {
    const span = document.createElement('span');
    span.className = 'fs-inlay-hint';
    span.textContent = this.label;
    span.title = this.tooltip;
    return span;
  }
}

class LensWidget extends WidgetType {
  constructor(
    readonly title: string,
    readonly indent: string,
    readonly run: () => void
  ) {
    super();
  }
  eq(other: LensWidget): boolean {
    return other.title === this.title && other.indent === this.indent;
  }
  toDOM(): HTMLElement {
    const div = document.createElement('div');
    div.className = 'fs-code-lens';
    const link = document.createElement('span');
    link.className = 'fs-code-lens-link';
    link.textContent = this.title;
    link.title = 'flopsight: show the per-layer report';
    link.addEventListener('mousedown', (event) => {
      event.preventDefault();
      this.run();
    });
    // Aligned with the line's text: its indentation plus CodeMirror's own line padding.
    div.style.paddingLeft = `calc(${this.indent.length}ch + 6px)`;
    div.appendChild(link);
    return div;
  }
  ignoreEvent(): boolean {
    return true;
  }
}

class FixWidget extends WidgetType {
  constructor(
    readonly title: string,
    readonly apply: () => void
  ) {
    super();
  }
  eq(other: FixWidget): boolean {
    return other.title === this.title;
  }
  toDOM(): HTMLElement {
    const button = document.createElement('button');
    button.className = 'fs-quick-fix';
    button.textContent = `⚡ ${this.title}`;
    button.title = `flopsight quick fix: ${this.title}`;
    button.addEventListener('mousedown', (event) => {
      event.preventDefault();
      this.apply();
    });
    return button;
  }
  ignoreEvent(): boolean {
    return true;
  }
}

function build(state: EditorState, payload: Payload): DecorationSet {
  const doc = state.doc;
  const entries: Array<{ at: number; deco: Decoration }> = [];
  for (const lens of payload.lenses) {
    if (lens.line < doc.lines) {
      const line = doc.line(lens.line + 1);
      const indent = /^\s*/.exec(line.text)?.[0] ?? '';
      const widget = new LensWidget(lens.title, indent, lens.run);
      entries.push({ at: line.from, deco: Decoration.widget({ widget, block: true, side: -2 }) });
    }
  }
  for (const hint of payload.hints) {
    if (hint.line < doc.lines) {
      const line = doc.line(hint.line + 1);
      const at = Math.min(line.from + hint.ch, line.to);
      const widget = new HintWidget(hint.label, hint.tooltip);
      entries.push({ at, deco: Decoration.widget({ widget, side: 1 }) });
    }
  }
  for (const fix of payload.fixes) {
    if (fix.line < doc.lines) {
      const line = doc.line(fix.line + 1);
      const widget = new FixWidget(fix.title, fix.apply);
      entries.push({ at: line.to, deco: Decoration.widget({ widget, side: 2 }) });
    }
  }
  // sort=true: CodeMirror orders the widgets by position and side itself.
  return Decoration.set(
    entries.map((entry) => entry.deco.range(entry.at)),
    true
  );
}

interface FieldValue {
  payload: Payload;
  decorations: DecorationSet;
}

const itemsField = StateField.define<FieldValue>({
  create: () => ({ payload: { hints: [], lenses: [], fixes: [] }, decorations: Decoration.none }),
  update(value, tr) {
    let payload = value.payload;
    let changed = false;
    for (const effect of tr.effects) {
      if (effect.is(setItems)) {
        payload = { ...payload, [effect.value.kind]: effect.value.items };
        changed = true;
      }
    }
    if (changed) {
      return { payload, decorations: build(tr.state, payload) };
    }
    // Decorations follow the text until the server's next answer replaces them.
    return tr.docChanged ? { payload, decorations: value.decorations.map(tr.changes) } : value;
  },
  provide: (field) => EditorView.decorations.from(field, (value) => value.decorations)
});

/** Replaces one kind of decoration in `view` (installing the field the first time). */
export function show(view: EditorView, kind: Kind, items: HintItem[] | LensItem[] | FixItem[]): void {
  const effects: StateEffect<unknown>[] = [setItems.of({ kind, items })];
  if (view.state.field(itemsField, false) === undefined) {
    effects.unshift(StateEffect.appendConfig.of(itemsField));
  }
  view.dispatch({ effects });
}

/** True when `view` shows something of `kind` (used to clear only editors that had some). */
export function has(view: EditorView, kind: Kind): boolean {
  const value = view.state.field(itemsField, false);
  return value !== undefined && value.payload[kind].length > 0;
}
