# syntax=docker/dockerfile:1
# Every byosms image, one target a service (named as its directory and the Helm chart's image
# repository). Build from the repository root (the uv workspace):
#   docker build --target routing -t byosms/routing .
# Targets: ingress-webhook, provisioning, inventory, routing, console, and twilio-emulator
# (development and tests only, never production). Each image holds only its service's package and
# its locked dependencies (no dev groups); the shared stages below are built once for all of them.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------- shared stages

FROM ${PYTHON_IMAGE} AS workspace
# uv comes from PyPI like every other dependency, pinned for reproducible builds.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# The venv is built at the path it runs from, so its console scripts' shebangs stay valid.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# The whole workspace is needed to honour uv.lock: every member's pyproject takes part in it.
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
COPY tools ./tools

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 byosms \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent byosms
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric user so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# Each service's image sets HEALTHCHECK_URL to its own readiness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=2)"]

# ---------------------------------------------------------------------------- one venv a service

FROM workspace AS ingress-webhook-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-ingress-webhook

FROM workspace AS provisioning-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-provisioning

FROM workspace AS inventory-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-inventory

FROM workspace AS routing-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-routing

FROM workspace AS console-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-console

FROM workspace AS twilio-emulator-venv
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable --package byosms-twilio-emulator

# ---------------------------------------------------------------------------- the images

FROM runtime AS ingress-webhook
COPY --from=ingress-webhook-venv /app/.venv /app/.venv
ENV BYOSMS_INGRESS_HOST=0.0.0.0 \
    BYOSMS_INGRESS_PORT=8080 \
    BYOSMS_INGRESS_SPOOL_DIR=/var/spool/byosms \
    HEALTHCHECK_URL=http://127.0.0.1:8080/readyz
# The spool must be writable (a volume in compose and Kubernetes; the root filesystem may be read-only).
USER root
RUN mkdir -p /var/spool/byosms && chown 10001:10001 /var/spool/byosms
VOLUME ["/var/spool/byosms"]
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["byosms-ingress"]

FROM runtime AS provisioning
COPY --from=provisioning-venv /app/.venv /app/.venv
ENV BYOSMS_PROVISIONING_HOST=0.0.0.0 \
    BYOSMS_PROVISIONING_PORT=8081 \
    HEALTHCHECK_URL=http://127.0.0.1:8081/readyz
EXPOSE 8081
ENTRYPOINT ["byosms-provisioning", "serve"]

FROM runtime AS inventory
COPY --from=inventory-venv /app/.venv /app/.venv
ENV BYOSMS_INVENTORY_HOST=0.0.0.0 \
    BYOSMS_INVENTORY_PORT=8083 \
    HEALTHCHECK_URL=http://127.0.0.1:8083/readyz
EXPOSE 8083
ENTRYPOINT ["byosms-inventory"]

FROM runtime AS routing
COPY --from=routing-venv /app/.venv /app/.venv
ENV BYOSMS_ROUTING_HOST=0.0.0.0 \
    BYOSMS_ROUTING_PORT=8084 \
    HEALTHCHECK_URL=http://127.0.0.1:8084/readyz
EXPOSE 8084
ENTRYPOINT ["byosms-routing"]

FROM runtime AS console
COPY --from=console-venv /app/.venv /app/.venv
ENV BYOSMS_CONSOLE_HOST=0.0.0.0 \
    BYOSMS_CONSOLE_PORT=8085 \
    HEALTHCHECK_URL=http://127.0.0.1:8085/readyz
EXPOSE 8085
ENTRYPOINT ["byosms-console"]

FROM runtime AS twilio-emulator
COPY --from=twilio-emulator-venv /app/.venv /app/.venv
ENV HEALTHCHECK_URL=http://127.0.0.1:8099/_emulator/health
EXPOSE 8099
ENTRYPOINT ["twilio-emulator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8099"]

# `docker build .` without --target ends here, and fails: name the image to build.
FROM runtime AS no-target-given
RUN echo "byosms: build with --target <ingress-webhook|provisioning|inventory|routing|console|twilio-emulator>" >&2 \
    && exit 1
