"""The admin quota console (``/services/tenanthub/console``): server-rendered pages.

Pages look like JupyterHub's own (its stylesheet and navigation bar) and do
everything through the API's ``dispatch``; see ``handlers``. Decisions are pure
functions in ``views``.
"""

from hub.service.console.handlers import console_handlers

__all__ = ["console_handlers"]
