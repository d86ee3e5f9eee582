"""The site's two languages, as code asks about them: is the active language Chinese, and
which of a name's two spellings to show."""

from django.utils.translation import get_language


def language_is_chinese() -> bool:
    """True under Simplified Chinese (`zh-hans`, the default), False under English."""
    return (get_language() or "").startswith("zh")


def localised(*, english: str, chinese: str) -> str:
    """The Chinese spelling under Chinese when there is one, else the English."""
    return chinese if chinese and language_is_chinese() else english
