# One image per stage: `docker build --target s3-pooled .`
# Targets differ only in the code the stage adds; the runtime below is shared.
#
# BASE_IMAGE: a standard Python image where a registry is reachable (the default), or the
# local Debian base that `harness images` builds with mmdebstrap where none is.
# Python packages come from wheels in .cache/wheels when present (offline builds: the
# host downloads them), else from the package index.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
COPY deploy/requirements-services.txt .cache/wheel[s] /tmp/install/
RUN python3 -m venv /opt/venv \
 && if ls /tmp/install/*.whl >/dev/null 2>&1; then \
      pip install --no-cache-dir --no-index --find-links /tmp/install -r /tmp/install/requirements-services.txt; \
    else \
      pip install --no-cache-dir -r /tmp/install/requirements-services.txt; \
    fi \
 && rm -rf /tmp/install
WORKDIR /app
COPY domain/ domain/
# containers never run as root
USER 10001:10001

FROM runtime AS s0-baseline
COPY baseline/ baseline/

FROM s0-baseline AS s1-consolidated
COPY stages/__init__.py stages/
COPY stages/s1_consolidated/ stages/s1_consolidated/

FROM s1-consolidated AS s2-async
COPY stages/s2_async/ stages/s2_async/

FROM s2-async AS s3-pooled
COPY stages/s3_pooled/ stages/s3_pooled/

FROM s3-pooled AS s4-queries
COPY stages/s4_queries/ stages/s4_queries/

FROM s4-queries AS s5-optimized
COPY optimized/ optimized/

# beyond the case study: each rung adds its folder to the one it extends
FROM s5-optimized AS s6-one-deployable
COPY stages/s6_one_deployable/ stages/s6_one_deployable/

FROM s6-one-deployable AS s7-sql
COPY stages/s7_sql/ stages/s7_sql/

FROM s7-sql AS s8-one-round-trip
COPY stages/s8_one_round_trip/ stages/s8_one_round_trip/

# The network between the tiers (harness/network/wire.py, standard library only): a container of
# its own on the stage's network, pinned to the load CPUs, outside the server budget. The swarm's
# node reader (harness/backends/node_reader.py) and the probe of a swarm's real network between the
# tiers (harness/network/probe.py beside the wire as an echo), standard library only, run from it too.
FROM runtime AS wire
COPY harness/__init__.py harness/
COPY harness/network/__init__.py harness/network/wire.py harness/network/probe.py harness/network/
COPY harness/backends/__init__.py harness/backends/node_reader.py harness/backends/

# Locust's workers as swarm services (`--backend swarm --load-processes N`): the locustfile and
# what it imports, on the runtime (the domain's seed). The master runs beside the harness.
FROM runtime AS load
USER root
COPY deploy/requirements-load.txt .cache/wheel[s] /tmp/install/
RUN if ls /tmp/install/*.whl >/dev/null 2>&1; then \
      pip install --no-cache-dir --no-index --find-links /tmp/install -r /tmp/install/requirements-load.txt; \
    else \
      pip install --no-cache-dir -r /tmp/install/requirements-load.txt; \
    fi \
 && rm -rf /tmp/install
USER 10001:10001
COPY harness/__init__.py harness/cpu.py harness/errors.py harness/processes.py harness/
COPY harness/load/ harness/load/
