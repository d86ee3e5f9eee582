"""Pinyin search keys of a Chinese name, so a picker finds 贺志远 by "hzy" or "hezhiyuan".

A closed <select> cannot be typed into in Chinese, and an input method is slow for picking
one of 300 names; staff type the initials. The keys are computed by `services.official_save`
and stored on the official (`Official.name_pinyin`), so no page computes them per request.
"""

import re

from pypinyin import Style, lazy_pinyin, pinyin

# A surname may have several readings (单 dan/shan, 曾 zeng/ceng, 解 jie/xie); pypinyin's
# first reading is the common word's, not always the surname's, so every reading of the first
# character is kept, at most this many.
SURNAME_READINGS = 3


def name_pinyin_keys(name: str) -> str:
    """Space-separated search keys of `name`: its full pinyin and its initials, for each
    reading of the first character ("贺志远" -> "hezhiyuan hzy"; "曾伟" -> "cengwei cw
    zengwei zw"). Latin letters and digits in a name are kept whole, lower-cased; other
    characters are dropped."""
    name = (name or "").strip()
    if not name:
        return ""
    first, rest = name[0], name[1:]
    rest_full = "".join(_latin(part) for part in lazy_pinyin(rest))
    rest_initials = "".join(_latin(part) for part in lazy_pinyin(rest, style=Style.FIRST_LETTER))
    if "\u3400" <= first <= "\u9fff":
        readings = pinyin(first, heteronym=True, style=Style.NORMAL)[0][:SURNAME_READINGS]
    else:
        readings = [first]
    keys: list[str] = []
    for reading in readings:
        head = _latin(reading)
        for key in (head + rest_full, head[:1] + rest_initials):
            if key and key not in keys:
                keys.append(key)
    return " ".join(keys)


def _latin(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())
