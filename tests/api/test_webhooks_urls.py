"""The webhook URL guard with its default configuration: a URL on a private, loopback,
link-local, unspecified or multicast address is refused when subscribed (422, nothing stored),
and a URL that points inside by the time of delivery is refused again then, not connected to."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.config import Settings
from app.models import WebhookDelivery, WebhookSubscription
from tests.api.webhook_receiver import Receiver
from tests.conftest import Keys
from tests.factories import in_library

HOOKS = "/api/v1/webhooks"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Private addresses refused (the default); a worker that looks often."""
    return settings.model_copy(
        update={"webhook_worker": True, "webhook_poll_interval_s": 0.05, "webhook_retry_base_s": 60}
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "https://100.64.0.1/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
async def test_an_internal_address_is_refused(
    client: httpx.AsyncClient, keys: Keys, url: str
) -> None:
    region = await keys.region("440304")
    answer = await client.post(HOOKS, json={"url": url, "events": ["match.new"]}, headers=region)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "webhook_url_not_allowed"
    assert answer.json()["errors"][0]["loc"] == ["body", "url"]
    assert (await client.get(HOOKS, headers=region)).json()["items"] == []


async def test_a_public_address_is_taken(client: httpx.AsyncClient, keys: Keys) -> None:
    region = await keys.region("440304")
    answer = await client.post(
        HOOKS, json={"url": "https://93.184.215.14/hook", "events": ["match.new"]}, headers=region
    )
    assert answer.status_code == 201, answer.text


async def test_an_address_gone_internal_is_refused_at_delivery(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    """As a name re-pointed at an internal address would be (DNS rebinding)."""
    region = await keys.region("440304")
    made = await client.post(
        HOOKS,
        json={"url": "http://93.184.215.14/hook", "events": ["project.approved"]},
        headers=region,
    )
    assert made.status_code == 201, made.text
    with Receiver() as receiver:
        async with app.state.sessions.begin() as session:
            await session.execute(update(WebhookSubscription).values(url=receiver.url("/inside")))
        await in_library(client, keys, region)
        for _ in range(400):
            async with app.state.sessions() as session:
                tried = (await session.execute(select(WebhookDelivery))).scalars().first()
            if tried is not None and tried.attempts:
                break
            await asyncio.sleep(0.05)
        assert tried is not None and tried.attempts == 1
        assert tried.status == "pending"  # retried later, in case the name points out again
        assert tried.last_status_code is None
        assert "127.0.0.1" in (tried.last_error or "")
        assert receiver.received == []
