"""Notebook jobs: papermill (and pyspark) runs now or on a cron schedule, in their own
container, pod or process, never inside the user's server (issue 9).

Built so far: the pure job model (``model``: what a job is, its validation, the run
state machine, where a run's output goes) and cron schedules (``cron``: due slots in
the schedule's time zone, the missed-slot policy). The DB store, scheduler, runners,
API routes and CLI come next.
"""
