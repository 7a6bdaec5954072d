# One image for every AURA service: ingestor, trader, optimizer and exchange-sim (the command picks the role:
# `docker run IMAGE trade`, `... ingest`, `... optimize`, `... exchange-sim`).
#
#   docker build -t aura:local .                                        # official python:3.11-slim-bookworm base
#   docker build -t aura:local --build-arg BASE_IMAGE=aura-base:bookworm .   # offline: local base (scripts/docker-setup)
#   docker build -t aura:postgres --build-arg AURA_EXTRAS=postgres .     # + psycopg: the optimizer on PostgreSQL
#
# The base must provide python3 with the venv module, and ca-certificates. Dependencies are installed with
# requirements.lock as constraints, so the image runs exactly the versions the tests ran. No secret is baked in:
# keys come at run time from the environment, <NAME>_FILE or /run/secrets/<name> (Docker secrets).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------------------
# deps: a virtualenv with the third-party runtime dependencies only, pinned by requirements.lock. This stage (and
# the runtime layer copied from it) stays cached until pyproject.toml or requirements.lock changes.
FROM ${BASE_IMAGE} AS deps
# Optional extras of pyproject.toml to install too, e.g. AURA_EXTRAS=postgres (psycopg: the optimizer's PostgreSQL
# storage; compose's `scale` profile builds aura:postgres this way). Empty: the runtime dependencies only.
ARG AURA_EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=180 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/aura && /opt/aura/bin/python -m pip install -q --upgrade "pip>=24" "setuptools>=68" wheel
WORKDIR /src
COPY pyproject.toml requirements.lock ./
RUN AURA_EXTRAS="${AURA_EXTRAS}" /opt/aura/bin/python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = os.environ['AURA_EXTRAS'].replace(',', ' ').split(); print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" > runtime-deps.txt \
 && /opt/aura/bin/python -m pip install -q -c requirements.lock -r runtime-deps.txt \
 && for t in pandas/tests pyarrow/tests matplotlib/tests; do rm -rf /opt/aura/lib/python3*/site-packages/$t; done

# venv: the same environment without the packaging tools, plus a .pth that puts the AURA code on the path.
FROM deps AS venv
RUN /opt/aura/bin/python -m pip uninstall -q -y pip setuptools wheel \
 && echo /opt/aura-app > "$(/opt/aura/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/aura-app.pth"

# app: AURA itself into its own directory (small layer; code changes rebuild only this). Not editable, no deps:
# they are already satisfied above, so there are no resolver surprises.
FROM deps AS app
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN /opt/aura/bin/python -m pip install -q --no-deps --no-build-isolation --target /opt/aura-app .
# Compile the decision core's and the backtester's Numba kernels once, here, into a seed cache; a container copies
# it to its writable /tmp when it first needs a kernel (adapters/jit_cache.py), so no service compiles at run time on this CPU.
RUN NUMBA_CACHE_DIR=/opt/aura-jit PYTHONPATH=/opt/aura-app /opt/aura/bin/python -m aura_cli.jit_warm

# ---------------------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG AURA_UID=10001
ARG AURA_GID=10001
RUN groupadd --gid "${AURA_GID}" aura \
 && useradd --no-log-init --uid "${AURA_UID}" --gid aura --home-dir /app --no-create-home --shell /usr/sbin/nologin aura
# The state directories (paths.* in config/aura.yaml are relative to /app). Compose bind-mounts volumes/ here.
WORKDIR /app
RUN mkdir -p volumes/data volumes/journal volumes/snapshots volumes/optimizer \
 && chown -R aura:aura volumes
COPY --from=venv /opt/aura /opt/aura
# Defaults ship in the image (read-only for the service user); compose mounts ./config over them.
COPY config ./config
COPY --from=app /opt/aura-app /opt/aura-app
COPY --from=app /opt/aura-jit /opt/aura-jit
# TLS trusts the base image's CA store (requests/ccxt would otherwise use certifi's copy), so a base built with a
# site CA (scripts/docker-setup copies the machine's bundle) works for HTTPS too.
ENV PATH=/opt/aura-app/bin:/opt/aura/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AURA_CONFIG=/app/config/aura.yaml \
    NUMBA_CACHE_DIR=/tmp/aura-jit \
    AURA_JIT_SEED=/opt/aura-jit \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
USER aura:aura
# Each service names its own probe in AURA_HEALTH_URL (compose sets it: metrics or /health endpoint); a one-shot
# command (optimize, config check) has none and is healthy while it runs.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request as u; url=os.environ.get('AURA_HEALTH_URL'); sys.exit(0 if not url else (0 if u.urlopen(url, timeout=4).status == 200 else 1))"]
ENTRYPOINT ["aura"]
CMD ["--help"]
