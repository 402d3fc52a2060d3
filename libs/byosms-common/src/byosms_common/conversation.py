"""The key of one conversation on Kafka: everything between a tenant's number and one customer."""

from __future__ import annotations


def conversation_key(sender: str, customer: str) -> str:
    """``<tenant's number>|<customer's number>``: inbound messages (To|From), opt-outs and routing's
    inbound verdicts of one conversation share a partition and so stay in order."""
    return f"{sender}|{customer}"
