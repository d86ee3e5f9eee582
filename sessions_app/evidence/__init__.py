"""Evidence files behind a session's figures (design.md, "Trust in the numbers").

- `content`: what a file is, judged by its bytes (PNG, JPEG, PDF, XLSX, CSV), and its
  SHA-256, read in chunks.
- `thumbnails`: the small JPEG shown for an image.
- `http`: the upload size limit applied while the request body arrives, and the response
  that streams a stored file to a user allowed to see it.
- `views`, `forms`: the evidence panel of the session pages.

Writes go through `sessions_app.services.evidence_add` / `evidence_delete`, reads through
`sessions_app.selectors`.
"""
