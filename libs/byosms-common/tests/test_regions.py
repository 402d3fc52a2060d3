import pytest

from byosms_common.regions import DEFAULT_REGIONS, RegionConfigError, load_regions, region_by_key

pytestmark = pytest.mark.unit


def test_all_fifteen_seed_regions_have_their_ingress_url() -> None:
    assert len(DEFAULT_REGIONS) == 15
    assert (
        DEFAULT_REGIONS["eu-central-1"].inbound_url
        == "https://byosms.mypurecloud.de/vendors/v1/twilio/3d904439dc3f4eceb2e574b43c8f5ac5/mo"
    )
    assert (
        DEFAULT_REGIONS["eu-central-2"].inbound_url
        == "https://byosms.euc2.pure.cloud/vendors/v1/twilio/FhcOBGsMEALrQfWsxH1LQy39tzI3F3qk/mo"
    )


def test_operator_overrides_host_key_and_public_url() -> None:
    regions = load_regions(
        '{"eu-west-1": {"host": "sms.example.ie", "key": "abcdef0123456789", "public_base_url": "http://127.0.0.1:8080"}}'
    )
    region = regions["eu-west-1"]
    assert region.inbound_url == "http://127.0.0.1:8080/vendors/v1/twilio/abcdef0123456789/mo"
    assert region.status_callback_url.endswith("/abcdef0123456789/status")
    assert region_by_key(regions, "abcdef0123456789") == region
    assert region_by_key(regions, "a123cbc6467b48ccbdccc3e03fd30f4d") is None


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["eu-west-1"]', "JSON object"),
        ('{"eu-west-1": {"key": "bad key!"}}', "invalid"),
        ('{"eu-west-1": {"key": "a906d2848ad146028e8805a8bbaa24d3"}}', "share one key"),
    ],
)
def test_invalid_overrides_fail_loudly(overrides: str, fragment: str) -> None:
    with pytest.raises(RegionConfigError, match=fragment):
        load_regions(overrides)
