"""``python -m hub.app.idle_culler``: jupyterhub-idle-culler, stoppable by SIGINT.

JupyterHub stops its managed services with SIGINT and waits ``interrupt_timeout``
(30 s) before it sends SIGTERM. A process started with SIGINT ignored (anything a
non-interactive shell runs in the background, as CI jobs and ``nohup ... &`` do)
hands that on to its children, and Python keeps an inherited SIG_IGN. The idle
culler installs no handler of its own, so it ignored the interrupt and every hub
shutdown waited 30 s for it (the platform service and the checkpointer set their
own handlers). This restores Python's default handler, then runs the culler.
"""

from __future__ import annotations

import signal


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from jupyterhub_idle_culler import main as culler_main

    culler_main()


if __name__ == "__main__":
    main()
