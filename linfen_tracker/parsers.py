"""The API's JSON parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

from django.utils.translation import gettext
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class NestingSafeJSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested too deeply for Python's parser (about 1,000
    levels: `[[[[...]]]]`) answered 400 like any other malformed body. Python's `json` raises
    RecursionError there, which DRF does not catch: a 500, for anyone, logged in or not."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(gettext("JSON parse error - the body is nested too deeply.")) from None
