"""ETag and If-None-Match → 304 on the public reads (app/conditional.py): a repeat answers 304
with no body, a write gives the next read a 200 with a new ETag, and a key never shares the
public's."""

from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS, in_library, institution_headers

LIST = f"{PROJECTS}?status=in_library&region_code=44&limit=50"
PUBLIC_READS = [
    "/api/v1/taxonomy",
    "/api/v1/regions?parent=440000",
    "/api/v1/pilots",
    "/api/v1/stats/overview",
]


async def _fresh(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"].startswith('"')
    assert "authorization" in response.headers["vary"].lower()
    return response


async def _repeat(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], etag: str
) -> httpx.Response:
    return await client.get(url, headers={**headers, "If-None-Match": etag})


def _not_modified(response: httpx.Response, etag: str) -> None:
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "authorization" in response.headers["vary"].lower()
    assert "content-type" not in response.headers
    assert response.headers["x-request-id"]


async def _progress(
    client: httpx.AsyncClient, region: dict[str, str], project: dict[str, Any], **fields: Any
) -> None:
    url = f"{PROJECTS}/{project['id']}"
    etag = (await client.get(url, headers=region)).headers["etag"]
    response = await client.patch(url, json=fields, headers={**region, "If-Match": etag})
    assert response.status_code == 200, response.text


class TestProjectList:
    async def test_repeat_is_304_and_a_write_changes_the_etag(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        first = await _fresh(client, LIST, {})
        assert [p["id"] for p in first.json()["items"]] == [project["id"]]
        etag = first.headers["etag"]
        _not_modified(await _repeat(client, LIST, {}, etag), etag)

        await _progress(client, region, project, construction_status="under_construction")
        after = await _repeat(client, LIST, {}, etag)
        assert after.status_code == 200
        assert after.headers["etag"] != etag
        assert after.json()["items"][0]["construction_status"] == "under_construction"
        _not_modified(await _repeat(client, LIST, {}, after.headers["etag"]), after.headers["etag"])

    async def test_a_new_project_changes_the_etag(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await in_library(client, keys, region)
        etag = (await _fresh(client, LIST, {})).headers["etag"]
        await in_library(client, keys, region, name="A second project")
        after = await _repeat(client, LIST, {}, etag)
        assert after.status_code == 200
        assert len(after.json()["items"]) == 2
        assert after.headers["etag"] != etag

    async def test_keys_get_etags_of_their_own(self, client: httpx.AsyncClient, keys: Keys) -> None:
        bank_key = await institution_headers(client, keys)
        region = await keys.region("440304")
        await in_library(client, keys, region)
        public = await _fresh(client, LIST, {})
        # An institution without a granted contact sees exactly the public's list...
        bank = await _fresh(client, LIST, bank_key)
        assert bank.json() == public.json()
        # ...under another ETag, which the public's does not match, nor its the public's.
        assert bank.headers["etag"] != public.headers["etag"]
        assert (await _repeat(client, LIST, bank_key, public.headers["etag"])).status_code == 200
        assert (await _repeat(client, LIST, {}, bank.headers["etag"])).status_code == 200
        _not_modified(
            await _repeat(client, LIST, bank_key, bank.headers["etag"]),
            bank.headers["etag"],
        )
        admin = await _fresh(client, LIST, await keys.admin())
        assert admin.headers["etag"] not in (public.headers["etag"], bank.headers["etag"])

    async def test_if_none_match_forms(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        await in_library(client, keys, region)
        etag = (await _fresh(client, LIST, {})).headers["etag"]
        _not_modified(await _repeat(client, LIST, {}, f'"other", W/{etag}'), etag)
        _not_modified(await _repeat(client, LIST, {}, "*"), etag)
        assert (await _repeat(client, LIST, {}, '"other"')).status_code == 200

    async def test_errors_carry_no_etag(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{PROJECTS}?limit=0", headers={"If-None-Match": "*"})
        assert response.status_code == 422
        assert "etag" not in response.headers


class TestOneProject:
    async def test_public_repeat_is_304_until_a_write(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        url = f"{PROJECTS}/{project['id']}"
        first = await _fresh(client, url, {})
        etag = first.headers["etag"]
        _not_modified(await _repeat(client, url, {}, etag), etag)
        await _progress(client, region, project, financing_secured="1000.00")
        after = await _repeat(client, url, {}, etag)
        assert after.status_code == 200
        assert after.json()["financing_secured"] == "1000.00"
        assert after.headers["etag"] != etag

    async def test_a_writer_gets_the_version_and_304_with_it(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        url = f"{PROJECTS}/{project['id']}"
        mine = await _fresh(client, url, region)
        assert mine.headers["etag"] == f'"{mine.json()["version"]}"'
        assert mine.headers["etag"] != (await _fresh(client, url, {})).headers["etag"]
        _not_modified(
            await _repeat(client, url, region, mine.headers["etag"]), mine.headers["etag"]
        )
        await _progress(client, region, project, construction_status="operational")
        after = await _repeat(client, url, region, mine.headers["etag"])
        assert after.status_code == 200
        assert after.headers["etag"] == f'"{mine.json()["version"] + 1}"'


@pytest.mark.parametrize("url", PUBLIC_READS)
async def test_public_reads_answer_304_on_repeat(
    client: httpx.AsyncClient, keys: Keys, url: str
) -> None:
    public = await _fresh(client, url, {})
    etag = public.headers["etag"]
    _not_modified(await _repeat(client, url, {}, etag), etag)
    admin = await keys.admin()
    assert (await _fresh(client, url, admin)).headers["etag"] != etag
    assert (await _repeat(client, url, admin, etag)).status_code == 200
