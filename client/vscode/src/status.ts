// The status bar item, from the server's `flopsight/summary` notification. The server formats every
// figure (server/flopsight/lsp/summary.py); this file only picks which of its strings to show.

/** One model in `flopsight/summary`. */
export interface SummaryModel {
  /** The name the UI shows (the pragma's `name=`, else the class or variable). */
  name: string;
  /** The code lens title, or the status when there is none. */
  label?: string | null;
  /** 0-based. */
  line?: number;
  macs?: number | null;
  flops?: number | null;
  params?: number | null;
  status?: string;
  error?: string | null;
  /** `670.73 KMac · 669.71 k`; null unless the model was counted. */
  cost?: string | null;
  /** `NeuralNetwork (line 7): 670.73 KMac · 1.34 MFLOPs · 669.71 k params`, or why not counted. */
  detail?: string;
}

/** What the status bar shows when no newer analysis runs; null: nothing (no models). */
export interface SummaryStatus {
  text: string;
  tooltip: string;
  /** A model failed. */
  warning: boolean;
}

/** Params of `flopsight/summary` (documented in server/flopsight/lsp/handlers.py). */
export interface SummaryParams {
  uri: string;
  models: SummaryModel[];
  /** The counted model with the most MACs. */
  heaviest?: SummaryModel | null;
  text?: string;
  status?: SummaryStatus | null;
  /** Each model's detail line. */
  lines?: string[];
}

export interface FileState {
  summary?: SummaryParams;
  running: boolean;
  /** Set when the analysis itself failed (not a model): the server's message. */
  failure?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** 'warning' colours the item; 'none' is the plain look. */
  severity: 'none' | 'warning';
  visible: boolean;
}

const CLICK = 'Click for the per-layer report.';
const HIDDEN: StatusView = { text: '', tooltip: '', severity: 'none', visible: false };

/** What the status bar shows for the active file. */
export function statusView(state: FileState | undefined, blockedReason?: string): StatusView {
  if (blockedReason) {
    return { text: '$(shield) flopsight: not running models', tooltip: blockedReason, severity: 'none', visible: true };
  }
  if (!state) {
    return HIDDEN;
  }
  const summary = state.summary;
  if (state.running) {
    // The last figures stay beside the spinner until the new ones come.
    const last = summary?.heaviest?.cost;
    return {
      text: `$(sync~spin) ${last ?? 'flopsight'}`,
      tooltip: ['flopsight: analysing…', ...(summary?.lines ?? [])].join('\n'),
      severity: 'none',
      visible: true,
    };
  }
  if (state.failure) {
    return { text: '$(warning) flopsight', tooltip: `flopsight: analysis failed — ${state.failure}`, severity: 'warning', visible: true };
  }
  const status = summary?.status;
  if (!status) {
    return HIDDEN;
  }
  return {
    text: status.warning ? `$(warning) ${status.text}` : status.text,
    tooltip: `${status.tooltip}\n${CLICK}`,
    severity: status.warning ? 'warning' : 'none',
    visible: true,
  };
}
