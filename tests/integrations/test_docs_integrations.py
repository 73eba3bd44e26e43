"""docs/integrations.md: the settings table lists exactly the keys the Flask and Django
integrations accept. (Its examples run in tests/docs/test_examples.py, with every page's.)"""

from __future__ import annotations

import re
from pathlib import Path

from taskito.contrib.django import DJANGO_SETTINGS
from taskito.contrib.settings import valid_keys

PAGE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def section(heading: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_settings_table_lists_every_key() -> None:
    table = section("The TASKITO_* settings (Flask and Django)")
    documented = re.findall(r"^\| `(TASKITO_[A-Z_]+)` \|", table, re.M)
    assert sorted(documented) == sorted(valid_keys(DJANGO_SETTINGS))
    assert len(documented) == len(set(documented))
