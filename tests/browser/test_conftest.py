"""The browser tests' requirement: a missing Chromium skips them on a developer's machine
and fails them under CI (checked without uninstalling anything: the path points at a file
that does not exist)."""

import pytest

from .conftest import chromium_or_skip


def decision(path, environ) -> tuple[str, str]:
    """What chromium_or_skip decides: ("launch", path), ("fail", why) or ("skip", why).

    Its skip and fail are caught here, both: a skip escaping into this test would mark the
    test skipped, not failed, and so hide the very break it is meant to catch."""
    try:
        return "launch", chromium_or_skip(path, environ=environ)
    except pytest.fail.Exception as failed:
        return "fail", str(failed)
    except pytest.skip.Exception as skipped:
        return "skip", str(skipped)


@pytest.fixture
def missing(tmp_path):
    return tmp_path / "no-chromium-here"


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_under_ci_a_missing_browser_fails(missing, ci):
    outcome, why = decision(missing, {"CI": ci})

    assert outcome == "fail"
    assert "CI needs Chromium" in why and str(missing) in why


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}],
                         ids=["unset", "empty", "false", "0"])
def test_outside_ci_a_missing_browser_skips(missing, environ):
    outcome, why = decision(missing, environ)

    assert outcome == "skip"
    assert "make browser-deps" in why


def test_a_browser_that_is_there_is_launched_under_ci_too(tmp_path):
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)

    assert decision(chromium, {"CI": "true"}) == ("launch", str(chromium))
