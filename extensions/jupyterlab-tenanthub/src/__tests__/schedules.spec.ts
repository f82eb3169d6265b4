import { scheduleRow, visibleSchedules, ScheduleJob } from '../schedules';

const JOB: ScheduleJob = {
  id: 7,
  name: 'nightly',
  schedule: { cron: '0 3 * * *', timezone: 'UTC' },
  next_run_at: '2026-12-08T03:00:00+00:00',
  cancelled_at: null,
  paused: false
};

describe('a schedule row of the Jobs panel', () => {
  it('shows an active schedule enabled with its next run, and Disable pauses it', () => {
    const row = scheduleRow(JOB, iso => `at ${iso}`);
    expect(row.state).toBe('enabled');
    expect(row.action).toBe('Disable');
    expect(row.body).toEqual({ paused: true });
    expect(row.next).toBe('next: at 2026-12-08T03:00:00+00:00');
    expect(row.failure).toBe('Cannot disable nightly');
  });

  it('shows a paused schedule disabled without a next run, and Enable resumes it', () => {
    const row = scheduleRow({ ...JOB, paused: true, next_run_at: null });
    expect(row.state).toBe('disabled');
    expect(row.action).toBe('Enable');
    expect(row.body).toEqual({ paused: false });
    expect(row.next).toBe('disabled: no run until enabled');
    expect(row.failure).toBe('Cannot enable nightly');
  });

  it('treats a job from a platform without pause as enabled', () => {
    const { paused, ...older } = JOB;
    expect(paused).toBe(false);
    expect(scheduleRow(older).action).toBe('Disable');
  });

  it('lists scheduled jobs, paused ones too, but neither one-off nor cancelled jobs', () => {
    const jobs: ScheduleJob[] = [
      JOB,
      { ...JOB, id: 8, paused: true, next_run_at: null },
      { ...JOB, id: 9, schedule: null },
      { ...JOB, id: 10, cancelled_at: '2026-12-07T00:00:00+00:00' }
    ];
    expect(visibleSchedules(jobs).map(j => j.id)).toEqual([7, 8]);
  });
});
