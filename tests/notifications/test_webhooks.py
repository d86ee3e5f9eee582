"""Webhooks against a real HTTP server started in the test: the generic format's signature
verified the way a receiver does it, the robots' message shapes, DingTalk's signed URL,
retries with a real worker on Redis, the delivery log, and refused private addresses."""

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError

from notifications import services
from notifications.models import Webhook, WebhookDelivery
from notifications.webhooks import WebhookAddressRefused, webhook_url_check

from ..conftest import wait_for


class Receiver:
    """An HTTP server in a thread that records every request and answers from `replies`
    (status codes, the last one repeated)."""

    def __init__(self, replies=(200,), body=b"{}"):
        self.requests: list[dict] = []
        self.replies = list(replies)
        self.body = body
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": self.rfile.read(length)})
                n = len(receiver.requests)
                code = receiver.replies[min(n, len(receiver.replies)) - 1]
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def receiver_verifies(*, secret: str, headers: dict, body: bytes, tolerance=300) -> bool:
    """The README's recipe, as a receiver writes it with the standard library only."""
    timestamp = headers["X-Linfen-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers["X-Linfen-Signature"])


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOK_RETRY_MAX_SECONDS = 1


def _deliver(delivery):
    from notifications.tasks import webhook_deliver

    webhook_deliver.delay(delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.django_db
def test_a_generic_delivery_is_signed_and_a_receiver_can_verify_it(private_ok):
    with Receiver() as receiver:
        hook = Webhook.objects.create(name="generic", url=receiver.url, secret="s3cret",
                                      events=["published"])
        [delivery_id] = services._deliveries_create(
            event="published", holiday=None, data={"revision": 3, "note": "大家好"})
        delivery = _deliver(WebhookDelivery.objects.get(pk=delivery_id))

    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    [request] = receiver.requests
    body = request["body"]
    assert json.loads(body) == {"event": "published", "holiday": None,
                                "data": {"revision": 3, "note": "大家好"}}
    assert request["headers"]["X-Linfen-Event"] == "published"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert receiver_verifies(secret="s3cret", headers=request["headers"], body=body)
    # A changed body, another secret or an old timestamp do not verify.
    assert not receiver_verifies(secret="s3cret", headers=request["headers"], body=body + b" ")
    assert not receiver_verifies(secret="other", headers=request["headers"], body=body)
    old = {**request["headers"], "X-Linfen-Timestamp": str(int(time.time()) - 3600)}
    assert not receiver_verifies(secret="s3cret", headers=old, body=body)
    assert hook.deliveries.count() == 1


@pytest.mark.django_db
def test_dingtalk_gets_a_markdown_message_on_a_signed_url(private_ok):
    with Receiver(body=b'{"errcode": 0, "errmsg": "ok"}') as receiver:
        Webhook.objects.create(name="ding", url=receiver.url + "?access_token=abc",
                               secret="SECabc", events=["test"], format="dingtalk",
                               language="en")
        delivery = _deliver(services.webhook_test_send(webhook=Webhook.objects.get()))

    assert delivery.status == "succeeded"
    [request] = receiver.requests
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
    assert query["access_token"] == ["abc"]
    timestamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SECabc", f"{timestamp}\nSECabc".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    message = json.loads(request["body"])
    assert message["msgtype"] == "markdown"
    assert message["markdown"]["title"] == "Test message"
    assert "test message from the Linfen livestream tracker" in message["markdown"]["text"]


@pytest.mark.django_db
def test_wecom_gets_a_markdown_message_in_its_language(private_ok, holiday):
    with Receiver(body=b'{"errcode": 0}') as receiver:
        Webhook.objects.create(name="wecom", url=receiver.url, events=["published"],
                               format="wecom", language="zh-hans")
        [delivery_id] = services._deliveries_create(
            event="published", holiday=holiday, data={"revision": 1, "note": ""})
        delivery = _deliver(WebhookDelivery.objects.get(pk=delivery_id))

    assert delivery.status == "succeeded"
    message = json.loads(receiver.requests[0]["body"])
    assert set(message) == {"msgtype", "markdown"}
    assert message["msgtype"] == "markdown"
    assert "Labor Day 2020" in message["markdown"]["content"]


@pytest.mark.django_db
def test_a_robot_error_code_is_a_failed_attempt_in_the_log(private_ok):
    with Receiver(body=b'{"errcode": 310000, "errmsg": "sign not match"}') as receiver:
        Webhook.objects.create(name="ding", url=receiver.url, events=["test"],
                               format="dingtalk")
        delivery = _deliver(services.webhook_test_send(webhook=Webhook.objects.get()))

    # In-process (eager) mode makes one attempt; the worker test below covers retries.
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "310000" in delivery.last_error


@pytest.mark.worker
def test_a_failing_receiver_is_retried_by_the_worker_until_it_succeeds(
        celery_worker_on_redis, private_ok):
    with Receiver(replies=(503, 500, 200)) as receiver:
        hook = Webhook.objects.create(name="flaky", url=receiver.url, secret="k",
                                      events=["published"])
        # Committed at once (no test transaction here): the send follows the commit.
        delivery = services.webhook_test_send(webhook=hook)
        assert wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status
                        == "succeeded", seconds=30)

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code, delivery.last_error) == (3, 200, "")
    assert len(receiver.requests) == 3
    # Each attempt is signed afresh over the same body.
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1
    assert all(receiver_verifies(secret="k", headers=r["headers"], body=r["body"])
               for r in receiver.requests)


