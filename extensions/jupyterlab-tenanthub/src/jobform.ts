/**
 * The "Run as job" form as plain data (pure): fields pre-filled from the notebook's
 * parameters cell (papermill's reading), and the job the platform is sent.
 */

export interface NotebookParameter {
  name: string;
  type: string; // papermill's inferred type name ('None' when not annotated)
  default: string; // the default as written in the cell (Python source)
  help: string;
}

export interface JobForm {
  name: string;
  notebook: string;
  parameters: Record<string, string>; // name -> text typed (a Python literal or plain text)
  profile: string; // '' = the tenant's default
  schedule: 'now' | 'cron';
  cron: string;
  timezone: string;
  priority: string;
}

export interface JobBody {
  name: string;
  notebook: string;
  parameters: Record<string, unknown>;
  profile: string;
  priority: number;
  schedule?: { cron: string; timezone: string };
}

/** The job's default name: the notebook's file name without .ipynb. */
export function jobName(path: string): string {
  const file = path.split('/').pop() || path;
  return file.replace(/\.ipynb$/, '') || 'job';
}

export function initialForm(
  notebook: string,
  parameters: NotebookParameter[],
  timezone = 'UTC'
): JobForm {
  const values: Record<string, string> = {};
  for (const p of parameters) {
    values[p.name] = p.default;
  }
  return {
    name: jobName(notebook),
    notebook,
    parameters: values,
    profile: '',
    schedule: 'now',
    cron: '0 6 * * *',
    timezone,
    priority: '0'
  };
}

/** A Python string literal's text ('...' or "..."), or null if `text` is not one. */
function pythonStringValue(text: string): string | null {
  const m = /^([rRbBuU]?)('([^'\\]|\\.)*'|"([^"\\]|\\.)*")$/s.exec(text);
  if (!m) {
    return null;
  }
  const body = m[2].slice(1, -1);
  if (m[1].toLowerCase() === 'r') {
    return body;
  }
  return body.replace(/\\(.)/gs, (_all, c: string) => {
    const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0' };
    return escapes[c] ?? c;
  });
}

/**
 * The value of a parameter as typed: a Python literal (1, 2.5, True, None, 'text',
 * [1, 2], {"a": 1}) becomes that value; anything else is taken as plain text.
 */
export function parameterValue(text: string): unknown {
  const t = text.trim();
  if (t === '') {
    return '';
  }
  if (/^[+-]?\d+$/.test(t)) {
    return Number(t);
  }
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(t)) {
    return Number(t);
  }
  if (t === 'True' || t === 'true') {
    return true;
  }
  if (t === 'False' || t === 'false') {
    return false;
  }
  if (t === 'None' || t === 'null') {
    return null;
  }
  const str = pythonStringValue(t);
  if (str !== null) {
    return str;
  }
  if (/^[[{]/.test(t)) {
    // Python containers of JSON-compatible literals
    const json = t
      .replace(/'((?:[^'\\]|\\.)*)'/g, (_a, s: string) => JSON.stringify(s))
      .replace(/\bTrue\b/g, 'true')
      .replace(/\bFalse\b/g, 'false')
      .replace(/\bNone\b/g, 'null')
      .replace(/,\s*([\]}])/g, '$1');
    try {
      return JSON.parse(json);
    } catch {
      return text;
    }
  }
  return text;
}

export type Checked = { ok: true; body: JobBody } | { ok: false; error: string };

/**
 * The job to submit. Only parameters whose text differs from the cell's default are
 * sent (papermill keeps the others as written in the notebook).
 */
export function jobBody(form: JobForm, defaults: NotebookParameter[] = []): Checked {
  const name = form.name.trim();
  if (!name) {
    return { ok: false, error: 'Give the job a name.' };
  }
  const priority = Number(form.priority.trim() || '0');
  if (!Number.isInteger(priority) || priority < -100 || priority > 100) {
    return { ok: false, error: 'Priority is a whole number from -100 to 100 (higher runs first).' };
  }
  const cellDefaults = new Map(defaults.map(p => [p.name, p.default]));
  const parameters: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(form.parameters)) {
    if (cellDefaults.get(key) !== text) {
      parameters[key] = parameterValue(text);
    }
  }
  const body: JobBody = {
    name,
    notebook: form.notebook,
    parameters,
    profile: form.profile,
    priority
  };
  if (form.schedule === 'cron') {
    if (!form.cron.trim()) {
      return { ok: false, error: 'Give the cron schedule, e.g. 0 6 * * 1-5.' };
    }
    body.schedule = { cron: form.cron.trim(), timezone: form.timezone.trim() || 'UTC' };
  }
  return { ok: true, body };
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export function hasEnded(state: string): boolean {
  return ENDED.has(state);
}

/**
 * Runs seen running before and ended now (for "your run ended" notifications): the
 * ids of `now` whose state ended while `before` had them not ended.
 */
export function newlyEnded(
  before: Map<number, string>,
  now: { id: number; state: string }[]
): number[] {
  return now
    .filter(run => hasEnded(run.state) && before.has(run.id) && !hasEnded(before.get(run.id)!))
    .map(run => run.id);
}
