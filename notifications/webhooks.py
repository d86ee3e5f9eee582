"""Posting to webhooks: where we may connect, how a body is signed, and the message shapes of
the generic JSON format and of DingTalk's and WeCom's group robots.

Server-side request forgery: a webhook URL is an address our servers will connect to, so a
host that resolves to a private, loopback, link-local or otherwise non-public address is
refused (unless WEBHOOK_ALLOW_PRIVATE=1, for intranet receivers and tests), every address it
resolves to is checked, and at send time the request goes to the address that was checked
(the host name stays in the Host header and in TLS), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect it. Redirects are not followed.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

SIGNATURE_HEADER = "X-Linfen-Signature"
TIMESTAMP_HEADER = "X-Linfen-Timestamp"
USER_AGENT = "linfen-tracker-webhooks/1"


class WebhookAddressRefused(Exception):
    """The URL may not be used: not http(s), unresolvable, or a non-public address."""


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return not (address.is_multicast or address.is_unspecified)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class ResolvedURL:
    url: str
    host: str
    address: str  # the checked address the request connects to


def webhook_url_check(url: str) -> ResolvedURL:
    """Resolve the URL's host and check every address it resolves to; return the URL with the
    address to connect to. Raises WebhookAddressRefused with the reason."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookAddressRefused(_("Use an http:// or https:// URL with a host name."))
    if parts.username or parts.password:
        raise WebhookAddressRefused(_("Put no user name or password in the URL."))
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as error:
        raise WebhookAddressRefused(
            _("The host %(host)s cannot be resolved.") % {"host": host}) from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = [str(a) for a in addresses if not _address_allowed(a)]
    if not addresses or refused:
        raise WebhookAddressRefused(
            _("The host %(host)s resolves to a private or local address (%(addresses)s); "
              "such receivers need WEBHOOK_ALLOW_PRIVATE=1.")
            % {"host": host, "addresses": ", ".join(refused)})
    return ResolvedURL(url=url, host=host, address=str(addresses[0]))


# --- Signatures -------------------------------------------------------------------------------


def generic_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` keyed with the webhook's secret."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def generic_signature_verify(*, secret: str, timestamp: str, body: bytes, signature: str,
                             tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does (README, "Notifications"): recompute the signature over the raw
    body, compare in constant time, and refuse timestamps older or newer than the tolerance
    (a replayed delivery)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance_seconds:
        return False
    expected = generic_signature(secret=secret, timestamp=sent, body=body)
    return hmac.compare_digest(expected, signature)


def dingtalk_signed_url(*, url: str, secret: str, timestamp_ms: int) -> str:
    """DingTalk's signed-robot mode: append `timestamp` (ms) and `sign`, the base64 of the
    HMAC-SHA256 of "<timestamp>\\n<secret>" keyed with the secret, URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


# --- Message shapes ---------------------------------------------------------------------------

# WeCom refuses markdown content over 4,096 bytes; DingTalk allows more, but a group chat
# message that long is not read either.
MARKDOWN_MAX_BYTES = 4000


def _cut(text: str, limit: int = MARKDOWN_MAX_BYTES) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 4].decode(errors="ignore").rstrip() + "\n…"


def dingtalk_body(*, title: str, markdown: str) -> dict:
    """DingTalk custom robot, markdown message."""
    return {"msgtype": "markdown", "markdown": {"title": title[:60], "text": _cut(markdown)}}


def wecom_body(*, markdown: str) -> dict:
    """WeCom group robot, markdown message."""
    return {"msgtype": "markdown", "markdown": {"content": _cut(markdown)}}


@dataclass
class Response:
    status_code: int | None
    ok: bool
    error: str = ""
    retry: bool = True  # whether another attempt may succeed


def post(*, url: str, body: bytes, headers: dict[str, str], robot: bool) -> Response:
    """POST `body` to the checked address of `url` (see the module docstring), within
    WEBHOOK_TIMEOUT_SECONDS. 2xx is success, except that robots answer 200 with a non-zero
    `errcode` when they refuse a message; 4xx other than 408 and 429 will not get better."""
    try:
        resolved = webhook_url_check(url)
    except WebhookAddressRefused as error:
        return Response(status_code=None, ok=False, error=str(error), retry=False)
    parts = urllib.parse.urlsplit(url)
    address = resolved.address
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    try:
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False,
                          trust_env=False) as client:
            reply = client.post(
                pinned, content=body,
                headers={"Host": host_header, "Content-Type": "application/json; charset=utf-8",
                         "User-Agent": USER_AGENT, **headers},
                # TLS is verified against the host name, not the address connected to.
                extensions={"sni_hostname": resolved.host},
            )
    except httpx.HTTPError as error:
        return Response(status_code=None, ok=False, error=f"{type(error).__name__}: {error}")
    code = reply.status_code
    if not 200 <= code < 300:
        return Response(status_code=code, ok=False, error=reply.text[:500],
                        retry=code >= 500 or code in (408, 429))
    if robot:
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            error = f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}"
            return Response(status_code=code, ok=False, error=error[:500])
    return Response(status_code=code, ok=True)


def json_bytes(payload: dict) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True, default=str).encode()
