"""``byosms-ingress``: run the ingress for one region until SIGTERM/SIGINT.

``byosms-ingress drain [--spool-dir DIR] [--timeout-s S] [--linger-s S]`` instead moves one spool
directory's records into Kafka and exits (spool_drain.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from byosms_common.crypto import CryptoError
from byosms_common.logs import configure_logging
from byosms_common.runtime import install_stop_signals, serve_http
from byosms_common.settings import KafkaSettings, KeyringSettings, TelemetrySettings, describe_settings_error
from byosms_common.telemetry import setup_tracing_if_exported
from byosms_ingress.app import SERVICE, Ingress
from byosms_ingress.settings import IngressSettings
from byosms_ingress.spool_drain import DrainPlan, drain_spool

log = logging.getLogger("byosms_ingress")


async def _run(ingress: Ingress) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    settings = ingress.settings
    runner = await serve_http(ingress.web_app(), settings.host, settings.port)
    side: web.AppRunner | None = None
    if settings.metrics_port is not None:
        side = await serve_http(ingress.metrics_app(), settings.host, settings.metrics_port)
    try:
        await stop.wait()
        # Not ready, still serving: the endpoint removal propagates before the listener closes.
        await ingress.begin_stopping(settings.prestop_delay_s)
    finally:
        # Stops accepting, lets the requests in flight finish, then Ingress.stop drains the spool.
        await runner.cleanup()
        if side is not None:
            await side.cleanup()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="byosms-ingress", description="The byosms webhook ingress of one region.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve webhooks (the default)")
    drain = commands.add_parser("drain", help="move one spool directory's records into Kafka, then exit")
    drain.add_argument("--spool-dir", type=Path, help="spool directory (default: BYOSMS_INGRESS_SPOOL_DIR)")
    drain.add_argument("--timeout-s", type=float, default=600.0, help="give up after this long (default 600)")
    drain.add_argument("--linger-s", type=float, default=0.0, help="keep serving metrics this long after")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    telemetry = TelemetrySettings()
    configure_logging(telemetry, SERVICE)
    try:
        settings = IngressSettings()
        kafka = KafkaSettings()
        if args.command == "drain":
            plan = DrainPlan(
                spool_dir=args.spool_dir or settings.spool_dir,
                max_bytes=settings.spool_max_bytes,
                drain_batch=settings.drain_batch,
                publish_deadline_s=settings.publish_deadline_s,
                timeout_s=args.timeout_s,
                linger_s=args.linger_s,
                metrics_port=settings.metrics_port,
            )
            sys.exit(asyncio.run(drain_spool(plan, kafka)))
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
