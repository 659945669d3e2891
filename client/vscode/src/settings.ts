// The `flopsight` configuration section as the server reads it (design: Settings), and the
// adjustments the client makes before sending it: workspace trust and the selected interpreter.

/** The section in the nested form VS Code returns for `getConfiguration('flopsight')`. */
export interface FlopsightSection {
  convention?: string;
  execute?: boolean;
  python?: string;
  serverPython?: string;
  dims?: Record<string, number>;
  limits?: { timeoutSeconds?: number; memoryMB?: number };
  debounceMs?: number;
  inlayHints?: { enabled?: boolean; show?: string[]; minShare?: number };
  measure?: string;
  sandbox?: string;
  compareWith?: string;
  [key: string]: unknown;
}

export interface ClientContext {
  /** Whether the workspace is trusted; untrusted means nothing executes. */
  trusted: boolean;
  /** The interpreter the models run in when `flopsight.python` is empty (the selected one). */
  defaultModelPython?: string;
  /** Expands `${workspaceFolder}`, `${userHome}` and `~` in interpreter paths. */
  workspaceFolder?: string;
  home?: string;
}

/** Dotted keys (`limits.timeoutSeconds`) to nested objects, as VS Code nests them. */
export function nestSection(flat: Record<string, unknown>): FlopsightSection {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.replace(/^flopsight\./, '').split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      node[part] = typeof child === 'object' && child !== null ? child : {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out as FlopsightSection;
}

/** `${workspaceFolder}/.venv/bin/python`, `~/venv/bin/python` → absolute paths. */
export function expandPath(path: string, ctx: Pick<ClientContext, 'workspaceFolder' | 'home'>): string {
  let p = path.trim();
  if (ctx.workspaceFolder !== undefined) {
    p = p.split('${workspaceFolder}').join(ctx.workspaceFolder);
  }
  if (ctx.home !== undefined) {
    p = p.split('${userHome}').join(ctx.home);
    if (p === '~' || p.startsWith('~/')) {
      p = ctx.home + p.slice(1);
    }
  }
  return p;
}

/**
 * The section sent to the server (initializationOptions, workspace/configuration answers and
 * didChangeConfiguration): untrusted workspaces never execute, an empty `python` becomes the
 * selected interpreter, and `serverPython` (client-only) is left out.
 */
export function serverSection(section: FlopsightSection | null | undefined, ctx: ClientContext): FlopsightSection {
  const out: FlopsightSection = JSON.parse(JSON.stringify(section ?? {})) as FlopsightSection;
  delete out.serverPython;
  if (!ctx.trusted) {
    out.execute = false;
  }
  const python = typeof out.python === 'string' ? expandPath(out.python, ctx) : '';
  if (python) {
    out.python = python;
  } else if (ctx.defaultModelPython) {
    out.python = ctx.defaultModelPython;
  } else {
    // Empty: the server keeps its own interpreter.
    delete out.python;
  }
  return out;
}

/** Why analysis does not run, for the status bar, or undefined when it does. */
export function executionBlockedReason(section: FlopsightSection | undefined, trusted: boolean): string | undefined {
  if (!trusted) {
    return 'This workspace is not trusted: flopsight runs no model code here. Trust the workspace to see costs.';
  }
  if (section?.execute === false) {
    return 'flopsight.execute is off: no model code runs, so no costs are shown.';
  }
  return undefined;
}

/**
 * Answers to a `workspace/configuration` request, adjusted: the `flopsight` section (asked for by
 * name, inside the whole configuration, or one key of it) is what `section` gives.
 */
export function adjustConfiguration(
  items: ReadonlyArray<{ section?: string | null }>,
  answers: unknown[],
  section: () => FlopsightSection,
): unknown[] {
  return answers.map((value, i) => {
    const name = items[i]?.section;
    if (name === 'flopsight') {
      return section();
    }
    if (name && name.startsWith('flopsight.')) {
      let node: unknown = section();
      for (const part of name.slice('flopsight.'.length).split('.')) {
        node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined;
      }
      return node === undefined ? value : node;
    }
    if (!name && typeof value === 'object' && value !== null) {
      return { ...(value as object), flopsight: section() };
    }
    return value;
  });
}
