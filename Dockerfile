# The one image of the stack: gateway, worker, beat, Flower, simulator and `veo-admin` differ only
# by their command (see docker-compose.yml). No dev extras, no source tree, not root.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir api_gateway worker shared migrations simulator admin \
    && touch api_gateway/__init__.py worker/__init__.py shared/__init__.py migrations/__init__.py \
        simulator/__init__.py admin/__init__.py \
    && pip install . \
    && pip uninstall --yes veo-gateway
COPY api_gateway ./api_gateway
COPY worker ./worker
COPY shared ./shared
COPY migrations ./migrations
COPY simulator ./simulator
COPY admin ./admin
RUN pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VEO_DATA_DIR=/data \
    VEO_GATEWAY_HOST=0.0.0.0 \
    VEO_GATEWAY_PORT=8000
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/veo veo \
    && mkdir -p /data/storage /data/simulator \
    && chown -R veo:veo /data
COPY --from=build /opt/venv /opt/venv
# /data/storage and /data/simulator exist owned by veo, so named volumes mounted there start
# writable.
WORKDIR /home/veo
USER veo
EXPOSE 8000
CMD ["sh", "-c", "exec uvicorn api_gateway.app:app --host \"$VEO_GATEWAY_HOST\" --port \"$VEO_GATEWAY_PORT\""]
