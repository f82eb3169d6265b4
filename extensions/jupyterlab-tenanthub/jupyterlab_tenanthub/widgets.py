"""Notebook widgets (ipywidgets): pick a dataset and load it, watch a job's run.

    from jupyterlab_tenanthub import DatasetPicker, JobMonitor

    picker = DatasetPicker()       # source, folder browser (paged), Load
    picker                         # (display it) ... pick a file, press Load
    df = picker.dataframe()        # or picker.load(): the pick as a pandas DataFrame
    picker.value                   # "<source>/<path>", e.g. "team/cities.csv"

    JobMonitor(7)                  # the newest run of job 7: state and live log tail
    JobMonitor(run=42)             # one run
    monitor.stop()                 # stop following (it stops by itself at the run's end)

Every call goes through the notebook SDK (``tenanthub.datasets``, ``tenanthub.jobs``) as
the server's user. A refusal is shown in the widget with the platform's message (and
raised by ``load()``/``dataframe()``); nothing is swallowed. The widgets' state is in
traitlets (``value``, ``entries``, ``state``, ``log_text``, ``error``, ...) that can be
observed; what is shown mirrors them, with CSS classes (``tenanthub-state-<state>``,
``tenanthub-final``, ``tenanthub-error``) a browser test can find.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
from tenanthub import datasets
from tenanthub import jobs as sdk_jobs
from tenanthub.api import ApiError
from traitlets import Bool, Int, List, Unicode, observe

FOLDER_KINDS = frozenset({"folder", "database", "schema", "prefix"})
STATE_COLOURS = {
    "succeeded": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "timed_out": "var(--jp-error-color1, #d32f2f)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
}


def describe(exc: BaseException) -> str:
    """The platform's own message (with its status), or the exception's text."""
    if isinstance(exc, ApiError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"{exc.message}{status}"
    return f"{type(exc).__name__}: {exc}"


def _error_bundle(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stderr", "text": text + "\n"}


class DatasetPicker(widgets.VBox):
    """Pick one of the tenant's data sources and a file or table in it; load it."""

    sources = List(Unicode(), help="The tenant's data sources (names)")
    source = Unicode("", help="The source shown")
    folder = Unicode("", help="The folder shown, inside the source ('' = its top)")
    entries: List[dict[str, Any]] = List(help="The folder's entries so far: {name, kind, size}")
    next_cursor = Unicode(None, allow_none=True, help="More entries: the next page's cursor")
    value = Unicode("", help="The pick: '<source>/<path>' ('' = nothing picked yet)")
    error = Unicode("", help="The last error, with the platform's message ('' = none)")
    loaded_rows = Int(-1, help="Rows of the last DataFrame loaded (-1: none)")

    def __init__(self, page_size: int = 100, preview_rows: int = 5, **kwargs: Any) -> None:
        self.page_size = page_size
        self.preview_rows = preview_rows
        self.source_box = widgets.Dropdown(description="Source", options=[])
        self.up_button = widgets.Button(description="Up", icon="arrow-up", disabled=True)
        self.folder_label = widgets.HTML()
        self.entry_list = widgets.Select(options=[], rows=10, description="Path")
        self.more_button = widgets.Button(description="More", disabled=True)
        self.load_button = widgets.Button(
            description="Load", button_style="primary", disabled=True, icon="download"
        )
        self.picked_label = widgets.HTML()
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self._shown: BaseException | None = None
        super().__init__(
            children=[
                self.source_box,
                widgets.HBox([self.up_button, self.folder_label]),
                self.entry_list,
                widgets.HBox([self.more_button, self.load_button, self.picked_label]),
                self.message,
                self.output,
            ],
            **kwargs,
        )
        self.add_class("tenanthub-dataset-picker")
        self.source_box.observe(self._source_chosen, names="value")
        self.entry_list.observe(self._entry_chosen, names="value")
        self.up_button.on_click(lambda _b: self._guard(self.up))
        self.more_button.on_click(lambda _b: self._guard(self.more))
        self.load_button.on_click(lambda _b: self._guard(self.load))
        self._guard(self.refresh)

    # ------------------------------------------------------------------ actions

    def refresh(self) -> None:
        """Read the sources again and show the first one's top."""
        names = [s.name for s in datasets.sources()]
        self.sources = names
        self.source_box.options = names
        if not names:
            self.source_box.value = None
            self._show_message("No data sources in this tenant yet: its admins add them.")
        elif self.source_box.value in names:
            self.browse(self.source_box.value, self.folder)
        else:
            self.source_box.value = names[0]  # -> _source_chosen opens its top

    def browse(self, source: str, folder: str = "") -> None:
        """Show ``folder`` of ``source`` (its first page)."""
        page = datasets.page(self._path(source, folder), limit=self.page_size)
        self.source, self.folder = source, folder.strip("/")
        self.entries = [self._entry(e) for e in page.entries]
        self.next_cursor = page.next_cursor
        self._clear_message()

    def more(self) -> None:
        """The folder's next page, after the entries shown."""
        if not self.next_cursor:
            return
        page = datasets.page(
            self._path(self.source, self.folder), cursor=self.next_cursor, limit=self.page_size
        )
        self.entries = [*self.entries, *(self._entry(e) for e in page.entries)]
        self.next_cursor = page.next_cursor

    def up(self) -> None:
        if self.folder:
            self.browse(self.source, self.folder.rpartition("/")[0])

    def pick(self, name: str) -> None:
        """Choose an entry of the folder shown: a folder opens, a file becomes the value."""
        entry = next((e for e in self.entries if e["name"] == name), None)
        if entry is None:
            raise ValueError(f"{name!r} is not in {self._path(self.source, self.folder)!r}")
        inner = f"{self.folder}/{name}" if self.folder else name
        if entry["kind"] in FOLDER_KINDS:
            self.browse(self.source, inner)
        else:
            self.value = self._path(self.source, inner)

    def load(self) -> Any:
        """The pick as a pandas DataFrame (``datasets.read``); a refusal is shown and raised."""
        if not self.value:
            raise self._fail(ValueError("pick a file or table first"))
        try:
            frame = datasets.read(self.value)
        except Exception as exc:
            raise self._fail(exc) from None
        self.loaded_rows = len(frame)
        self._clear_message()
        self._show_message(f"Loaded {self.value}: {len(frame)} rows x {len(frame.columns)} columns")
        head = frame.head(self.preview_rows)
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {"text/plain": repr(head), "text/html": head.to_html()},
                "metadata": {},
            },
        )
        return frame

    dataframe = load

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _path(source: str, folder: str) -> str:
        folder = folder.strip("/")
        return f"{source}/{folder}" if folder else source

    @staticmethod
    def _entry(entry: datasets.Entry) -> dict[str, Any]:
        return {"name": entry.name, "kind": entry.kind, "size": entry.size}

    def _guard(self, action: Any) -> None:
        """A button's action: a failure is shown in the widget (it was already, by
        ``_fail``, for ``load``), never raised into the widget's event handler."""
        try:
            action()
        except Exception as exc:
            if exc is not self._shown:
                self._fail(exc)

    def _fail(self, exc: BaseException) -> BaseException:
        self._shown = exc
        text = describe(exc)
        self.error = text
        self.message.value = f'<span class="tenanthub-error">{html.escape(text)}</span>'
        self.message.add_class("tenanthub-error")
        self.output.outputs = (_error_bundle(text),)
        return exc

    def _clear_message(self) -> None:
        self.error = ""
        self.message.value = ""
        self.message.remove_class("tenanthub-error")
        self.output.outputs = ()

    def _show_message(self, text: str) -> None:
        self.message.value = html.escape(text)

    def _source_chosen(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.value = ""
            self._guard(lambda: self.browse(change["new"], ""))

    def _entry_chosen(self, change: dict[str, Any]) -> None:
        label = change["new"]
        if label:
            self._guard(lambda: self.pick(label.rstrip("/")))

    @observe("entries")
    def _entries_shown(self, _change: Any) -> None:
        self.entry_list.value = None
        self.entry_list.options = [
            e["name"] + "/" if e["kind"] in FOLDER_KINDS else e["name"] for e in self.entries
        ]

    @observe("next_cursor")
    def _more_shown(self, _change: Any) -> None:
        self.more_button.disabled = not self.next_cursor

    @observe("source", "folder")
    def _folder_shown(self, _change: Any) -> None:
        self.up_button.disabled = not self.folder
        shown = html.escape(self._path(self.source, self.folder))
        self.folder_label.value = f"<code>{shown}/</code>"

    @observe("value")
    def _value_shown(self, _change: Any) -> None:
        self.load_button.disabled = not self.value
        self.picked_label.value = f"<code>{html.escape(self.value)}</code>" if self.value else ""


class JobMonitor(widgets.VBox):
    """A job's newest run (or one run): its state and the live tail of its log, updated
    by a background thread until the run ends (then it stops by itself; ``stop()``)."""

    job_id = Int(None, allow_none=True, help="The job followed (its newest run)")
    run_id = Int(None, allow_none=True, help="The run shown")
    state = Unicode("", help="The run's state ('' = no run yet)")
    reason = Unicode("", help="Why the run ended as it did")
    log_text = Unicode("", help="The end of the run's log")
    final = Bool(False, help="The run has ended: it will not change again")
    running = Bool(False, help="The background thread is following the run")
    error = Unicode("", help="The last error, with the platform's message ('' = none)")

    def __init__(
        self,
        job: int | None = None,
        *,
        run: int | None = None,
        interval: float = 1.0,
        tail: int = 16384,
        start: bool = True,
        **kwargs: Any,
    ) -> None:
        if (job is None) == (run is None):
            raise ValueError("give a job id (its newest run is shown) or run=<run id>")
        self.interval = interval
        self.tail = tail
        self.status = widgets.HTML()
        self.log_view = widgets.HTML()
        self.stop_button = widgets.Button(description="Stop following", icon="stop")
        super().__init__(
            children=[widgets.HBox([self.status, self.stop_button]), self.log_view], **kwargs
        )
        self.add_class("tenanthub-job-monitor")
        self.job_id, self.run_id = job, run
        self._follow_run = run is not None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.stop_button.on_click(lambda _b: self.stop())
        self._render()
        if start:
            self.start()

    def start(self) -> None:
        """Follow the run in a background thread (the kernel stays free)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopped.clear()
        self.running = True
        self._thread = threading.Thread(target=self._follow, name="tenanthub-job-monitor",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self, wait: float | None = 5.0) -> None:
        """Stop following (what is shown stays)."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)
        self.running = False

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the monitor stops (the run ended, or ``stop()``); True if it did."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def refresh(self) -> None:
        """One look at the platform: the run's state and log (raises ApiError)."""
        run = self._current_run()
        if run is None:
            self.state = ""
            self.reason = "no run yet"
            return
        self.run_id = int(run["id"])
        answer = sdk_jobs.log(self.run_id, tail=self.tail)
        # the log answer carries the state it was read in: newer than the run's above
        state = str(answer.get("state") or run["state"])
        if state in sdk_jobs.FINAL and run["state"] not in sdk_jobs.FINAL:
            run = sdk_jobs.run(self.run_id)
        self.log_text = str(answer.get("log") or "")
        self.reason = str(run.get("reason") or "")
        self.state = state
        self.final = state in sdk_jobs.FINAL

    # ------------------------------------------------------------------ plumbing

    def _current_run(self) -> dict[str, Any] | None:
        if self._follow_run:
            assert self.run_id is not None
            return sdk_jobs.run(self.run_id)
        assert self.job_id is not None
        return sdk_jobs.latest_run(self.job_id)

    def _follow(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    self.refresh()
                    self.error = ""
                except ApiError as exc:
                    self.error = describe(exc)
                    if 400 <= exc.status < 500:  # not found, not yours: it will not change
                        return
                except Exception as exc:  # shown, and tried again at the next interval
                    self.error = describe(exc)
                if self.final:
                    return
                self._stopped.wait(self.interval)
        finally:
            self.running = False

    @observe("state", "reason", "log_text", "final", "error", "running", "run_id")
    def _changed(self, _change: Any) -> None:
        self._render()

    def _render(self) -> None:
        what = f"run {self.run_id}" if self.run_id is not None else f"job {self.job_id}"
        state = self.state or "waiting for a run"
        colour = STATE_COLOURS.get(self.state, "var(--jp-ui-font-color1, inherit)")
        weight = "bold" if self.final else "normal"
        parts = [
            f'<span class="tenanthub-state tenanthub-state-{html.escape(self.state or "none")}"'
            f' style="color: {colour}; font-weight: {weight}">{html.escape(state)}</span>',
            f" {html.escape(what)}",
        ]
        if self.reason and (self.final or not self.state):
            parts.append(f": {html.escape(self.reason)}")
        if self.error:
            parts.append(f' <span class="tenanthub-error">{html.escape(self.error)}</span>')
        self.status.value = "".join(parts)
        for name in [c for c in self.status._dom_classes if c.startswith("tenanthub-")]:
            self.status.remove_class(name)
        self.status.add_class(f"tenanthub-state-{self.state or 'none'}")
        if self.final:
            self.status.add_class("tenanthub-final")
        if self.error:
            self.status.add_class("tenanthub-error")
        self.stop_button.disabled = not self.running
        self.log_view.value = (
            f'<pre class="tenanthub-log" style="max-height: 20em; overflow: auto">'
            f"{html.escape(self.log_text)}</pre>"
            if self.log_text
            else ""
        )
