"""Isolation and hardening: what a client, a server or a console user must
not be able to do to Usher or through it. Each test fails without the fix it
is named after."""

import pytest

from harness import clients, util


def _log_lines(p, needle):
    """Lines of the logfile (stdout repeats them) that contain `needle`."""
    return [line for line in util.read_text(p.log_path).splitlines() if needle in line]


# ------------------------------------------------------------------- the log


@pytest.mark.usher_only
def test_client_names_cannot_forge_log_lines(pooler):
    p = pooler()
    clients.login_error(p, user="x\nFAKE LOG LINE user", password="whatever")
    clients.login_error(p, db="nodb\rFAKE LOG LINE db\x1b[2J")
    util.wait_until(lambda: len(_log_lines(p, "FAKE LOG LINE")) >= 2, 5, what="both log lines")
    text = p.log_text()
    for line in text.replace("\r", "\n").splitlines():
        assert not line.startswith("FAKE LOG LINE"), line
    assert "\x1b" not in text
    assert "x\\x0aFAKE LOG LINE user" in text
    assert "nodb\\x0dFAKE LOG LINE db\\x1b[2J" in text
