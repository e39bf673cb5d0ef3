# climatelib: the API on uvicorn. Point CLIMATELIB_DATABASE_URL at PostgreSQL in production;
# without it the service keeps an SQLite file in /data (mount a volume there).
# A base pinned to a patch release, of the Python CI tests on and requirements.lock is resolved for.
FROM python:3.11.16-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CLIMATELIB_DATABASE_URL=sqlite:////data/climatelib.db

WORKDIR /srv/climatelib
# The locked dependencies first (hash-checked, a layer of their own), then the service alone.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /srv/climatelib climatelib \
    && mkdir /data && chown climatelib /data

# numeric, so that the host and Kubernetes' runAsNonRoot can tell it is not root
USER 10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["climatelib", "serve", "--host", "0.0.0.0", "--port", "8000"]
