"""The admin console in a real browser (Debian's Chromium driven by Playwright) against the running
system: every service as its own process, the console a client of the admin API only.

The seed's walk goes through every screen: integrations, credentials, imports, the inventory list
(state, filters, paging), a number's queue, a message's trace, removing a number, deactivating and
deleting the integration. With ``BYOSMS_CONSOLE_SCREENSHOTS=<folder>`` the flow test saves the main screens there
(``make console-screenshots`` writes ``docs/console/``)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from byosms_cli.devkeys import mint_token
from byosms_common import messages as m
from byosms_common import topics
from byosms_common.errors import render
from byosms_common.testing import free_port
from byosms_devstack.demo import PERMISSIONS, Endpoints

pytestmark = pytest.mark.e2e
# The machine may be busy: a step may take longer than the 5 s Playwright waits by default.
expect.set_options(timeout=30_000)

CHROMIUM = "/usr/bin/chromium"
BIN = Path(sys.executable).parent
SCREENSHOTS = os.environ.get("BYOSMS_CONSOLE_SCREENSHOTS")  # a folder: the flow test saves the main screens there


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback URLs the tests built
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@contextmanager
def running_console(endpoints: Endpoints, private_key: bytes, folder: Path) -> Iterator[str]:
    """The console as its own process, a client of the system's admin API; yields its URL."""
    key_file = folder / "console-dev-key.pem"
    key_file.write_bytes(private_key)
    key_file.chmod(0o600)
    port = free_port()
    env = {
        **os.environ,
        "BYOSMS_CONSOLE_PORT": str(port),
        "BYOSMS_CONSOLE_API_URL": endpoints.provisioning_url,
        "BYOSMS_CONSOLE_DEV_LOGIN_KEY_FILE": str(key_file),
        "BYOSMS_CONSOLE_IMPORT_POLL_INTERVAL_MS": "200",
    }
    log_path = folder / "console.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "byosms-console")], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"console exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):  # noqa: S310
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise AssertionError("console not ready in 30 s") from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright never downloads a browser here."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Page, name: str) -> None:
    """Save the screen as docs/console/<name>.png when screenshots are asked for."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@dataclass
class Tenant:
    """A tenant's Twilio subaccount in the emulator, and its organization in byosms."""

    endpoints: Endpoints
    private_key: bytes
    organization_id: str
    account_sid: str
    auth_token: str

    @classmethod
    def new(cls, endpoints: Endpoints, private_key: bytes) -> Tenant:
        auth_token = secrets.token_hex(16)
        status, body = http("POST", endpoints.emulator_url + "/_emulator/accounts", {"auth_token": auth_token})
        assert status == 201, body
        return cls(endpoints, private_key, f"console-org-{uuid.uuid4().hex[:8]}", body["sid"], auth_token)

    def number(self, *, sms_url: str | None = None) -> str:
        """A German landline number in the account, its SMS webhook at the region's ingress unless given."""
        number = "+49301" + f"{secrets.randbelow(10**7):07d}"
        seed = {
            "account_sid": self.account_sid,
            "phone_number": number,
            "sms_url": sms_url or self.endpoints.inbound_url,
        }
        status, body = http("POST", self.endpoints.emulator_url + "/_emulator/phone-numbers", seed)
        assert status == 201, body
        return number

    def short_code(self) -> str:
        code = f"{secrets.randbelow(90000) + 10000}"
        seed = {"account_sid": self.account_sid, "short_code": code, "sms_url": self.endpoints.inbound_url}
        status, body = http("POST", self.endpoints.emulator_url + "/_emulator/short-codes", seed)
        assert status == 201, body
        return code

    def slow_number_lookups(self, seconds: float) -> None:
        fault = {
            "path_contains": self.account_sid + "/IncomingPhoneNumbers",
            "latency_ms": int(seconds * 1000),
            "count": 1,
        }
        status, body = http("POST", self.endpoints.emulator_url + "/_emulator/faults", fault)
        assert status in (200, 201), body

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = mint_token(
            self.private_key, organization_id=self.organization_id, permissions=PERMISSIONS, subject="setup"
        )
        return http(method, self.endpoints.provisioning_url + path, body, {"Authorization": f"Bearer {token}"})

    def integration(self, name: str, *, active: bool = True) -> str:
        """An integration made through the API (for tests whose subject is another screen)."""
        status, body = self.api("POST", "/api/v2/integrations", {"name": name, "region": self.endpoints.region})
        assert status == 201, body
        integration_id = str(body["id"])
        credentials = {"account_sid": self.account_sid, "auth_token": self.auth_token}
        status, body = self.api("PUT", f"/api/v2/integrations/{integration_id}/credentials", credentials)
        assert status == 200, body
        if active:
            status, body = self.api("POST", f"/api/v2/integrations/{integration_id}/activate")
            assert status == 200, body
        return integration_id

    def import_number(self, integration_id: str, number: str) -> dict[str, Any]:
        request = {"integration_id": integration_id, "type": "local", "sender_id": number}
        status, body = self.api("POST", "/api/v2/sms/numbers/imports", request)
        assert status == 202, body
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, view = self.api("GET", f"/api/v2/sms/numbers/imports/{body['id']}")
            if view["state"] != "in_progress":
                return dict(view)
            time.sleep(0.2)
        raise AssertionError("import did not finish in 30 s")


