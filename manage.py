#!/usr/bin/env python
"""Django's command-line utility for ClinicOps."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    # A checkout with no production secret configured is a developer's: let management
    # commands run in development mode there. Production always sets DJANGO_SECRET_KEY, so
    # it keeps DEBUG off; the web server (wsgi.py) never takes this shortcut and fails closed.
    if "DJANGO_SECRET_KEY" not in os.environ:
        os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
