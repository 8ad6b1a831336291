"""schemathesis over the whole OpenAPI document of a live server, as an admin and as an agent:
no answer is a server error, every answer's status is documented for its operation, and every
JSON answer matches its documented schema.

It runs schemathesis' own command line against the live server (its pytest plugin needs
internals that pytest 9 no longer has); a failure shows schemathesis' report, with the curl
command that reproduces each finding.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support import BIN, process_env

pytestmark = pytest.mark.slow

CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance")
EXAMPLES_PER_OPERATION = 25  # per role and phase; keeps the run within minutes on 2 cores


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_schemathesis_finds_nothing(live_server, role, tmp_path):
    token = getattr(live_server, f"{role}_token")
    command = [str(BIN / "schemathesis"), "run", f"{live_server.base}/openapi.json",
               "--checks", ",".join(CHECKS), "--header", f"Authorization: Bearer {token}",
               "--phases", "examples,coverage,fuzzing", "--mode", "all",
               "--max-examples", str(EXAMPLES_PER_OPERATION), "--workers", "1",
               "--request-timeout", "30", "--report-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                            cwd=tmp_path, env=process_env(NO_COLOR="1"))
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
