"""Local byosms stack without Docker: Kafka 4.x in KRaft mode from Maven Central jars, and PostgreSQL.

Python API (used by the test suite's session fixture)::

    from byosms_devstack import ensure_stack
    info = ensure_stack()          # starts what is not running; blocks until both answer
    info.kafka_bootstrap, info.database_url
"""

from byosms_devstack.settings import DEFAULT_DATABASES, StackSettings
from byosms_devstack.stack import StackError, StackInfo, ensure_stack, stack_status, stop_stack

__all__ = [
    "DEFAULT_DATABASES",
    "StackError",
    "StackInfo",
    "StackSettings",
    "ensure_stack",
    "stack_status",
    "stop_stack",
]
