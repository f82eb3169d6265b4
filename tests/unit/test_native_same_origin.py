"""Account approval links count only from the hub's own pages."""

from __future__ import annotations

import pytest

from hub.auth.native import same_origin_navigation


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),  # typed in or a bookmark
        ({"Sec-Fetch-Site": "cross-site", "Referer": "http://hub.example/hub/authorize"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Referer": "http://hub.example/hub/authorize"}, True),
        ({"Referer": "http://evil.example/hub.example"}, False),
        ({}, False),
    ],
)
def test_same_origin_navigation(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin_navigation(headers, "hub.example") is allowed
