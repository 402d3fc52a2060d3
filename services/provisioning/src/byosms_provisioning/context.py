"""What handlers get to work with, built once by ``app.py`` and handed to every route and subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from byosms_common.crypto import Keyring
from byosms_common.kafka import Publisher
from byosms_common.regions import Region
from byosms_provisioning.auth import JwtVerifier
from byosms_provisioning.integrations.credential_sealing import SealingKeyring
from byosms_provisioning.settings import ProvisioningSettings
from byosms_provisioning.twilio_gateway import TwilioGateway


@dataclass
class ServiceContext:
    """Collaborators of the provisioning service's handlers."""

    settings: ProvisioningSettings
    pool: asyncpg.Pool
    keyring: Keyring
    twilio: TwilioGateway
    verifier: JwtVerifier
    regions: Mapping[str, Region]
    publisher: Publisher | None = None
    # Opens credentials sealed for provisioning in set-credentials commands; None: such commands are refused.
    sealing_keys: SealingKeyring | None = None
    # Set after a transaction wrote outbox rows, so the relay publishes them without waiting to poll.
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)


CONTEXT = web.AppKey("byosms_provisioning.context", ServiceContext)


def context_of(request: web.Request) -> ServiceContext:
    return request.app[CONTEXT]
