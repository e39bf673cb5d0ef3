"""Clients generated from the committed OpenAPI document, as a front end's developer would make
them: openapi-python-client and openapi-typescript (+ openapi-fetch) must take the document
without a single warning, and both must work against a live server: every answer they get,
errors included, parses into the declared model or type."""

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.models import Role
from tests.factories import make_uscc, project_payload
from tests.uvicorn_server import issue_key, uvicorn_server

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openapi.json"
BIN = Path(sys.executable).parent
PACKAGE = "climatelib_client"
# What the TypeScript side installs: pinned, so a new release cannot change the verdict unseen.
QUIET_SERVER = {
    "CLIMATELIB_RATE_LIMITS": "false",
    "CLIMATELIB_IMPORT_WORKER": "false",
    "CLIMATELIB_WEBHOOK_WORKER": "false",
    "CLIMATELIB_AUDIT_SEAL_INTERVAL_S": "0",
}
NPM_PACKAGES = ("openapi-typescript@7.13.0", "openapi-fetch@0.17.0", "typescript@5.9.3")


@pytest.fixture(scope="module")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The generated package, imported; generation must print nothing but its one line."""
    where = tmp_path_factory.mktemp("python-client")
    result = subprocess.run(  # noqa: S603 - this environment's generator, fixed arguments
        [
            str(BIN / "openapi-python-client"),
            "generate",
            f"--path={SPEC}",
            "--meta=none",
            f"--output-path={where / PACKAGE}",
        ],
        capture_output=True,
        text=True,
        # Its post-generation hooks run ruff, which lives beside this interpreter.
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
        timeout=300,
        check=False,
    )
    said = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, said
    assert said == f"Generating {where / PACKAGE}", f"the generator warned:\n{said}"
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(operation: str) -> Any:
    """The generated module of one operation, ``<tag>.<operation id>``."""
    return importlib.import_module(f"{PACKAGE}.api.{operation}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def _secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_the_python_client_drives_a_live_server(
    python_client: Any, database_url: str
) -> None:
    models = _models()
    keys = {
        "admin": await issue_key(database_url, Role.admin),
        "region": await issue_key(database_url, Role.region, "440304"),
        "reviewer": await issue_key(database_url, Role.reviewer, "44"),
    }
    with (
        # No background writers (import, webhook and audit-seal workers): the client's requests
        # are the server's only writes, so none waits on SQLite's lock behind a worker's.
        uvicorn_server(database_url, **QUIET_SERVER) as server,
        ExitStack() as open_,
    ):
        anonymous = open_.enter_context(
            python_client.Client(base_url=server.url, raise_on_unexpected_status=True)
        )
        clients: dict[str, Any] = {}

        def as_(actor: str) -> Any:
            if actor not in clients:
                clients[actor] = open_.enter_context(
                    python_client.AuthenticatedClient(
                        base_url=server.url,
                        token=_secret(keys[actor]),
                        raise_on_unexpected_status=True,
                    )
                )
            return clients[actor]

        taxonomy = _api("reference.get_taxonomy").sync(client=anonymous)
        assert isinstance(taxonomy, models.Taxonomy)
        assert {"M2"} <= {entry.code for entry in taxonomy.categories}

        body = models.ProjectCreate.from_dict(project_payload())
        created = _api("projects.create_project").sync_detailed(client=as_("region"), body=body)
        assert created.status_code == 201, created.content
        project = created.parsed
        assert isinstance(project, models.ProjectRead)
        assert project.financing_need == "12500000.00"
        for actor, action in [
            ("region", "submit"),
            ("reviewer", "recommend"),
            ("admin", "approve"),
        ]:
            moved = _api("projects.transition_project").sync_detailed(
                project.id,
                client=as_(actor),
                body=models.TransitionCreate.from_dict({"action": action}),
                if_match=f'"{project.version}"',
            )
            assert moved.status_code == 200, moved.content
            project = moved.parsed
        assert project.status == models.ProjectStatus.IN_LIBRARY

        bank = _api("institutions.create_institution").sync(
            client=as_("admin"),
            body=models.InstitutionCreate.from_dict(
                {"name": "绿色银行", "uscc": make_uscc(), "type": "bank"}
            ),
        )
        assert isinstance(bank, models.InstitutionRead)
        # The bank's key is issued through the server (and this client), not written into its
        # database from here: on SQLite a second writer beside the server's would meet its lock.
        issued = _api("api_keys.create_api_key").sync(
            client=as_("admin"),
            body=models.ApiKeyCreate.from_dict(
                {"name": "bank", "role": "institution", "scope": str(bank.id)}
            ),
        )
        assert isinstance(issued, models.ApiKeyCreated)
        keys["institution"] = {"Authorization": f"Bearer {issued.key}"}
        product = _api("products.create_product").sync(
            client=as_("institution"),
            body=models.ProductCreate.from_dict(
                {
                    "name": "绿色贷",
                    "type": "green_loan",
                    "status": "active",
                    "amount_max": "50000000.00",
                    "rate_min": "3.2",
                }
            ),
        )
        assert isinstance(product, models.ProductRead)
        assert (product.amount_max, product.rate_min) == ("50000000.00", "3.200")

        matches = _api("matching.list_project_matches").sync(project.id, client=as_("region"))
        assert isinstance(matches, models.MatchReadPage)
        assert product.id in {match.product.id for match in matches.items}

        offer = _api("engagements.create_engagement").sync(
            client=as_("institution"),
            body=models.EngagementCreate.from_dict(
                {
                    "project_id": str(project.id),
                    "product_id": str(product.id),
                    "amount": "5000000.00",
                    "annual_rate": "3.45",
                    "tenor_months": 36,
                }
            ),
        )
        assert isinstance(offer, models.EngagementRead)
        assert (offer.amount, offer.annual_rate) == ("5000000.00", "3.450")
        funnel = [
            ("region", {"action": "accept"}),
            ("institution", {"action": "contact"}),
            (
                "institution",
                {
                    "action": "financed",
                    "amount": "4000000.00",
                    "annual_rate": "3.3",
                    "date": str(date.today() - timedelta(days=1)),
                },
            ),
        ]
        for actor, step in funnel:
            offer = _api("engagements.transition_engagement").sync(
                offer.id,
                client=as_(actor),
                body=models.EngagementTransition.from_dict(step),
            )
            assert isinstance(offer, models.EngagementRead), offer
        assert offer.status == "financed"
        assert isinstance(offer.contact, models.EngagementContact)
        assert (offer.financed_amount, offer.financed_rate) == ("4000000.00", "3.300")
        financed = _api("projects.get_project").sync(project.id, client=as_("admin"))
        assert isinstance(financed, models.ProjectRead)
        assert financed.financing_secured == "4000000.00"

        # Errors parse as problems: a refused query names its field, a missing project is a 404.
        refused = _api("institutions.list_institutions").sync_detailed(
            client=anonymous, limit=100000
        )
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.ValidationProblem)
        assert refused.parsed.errors[0].loc == ["query", "limit"]
        missing = _api("projects.get_project").sync_detailed(
            "00000000-0000-0000-0000-000000000000", client=as_("admin")
        )
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.code == "project_not_found"


SCRIPT = """\
import createClient from "openapi-fetch";
import type { components, paths } from "./climatelib.js";

