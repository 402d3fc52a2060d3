from pathlib import Path

import pytest

from byosms_devstack import pg_config as pc

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["byosms", "byosms_routing", "_x1"])
def test_plain_identifiers_are_accepted(name: str) -> None:
    assert pc.check_identifier(name) == name


@pytest.mark.parametrize("name", ["", "Byosms", "a-b", "x; DROP DATABASE y", '"q"', "1abc", "a" * 64])
def test_identifiers_that_would_need_quoting_are_refused(name: str) -> None:
    with pytest.raises(pc.InvalidIdentifierError):
        pc.check_identifier(name)


def test_database_url_has_no_password() -> None:
    assert pc.database_url("byosms", "127.0.0.1", 55432, "byosms") == "postgresql://byosms@127.0.0.1:55432/byosms"


def test_as_user_wraps_only_when_a_user_is_given() -> None:
    assert pc.as_user(["initdb"], None) == ["initdb"]
    assert pc.as_user(["initdb", "-D", "x"], "postgres") == ["runuser", "-u", "postgres", "--", "initdb", "-D", "x"]


def test_initdb_uses_trust_auth_and_our_data_dir() -> None:
    cmd = pc.initdb_command(Path("/pg/bin"), Path("/s/pg/data"))
    assert cmd[0] == "/pg/bin/initdb"
    assert cmd[cmd.index("-D") + 1] == "/s/pg/data"
    assert "--auth=trust" in cmd


def test_server_listens_on_loopback_only() -> None:
    cmd = pc.pg_ctl_start_command(Path("/pg/bin"), Path("/d"), Path("/d.log"), "127.0.0.1", 55432)
    options = cmd[cmd.index("-o") + 1]
    assert "-c listen_addresses=127.0.0.1" in options
    assert "-p 55432" in options
    assert "-w" in cmd


def test_stop_is_fast_mode() -> None:
    cmd = pc.pg_ctl_stop_command(Path("/pg/bin"), Path("/d"))
    assert cmd[:4] == ["/pg/bin/pg_ctl", "stop", "-D", "/d"]
    assert cmd[cmd.index("-m") + 1] == "fast"


@pytest.mark.parametrize(("text", "pid"), [("123\n/d\n", 123), ("", None), ("garbage\n", None)])
def test_postmaster_pid_file_parsing(text: str, pid: int | None) -> None:
    assert pc.parse_postmaster_pid(text) == pid
