"""WSGI entry point (gunicorn clinicops.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")

application = get_wsgi_application()
