/**
 * The "Jobs" side panel: the user's runs with their state, the live log tail, the
 * output notebook, cancel and run again; schedules with their next run (or disabled),
 * Enable/Disable (pause and resume) and delete.
 * A notification says when a run seen running has ended.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { notifyError } from './datasets';
import { hasEnded, newlyEnded } from './jobform';
import { scheduleRow, visibleSchedules } from './schedules';

export interface Job {
  id: number;
  name: string;
  notebook: string;
  parameters: Record<string, unknown>;
  schedule: { cron: string; timezone: string } | null;
  next_run_at: string | null;
  cancelled_at: string | null;
  paused?: boolean;
}

export interface Run {
  id: number;
  job_id: number;
  state: string;
  reason: string;
  output: string;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
}

interface PageOf<T> {
  items: T[];
  total: number;
}

const POLL_VISIBLE = 3000;
const POLL_HIDDEN = 15000;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

export class JobsPanel extends Widget {
  private jobs = new Map<number, Job>();
  private runs: Run[] = [];
  private states = new Map<number, string>();
  private logRun: number | null = null;
  private logText = '';
  private timer: number | null = null;
  private listNode: HTMLElement;
  private scheduleNode: HTMLElement;
  private logNode: HTMLElement;

  constructor(private openOutput: (path: string) => void) {
    super();
    this.id = 'tenanthub-jobs';
    this.addClass('jp-TenantHub-jobs');
    this.title.caption = 'Jobs';
    const header = el('div', 'jp-TenantHub-header');
    const refresh = el('button', 'jp-TenantHub-button jp-mod-styled', 'Refresh');
    refresh.addEventListener('click', () => void this.refresh());
    header.append(el('span', 'jp-TenantHub-heading', 'Jobs'), refresh);
    this.listNode = el('ul', 'jp-TenantHub-runs');
    this.scheduleNode = el('div', 'jp-TenantHub-schedules');
    this.logNode = el('div', 'jp-TenantHub-log');
    this.node.append(header, this.listNode, this.logNode, this.scheduleNode);
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
    }
    super.dispose();
  }

  /** Poll while the page is open: often while the panel shows, seldom otherwise. */
  start(): void {
    const tick = async (): Promise<void> => {
      const active = this.isVisible || [...this.states.values()].some(s => !hasEnded(s));
      if (active) {
        await this.refresh(true);
      }
      this.timer = window.setTimeout(tick, this.isVisible ? POLL_VISIBLE : POLL_HIDDEN);
    };
    void tick();
  }

  /** A run just submitted: watch it (its end is notified). */
  watch(run: { id: number; state: string } | null): void {
    if (run) {
      this.states.set(run.id, run.state);
    }
    void this.refresh(true);
  }

  async refresh(quiet = false): Promise<void> {
    try {
      const [jobs, runs] = await Promise.all([
        requestAPI<PageOf<Job>>('jobs', {}, { limit: 100 }),
        requestAPI<PageOf<Run>>('runs', {}, { limit: 50 })
      ]);
      this.jobs = new Map(jobs.items.map(j => [j.id, j]));
      for (const id of newlyEnded(this.states, runs.items)) {
        const run = runs.items.find(r => r.id === id)!;
        const name = this.jobs.get(run.job_id)?.name ?? `job ${run.job_id}`;
        const text = `Run ${run.id} of ${name} ${run.state}${run.reason ? `: ${run.reason}` : ''}`;
        if (run.state === 'succeeded') {
          Notification.success(text, { autoClose: 8000 });
        } else {
          Notification.warning(text, { autoClose: false });
        }
      }
      this.runs = runs.items;
      this.states = new Map(runs.items.map(r => [r.id, r.state]));
      if (this.logRun !== null) {
        await this.loadLog(this.logRun);
      }
    } catch (error) {
      if (!quiet) {
        notifyError('Cannot list the jobs', error);
      }
    }
    this.render();
  }

  private async loadLog(run: number): Promise<void> {
    try {
      const log = await requestAPI<{ log: string; live: boolean }>(`runs/${run}/log`, {}, {
        tail: 16384
      });
      this.logText = log.log;
    } catch (error) {
      this.logText = '';
      notifyError(`Cannot read the log of run ${run}`, error);
    }
  }

  private async showLog(run: number): Promise<void> {
    this.logRun = this.logRun === run ? null : run;
    if (this.logRun !== null) {
      await this.loadLog(run);
    }
    this.render();
  }

  private async act(what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (error) {
      notifyError(what, error);
    }
    await this.refresh(true);
  }

  private render(): void {
    const rows = this.runs.map(run => {
      const job = this.jobs.get(run.job_id);
      const item = el('li', `jp-TenantHub-run jp-TenantHub-state-${run.state}`);
      item.dataset.run = String(run.id);
      const line = el('div', 'jp-TenantHub-runline');
      line.append(
        el('span', 'jp-TenantHub-state', run.state),
        el('span', 'jp-TenantHub-name', job?.name ?? `job ${run.job_id}`),
        el('span', 'jp-TenantHub-kind', `#${run.id} ${when(run.started_at || run.queued_at)}`)
      );
      const buttons = el('div', 'jp-TenantHub-buttons');
      const button = (label: string, onClick: () => void): void => {
        const b = el('button', 'jp-mod-styled jp-TenantHub-small', label);
        b.addEventListener('click', onClick);
        buttons.append(b);
      };
      button(this.logRun === run.id ? 'Hide log' : 'Log', () => void this.showLog(run.id));
      if (run.started_at) {
        button('Output', () => this.openOutput(run.output));
      }
      if (!hasEnded(run.state)) {
        button('Cancel', () =>
          void this.act(`Cannot cancel run ${run.id}`, () =>
            requestAPI(`runs/${run.id}/cancel`, { method: 'POST' })
          )
        );
      } else {
        button('Run again', () =>
          void this.act(`Cannot run ${job?.name ?? run.job_id} again`, async () => {
            const queued = await requestAPI<Run>(`jobs/${run.job_id}/runs`, { method: 'POST' });
            this.states.set(queued.id, queued.state);
          })
        );
      }
      item.append(line);
      if (run.reason) {
        item.append(el('div', 'jp-TenantHub-reason', run.reason));
      }
      item.append(buttons);
      return item;
    });
    this.listNode.replaceChildren(...rows);
    if (!rows.length) {
      this.listNode.append(el('li', 'jp-TenantHub-empty', 'No runs yet: use "Run as job".'));
    }
    this.logNode.replaceChildren();
    if (this.logRun !== null) {
      this.logNode.append(
        el('h3', undefined, `Log of run ${this.logRun}`),
        el('pre', 'jp-TenantHub-logtext', this.logText || '(empty)')
      );
    }
    const schedules = visibleSchedules(this.jobs.values());
    this.scheduleNode.replaceChildren();
    if (schedules.length) {
      this.scheduleNode.append(el('h3', undefined, 'Schedules'));
      for (const job of schedules) {
        const shown = scheduleRow(job, when);
        const row = el('div', `jp-TenantHub-schedule jp-TenantHub-schedule-${shown.state}`);
        row.dataset.job = String(job.id);
        row.dataset.state = shown.state;
        row.append(
          el('span', 'jp-TenantHub-name', job.name),
          el('code', undefined, `${job.schedule!.cron} (${job.schedule!.timezone})`),
          el('span', 'jp-TenantHub-kind jp-TenantHub-schedule-next', shown.next)
        );
        const toggle = el('button', 'jp-mod-styled jp-TenantHub-small', shown.action);
        toggle.classList.add('jp-TenantHub-toggle');
        toggle.addEventListener('click', () =>
          void this.act(shown.failure, () =>
            requestAPI(`jobs/${job.id}`, { method: 'PATCH', body: JSON.stringify(shown.body) })
          )
        );
        row.append(toggle);
        const remove = el('button', 'jp-mod-styled jp-TenantHub-small', 'Delete');
        remove.addEventListener('click', async () => {
          const answer = await showDialog({
            title: `Delete the schedule ${job.name}?`,
            body: 'Its queued and running runs are cancelled; runs and outputs are kept.',
            buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
          });
          if (answer.button.accept) {
            await this.act(`Cannot delete ${job.name}`, () =>
              requestAPI(`jobs/${job.id}`, { method: 'DELETE' })
            );
          }
        });
        row.append(remove);
        this.scheduleNode.append(row);
      }
    }
  }
}
