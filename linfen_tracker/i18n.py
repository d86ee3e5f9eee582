"""Language helpers shared by both apps."""

from django.utils.translation import get_language


def language_is_chinese() -> bool:
    """Whether the active language is Chinese (zh-hans, the default, or any zh-*)."""
    return (get_language() or "").startswith("zh")
