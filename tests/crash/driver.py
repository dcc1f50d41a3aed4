"""One step of MiniMaker in a process of its own, for the crash tests (tests/crash/).

Run as `python -m tests.crash.driver <step> [args]` with the MINIMAKER_* environment of the
test's data directory; MINIMAKER_CRASH_AT names the point at which the process kills itself
(minimaker.kernel.faults), so the test sees it die by SIGKILL mid-step.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from minimaker.bootstrap import build, corpus_offer, expiries
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.retention import service as retention
from minimaker.settings import load_settings
from minimaker.uploads import service as uploads


def main(argv: list[str]) -> None:
    """`upload <user id> <photo file>` stores a photo; `worker` runs every due job;
    `retention <ISO time>` sweeps every rule as at that time and prints {rule: removed}."""
    at = datetime.fromisoformat(argv[1]) if argv[:1] == ["retention"] else None
    c = build(load_settings(), clock=ManualClock(at) if at else None)
    try:
        if argv[:1] == ["upload"]:
            uploads.create_upload(c, user_id=argv[1], data=Path(argv[2]).read_bytes())
        elif argv[:1] == ["worker"]:
            Worker(c).run_until_idle()
        elif argv[:1] == ["retention"]:
            report = retention.run(c, expiries(corpus_offer()))
            print(json.dumps(retention.counts(report)))
        else:
            raise SystemExit(f"unknown step: {argv[:1]}")
    finally:
        c.close()


if __name__ == "__main__":
    main(sys.argv[1:])
