"""The regions byosms runs in and the public ingress URL of each.

The table is the default configuration (from the product's help article). An operator running
the product under their own domains overrides host, key and public base URL per region with
``BYOSMS_REGIONS_OVERRIDES`` (JSON: ``{"eu-central-1": {"host": "...", "key": "...",
"public_base_url": "https://..."}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Region(BaseModel):
    """One region: where Twilio must post inbound messages for numbers of tenants there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    host: str
    key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    public_base_url: str | None = Field(
        default=None, description="scheme://host[:port] Twilio uses; defaults to https://<host>"
    )

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"https://{self.host}").rstrip("/")

    @property
    def inbound_path(self) -> str:
        return f"/vendors/v1/twilio/{self.key}/mo"

    @property
    def status_path(self) -> str:
        return f"/vendors/v1/twilio/{self.key}/status"

    @property
    def inbound_url(self) -> str:
        """The URL each number's SMS webhook must carry."""
        return self.base_url + self.inbound_path

    @property
    def status_callback_url(self) -> str:
        """The URL routing sets as StatusCallback on messages it sends."""
        return self.base_url + self.status_path


_DEFAULTS: tuple[tuple[str, str, str, str], ...] = (
    ("us-east-1", "US East (N. Virginia)", "byosms.mypurecloud.com", "a906d2848ad146028e8805a8bbaa24d3"),
    ("us-east-2", "US East (Ohio)", "byosms.use2.us-gov-pure.cloud", "60b5013a2511482999b30b6db5ec67d8"),
    ("us-west-2", "US West (Oregon)", "byosms.usw2.pure.cloud", "b1adfe3a944c428bbc65d953bb8629b2"),
    ("ca-central-1", "Canada (Central)", "byosms.cac1.pure.cloud", "1190471d172842c283dc5376a92df73d"),
    ("sa-east-1", "South America (São Paulo)", "byosms.sae1.pure.cloud", "44e8a8cd75f849b18ab6fc8bbad9a057"),
    ("eu-central-1", "Europe (Frankfurt)", "byosms.mypurecloud.de", "3d904439dc3f4eceb2e574b43c8f5ac5"),
    ("eu-west-1", "Europe (Ireland)", "byosms.mypurecloud.ie", "a123cbc6467b48ccbdccc3e03fd30f4d"),
    ("eu-west-2", "Europe (London)", "byosms.euw2.pure.cloud", "f5c59e8b3a1345739ebd4564a340e526"),
    ("eu-central-2", "Europe (Zurich)", "byosms.euc2.pure.cloud", "FhcOBGsMEALrQfWsxH1LQy39tzI3F3qk"),
    ("me-central-1", "Middle East (UAE)", "byosms.mec1.pure.cloud", "N1aXOj92NXNBA21KqdkZfA3kFjdmAM2B"),
    ("ap-northeast-3", "Asia Pacific (Osaka)", "byosms.apne3.pure.cloud", "yXaIsznST36qG0qy7UAP4mWlsHDHh0E0"),
    ("ap-northeast-2", "Asia Pacific (Seoul)", "byosms.apne2.pure.cloud", "2e58f741f7a547b49c15c64dfb305361"),
    ("ap-southeast-2", "Asia Pacific (Sydney)", "byosms.mypurecloud.com.au", "97b4889e04514098a34715f0c216bf7b"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)", "byosms.mypurecloud.jp", "b7c9a0818bc343379513f713247b56ce"),
    ("ap-south-1", "Asia Pacific (Mumbai)", "byosms.aps1.pure.cloud", "b462e102a5414620bc6f002bc561595d"),
)

DEFAULT_REGIONS: Mapping[str, Region] = {
    rid: Region(id=rid, name=name, host=host, key=key) for rid, name, host, key in _DEFAULTS
}


class RegionConfigError(ValueError):
    """The region overrides are not valid."""


def load_regions(overrides_json: str | None = None) -> dict[str, Region]:
    """The default region table with an operator's overrides applied (unknown regions are added)."""
    regions = dict(DEFAULT_REGIONS)
    if not overrides_json:
        return regions
    try:
        overrides = json.loads(overrides_json)
    except json.JSONDecodeError as exc:
        raise RegionConfigError(f"region overrides are not valid JSON: {exc.msg}") from None
    if not isinstance(overrides, dict):
        raise RegionConfigError("region overrides must be a JSON object keyed by region id")
    for rid, fields in overrides.items():
        if not isinstance(fields, dict):
            raise RegionConfigError(f"override of region {rid!r} must be an object")
        base = regions[rid].model_dump() if rid in regions else {"id": rid, "name": rid}
        try:
            regions[rid] = Region.model_validate({**base, **fields, "id": rid})
        except ValidationError as exc:
            raise RegionConfigError(f"override of region {rid!r} is invalid: {exc.errors()[0]['msg']}") from None
    keys = [r.key for r in regions.values()]
    if len(keys) != len(set(keys)):
        raise RegionConfigError("two regions share one key")
    return regions


def region_by_key(regions: Mapping[str, Region], key: str) -> Region | None:
    """The region whose ingress key is ``key``."""
    for region in regions.values():
        if region.key == key:
            return region
    return None
