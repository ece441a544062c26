"""log_format = json: every line Usher writes to its logfile is one JSON
object with time, pid, level and message, including lines that quote what
a client sent (escaped as in the text format, so nothing forges a line),
and RELOAD switches between the formats."""

import json
import re

import psycopg
import pytest

from harness import util

pytestmark = pytest.mark.usher_only


def json_lines(p):
    with open(p.log_path, encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line]


def test_json_lines(pooler):
    p = pooler(extra_ini={"log_format": "json"})
    with p.connect() as conn:
        conn.execute("select 1")
    # A user name with a quote, a backslash and a line break in it.
    with pytest.raises(psycopg.OperationalError):
        p.connect(user='no"such\\user\n{"level":"fatal"}').close()
    # The refusal is logged as the connection closes, a moment after the
    # client has read the error.
    util.wait_until(lambda: any('no\\"such' in line for line in json_lines(p)), 10,
                    what="the refused login in the log")
    lines = json_lines(p)
    objects = [json.loads(line) for line in lines]  # each line alone is valid JSON
    for o in objects:
        assert set(o) == {"time", "pid", "level", "message"}, o
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
        assert o["pid"] == p.proc.pid
    assert any(o["message"].startswith("Usher ") and o["level"] == "info" for o in objects)
    quoted = [o["message"] for o in objects if "no\"such" in o["message"]]
    assert quoted and all("\\x0a" in m and "\n" not in m for m in quoted), quoted
    assert not any(o["level"] == "fatal" for o in objects)


def test_reload_switches_format(pooler):
    p = pooler()
    p.write_ini(extra_ini={"log_format": "json"})
    p.admin("RELOAD")
    with p.connect() as conn:
        conn.execute("select 1")
    lines = json_lines(p)
    first_json = next(i for i, line in enumerate(lines) if line.startswith("{"))
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", lines[0]), lines[0]
    for line in lines[first_json:]:
        json.loads(line)
