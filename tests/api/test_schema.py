"""The OpenAPI document and the self-hosted Swagger UI an integration engineer starts from."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

SALES = "/api/v1/merchants/{merchant_id}/sales/"
PROFILE = "/api/v1/bank/profile/"


@pytest.fixture
def schema(db) -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_the_schema_is_public_yaml_openapi_3_listing_the_endpoints(db):
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "OrderFin partner API"
    assert {SALES, PROFILE} <= set(document["paths"])


def test_the_schema_describes_the_sales_import_and_bank_profile(schema):
    assert schema["openapi"].startswith("3.")
    post = schema["paths"][SALES]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SalesImportRequest")
    assert "201" in post["responses"] and "get" in schema["paths"][SALES]
    assert schema["paths"][PROFILE]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/BankProfile")
    assert {"code", "name", "max_share", "scopes"} <= set(schema["components"]["schemas"]["BankProfile"]["properties"])
    result = schema["components"]["schemas"]["SalesImportResult"]["properties"]
    assert result["credit_limit"]["type"] == "string" and result["credit_limit"]["format"] == "decimal"
    assert "oauth2" in schema["components"]["securitySchemes"]


def test_the_schema_documents_the_paginated_filtered_sales_list(schema):
    get = schema["paths"][SALES]["get"]
    assert {"date_after", "date_before", "page_size"} <= {p["name"] for p in get["parameters"]}
    envelope = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"count", "next", "previous", "results"} <= set(schema["components"]["schemas"][envelope]["properties"])


def test_the_schema_says_how_to_authenticate_and_which_scope_each_endpoint_needs(schema):
    assert schema["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/o/token/"
    assert {"oauth2": ["sales:write"]} in schema["paths"][SALES]["post"]["security"]
    assert {"oauth2": ["bank:read"]} in schema["paths"][PROFILE]["get"]["security"]


def test_the_docs_page_is_swagger_ui_served_from_our_own_static_files(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "SwaggerUIBundle" in html and 'url: "/api/schema/"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "an asset is loaded from another host"
    assert not re.search(r"cdn|unpkg|jsdelivr|cloudflare", html, re.IGNORECASE)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:  # shipped with our static files, so collectstatic serves them
        assert finders.find(asset.removeprefix(settings.STATIC_URL if settings.STATIC_URL.startswith("/")
                                               else f"/{settings.STATIC_URL}")), asset


def test_the_schema_is_valid_and_generates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_schema_gives_the_bank_its_loan_and_a_money_pattern_without_negatives(schema):
    assert "/api/v1/loans/{loan_id}/" in schema["paths"]
    detail = schema["components"]["schemas"]["PartnerLoanDetail"]["properties"]
    assert {"outstanding", "payoff", "installments"} <= set(detail)
    pattern = re.compile(schema["components"]["schemas"]["PartnerRepaymentRequest"]["properties"]["amount"]["pattern"])
    assert pattern.match("1200.00") and not pattern.match("-5.00") and not pattern.match("1" * 13)
