"""The demo: one command that runs every layer's own demo seed step, in order.

It sits above every module (like the project's settings and URLs), so it may call them all;
no module and not the shared model depends on it.
"""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "clinicops.demo"
    label = "demo"
    verbose_name = "Demo data"
