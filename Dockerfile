# Production image: gunicorn for the web, the same image for the Celery worker and beat.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them. The
# project itself is not pip-installed: it runs from /app, where templates/ and static/ live.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Settings refuse to load without keys when DEBUG is off; these placeholders exist only for
# this build step and are never part of the running container's environment.
RUN DJANGO_SECRET_KEY=collectstatic-build-only-placeholder-not-a-secret-0123456789 \
    AUDIT_HMAC_KEY=collectstatic-build-only-placeholder \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var && chown app:app /app/var

USER app

EXPOSE 8000

CMD ["gunicorn", "clinicops.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
