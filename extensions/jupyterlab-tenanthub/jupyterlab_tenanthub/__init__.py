"""TenantHub in JupyterLab: the tenant's datasets and notebook jobs.

The server extension answers the frontend under ``<base_url>/tenanthub/`` and calls
the platform API as the server's user, with the server's own token (the notebook
SDK's :class:`tenanthub.api.Platform`); the frontend is a prebuilt labextension.
In a notebook, ``from jupyterlab_tenanthub import DatasetPicker, JobMonitor`` gives
the ipywidgets of :mod:`jupyterlab_tenanthub.widgets` (imported on first use, so the
server extension does not load ipywidgets).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["DatasetPicker", "JobMonitor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from jupyterlab_tenanthub import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyterlab-tenanthub"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyterlab_tenanthub"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyterlab_tenanthub.handlers import setup_handlers

    setup_handlers(server_app.web_app)
    # The Jobs panel opens a run's output notebook where the platform writes it, under
    # ~/.tenanthub/jobs/: Jupyter Server answers 404 for hidden paths unless allow_hidden
    # (only ServerApp.jpserver_extensions is read from jupyter_server_config.d, so it is
    # set here). The file browser still hides dot files unless "Show hidden files" is on.
    server_app.contents_manager.allow_hidden = True
    server_app.log.info("jupyterlab_tenanthub: handlers under %stenanthub/",
                        server_app.web_app.settings.get("base_url", "/"))  # fmt: skip
