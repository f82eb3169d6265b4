import {
  initialForm,
  jobBody,
  jobName,
  newlyEnded,
  NotebookParameter,
  parameterValue
} from '../jobform';

const CELL: NotebookParameter[] = [
  { name: 'region', type: 'None', default: "'none'", help: 'where' },
  { name: 'rows', type: 'int', default: '1', help: '' }
];

describe('the Run as job form', () => {
  it('is pre-filled from the parameters cell, named after the notebook', () => {
    const form = initialForm('reports/daily.ipynb', CELL, 'Europe/Paris');
    expect(form.name).toBe('daily');
    expect(form.parameters).toEqual({ region: "'none'", rows: '1' });
    expect(form.schedule).toBe('now');
    expect(form.timezone).toBe('Europe/Paris');
    expect(jobName('x.ipynb')).toBe('x');
  });

  it('sends only the parameters changed from the cell, as values', () => {
    const form = initialForm('reports/daily.ipynb', CELL);
    form.parameters.region = "'north'";
    const checked = jobBody(form, CELL);
    expect(checked).toEqual({
      ok: true,
      body: {
        name: 'daily',
        notebook: 'reports/daily.ipynb',
        parameters: { region: 'north' },
        profile: '',
        priority: 0
      }
    });
  });

  it('adds the cron schedule and its time zone, and checks name and priority', () => {
    const form = initialForm('a.ipynb', []);
    form.schedule = 'cron';
    form.cron = ' 0 6 * * 1-5 ';
    form.timezone = 'Europe/Oslo';
    form.priority = '10';
    const checked = jobBody(form);
    expect(checked.ok && checked.body.schedule).toEqual({
      cron: '0 6 * * 1-5',
      timezone: 'Europe/Oslo'
    });
    expect(checked.ok && checked.body.priority).toBe(10);
    expect(jobBody({ ...form, priority: '101' })).toMatchObject({ ok: false });
    expect(jobBody({ ...form, priority: '1.5' })).toMatchObject({ ok: false });
    expect(jobBody({ ...form, name: '  ' })).toEqual({ ok: false, error: 'Give the job a name.' });
  });

  it('reads Python literals typed as parameter values', () => {
    expect(parameterValue('7')).toBe(7);
    expect(parameterValue('-2.5e3')).toBe(-2500);
    expect(parameterValue('True')).toBe(true);
    expect(parameterValue('None')).toBeNull();
    expect(parameterValue("'it\\'s'")).toBe("it's");
    expect(parameterValue('"a\\nb"')).toBe('a\nb');
    expect(parameterValue("r'C:\\x'")).toBe('C:\\x');
    expect(parameterValue("[1, 'two', None, True,]")).toEqual([1, 'two', null, true]);
    expect(parameterValue("{'a': 1}")).toEqual({ a: 1 });
    expect(parameterValue('north')).toBe('north'); // plain text stays text
    expect(parameterValue('[not json')).toBe('[not json');
  });

  it('finds the runs that ended since the last look', () => {
    const before = new Map([
      [1, 'running'],
      [2, 'queued'],
      [3, 'succeeded']
    ]);
    const now = [
      { id: 1, state: 'succeeded' },
      { id: 2, state: 'running' },
      { id: 3, state: 'succeeded' },
      { id: 4, state: 'failed' } // never seen before: not "newly" ended
    ];
    expect(newlyEnded(before, now)).toEqual([1]);
  });
});
