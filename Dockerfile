# Production image: gunicorn for the web, the same image runs the Celery worker and beat.
FROM python:3.11-slim

# platform/ holds the `orderfin` package but is not a package itself (it would shadow
# the stdlib `platform` module), so both it and the repo root go on PYTHONPATH.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app:/app/platform \
    DJANGO_SETTINGS_MODULE=orderfin.settings \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to load; with DEBUG off that requires a SECRET_KEY,
# and this throwaway one never reaches the running container.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app orderfin
USER orderfin

EXPOSE 8000
CMD ["gunicorn", "orderfin.wsgi:application", "-b", "0.0.0.0:8000", "-w", "3"]
