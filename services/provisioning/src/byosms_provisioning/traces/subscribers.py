"""Feed of the message trace: routing's events on ``sms.message-events.v1``, a partition's batch in one
statement (registered by ``app.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from byosms_common import topics
from byosms_common.consumer import Emit, Record, Subscription
from byosms_common.messages import ANY_MESSAGE, AnyMessage
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.traces import repo
from byosms_provisioning.traces.steps import step_of


def subscriptions(ctx: ServiceContext) -> list[Subscription[Any]]:
    async def message_events(records: Sequence[Record[AnyMessage]], _: Emit) -> None:
        steps = [step for step in (step_of(r.message) for r in records) if step is not None]
        await repo.record(ctx.pool, steps)

    group = ctx.settings.command_group_id
    return [Subscription(topics.MESSAGE_EVENTS, ANY_MESSAGE, message_events, group_id=f"{group}-message-trace")]
