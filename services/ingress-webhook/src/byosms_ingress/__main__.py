"""``byosms-ingress``: run the ingress for one region until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from byosms_common.crypto import CryptoError
from byosms_common.logs import configure_logging
from byosms_common.runtime import install_stop_signals, serve_http
from byosms_common.settings import KafkaSettings, KeyringSettings, TelemetrySettings, describe_settings_error
from byosms_common.telemetry import setup_tracing_if_exported
from byosms_ingress.app import SERVICE, Ingress
from byosms_ingress.settings import IngressSettings

log = logging.getLogger("byosms_ingress")


async def _run(ingress: Ingress) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    runner = await serve_http(ingress.web_app(), ingress.settings.host, ingress.settings.port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    telemetry = TelemetrySettings()
    configure_logging(telemetry, SERVICE)
    try:
        settings = IngressSettings()
        kafka = KafkaSettings()
        keyring = KeyringSettings().keyring()
    except ValidationError as exc:
        # Settings errors name the variable but never echo a value: it may be a secret.
        log.error("invalid configuration: %s", describe_settings_error(exc))
        sys.exit(2)
    except CryptoError as exc:
        log.error("invalid configuration: %s", exc)
        sys.exit(2)
    provider = setup_tracing_if_exported(telemetry, SERVICE)
    asyncio.run(_run(Ingress(settings, kafka, keyring, tracer_provider=provider)))


if __name__ == "__main__":
    main()
