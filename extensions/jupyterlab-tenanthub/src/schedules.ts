/**
 * What a schedule row in the Jobs panel shows and what its Enable/Disable button sends
 * (pure: tested without JupyterLab). A paused schedule fires nothing; enabled again,
 * it runs from its next slot after now (the slots that passed while paused do not run).
 */

export interface ScheduleJob {
  id: number;
  name: string;
  schedule: { cron: string; timezone: string } | null;
  next_run_at: string | null;
  cancelled_at: string | null;
  paused?: boolean;
}

export interface ScheduleRow {
  /** 'enabled' or 'disabled': the row's state as shown (and its CSS modifier) */
  state: 'enabled' | 'disabled';
  /** the toggle button's label: what it does */
  action: 'Enable' | 'Disable';
  /** the PATCH body the button sends */
  body: { paused: boolean };
  /** the line under the name: the next run, or why there is none */
  next: string;
  /** the error's prefix if the platform refuses the toggle */
  failure: string;
}

/** The schedules shown: scheduled jobs not cancelled (paused ones too). */
export function visibleSchedules<T extends ScheduleJob>(jobs: Iterable<T>): T[] {
  return [...jobs].filter(j => j.schedule !== null && !j.cancelled_at);
}

export function scheduleRow(
  job: ScheduleJob,
  when: (iso: string | null) => string = iso => iso ?? ''
): ScheduleRow {
  const paused = job.paused === true;
  return paused
    ? {
        state: 'disabled',
        action: 'Enable',
        body: { paused: false },
        next: 'disabled: no run until enabled',
        failure: `Cannot enable ${job.name}`
      }
    : {
        state: 'enabled',
        action: 'Disable',
        body: { paused: true },
        next: job.next_run_at ? `next: ${when(job.next_run_at)}` : 'next: -',
        failure: `Cannot disable ${job.name}`
      };
}
