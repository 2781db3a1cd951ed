"""SchemaThesis over the served ``/openapi.json`` (issue #12 item 2 and acceptance): generated
requests for every operation -- huge integers, NaN, odd strings included -- never get a 5xx,
and every answer (200, 404, 422 ...) matches a response the spec documents, shape included.
Bounded: a few dozen examples per operation against a replay of real captures."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode, checks
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, replay_client


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    """The API of a stored replay, read-only (SchemaThesis runs the app's lifespan per call)."""
    from liqmap.api.app import create_app
    from liqmap.api.state import open_readonly_state

    db = tmp_path_factory.mktemp("schema") / "s.duckdb"
    with replay_client([BITMEX_INSERTS, BINANCE_FRAMES], db):
        pass
    state = open_readonly_state(str(db))
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(state))
    state.con.close()


def _run_operation(op, mode) -> str | None:
    """Up to :data:`EXAMPLES` generated cases of one operation, valid (``positive``) or
    invalid (``negative``) by its schema; the first failure, or None."""
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # negative mode of an operation without parameters: nothing to break
        return None
    except BaseException as exc:  # noqa: BLE001 - collected: every operation is checked
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"{op.method.upper()} {op.path} ({mode.value}): {str(exc)[:1500]}"
    return None


#: No 5xx; the status code and the body's shape are ones the spec documents for the
#: operation (404 and 422 included) and the content type is the documented one. Not checked:
#: that every schema-valid request is accepted (free-text parameters such as ``end_time``
#: are validated by the server and answered 422 with the reason, documented as such).
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.content_type_conformance]

#: generated cases per operation (bounded: the whole run stays well under a minute)
EXAMPLES = 20


def test_no_server_error_and_documented_responses(api_schema):
    ops = [r.ok() for r in api_schema.get_all_operations()]
    assert len(ops) >= 10
    failures = [f for op in ops for mode in GenerationMode if (f := _run_operation(op, mode))]
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path, params", [
    ("/liquidations/cascades", {"min_count": str(2**130)}),
    ("/liquidations/cascades", {"window_seconds": str(2**130)}),
    ("/liquidations/recent", {"end_time": str(2**130)}),
    ("/liquidations/recent", {"limit": str(2**130)}),
    ("/liquidations/stats", {"end_time": str(2**64)}),
    ("/open-interest/aggregated", {"symbol": "BTC", "end_time": str(2**130)}),
    ("/prices/klines", {"symbol": "BTCUSDT", "limit": str(2**130)}),
])  # fmt: skip
def test_huge_integers_are_422(api_client, path, params):
    r = api_client.get(path, params=params)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert len(r.content) < 2000  # the reason, not an echo of the input


def test_a_huge_symbol_is_not_echoed_back(api_client):
    r = api_client.get("/liquidations/stats", params={"symbol": "X" * 5_000})
    assert r.status_code in (404, 422) and len(r.content) < 5_000, (r.status_code, len(r.content))
    r = api_client.get("/liquidations/stats", params={"symbol": "X" * 10_000})  # over the request-target cap
    assert r.status_code == 414 and len(r.content) < 200, (r.status_code, len(r.content))


@pytest.fixture(scope="module")
def api_client(api_schema):
    from fastapi.testclient import TestClient

    with TestClient(api_schema.app) as c:
        yield c
