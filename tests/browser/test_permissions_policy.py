"""The Permissions-Policy header in a real browser: understood, and the camera really off."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ConsoleLog

pytestmark = pytest.mark.browser


def test_chromium_accepts_the_policy_and_denies_the_camera(page: Page, console: ConsoleLog) -> None:
    page.goto("/login/")
    # Chromium reports an unknown or malformed feature on the console ("Unrecognized feature").
    assert not [m for m in console.messages if "Permissions-Policy" in m or "feature" in m]
    allowed = page.evaluate(
        "() => ['camera', 'microphone', 'geolocation', 'payment', 'usb']"
        ".map(f => document.featurePolicy ? document.featurePolicy.allowsFeature(f) : null)"
    )
    assert allowed == [False] * 5
