/**
 * A human-readable preview of a five-field cron expression (pure). The platform
 * checks the expression itself (croniter); this only says in words what it means,
 * or which field looks wrong, while the user types.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December'
];
const DAY_NAMES: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const MONTH_NAMES: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12
};
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *'
};

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: Record<string, number>;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES },
  { name: 'day of week', min: 0, max: 7, names: DAY_NAMES }
];

type Part =
  | { kind: 'any'; step: number }
  | { kind: 'value'; value: number }
  | { kind: 'range'; from: number; to: number; step: number };

export type CronPreview = { ok: true; text: string } | { ok: false; error: string };

class CronFieldError extends Error {}

function parseNumber(raw: string, spec: FieldSpec): number {
  const named = spec.names?.[raw.toLowerCase()];
  const value = named !== undefined ? named : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(value) || value < spec.min || value > spec.max) {
    throw new CronFieldError(
      `${spec.name}: '${raw}' is not a number from ${spec.min} to ${spec.max}`
    );
  }
  return value;
}

function parseField(raw: string, spec: FieldSpec): Part[] {
  return raw.split(',').map(item => {
    const [base, stepText, extra] = item.split('/');
    if (extra !== undefined || base === '' || stepText === '') {
      throw new CronFieldError(`${spec.name}: '${item}' is not a cron field`);
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        throw new CronFieldError(`${spec.name}: step '${stepText}' must be a whole number >= 1`);
      }
      step = Number(stepText);
    }
    if (base === '*') {
      return { kind: 'any', step };
    }
    const bounds = base.split('-');
    if (bounds.length === 2) {
      const from = parseNumber(bounds[0], spec);
      const to = parseNumber(bounds[1], spec);
      if (to < from) {
        throw new CronFieldError(`${spec.name}: range '${base}' runs backwards`);
      }
      return { kind: 'range', from, to, step };
    }
    if (bounds.length > 2) {
      throw new CronFieldError(`${spec.name}: '${base}' is not a range`);
    }
    const value = parseNumber(base, spec);
    return stepText === undefined
      ? { kind: 'value', value }
      : { kind: 'range', from: value, to: spec.max, step };
  });
}

function isAny(parts: Part[]): boolean {
  return parts.length === 1 && parts[0].kind === 'any' && parts[0].step === 1;
}

function singles(parts: Part[]): number[] | null {
  return parts.every(p => p.kind === 'value')
    ? parts.map(p => (p as { value: number }).value)
    : null;
}

function list(items: string[]): string {
  return items.length <= 1
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function describe(parts: Part[], label: (n: number) => string, unit: string): string {
  return list(
    parts.map(p => {
      if (p.kind === 'value') {
        return label(p.value);
      }
      if (p.kind === 'any') {
        return `every ${p.step} ${unit}s`;
      }
      const span = `${label(p.from)} to ${label(p.to)}`;
      return p.step === 1 ? span : `every ${p.step} ${unit}s from ${span}`;
    })
  );
}

const two = (n: number): string => String(n).padStart(2, '0');
const dayName = (n: number): string => DAYS[n % 7];
const monthName = (n: number): string => MONTHS[n - 1];

function timeText(minute: Part[], hour: Part[]): string {
  const minutes = singles(minute);
  const hours = singles(hour);
  if (minutes && hours && minutes.length * hours.length <= 4) {
    const times: string[] = [];
    for (const h of hours) {
      for (const m of minutes) {
        times.push(`${two(h)}:${two(m)}`);
      }
    }
    return `at ${list(times)}`;
  }
  let text: string;
  if (isAny(minute)) {
    text = 'every minute';
  } else if (minute.length === 1 && minute[0].kind === 'any') {
    text = `every ${minute[0].step} minutes`;
  } else {
    text = `at minute ${describe(minute, String, 'minute')}`;
  }
  if (isAny(hour)) {
    return text + (text === 'every minute' ? '' : ' of every hour');
  }
  if (hour.length === 1 && hour[0].kind === 'any') {
    return `${text} of every ${hour[0].step} hours`;
  }
  return `${text} past ${describe(hour, h => `${two(h)}:00`, 'hour')}`;
}

/** What a cron expression means, in words; or which field is wrong. */
export function describeCron(expression: string, timezone = 'UTC'): CronPreview {
  const trimmed = expression.trim();
  const text = MACROS[trimmed.toLowerCase()] ?? trimmed;
  const raw = text.split(/\s+/).filter(Boolean);
  if (raw.length !== 5) {
    return {
      ok: false,
      error: `a cron schedule has 5 fields (minute hour day-of-month month day-of-week), not ${raw.length}`
    };
  }
  let fields: Part[][];
  try {
    fields = raw.map((field, i) => parseField(field, FIELDS[i]));
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const [minute, hour, dom, month, dow] = fields;
  const words = [timeText(minute, hour)];
  const domAny = isAny(dom);
  const dowAny = isAny(dow);
  if (!domAny && !dowAny) {
    // cron: either matches
    words.push(
      `on day ${describe(dom, String, 'day')} of the month or on ${describe(dow, dayName, 'day')}`
    );
  } else if (!domAny) {
    words.push(`on day ${describe(dom, String, 'day')} of the month`);
  } else if (!dowAny) {
    words.push(`on ${describe(dow, dayName, 'day')}`);
  }
  if (!isAny(month)) {
    words.push(`in ${describe(month, monthName, 'month')}`);
  }
  return { ok: true, text: `${words.join(' ')} (${timezone})` };
}
