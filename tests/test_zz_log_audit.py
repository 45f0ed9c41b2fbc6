"""Runs last (see conftest): nothing this whole test run logged holds a key or a marked prompt."""

from tests.conftest import LOG_RECORDS
from tests.support.secrets import NEVER_LOGGED


def test_whole_run_logs_hold_no_secret():
    assert LOG_RECORDS, "the log capture saw nothing: the audit would be vacuous"
    leaks = [
        (secret, record) for record in LOG_RECORDS for secret in NEVER_LOGGED if secret in record
    ]
    assert leaks == []
