"""The outbound send command's media URLs: at most 10, each an https URL Twilio can fetch."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from byosms_common.messages import MAX_MEDIA_URLS, SendMessagePayload

pytestmark = pytest.mark.unit


def payload(*media: str) -> SendMessagePayload:
    return SendMessagePayload.model_validate(
        {"from": "+4930123456", "to": "+4915112345678", "body": "", "media_urls": media}
    )


def test_up_to_ten_https_urls_are_taken_in_order() -> None:
    urls = tuple(f"https://cdn.example.com/{n}.jpg?sig=a%20b" for n in range(MAX_MEDIA_URLS))
    assert payload(*urls).media_urls == urls
    assert payload().media_urls == ()


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
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        payload(url)
    assert refused.value.errors()[0]["loc"][:1] == ("media_urls",)


def test_eleven_urls_are_refused() -> None:
    with pytest.raises(ValidationError):
        payload(*(f"https://cdn.example.com/{n}.jpg" for n in range(MAX_MEDIA_URLS + 1)))