def sign_in(page: Page, console: str, organization: str, permissions: tuple[str, ...] | None = None) -> None:
    """The development login: an organization and the permissions ticked (all seed permissions by default)."""
    page.goto(console + "/login")
    page.get_by_label("Organization").or_(page.get_by_label("Organisation")).fill(organization)
    if permissions is not None:
        for box in page.locator("input[name=permission]").all():
            box.set_checked(box.get_attribute("value") in permissions)
    page.locator("#dev-login").click()
    page.wait_for_url("**/integrations")


# ---------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console(system: tuple[Endpoints, bytes], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    endpoints, private_key = system
    with running_console(endpoints, private_key, tmp_path_factory.mktemp("console")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def _page(browser: Browser, locale: str) -> Iterator[Page]:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, "en-US")


@pytest.fixture
def page_de(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, "de-DE")


def alert_text_of(page: Page) -> str:
    """The text of the page's alert (outside a dialog)."""
    alert = page.locator("[role=alert]").first
    expect(alert).to_be_visible()
    return alert.inner_text().strip()


def alert_text(page: Page) -> str:
    alert = page.locator("dialog [role=alert]").first
    expect(alert).to_be_visible()
    return alert.inner_text().strip()


def open_import(page: Page, console: str) -> None:
    page.goto(console + "/numbers")
    page.locator("#add-numbers").click()
    page.locator("#import-link").click()
    expect(page.locator("#import-dialog")).to_be_visible()


def import_details(page: Page, integration: str, kind: str, sender_id: str, country: str | None = None) -> None:
    page.locator("#integration_id").select_option(integration)
    page.locator("#type").select_option(kind)
    if country is not None:
        page.locator("#country").select_option(country)
    page.locator("#sender_id").fill(sender_id)
    page.locator("#import-next").click()


def row(page: Page, address: str) -> Locator:
    """The inventory list's row of ``address``."""
    return page.locator(f"#numbers tr[data-address='{address}']")


