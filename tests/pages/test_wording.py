"""One word for officials across the Chinese interface: 干部, never 官员 (the import still
accepts 官员 as a header, as earlier templates wrote it)."""

from pathlib import Path

from django.conf import settings

from sessions_app.imports.columns import HEADER_FIELDS, IMPORT_COLUMNS, _header_key

ROOT = Path(settings.BASE_DIR)


def _msgstrs(po: Path) -> list[str]:
    return [line for line in po.read_text(encoding="utf-8").splitlines()
            if line.startswith("msgstr") or (line.startswith('"') and "msgstr" not in line)]


def test_the_chinese_interface_calls_officials_ganbu_everywhere():
    po = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    translated = "\n".join(_msgstrs(po))
    assert "官员" not in translated
    assert "干部" in translated
    templates = [p for p in (ROOT / "templates").rglob("*.html") if "官员" in p.read_text()]
    assert templates == []


def test_the_import_writes_ganbu_and_still_reads_guanyuan():
    official = next(c for c in IMPORT_COLUMNS if c.field == "official")
    assert official.header_zh == "干部"
    assert HEADER_FIELDS[_header_key("官员")] == "official"