type Problem = components["schemas"]["Problem"];
type ValidationProblem = components["schemas"]["ValidationProblem"];
declare const process: { argv: string[] };

const [baseUrl, key] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl });

const taxonomy = await client.GET("/api/v1/taxonomy");
if (taxonomy.error) throw new Error(taxonomy.error.title);

const body: components["schemas"]["ProjectCreate"] = {
  name: "Futian rooftop solar",
  region_code: "440304",
  owner: { name: "Futian Energy Co.", uscc: "9144030071526726XG", type: "state_owned" },
  objective: "mitigation",
  categories: ["M2"],
  industry_code: "D4416",
  nature: "new_build",
  construction_status: "planning",
  total_investment: "25000000.00",
  financing_need: "12500000.00",
  financing_types: ["loan"],
  start_date: "2027-01-01",
  end_date: "2028-06-30",
  tenor_months: 120,
  annual_emission_reduction_tco2e: 8200.5,
  // openapi-typescript makes a field with a default required; the server's defaults, written out.
  financing_secured: "0.00",
  summary: "",
  capacity_replacement: false,
  disclosure_commitment: false,
  third_party_verified: false,
};
const created = await client.POST("/api/v1/projects", {
  body,
  headers: { Authorization: `Bearer ${key}` },
});
if (created.error) throw new Error(JSON.stringify(created.error));
const need: string = created.data.financing_need;

const refused = await client.GET("/api/v1/institutions", { params: { query: { limit: 100000 } } });
const problem: Problem | ValidationProblem | undefined = refused.error;

console.log(JSON.stringify({
  codes: taxonomy.data.categories.map((entry) => entry.code),
  need,
  status: refused.response.status,
  problem,
}));
"""

TSC = ("--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
async def test_the_typescript_client_drives_a_live_server(
    tmp_path: Path, database_url: str
) -> None:
    """openapi-typescript takes the document without a warning; a script on openapi-fetch and
    those types type-checks strictly (tsc) and runs against a live server (node)."""

    def run(*args: str) -> str:
        result = subprocess.run(  # noqa: S603 - npm's own tools, fixed arguments
            list(args), cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    (tmp_path / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
    run("npm", "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES)
    said = run("npx", "--no-install", "openapi-typescript", str(SPEC), "--output", "climatelib.ts")
    assert "warn" not in said.lower(), said
    (tmp_path / "script.ts").write_text(SCRIPT)
    run("npx", "--no-install", "tsc", "--noEmit", *TSC, "script.ts")
    run("npx", "--no-install", "tsc", *TSC, "--outDir", "out", "script.ts")

    region = await issue_key(database_url, Role.region, "440304")
    with uvicorn_server(database_url, CLIMATELIB_RATE_LIMITS="false") as server:
        output = run("node", "out/script.js", server.url, _secret(region))
    answer = json.loads(output)
    assert "M2" in answer["codes"]
    assert answer["need"] == "12500000.00"
    assert answer["status"] == 422
    assert answer["problem"]["errors"][0]["loc"] == ["query", "limit"]
