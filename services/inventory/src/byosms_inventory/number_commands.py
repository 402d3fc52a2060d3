"""What a command on a number does to it: refused (and why), nothing to change, or one change. Pure.

The commands (``byosms_common.messages``): ``number.remove`` (the number leaves the inventory, its
import's claim is freed), ``number.set_routing_target`` (queue or inbound flow id, None for the
integration's default) and ``number.set_compliance`` (all three blocks, each with a keyword and a
message, as at import). A number another organization holds answers exactly like one that does not
exist (``number_not_in_inventory``), so nothing tells one organization about another's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from byosms_common.messages import (
    Compliance,
    ComplianceBlock,
    NumberState,
    RemoveNumber,
    SetNumberCompliance,
    SetNumberRouting,
)
from byosms_inventory.repo import NumberRow

NumberCommand = RemoveNumber | SetNumberRouting | SetNumberCompliance


@dataclass(frozen=True, slots=True)
class Refused:
    code: str


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The command asks for what the number already is."""


@dataclass(frozen=True, slots=True)
class Change:
    remove: bool = False
    set_routing_target: bool = False
    routing_target: str | None = None
    compliance: Compliance | None = None


Outcome = Refused | Unchanged | Change


def _complete(block: ComplianceBlock) -> bool:
    return any(k.strip() for k in block.keywords) and bool(block.message.strip())


def _cleaned(compliance: Compliance) -> Compliance:
    def clean(block: ComplianceBlock) -> ComplianceBlock:
        return ComplianceBlock(
            keywords=tuple(dict.fromkeys(k.strip() for k in block.keywords if k.strip())),
            message=block.message.strip(),
        )

    return Compliance(
        help=clean(compliance.help), opt_out=clean(compliance.opt_out), re_opt_in=clean(compliance.re_opt_in)
    )


def decide(command: NumberCommand, row: NumberRow | None) -> Outcome:
    """The outcome of ``command`` on the number as it is (``row``, None when not in the inventory)."""
    if row is None or row.organization_id != command.organization_id or row.state is NumberState.REMOVED:
        return Refused("number_not_in_inventory")
    expected = command.payload.expected_version
    if expected is not None and expected != row.version:
        return Refused("version_conflict")
    match command:
        case RemoveNumber():
            return Change(remove=True)
        case SetNumberRouting(payload=p):
            if p.routing_target == row.routing_target:
                return Unchanged()
            return Change(set_routing_target=True, routing_target=p.routing_target)
        case SetNumberCompliance(payload=p):
            blocks = (p.compliance.help, p.compliance.opt_out, p.compliance.re_opt_in)
            if not all(_complete(b) for b in blocks):
                return Refused("compliance_missing")
            cleaned = _cleaned(p.compliance)
            if cleaned == row.number.compliance:
                return Unchanged()
            return Change(compliance=cleaned)
