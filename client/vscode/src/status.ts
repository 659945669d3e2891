// The status bar item's text and tooltip, from the server's `flopsight/summary` notification.
import type { FileReportJson } from './report';
import { formatFlops, formatMacs, formatParams } from './units';

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
}

/** Params of `flopsight/summary`. */
export interface SummaryParams {
  uri: string;
  models: SummaryModel[];
  /** The heaviest model: its name, its index in `models`, or the model itself. */
  heaviest?: string | number | SummaryModel | null;
  convention?: string;
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

function displayName(m: SummaryModel): string {
  return m.name;
}

export function heaviestModel(summary: SummaryParams): SummaryModel | undefined {
  const { heaviest, models } = summary;
  if (typeof heaviest === 'number' && models[heaviest]) {
    return models[heaviest];
  }
  if (typeof heaviest === 'string') {
    const found = models.find((m) => m.name === heaviest);
    if (found) {
      return found;
    }
  }
  if (heaviest && typeof heaviest === 'object') {
    return heaviest;
  }
  const counted = models.filter((m) => m.status === 'ok' && typeof m.macs === 'number');
  return counted.sort((a, b) => (b.macs ?? 0) - (a.macs ?? 0))[0];
}

/** `⚡ 7.82 GMac · 28.68 M` */
export function costText(m: SummaryModel): string {
  return `⚡ ${formatMacs(m.macs ?? 0)} · ${formatParams(m.params ?? 0)}`;
}

function modelLine(m: SummaryModel): string {
  const where = typeof m.line === 'number' ? ` (line ${m.line + 1})` : '';
  if (m.status === 'ok') {
    return `${displayName(m)}${where}: ${formatMacs(m.macs ?? 0)} · ${formatFlops(m.flops ?? 2 * (m.macs ?? 0))} · ${formatParams(m.params ?? 0)} params`;
  }
  if (m.status === 'skipped') {
    return `${displayName(m)}${where}: not analysed (no input shape)`;
  }
  return `${displayName(m)}${where}: failed${m.error ? ` — ${m.error}` : ''}`;
}

/** What the status bar shows for the active file. */
export function statusView(state: FileState | undefined, blockedReason?: string): StatusView {
  if (blockedReason) {
    return { text: '$(shield) flopsight: not running models', tooltip: blockedReason, severity: 'none', visible: true };
  }
  if (!state) {
    return { text: '', tooltip: '', severity: 'none', visible: false };
  }
  const models = state.summary?.models ?? [];
  const heaviest = state.summary ? heaviestModel(state.summary) : undefined;
  const failed = models.filter((m) => m.status === 'error');
  const lines = models.map(modelLine);
  const click = 'Click for the per-layer report.';
  if (state.running) {
    const last = heaviest && heaviest.status === 'ok' ? ` ${costText(heaviest).slice(2)}` : ' flopsight';
    return {
      text: `$(sync~spin)${last}`,
      tooltip: ['flopsight: analysing…', ...lines].join('\n'),
      severity: 'none',
      visible: true,
    };
  }
  if (state.failure) {
    return { text: '$(warning) flopsight', tooltip: `flopsight: analysis failed — ${state.failure}`, severity: 'warning', visible: true };
  }
  if (!state.summary || models.length === 0) {
    return { text: '', tooltip: '', severity: 'none', visible: false };
  }
  if (heaviest && heaviest.status === 'ok') {
    const warn = failed.length > 0 ? '$(warning) ' : '';
    const title = models.length > 1 ? `Heaviest model: ${displayName(heaviest)}` : displayName(heaviest);
    return {
      text: `${warn}${costText(heaviest)}`,
      tooltip: [title, ...lines, click].join('\n'),
      severity: failed.length > 0 ? 'warning' : 'none',
      visible: true,
    };
  }
  if (failed.length > 0) {
    const what = failed.length === 1 ? `${displayName(failed[0])} failed` : `${failed.length} models failed`;
    return { text: `$(warning) flopsight: ${what}`, tooltip: [...lines, click].join('\n'), severity: 'warning', visible: true };
  }
  return {
    text: '⚡ no input shape',
    tooltip: [...lines, 'Add `# flopsight: input=(...)` to a model class to count it.'].join('\n'),
    severity: 'none',
    visible: true,
  };
}

/**
 * The summary of a FileReport (what `flopsight/summary` carries), so that the status bar follows
 * every analysis, not only saves.
 */
export function summaryFromReport(uri: string, report: FileReportJson): SummaryParams {
  const models: SummaryModel[] = report.models.map((m) => ({
    name: m.label || m.name,
    line: m.line - 1,
    status: m.status,
    macs: m.total?.macs ?? null,
    flops: m.total?.flops ?? null,
    params: m.total?.params ?? null,
    error: m.error?.message ?? null,
  }));
  const summary: SummaryParams = { uri, models, convention: report.convention };
  summary.heaviest = heaviestModel(summary) ?? null;
  return summary;
}
