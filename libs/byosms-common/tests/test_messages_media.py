"""The outbound send command's media URLs: at most 10, each an https URL Twilio can fetch.

The command itself takes any strings, so that a send with unusable media gets its one result
(``sms.outbound_failed`` with ``message_media_invalid``, see routing's send checks) instead of being
dead-lettered as malformed; these are the rules that check applies."""

from __future__ import annotations

import pytest

from byosms_common.messages import MAX_MEDIA_URLS, SendMessagePayload, are_sendable_media_urls, is_sendable_media_url

pytestmark = pytest.mark.unit


def payload(*media: str) -> SendMessagePayload:
    return SendMessagePayload.model_validate(
        {"from": "+4930123456", "to": "+4915112345678", "body": "", "media_urls": media}
    )


def test_up_to_ten_https_urls_are_sendable_and_kept_in_order() -> None:
    urls = tuple(f"https://cdn.example.com/{n}.jpg?sig=a%20b" for n in range(MAX_MEDIA_URLS))
    assert payload(*urls).media_urls == urls
    assert are_sendable_media_urls(urls)
    assert are_sendable_media_urls(())


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.com/a.jpg",
        "ftp://cdn.example.com/a.jpg",
        "https:///a.jpg",
        "https://user:pw@cdn.example.com/a.jpg",
        "https://cdn.example.com:99999/a.jpg",
        "https://cdn.example.com/a b.jpg",
        "https://cdn.example.com/a\n.jpg",
        "cdn.example.com/a.jpg",
        "https://cdn.example.com/" + "a" * 2000,
    ],
)
def test_other_urls_are_not_sendable_but_the_command_still_reads(url: str) -> None:
    assert not is_sendable_media_url(url)
    assert not are_sendable_media_urls(("https://cdn.example.com/ok.jpg", url))
    assert payload(url).media_urls == (url,)


def test_eleven_urls_are_not_sendable() -> None:
    assert not are_sendable_media_urls([f"https://cdn.example.com/{n}.jpg" for n in range(MAX_MEDIA_URLS + 1)])
