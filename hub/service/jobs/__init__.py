"""Notebook jobs: papermill (and pyspark) runs now or on a cron schedule, in their own
container, pod or process, never inside the user's server (issue 9).

- ``model``: what a job is, its validation, the run state machine, where output goes;
- ``cron``: due slots in the schedule's time zone, the missed-slot policy;
- ``submit``: a submission checked against the platform's limits and the notebook file;
- ``store``: jobs and runs in the platform DB (fire a slot once, claim a run once);
- ``scheduler``: the service's loop that fires, claims, starts, watches and recovers;
- ``runners``: one per backend behind ``runners.base.Runner``.
"""
