/**
 * The "Run as job" dialog: parameters pre-filled from the notebook's parameters cell,
 * profile, schedule (now, or cron with a preview in words), priority.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { describeCron } from './cron';
import { notifyError } from './datasets';
import { initialForm, JobBody, jobBody, JobForm, NotebookParameter } from './jobform';

export interface Profile {
  name: string;
  display_name: string;
  allowed: boolean;
}

export interface Submitted {
  job: { id: number; name: string; schedule: unknown; next_run_at: string | null };
  run: { id: number; state: string } | null;
}

function field(label: string, input: HTMLElement, help = ''): HTMLElement {
  const row = document.createElement('label');
  row.className = 'jp-TenantHub-field';
  const span = document.createElement('span');
  span.textContent = label;
  row.append(span, input);
  if (help) {
    const small = document.createElement('small');
    small.textContent = help;
    row.append(small);
  }
  return row;
}

function input(value: string, name: string, type = 'text'): HTMLInputElement {
  const node = document.createElement('input');
  node.type = type;
  node.value = value;
  node.name = name;
  node.className = 'jp-mod-styled';
  return node;
}

export class RunJobBody extends Widget implements Dialog.IBodyWidget<JobForm> {
  private form: JobForm;
  private preview: HTMLElement;
  private cronRow: HTMLElement;

  constructor(
    notebook: string,
    readonly parameters: NotebookParameter[],
    profiles: Profile[],
    parametersProblem: string | null,
    previous: JobForm | null = null
  ) {
    super();
    this.addClass('jp-TenantHub-runjob');
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    this.form = previous
      ? { ...previous, parameters: { ...previous.parameters } }
      : initialForm(notebook, parameters, zone);
    const node = this.node;

    const name = input(this.form.name, 'name');
    name.addEventListener('input', () => (this.form.name = name.value));
    const path = document.createElement('code');
    path.textContent = notebook;
    node.append(field('Job name', name), field('Notebook', path));

    const heading = document.createElement('h3');
    heading.textContent = 'Parameters';
    node.append(heading);
    if (parametersProblem) {
      const p = document.createElement('p');
      p.className = 'jp-TenantHub-error';
      p.textContent = parametersProblem;
      node.append(p);
    } else if (!parameters.length) {
      const p = document.createElement('p');
      p.textContent = "No cell tagged 'parameters': the notebook runs as it is.";
      node.append(p);
    }
    for (const p of parameters) {
      const box = input(this.form.parameters[p.name], `parameter-${p.name}`);
      box.addEventListener('input', () => (this.form.parameters[p.name] = box.value));
      const help = [p.type !== 'None' ? p.type : '', p.help].filter(Boolean).join(': ');
      node.append(field(p.name, box, help));
    }

    const profile = document.createElement('select');
    profile.name = 'profile';
    profile.className = 'jp-mod-styled';
    const byDefault = document.createElement('option');
    byDefault.value = '';
    byDefault.textContent = "The tenant's default";
    profile.append(byDefault);
    for (const p of profiles.filter(p => p.allowed)) {
      const option = document.createElement('option');
      option.value = p.name;
      option.textContent = p.display_name;
      profile.append(option);
    }
    profile.value = this.form.profile;
    profile.addEventListener('change', () => (this.form.profile = profile.value));
    node.append(field('Profile', profile));

    const when = document.createElement('select');
    when.name = 'schedule';
    when.className = 'jp-mod-styled';
    for (const [value, label] of [
      ['now', 'Now, once'],
      ['cron', 'On a schedule (cron)']
    ]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      when.append(option);
    }
    when.value = this.form.schedule;
    node.append(field('When', when));
    const cron = input(this.form.cron, 'cron');
    const timezone = input(this.form.timezone, 'timezone');
    this.preview = document.createElement('div');
    this.preview.className = 'jp-TenantHub-cron-preview';
    this.cronRow = document.createElement('div');
    this.cronRow.append(
      field('Cron', cron, 'minute hour day-of-month month day-of-week'),
      field('Time zone', timezone),
      this.preview
    );
    node.append(this.cronRow);
    const update = (): void => {
      this.form.schedule = when.value as 'now' | 'cron';
      this.form.cron = cron.value;
      this.form.timezone = timezone.value;
      this.cronRow.hidden = this.form.schedule !== 'cron';
      const described = describeCron(cron.value, timezone.value || 'UTC');
      this.preview.textContent = described.ok ? `Runs ${described.text}` : described.error;
      this.preview.classList.toggle('jp-TenantHub-error', !described.ok);
    };
    for (const control of [when, cron, timezone]) {
      control.addEventListener('input', update);
      control.addEventListener('change', update);
    }
    update();

    const priority = input(this.form.priority, 'priority', 'number');
    priority.min = '-100';
    priority.max = '100';
    priority.addEventListener('input', () => (this.form.priority = priority.value));
    node.append(field('Priority', priority, 'from -100 to 100; higher runs first'));
  }

  getValue(): JobForm {
    return { ...this.form, parameters: { ...this.form.parameters } };
  }
}

/** Ask for the job's settings and submit it; the platform's refusal is shown as is. */
export async function runAsJob(notebook: string): Promise<Submitted | null> {
  let parameters: NotebookParameter[] = [];
  let problem: string | null = null;
  try {
    const found = await requestAPI<{ parameters: NotebookParameter[] }>('parameters', {}, {
      path: notebook
    });
    parameters = found.parameters;
  } catch (error) {
    problem = `Cannot read the parameters cell: ${(error as Error).message}`;
  }
  let profiles: Profile[] = [];
  try {
    profiles = (await requestAPI<{ items: Profile[] }>('profiles')).items;
  } catch (error) {
    notifyError('Cannot list the profiles', error);
  }
  let previous: JobForm | null = null;
  for (;;) {
    // a new body each time: a closed dialog disposes of its body; the values typed stay
    const body: RunJobBody = new RunJobBody(notebook, parameters, profiles, problem, previous);
    const result: Dialog.IResult<JobForm> = await showDialog({
      title: 'Run as job',
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Submit' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    previous = result.value;
    const checked = jobBody(result.value, parameters);
    if (!checked.ok) {
      Notification.error(checked.error, { autoClose: 8000 });
      continue;
    }
    try {
      const submitted = await submitJob(checked.body);
      Notification.success(
        submitted.run
          ? `Job ${submitted.job.name} queued (run ${submitted.run.id}).`
          : `Job ${submitted.job.name} scheduled; next run ${submitted.job.next_run_at}.`,
        { autoClose: 5000 }
      );
      return submitted;
    } catch (error) {
      notifyError('The platform refused the job', error);
    }
  }
}

export function submitJob(body: JobBody): Promise<Submitted> {
  return requestAPI<Submitted>('jobs', { method: 'POST', body: JSON.stringify(body) });
}
