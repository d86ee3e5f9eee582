"""The one answer to "is the language Chinese", used wherever code picks a spelling."""

from django.utils import translation

from linfen_tracker.i18n import language_is_chinese, localised


def test_chinese_is_the_default_and_english_is_not_chinese():
    with translation.override("zh-hans"):
        assert language_is_chinese()
        assert localised(english="Ji County", chinese="吉县") == "吉县"
    with translation.override("en"):
        assert not language_is_chinese()
        assert localised(english="Ji County", chinese="吉县") == "Ji County"


def test_a_missing_chinese_name_falls_back_to_the_english_one():
    with translation.override("zh-hans"):
        assert localised(english="Ji County", chinese="") == "Ji County"
