"""schemathesis against the app's own OpenAPI schema: no 5xx, no response that breaks the schema.

Driven through schemathesis's Hypothesis strategies, one operation at a time, rather than
its pytest plugin (whose fixture mode does not run on pytest 9).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from pycluster import HeadNode

pytestmark = pytest.mark.slow

# these start or stop worker processes: tested by hand in test_processing_api, not fuzzed
NOT_FUZZED = r"(scale|start-worker|cluster/stop)$"


def test_api_never_fails_or_breaks_its_schema(api_head: HeadNode) -> None:
    schema = schemathesis.openapi.from_url(f"{api_head.dashboard_url}/openapi.json").exclude(
        path_regex=NOT_FUZZED
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # schema-valid input may still be refused for a reason (an unknown operation name):
            # that is a 4xx with a reason, so the "must accept valid data" check is left out; and
            # the schema declares the Bearer scheme, but this process is the head's own user on
            # loopback, which needs no token (tests/web/test_auth.py tests who needs one)
            case.call_and_validate(excluded_checks=[positive_data_acceptance, ignored_auth])

        check()