@pytest.mark.worker
def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(
        celery_worker_on_redis, private_ok, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(replies=(502,)) as receiver:
        hook = Webhook.objects.create(name="down", url=receiver.url, secret="k",
                                      events=["published"])
        # Committed at once (no test transaction here): the send follows the commit.
        delivery = services.webhook_test_send(webhook=hook)
        assert wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status
                        == "failed", seconds=30)
        time.sleep(1.5)  # no attempt after the last one

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code) == (3, 502)
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_a_client_error_is_not_retried(private_ok):
    with Receiver(replies=(404,)) as receiver:
        hook = Webhook.objects.create(name="gone", url=receiver.url, secret="k",
                                      events=["published"])
        delivery = _deliver(services.webhook_test_send(webhook=hook))
    assert (delivery.status, delivery.response_code, len(receiver.requests)) == (
        "failed", 404, 1)


# --- Server-side request forgery ---------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "ftp://example.org/hook",
    "http://user:pw@8.8.8.8/hook",
])
def test_private_loopback_and_odd_urls_are_refused(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookAddressRefused):
        webhook_url_check(url)


def test_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert webhook_url_check("https://8.8.8.8/hook").address == "8.8.8.8"


def test_every_address_a_host_resolves_to_is_checked(settings, monkeypatch):
    import socket

    settings.WEBHOOK_ALLOW_PRIVATE = False

    def two_answers(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    with pytest.raises(WebhookAddressRefused, match="10.0.0.5"):
        webhook_url_check("https://robots.example.org/hook")


@pytest.mark.django_db
def test_registering_a_private_url_is_a_400_naming_the_url(client, superuser, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(superuser)
    answer = client.post("/api/v1/webhooks/", {
        "name": "intranet", "url": "http://127.0.0.1:9000/hook", "secret": "k",
        "events": ["published"], "format": "generic", "language": "en"},
        content_type="application/json")
    assert answer.status_code == 400
    assert set(answer.json()) == {"url"}
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_the_address_is_checked_again_at_send_time(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    hook = Webhook.objects.create(name="later", url="http://127.0.0.1:9/hook", secret="k",
                                  events=["published"])
    settings.WEBHOOK_ALLOW_PRIVATE = False  # e.g. the DNS answer changed since registration
    delivery = _deliver(services.webhook_test_send(webhook=hook))
    assert delivery.status == "failed"
    assert "WEBHOOK_ALLOW_PRIVATE=1" in delivery.last_error and "127.0.0.1" in delivery.last_error


@pytest.mark.django_db
def test_only_superusers_manage_webhooks(client, staff_user, superuser, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    client.force_login(staff_user)
    assert client.get("/api/v1/webhooks/").status_code == 403
    client.force_login(superuser)
    created = client.post("/api/v1/webhooks/", {
        "name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "k",
        "events": ["snapshot_ready", "top10"]}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert "secret" not in created.json() and created.json()["has_secret"] is True
    no_secret = client.post("/api/v1/webhooks/", {
        "name": "ops", "url": "http://127.0.0.1:9/hook", "events": ["top10"]},
        content_type="application/json")
    assert no_secret.status_code == 400 and set(no_secret.json()) == {"secret"}
    bad_event = client.post("/api/v1/webhooks/", {
        "name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "k", "events": ["gossip"]},
        content_type="application/json")
    assert bad_event.status_code == 400 and "events" in bad_event.json()


@pytest.mark.django_db
def test_the_test_button_and_the_log_in_the_api(client, superuser, private_ok):
    with Receiver() as receiver:
        hook = Webhook.objects.create(name="ops", url=receiver.url, secret="k",
                                      events=["published"])
        client.force_login(superuser)

        answer = client.post(f"/api/v1/webhooks/{hook.pk}/test/")
        assert answer.status_code == 202
        delivery = WebhookDelivery.objects.get()
        _deliver(delivery)  # the on-commit send does not fire inside a test transaction
        log = client.get(f"/api/v1/webhooks/{hook.pk}/deliveries/").json()
    assert log["results"][0]["status"] == "succeeded"
    assert log["results"][0]["test"] is True


def test_model_rules_refuse_a_generic_webhook_without_a_secret(db, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError) as error:
        services.webhook_save(webhook=Webhook(), data={
            "name": "x", "url": "http://127.0.0.1:9/", "events": ["top10"]})
    assert set(error.value.message_dict) == {"secret"}
