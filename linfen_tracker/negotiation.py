"""How the API picks a renderer for a request (DRF's DEFAULT_CONTENT_NEGOTIATION_CLASS).

Kept apart from the views, like authentication.py: DRF imports its default classes while
`rest_framework.views` itself is being imported.
"""

from rest_framework.negotiation import DefaultContentNegotiation

# Distinct (renderers, format, Accept) combinations remembered per process. Clients send a
# handful of Accept headers; past this the memo starts again, so whatever headers a client
# makes up cost it the full negotiation, never this process's memory.
MEMO_SIZE = 256
# Longer headers are negotiated every time, not remembered.
MEMO_HEADER_LENGTH = 256


class RememberedContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with its outcome remembered in each process.

    The choice depends only on the view's renderer classes, the `?format=` override and the
    Accept header, and DRF works it out again for every request: parsing the header into
    media types and matching them against each renderer cost about as much as the
    permission and throttle checks together (bench/api.py). The same inputs now give the
    same renderer (this request's instance) and media type without that work; a failure
    (406, or 404 for an unknown format) is not remembered and raises as before.
    """

    _memo: dict[tuple, tuple[int, str]] = {}

    def select_renderer(self, request, renderers, format_suffix=None):
        format = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        accept = request.META.get("HTTP_ACCEPT")
        if accept is not None and len(accept) > MEMO_HEADER_LENGTH:
            return super().select_renderer(request, renderers, format_suffix)
        key = (tuple(type(renderer) for renderer in renderers), format, accept)
        memo = type(self)._memo  # the process's, shared by every instance
        found = memo.get(key)
        if found is not None:
            return renderers[found[0]], found[1]
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[key] = (renderers.index(renderer), media_type)
        return renderer, media_type
