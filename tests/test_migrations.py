"""Every service's migrations load: no number used twice (two branches that each add "the next"
migration collide here, in CI, not when the service starts), and every migration is expand-only.

Expand-only: during a rolling upgrade the previous release's pods keep reading and writing the
schema that the new release's migration Job (a pre-upgrade hook) has already moved on. So a
migration only adds (tables, nullable columns or columns with defaults, indexes, constraints the
old code satisfies). Dropping or renaming a table, view or column, or changing a column's type,
breaks the old pods: that is a *contract* step, shipped one release after the code stopped using
the object, and marked in its file with a line ``-- contract-step: <why the previous release no
longer reads it>``. Every migration of every service is checked (none contracts today).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from byosms_common.db import load_migrations


@pytest.mark.parametrize("package", ["byosms_provisioning", "byosms_inventory", "byosms_routing"])
def test_no_two_migrations_share_a_number(package: str) -> None:
    versions = [m.version for m in load_migrations(package)]  # raises MigrationError on a repeat
    assert versions == sorted(set(versions))
    assert versions[0] == 1


# ------------------------------------------------------------------ expand-only

MARKER = re.compile(r"^\s*--\s*contract-step:\s*\S", re.MULTILINE | re.IGNORECASE)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_DROP_OBJECT = re.compile(r"\bDROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|SCHEMA|TYPE)\b", re.IGNORECASE)
_ALTER_TABLE = re.compile(r"\bALTER\s+TABLE\b", re.IGNORECASE)
_DROP_IN_ALTER = re.compile(r"\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
# DROP forms inside ALTER TABLE that only relax a rule or remove a constraint the old code satisfies.
_HARMLESS_DROPS = {"constraint", "default", "not", "identity", "expression"}
_RENAME = re.compile(r"\bRENAME\s+(?!CONSTRAINT\b)", re.IGNORECASE)
_TYPE_CHANGE = re.compile(r"\bALTER\s+(?:COLUMN\s+)?\w+\s+(?:SET\s+DATA\s+)?TYPE\b", re.IGNORECASE)


@dataclass(frozen=True)
class Contraction:
    statement: str
    why: str


def contractions(sql: str) -> list[Contraction]:
    """The statements of ``sql`` that drop, rename or retype what older code reads."""
    code = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", sql))
    found: list[Contraction] = []
    for raw in code.split(";"):
        statement = " ".join(raw.split())
        if not statement:
            continue
        if match := _DROP_OBJECT.search(statement):
            found.append(Contraction(statement, f"drops a {match.group(1).lower()}"))
        if _ALTER_TABLE.search(statement):
            for drop in _DROP_IN_ALTER.finditer(statement):
                if drop.group(1).lower() not in _HARMLESS_DROPS:
                    found.append(Contraction(statement, f"drops column {drop.group(1)}"))
        if _RENAME.search(statement):
            found.append(Contraction(statement, "renames a table or column"))
        if _TYPE_CHANGE.search(statement):
            found.append(Contraction(statement, "changes a column's type"))
    return found


def refused(sql: str) -> list[Contraction]:
    """The contractions of a migration that is not marked as a contract step."""
    return [] if MARKER.search(sql) else contractions(sql)


@pytest.mark.parametrize("package", ["byosms_provisioning", "byosms_inventory", "byosms_routing"])
def test_every_migration_only_expands_what_the_previous_release_reads(package: str) -> None:
    offending = {m.name: [c.why for c in refused(m.sql)] for m in load_migrations(package) if refused(m.sql)}
    assert offending == {}, (
        "these migrations drop, rename or retype what the running release reads; ship that as a contract"
        f" step one release later, marked '-- contract-step: <why>': {offending}"
    )


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("ALTER TABLE numbers DROP COLUMN import_id;", "drops column import_id"),
        ("alter table numbers drop if exists import_id", "drops column import_id"),
        ("DROP TABLE IF EXISTS opt_outs;", "drops a table"),
        ("ALTER TABLE messages RENAME COLUMN body TO text;", "renames a table or column"),
        ("ALTER TABLE messages RENAME TO sms;", "renames a table or column"),
        ("ALTER TABLE messages ALTER COLUMN segments TYPE bigint;", "changes a column's type"),
        ("DROP VIEW routed;", "drops a view"),
    ],
)
def test_a_contraction_is_found(sql: str, why: str) -> None:
    assert [c.why for c in contractions(sql)] == [why]
    assert refused(sql) != []


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE opt_outs DROP CONSTRAINT opt_outs_pkey;",
        "ALTER TABLE messages ALTER COLUMN note DROP NOT NULL, ALTER COLUMN note DROP DEFAULT;",
        "ALTER TABLE messages ADD COLUMN note text; CREATE INDEX messages_note ON messages (note);",
        "DROP INDEX IF EXISTS messages_note;",
        "-- DROP TABLE messages; (only a comment)\nCREATE TABLE x (id int);",
        "ALTER TABLE messages RENAME CONSTRAINT a TO b;",
    ],
)
def test_expanding_statements_pass(sql: str) -> None:
    assert contractions(sql) == []


def test_a_marked_contract_step_may_drop() -> None:
    sql = "-- contract-step: release 0.3 stopped reading import_id\nALTER TABLE numbers DROP COLUMN import_id;"
    assert contractions(sql) != []
    assert refused(sql) == []
