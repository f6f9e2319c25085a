"""Today as the services see it: the date in Asia/Shanghai (contracts), read when it is used.

A date taken once at import is yesterday's after midnight in Shanghai (16:00 UTC): an approval dated
with it lands before an intent submitted after midnight and is refused (before-intent).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_today() -> str:
    return dt.datetime.now(SHANGHAI).date().isoformat()
