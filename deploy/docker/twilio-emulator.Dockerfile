# syntax=docker/dockerfile:1
# byosms Twilio emulator (development and tests only, never production) image. Build from the repository root (the uv workspace):
#   docker build -f deploy/docker/twilio-emulator.Dockerfile -t byosms-twilio-emulator .
# Only this service's package and its locked dependencies are installed (no dev groups).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
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
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package byosms-twilio-emulator

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 byosms \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent byosms
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric user so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8099
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8099/_emulator/health', timeout=2)"]
ENTRYPOINT ["twilio-emulator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8099"]
