"""Both locales are complete: every zh_Hans message is translated (none empty, none fuzzy)
and the compiled catalogs match their sources, so no page shows English to a Chinese reader
because somebody forgot `make messages`."""

import gettext
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.BASE_DIR) / "locale"
VENDOR = Path(settings.BASE_DIR) / "locale_vendor"


def po_entries(path: Path) -> list[dict]:
    """Entries of a PO file: msgctxt, msgid, msgid_plural, msgstr(s) and flags."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry = {"flags": [], "msgstr": {}, "msgctxt": None, "msgid_plural": None}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif match := re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?) (".*")$',
                                   line):
                key = ("msgstr", int(match.group(2) or 0)) if match.group(1).startswith(
                    "msgstr") else match.group(1)
                _store(entry, key, _unquote(match.group(3)), append=False)
            elif line.startswith('"'):
                _store(entry, key, _unquote(line), append=True)
        if "msgid" in entry:
            entries.append(entry)
    return entries


def _unquote(text: str) -> str:
    # PO strings escape like JSON strings: \" \\ \n \t.
    return json.loads(text)


def _store(entry, key, value, *, append):
    if isinstance(key, tuple):
        entry["msgstr"][key[1]] = (entry["msgstr"].get(key[1], "") if append else "") + value
    else:
        entry[key] = (entry.get(key) or "" if append else "") + value


@pytest.mark.parametrize("catalog", [LOCALE, VENDOR], ids=["ours", "django-filter"])
def test_every_zh_hans_message_is_translated_and_none_is_fuzzy(catalog):
    entries = po_entries(catalog / "zh_Hans" / "LC_MESSAGES" / "django.po")
    assert len(entries) > 20
    untranslated = [e["msgid"] for e in entries[1:] if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("catalog", [LOCALE / "zh_Hans", LOCALE / "en", VENDOR / "zh_Hans"],
                         ids=["zh_Hans", "en", "django-filter zh_Hans"])
def test_compiled_catalog_matches_its_source(catalog):
    directory = catalog / "LC_MESSAGES"
    with open(directory / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for entry in po_entries(directory / "django.po")[1:]:
        if not entry["msgstr"].get(0):
            continue  # English: the msgid is shown as it is
        msgid = entry["msgid"]
        if entry["msgctxt"] is not None:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if entry["msgid_plural"] is not None:
            assert compiled.ngettext(msgid, entry["msgid_plural"], 1) == entry["msgstr"][0]
        else:
            assert compiled.gettext(msgid) == entry["msgstr"][0], msgid


def test_chinese_pages_get_chinese_labels():
    with translation.override("zh-hans"):
        assert translation.gettext("Leaderboard") == "排行榜"
        assert translation.ngettext("%(n)s session", "%(n)s sessions", 3) % {"n": 3} == (
            "共 3 个场次")


def test_django_filter_labels_have_zh_hans_translations_from_the_vendor_catalog():
    assert VENDOR in [Path(p) for p in settings.LOCALE_PATHS]
    with translation.override("zh-hans"):
        assert translation.gettext("Multiple values may be separated by commas.") == (
            "多个值可以用逗号分隔。")
        assert translation.gettext("Past 7 days") == "过去 7 天"