def reload_until(page: Page, url: str, check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Open ``url`` again until ``check`` holds: the list is a read model, a change shows a moment later."""
    deadline = time.monotonic() + within
    while True:
        page.goto(url)
        if check():
            return
        assert time.monotonic() < deadline, f"not in {within:.0f} s: {what}"
        time.sleep(0.5)


def listed_as(page: Page, address: str, state: str) -> bool:
    found = row(page, address)
    return found.count() == 1 and found.locator(".badge").inner_text().strip() == state


def routed_message(tenant: Tenant, number: str, queue: str, within: float = 60.0) -> str:
    """The MessageSid of a customer's text to ``number`` that routing sent to ``queue``. Texts go
    through the emulator (a signed webhook) and the ingress; the number's new queue reaches routing
    on its own path, so an early text may still be decided on the old state: text again."""
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    emulator = tenant.endpoints.emulator_url + "/_emulator/inbound"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status, sent = http("POST", emulator, {"from": customer, "to": number, "body": "Hallo, eine Frage"})
        assert (status, sent["status"]) == (200, 200), sent
        sid = str(sent["message_sid"])
        decided = time.monotonic() + 10
        while time.monotonic() < decided:
            status, trace = tenant.api("GET", f"/api/v2/sms/messages/{sid}")
            decisions = [s for s in (trace or {}).get("steps", []) if s["step"] in ("routed", "discarded")]
            if status == 200 and decisions:
                if decisions[0]["step"] == "routed" and decisions[0]["target"] == queue:
                    return sid
                break
            time.sleep(0.3)
    raise AssertionError(f"no text to {number} routed to {queue} in {within:.0f} s")


def confirm_import(page: Page) -> None:
    expect(page.locator("#import-dialog-title")).to_have_text(re.compile("Confirm the import|Import bestätigen"))
    page.locator("#import-confirm").click()


# ---------------------------------------------------------------------------------------------------
# The seed's walk
# ---------------------------------------------------------------------------------------------------


def test_connect_a_twilio_account_import_numbers_deactivate_and_delete(
    system: tuple[Endpoints, bytes], console: str, page: Page, browser: Browser
) -> None:
    endpoints, private_key = system
    tenant = Tenant.new(endpoints, private_key)
    sign_in(page, console, tenant.organization_id)
    expect(page.get_by_role("heading", name="Bring Your Own Twilio SMS Account Configuration")).to_be_visible()
    shoot(page, "01-integrations")

    # Install: the Details tab with name, notes and region.
    page.locator("#install").click()
    page.get_by_label("Name").fill("Acme EU Twilio")
    page.get_by_label("Notes").fill("Subaccount Acme-EU")
    page.get_by_label("Region").select_option(endpoints.region)
    shoot(page, "02-install-details")
    page.locator("#save").click()
    expect(page.get_by_role("status")).to_have_text("The integration was created.")
    expect(page.locator("#status-badge")).to_have_text("Inactive")
    integration_url = page.url.split("?")[0]

    # Activating without credentials: the API's reason, in the page.
    page.locator("#activate").click()
    expect(page.get_by_role("alert")).to_have_text(render("integration_no_credentials", "en"))

    # Configuration: the region's webhook URL with a copy button, and the 10DLC hint.
    page.get_by_role("link", name="Configuration").click()
    expect(page.get_by_label("Inbound webhook URL")).to_have_value(endpoints.inbound_url)
    expect(page.locator("#hint-10dlc")).to_contain_text("Defer to sender's webhook")
    page.locator("#copy-webhook").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == endpoints.inbound_url
    shoot(page, "03-configuration")

    # Credentials: a wrong token is refused with Twilio's reason; the right one is checked and kept secret.
    page.get_by_role("link", name="Credentials").click()
    page.locator("#configure").click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    page.get_by_label("Account SID").fill(tenant.account_sid)
    page.get_by_label("Auth Token").fill("0" * 32)
    shoot(page, "04-credentials-dialog")
    page.locator("#credentials-ok").click()
    assert alert_text(page) == render("credentials_rejected", "en")
    expect(page.get_by_label("Auth Token")).to_have_value("")
    page.get_by_label("Auth Token").fill(tenant.auth_token)
    page.locator("#credentials-ok").click()
    expect(page.get_by_role("status")).to_have_text("The credentials were checked with Twilio and saved.")
    expect(page.locator("#token-state")).to_have_text("Set (never shown again)")
    expect(page.locator("#account-sid")).to_have_text(tenant.account_sid)
    assert tenant.auth_token not in page.content()

    # Status: Active.
    page.get_by_role("link", name="Details").click()
    page.locator("#activate").click()
    expect(page.locator("#status-badge")).to_have_text("Active")
    # The integration's default queue, for its numbers without one of their own.
    page.get_by_label("Default queue of its numbers").fill("queue-acme-default")
    page.locator("#save").click()
    expect(page.get_by_role("status")).to_have_text("The changes were saved.")
    expect(page.get_by_label("Default queue of its numbers")).to_have_value("queue-acme-default")
    shoot(page, "05-details-active")

    # SMS Number Inventory: Add numbers -> Import, a local number.
    number = tenant.number()
    open_import(page, console)
    shoot(page, "06-import-dialog")
    import_details(page, "Acme EU Twilio", "local", number)
    confirm_import(page)
    expect(page.locator("#toast")).to_have_text(f"The number import was successful: {number}")
    shoot(page, "08-import-toast")

    # A short code with the three compliance tabs.
    code = tenant.short_code()
    open_import(page, console)
    import_details(page, "Acme EU Twilio", "shortcode", code, country="DE")
    expect(page.locator("#import-dialog-title")).to_have_text("Required interaction")
    blocks = {
        "help": ("HELP, INFO", "Acme: help at acme.example"),
        "opt_out": ("STOP", "You are unsubscribed."),
        "re_opt_in": ("START", "You are subscribed again."),
    }
    for block, (keywords, message) in blocks.items():
        page.locator(f"#tab-{block}").click()
        expect(page.locator(f"#panel-{block}")).to_be_visible()
        page.locator(f"#{block}_keywords").fill(keywords)
        page.locator(f"#{block}_message").fill(message)
        if block == "help":
            shoot(page, "07-import-compliance")
    page.locator("#import-next").click()
    confirm_import(page)
    expect(page.locator("#toast")).to_have_text(f"The number import was successful: DE:{code}")

    # The inventory lists both numbers, active, with their integration and the import that added them.
    numbers_url = console + "/numbers"
    short = f"DE:{code}"
    reload_until(
        page,
        numbers_url,
        lambda: listed_as(page, number, "Active") and listed_as(page, short, "Active"),
        "both numbers listed active",
    )
    expect(row(page, number)).to_contain_text("Acme EU Twilio")
    expect(row(page, number).locator(".last-action")).to_have_text("Import: completed")
    # Filters and paging: the shortcodes alone; one number a page, the other on the next.
    page.locator("#f-type").select_option("shortcode")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#numbers tbody tr")).to_have_count(1)
    expect(row(page, short)).to_be_visible()
    page.goto(numbers_url + "?limit=1")
    expect(page.locator("#numbers tbody tr")).to_have_count(1)
    first = page.locator("#numbers tbody tr").get_attribute("data-address")
    page.locator("#next-page").click()
    expect(page.locator("#numbers tbody tr")).to_have_count(1)
    assert {first, page.locator("#numbers tbody tr").get_attribute("data-address")} == {number, short}

    # A queue for the local number: saved, and seen on the list; a dialog opened before it is stale.
    page.goto(numbers_url)
    stale = page.context.new_page()
    stale.goto(numbers_url)
    row(stale, number).get_by_role("link", name="Set queue").click()
    expect(stale.locator("#queue-dialog")).to_be_visible()
    row(page, number).get_by_role("link", name="Set queue").click()
    expect(page.locator("#queue-dialog")).to_be_visible()
    page.get_by_label("Queue or inbound flow id").fill("queue-support-de")
    shoot(page, "14-queue-dialog")
    page.locator("#save-queue").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile("The number's queue was saved.|The queue change is being carried out")
    )
    reload_until(
        page,
        numbers_url,
        lambda: row(page, number).locator(".queue").inner_text().strip() == "queue-support-de",
        "the queue on the list",
    )
    # The short code has no queue of its own: the integration's default applies.
    expect(row(page, short).locator(".queue")).to_have_text("queue-acme-default (integration's default)")
    shoot(page, "15-inventory-list")
    stale.get_by_label("Queue or inbound flow id").fill("queue-late")
    stale.locator("#save-queue").click()
    assert alert_text(stale) == render("version_conflict", "en")
    stale.close()

    # A customer's text to it, looked up by its MessageSid: received by the region's ingress, routed to the queue.
    sid = routed_message(tenant, number, "queue-support-de")
    page.get_by_role("link", name="Message trace").click()
    page.get_by_label("MessageSid").fill(sid)
    page.locator("#trace-lookup").click()
    expect(page.locator("#trace-direction")).to_have_text("Inbound")
    steps = page.locator("#trace-steps tbody tr")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("Received by the ingress")
    expect(steps.nth(0)).to_contain_text(endpoints.region)
    expect(steps.nth(1)).to_contain_text("Routed")
    expect(steps.nth(1)).to_contain_text("queue-support-de")
    shoot(page, "16-message-trace")
    # Another organization does not see it.
    outsiders = _page(browser, "en-US")
    outsider = next(outsiders)
    sign_in(outsider, console, f"console-org-{uuid.uuid4().hex[:8]}")
    outsider.goto(console + "/messages?sid=" + sid)
    assert alert_text_of(outsider) == render("not_found", "en")
    next(outsiders, None)

    # The short code removed: asked, then gone from the list.
    page.goto(numbers_url)
    row(page, short).get_by_role("link", name="Remove").click()
    expect(page.locator("#remove-dialog")).to_contain_text(f"{short} is removed from the SMS number inventory")
    page.locator("#confirm-remove").click()
    expect(page.get_by_role("status")).to_have_text("The number is being removed from the inventory.")
    reload_until(page, numbers_url, lambda: row(page, short).count() == 0, "the removed number gone from the list")
    expect(row(page, number)).to_be_visible()

    # Deactivate, with the seed's warning; the number is listed inactive.
    page.goto(integration_url)
    page.locator("#deactivate").click()
    expect(page.locator("#dialog")).to_contain_text("inbound messages that Twilio sends meanwhile are discarded")
    shoot(page, "09-deactivate-dialog")
    page.locator("#confirm-deactivate").click()
    expect(page.locator("#status-badge")).to_have_text("Inactive")
    reload_until(page, numbers_url, lambda: listed_as(page, number, "Inactive"), "the number listed inactive")
    page.goto(integration_url)

    # Delete, with the seed's warning; the integration is gone from the list.
    page.locator("#delete").click()
    expect(page.locator("#dialog")).to_contain_text("whatever inbound flows or queues still use them")
    shoot(page, "10-delete-dialog")
    page.locator("#confirm-delete").click()
    expect(page.get_by_role("status")).to_have_text("The integration was deleted.")
    expect(page.get_by_text("Acme EU Twilio")).to_have_count(0)
    # Its numbers are gone from the inventory, although a queue still pointed at one.
    reload_until(page, numbers_url, lambda: page.locator("#numbers").count() == 0, "the numbers gone")
    expect(page.locator(".empty")).to_have_text("No numbers match.")
    # The numbers went with it: the address is free again (for any organization).
    other = Tenant.new(endpoints, private_key)
    seed = {"account_sid": other.account_sid, "phone_number": number, "sms_url": endpoints.inbound_url}
    assert http("POST", endpoints.emulator_url + "/_emulator/phone-numbers", seed)[0] == 201
    other_integration = other.integration("Other")
    deadline = time.monotonic() + 30
    while (view := other.import_number(other_integration, number))["state"] != "imported":
        assert view["error"]["code"] == "number_not_available", view
        assert time.monotonic() < deadline, view
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------------
# The seed's errors, as the import dialog shows them, in English and German
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_each_seed_error_the_import_dialog_can_reach_in_the_users_language(
    system: tuple[Endpoints, bytes], console: str, browser: Browser, language: str
) -> None:
    endpoints, private_key = system
    # German from the browser's language (de-DE), English from en-US: no switch involved.
    pages = _page(browser, "de-DE" if language == "de" else "en-US")
    page = next(pages)
    try:
        tenant = Tenant.new(endpoints, private_key)
        tenant.integration("Main")
        tenant.integration("Paused", active=False)
        sign_in(page, console, tenant.organization_id)
        expect(page.locator("h1")).to_have_text("Integrationen" if language == "de" else "Integrations")

        def rejected(code: str, **params: str) -> None:
            confirm_import(page)
            assert alert_text(page) == render(code, language, **params), code  # type: ignore[arg-type]

        # Please check the integration for BYO Sender ID: the integration is not active.
        open_import(page, console)
        import_details(page, "Paused (inaktiv)" if language == "de" else "Paused (inactive)", "local", tenant.number())
        rejected("integration_sender_id_invalid")
        if language == "en":
            shoot(page, "11-import-error")

        # Please check your sender ID type: not E.164; a shortcode of seven digits.
        open_import(page, console)
        import_details(page, "Main", "local", "030 1234567")
        rejected("sender_id_type_invalid")
        open_import(page, console)
        import_details(page, "Main", "shortcode", "1234567", country="DE")
        page.locator("#import-next").click()  # the compliance tabs, left empty
        rejected("sender_id_type_invalid")

        # Please check your sender ID's country code: a number of no country; a shortcode without one.
        open_import(page, console)
        import_details(page, "Main", "tollfree", "+80012345678")
        rejected("sender_id_country_mismatch")
        open_import(page, console)
        import_details(page, "Main", "shortcode", tenant.short_code())
        page.locator("#import-next").click()
        rejected("sender_id_country_mismatch")

        # Please provide the required compliance keywords and messages: the Re Opt-in tab left empty.
        open_import(page, console)
        import_details(page, "Main", "shortcode", tenant.short_code(), country="DE")
        for block in ("help", "opt_out"):
            page.locator(f"#tab-{block}").click()
            page.locator(f"#{block}_keywords").fill(block.upper())
            page.locator(f"#{block}_message").fill("Reply text")
        page.locator("#import-next").click()
        rejected("compliance_missing")

        # This phone number can't be found at the vendor: not in the Twilio account.
        open_import(page, console)
        import_details(page, "Main", "local", "+49301" + f"{secrets.randbelow(10**7):07d}")
        rejected("number_not_found_at_vendor")

        # The seed's warning: a number whose webhook is not the region's URL is refused.
        open_import(page, console)
        import_details(page, "Main", "local", tenant.number(sms_url="https://example.com/sms"))
        rejected("webhook_not_configured", expected_url=endpoints.inbound_url)

        # This phone number address is not available: another organization has it.
        rival = Tenant.new(endpoints, private_key)
        taken = rival.number()
        assert rival.import_number(rival.integration("Rival"), taken)["state"] == "imported"
        open_import(page, console)
        import_details(page, "Main", "local", taken)
        rejected("number_not_available")

        # The same number submitted again from a second tab while Twilio is slow to answer the first:
        # imports of one address are handled one after the other (one Kafka key), so the second one
        # waits and finds the number imported. "A provisioning action is already in progress" cannot
        # be reached this way; the provisioning tests cover it (tests/test_import_claims.py).
        slow = tenant.number()
        tenant.slow_number_lookups(3.0)
        open_import(page, console)
        import_details(page, "Main", "local", slow)
        confirm_import(page)
        expect(page.locator("#import-progress")).to_be_visible()
        if language == "en":
            shoot(page, "12-import-progress")
        second = page.context.new_page()
        open_import(second, console)
        import_details(second, "Main", "local", slow)
        confirm_import(second)
        assert alert_text(second) == render("number_already_imported", language)  # type: ignore[arg-type]
        # The first import ends well after all, and its toast says so.
        expect(page.locator("#toast")).to_contain_text(slow, timeout=30_000)
    finally:
        next(pages, None)


# ---------------------------------------------------------------------------------------------------
# Permissions, language switch, accessibility
# ---------------------------------------------------------------------------------------------------


def test_controls_the_user_lacks_the_permission_for_are_disabled_with_the_reason(
    system: tuple[Endpoints, bytes], console: str, page: Page
) -> None:
    endpoints, private_key = system
    tenant = Tenant.new(endpoints, private_key)
    tenant.integration("Read only")
    sign_in(page, console, tenant.organization_id, permissions=("integrations:integration:view",))
    expect(page.locator("#install")).to_be_disabled()
    expect(page.locator("#install-reason")).to_have_text("You lack the permission integrations:integration:add.")
    shoot(page, "13-read-only")
    page.get_by_role("link", name="Read only").click()
    expect(page.locator("#deactivate")).to_be_disabled()
    expect(page.locator("#deactivate-reason")).to_have_text("You lack the permission integrations:integration:edit.")
    expect(page.locator("#delete-reason")).to_have_text("You lack the permission integrations:integration:delete.")
    page.get_by_role("link", name="Credentials").click()
    expect(page.locator("#configure")).to_be_disabled()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("#wh-status")).to_have_text("No numbers")
    expect(page.locator("#switch-mode")).to_be_disabled()
    expect(page.locator("#observe_hours")).to_be_disabled()
    expect(page.locator("#switch-mode-reason")).to_have_text("You lack the permission integrations:integration:edit.")
    # Posted anyway, the API refuses it and the tab says why in its words; the mode stays.
    status, text = page.evaluate(
        """async () => { const r = await fetch(location.pathname + '/signature-mode', {method: 'POST',
               body: new URLSearchParams({mode: 'observe', observe_hours: '4'})});
               return [r.status, await r.text()]; }"""
    )
    assert status == 403
    assert '<div class="alert" role="alert">' in text
    assert "You lack the permission integrations:integration:edit." in text.split('role="alert"')[1]
    page.reload()
    expect(page.locator("#wh-mode")).to_have_text("Enforce")
    page.goto(console + "/numbers")
    expect(page.locator("#add-numbers")).to_be_disabled()
    expect(page.locator("#add-numbers-reason")).to_have_text("You lack the permission sms:phoneNumber:byoImport.")
    expect(page.locator("#list-reason")).to_have_text("You lack the permission sms:phoneNumber:view.")

    # The language switch: German, kept across pages, and back.
    page.get_by_role("link", name="Deutsch").click()
    expect(page.locator("h1")).to_have_text("SMS-Nummernbestand")
    expect(page.locator("#add-numbers-reason")).to_have_text("Ihnen fehlt die Berechtigung sms:phoneNumber:byoImport.")
    page.get_by_role("link", name="Nachrichtenverlauf").click()
    expect(page.locator("#trace-reason")).to_have_text("Ihnen fehlt die Berechtigung sms:phoneNumber:view.")
    page.get_by_role("link", name="Integrationen").click()
    expect(page.locator("#install-reason")).to_have_text("Ihnen fehlt die Berechtigung integrations:integration:add.")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Integrations")

    # The API decides, not the page: a form posted anyway is refused with the API's words.
    status = page.evaluate(
        """async () => (await fetch('/integrations/new', {method: 'POST', body: new URLSearchParams(
               {name: 'x', notes: '', region: 'eu-central-1'})})).status"""
    )
    assert status == 403


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')).filter(e => !e.closest('[hidden]'))
    .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.outerHTML)"""


def test_dialogs_are_labelled_and_work_from_the_keyboard(
    system: tuple[Endpoints, bytes], console: str, page: Page
) -> None:
    endpoints, private_key = system
    tenant = Tenant.new(endpoints, private_key)
    integration_id = tenant.integration("Keyboard")
    sign_in(page, console, tenant.organization_id)
    for path in (
        "/login",
        "/integrations",
        "/integrations/new",
        f"/integrations/{integration_id}?tab=details",
        f"/integrations/{integration_id}/credentials",
        "/numbers/import",
        "/messages",
    ):
        page.goto(console + path)
        assert page.evaluate(UNLABELLED) == [], path

    # The credentials dialog is modal: focus stays inside it, Escape leaves it for the Credentials tab.
    page.goto(console + f"/integrations/{integration_id}?tab=credentials")
    page.locator("#configure").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    inside = "() => document.getElementById('dialog').contains(document.activeElement)"
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    page.keyboard.press("Escape")
    page.wait_for_url(f"**/integrations/{integration_id}?tab=credentials")

    # The import dialog from the keyboard alone, compliance tabs switched with the arrow keys.
    page.goto(console + "/numbers")
    page.locator("#add-numbers").focus()
    page.keyboard.press("Enter")
    page.locator("#import-link").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#import-dialog")).to_be_visible()
    page.locator("#integration_id").focus()
    page.keyboard.press("ArrowDown")  # the first integration
    page.keyboard.press("Tab")
    page.keyboard.type("Shortcode")
    page.keyboard.press("Tab")
    expect(page.locator("#country")).to_be_focused()  # shown for a shortcode
    page.keyboard.type("Germany")
    page.keyboard.press("Tab")
    page.keyboard.type("12345")
    page.keyboard.press("Enter")
    expect(page.locator("#import-dialog-title")).to_have_text("Required interaction")
    page.locator("#tab-help").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-opt_out")).to_be_focused()
    expect(page.locator("#panel-opt_out")).to_be_visible()
    expect(page.locator("#panel-help")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.locator("#tab-re_opt_in")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    page.wait_for_url("**/numbers")


def test_a_form_posted_from_another_site_is_refused(system: tuple[Endpoints, bytes], console: str) -> None:
    endpoints, private_key = system
    tenant = Tenant.new(endpoints, private_key)
    number = tenant.number()
    assert tenant.import_number(tenant.integration("Cross-site"), number)["state"] == "imported"
    status, listed = tenant.api("GET", "/api/v2/sms/numbers")
    assert status == 200
    (entry,) = listed["items"]
    token = mint_token(private_key, organization_id=tenant.organization_id, permissions=PERMISSIONS, subject="ann")
    request = urllib.request.Request(  # noqa: S310 - the console's loopback URL
        f"{console}/numbers/{entry['id']}/remove",
        data=b"",
        method="POST",
        headers={"Origin": "https://evil.example", "Cookie": f"byosms_console_token={token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    refused.value.close()
    assert refused.value.code == 403
    status, kept = tenant.api("GET", f"/api/v2/sms/numbers/{entry['id']}")
    assert (status, kept["state"], kept["latest_action"]["kind"]) == (200, "active", "import")


# ---------------------------------------------------------------------------------------------------
# Webhook health, signature mode and Auth Token rotation (issue 14) on the Webhooks tab
# ---------------------------------------------------------------------------------------------------


async def publish_routed(endpoints: Endpoints, tenant: Tenant, integration_id: str, number: str, sid: str) -> None:
    """A message routed after routing's recovery job replayed it, as routing publishes it."""
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    now = datetime.now(UTC)
    routed = m.InboundMessageRouted(
        organization_id=tenant.organization_id,
        payload=m.RoutedMessagePayload(
            message_sid=sid,
            integration_id=integration_id,
            from_=customer,
            to=number,
            body="Hallo",
            queue="q-1",
            region=endpoints.region,
            received_at=now,
            spooled=False,
            recovered=True,
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.MESSAGE_EVENTS.name, m.encode(routed), key=f"{number}|{customer}".encode())
    finally:
        await producer.stop()


def test_the_webhooks_tab_shows_a_misconfigured_number_and_switches_the_signature_mode(
    system: tuple[Endpoints, bytes], console: str, page: Page
) -> None:
    endpoints, private_key = system
    tenant = Tenant.new(endpoints, private_key)
    integration_id = tenant.integration("Webhooks EU")
    good, bad, fixed = tenant.number(), tenant.number(), tenant.number()
    ids = {}
    for number in (good, bad, fixed):
        imported = tenant.import_number(integration_id, number)
        assert imported["state"] == "imported", imported
        ids[number] = imported["id"]
    # Changed in the Twilio Console after the import: Twilio now delivers their SMS elsewhere.
    elsewhere = "https://other-vendor.example/twilio/sms"
    for number in (bad, fixed):
        status, body = http(
            "PATCH", endpoints.emulator_url + "/_emulator/console/phone-numbers/" + number, {"sms_url": elsewhere}
        )
        assert status == 200, body

    def until_known(path: str, body: Any = None) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while (answer := tenant.api("POST", path, body))[0] == 404:
            assert time.monotonic() < deadline, answer  # the number reaches the read model a moment after import
            time.sleep(0.3)
        assert answer[0] == 200, answer
        return dict(answer[1])

    assert until_known(f"/api/v2/sms/numbers/{ids[bad]}/webhook:check")["webhook"]["status"] == "drifted"
    assert until_known(f"/api/v2/sms/numbers/{ids[fixed]}/webhook:repair", {})["webhook"]["status"] == "ok"
    # A rotation: the tenant gives byosms the account's secondary token first.
    basic = "Basic " + base64.b64encode(f"{tenant.account_sid}:{tenant.auth_token}".encode()).decode()
    status, body = http("POST", endpoints.emulator_url + "/v1/AuthTokens/Secondary", None, {"Authorization": basic})
    assert status in (200, 201), body
    secondary = str(body["secondary_auth_token"])
    path = f"/api/v2/integrations/{integration_id}/auth-token-rotation"
    status, body = tenant.api("POST", path, {"auth_token": secondary})
    assert status == 200, body

    # Routing's recovery job found a message in Twilio's list whose webhook never came, and routed it.
    recovered_sid = "SM" + uuid.uuid4().hex
    with ThreadPoolExecutor(1) as aside:  # Playwright's sync API holds this thread's event loop
        aside.submit(asyncio.run, publish_routed(endpoints, tenant, integration_id, good, recovered_sid)).result()

    sign_in(page, console, tenant.organization_id)
    url = f"{console}/integrations/{integration_id}?tab=webhooks"
    drifted_row = page.locator(f"#wh-drifted tr[data-address='{bad}']")
    reload_until(
        page,
        url,
        lambda: drifted_row.count() == 1 and "3 numbers" in page.locator("#wh-counts").inner_text(),
        "the three numbers, the bad one misconfigured",
    )
    expect(page.locator("#wh-status")).to_have_text("Misconfigured")
    expect(page.locator("#wh-counts")).to_have_text("3 numbers: 2 correct, 1 misconfigured, 0 not checked yet.")
    expect(page.locator("#wh-checked")).to_have_text(re.compile(r"Last checked: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    expect(drifted_row).to_contain_text(f"The number's SMS webhook must point at {endpoints.inbound_url};")
    expect(drifted_row).to_contain_text(f"Twilio delivers its SMS to {elsewhere} now.")
    expect(page.locator(f"#wh-drifted tr[data-address='{good}']")).to_have_count(0)
    expect(page.locator("#wh-signatures")).to_contain_text("No webhook failed signature validation")
    expect(page.locator("#wh-mode")).to_have_text("Enforce")
    expect(page.locator("#wh-rotation")).to_have_text(
        re.compile(r"A second token is pending since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: .* until \d{4}-")
    )
    assert secondary not in page.content()  # never the token itself
    repaired = page.locator("#wh-repairs tbody tr")
    expect(repaired).to_have_count(1)
    expect(repaired).to_contain_text(fixed)
    expect(repaired).to_contain_text(f"SmsUrl: {elsewhere} → {endpoints.inbound_url}")
    expect(repaired).to_contain_text("Applied")
    reload_until(page, url, lambda: page.locator("#wh-recovered").count() == 1, "the recovered message")
    expect(page.locator("#wh-recovered-count")).to_have_text(
        "Inbound messages whose webhook never came, found in Twilio's message list and replayed: 1."
    )
    recovered_row = page.locator("#wh-recovered tbody tr")
    expect(recovered_row).to_contain_text(recovered_sid)
    expect(recovered_row).to_contain_text("Routed")
    expect(recovered_row.locator("a")).to_have_attribute("href", f"/messages?sid={recovered_sid}")
    shoot(page, "17-webhooks-enforce")

    expect(page.locator("#observe_hours")).to_have_value("24")
    page.locator("#observe_hours").select_option("4")
    page.locator("#switch-mode").click()
    expect(page.locator(".toast")).to_contain_text("Signature mode: observe")
    expect(page.locator("#wh-mode")).to_have_text("Observe")
    expect(page.locator("#switch-mode")).to_have_text("Switch to enforce")
    view = tenant.api("GET", f"/api/v2/integrations/{integration_id}")[1]
    assert view["signature_mode"] == "observe"
    until = datetime.fromisoformat(view["signature_mode_expires_at"])
    assert timedelta(hours=3, minutes=58) < until - datetime.now(UTC) <= timedelta(hours=4)
    expect(page.locator("#wh-mode-until")).to_have_text(
        f"until {until.strftime('%Y-%m-%d %H:%M:%S')} UTC, then enforce again by itself"
    )
    shoot(page, "18-webhooks-observe")

    page.locator("#switch-mode").click()
    expect(page.locator("#wh-mode")).to_have_text("Enforce")
    assert tenant.api("GET", f"/api/v2/integrations/{integration_id}")[1]["signature_mode"] == "enforce"

    # The same tab in German, the API's finding in German too.
    page.locator(".languages a[lang=de]").click()
    expect(page.locator("#wh-status")).to_have_text("Fehlkonfiguriert")
    expect(page.locator("#wh-mode")).to_have_text("Erzwingen")
    expect(page.locator("#switch-mode")).to_have_text("Auf Beobachten umschalten")
    expect(drifted_row).to_contain_text(f"Der SMS-Webhook der Nummer muss auf {endpoints.inbound_url} zeigen")
    expect(drifted_row).to_contain_text(f"Twilio stellt ihre SMS jetzt an {elsewhere} zu.")
    shoot(page, "19-webhooks-de")
