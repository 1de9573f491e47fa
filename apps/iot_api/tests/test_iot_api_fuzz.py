"""Schema-driven fuzzing: schemathesis generates valid (positive) and invalid (negative) requests
from the served OpenAPI document for every operation, sends them to the app (WSGI, real
PostgreSQL) with an admin key; none may produce a 5xx. Bounded: a fixed number of examples per
operation and mode, derandomized so a failure reproduces."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from iot_api_helpers import hdr

pytestmark = pytest.mark.integration
EXAMPLES = 20


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_finds_no_server_error(make_app, keys, devices, mode):
    app = make_app(reference_routes="true", batch_limit="50")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 17
    auth = hdr(keys["admin"])
    seen = {}

    for op in operations:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=auth)
            seen.setdefault(op.label, set()).add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (op.label, response.text)

        try:
            run()
        except Unsatisfiable:
            # an operation without parameters or body has no invalid variant to generate
            assert mode == GenerationMode.NEGATIVE and not op.label.startswith(("POST", "PUT", "PATCH"))
            seen.setdefault(op.label, set())
    assert set(seen) == {op.label for op in operations}
    if mode == GenerationMode.NEGATIVE:
        # invalid input must be refused, not accepted
        assert any(400 <= s < 500 for codes in seen.values() for s in codes)
