"""Evidence files in S3-compatible object storage (EVIDENCE_STORAGE=s3, django-storages),
against a real S3 server on 127.0.0.1: moto in server mode."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer

from sessions_app.models import SessionEvidence
from tests.factories import SessionFactory, png_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
BUCKET = "linfen-evidence"
KEYS = {"AWS_ACCESS_KEY_ID": "linfen-test-key", "AWS_SECRET_ACCESS_KEY": "linfen-test-secret"}


def storage_settings_from_environment(endpoint: str) -> dict:
    """STORAGES["default"] as linfen_tracker/settings.py builds it from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(KEYS, DJANGO_SETTINGS_MODULE="linfen_tracker.settings", EVIDENCE_STORAGE="s3",
               AWS_STORAGE_BUCKET_NAME=BUCKET, AWS_S3_ENDPOINT_URL=endpoint,
               AWS_S3_REGION_NAME="cn-north-1")
    probe = ("import json, django; from django.conf import settings; django.setup();"
             "print(json.dumps(settings.STORAGES['default']))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, settings):
    client = boto3.client("s3", endpoint_url=s3_server, region_name="cn-north-1",
                          aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"])
    client.create_bucket(Bucket=BUCKET,
                         CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    settings.STORAGES = {**settings.STORAGES,
                         "default": storage_settings_from_environment(s3_server)}
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_the_environment_selects_s3_with_private_objects(s3_server):
    found = storage_settings_from_environment(s3_server)

    assert found["BACKEND"] == "storages.backends.s3.S3Storage"
    options = found["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"]) == (BUCKET, s3_server)
    assert (options["default_acl"], options["querystring_auth"]) == ("private", True)
    assert options["addressing_style"] == "path"


def test_upload_through_the_api_lands_in_the_bucket_and_downloads_through_the_view(
        s3, staff_api, official_api):
    session = SessionFactory()
    content = xlsx_bytes()

    created = staff_api.post(f"/api/v1/sessions/{session.pk}/evidence/",
                             {"file": SimpleUploadedFile("抖音导出.xlsx", content)},
                             format="multipart")

    assert created.status_code == 201, created.json()
    evidence = SessionEvidence.objects.get()
    assert default_storage.__class__.__name__ == "S3Storage"
    stored = s3.get_object(Bucket=BUCKET, Key=evidence.file.name)
    assert stored["Body"].read() == content
    assert stored["ContentType"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    download = official_api.get(created.json()["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["Content-Disposition"].startswith("attachment; filename*=utf-8''")


def test_objects_are_private_and_the_page_streams_them(s3, s3_server, staff_api,
                                                         official_user, client):
    session = SessionFactory()
    staff_api.post(f"/api/v1/sessions/{session.pk}/evidence/",
                   {"file": SimpleUploadedFile("shot.png", png_bytes())}, format="multipart")
    evidence = SessionEvidence.objects.get()

    grants = s3.get_object_acl(Bucket=BUCKET, Key=evidence.file.name)["Grants"]
    assert all("AllUsers" not in str(g["Grantee"]) for g in grants)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{s3_server}/{BUCKET}/{evidence.file.name}", timeout=5)
    assert anonymous.value.code == 403
    assert s3.head_object(Bucket=BUCKET, Key=evidence.thumbnail.name)["ContentType"] == (
        "image/jpeg")
    client.force_login(official_user)
    page = client.get(f"/sessions/{session.pk}/evidence/{evidence.pk}/")
    assert page.status_code == 200 and b"".join(page.streaming_content) == png_bytes()
    thumbnail = client.get(f"/sessions/{session.pk}/evidence/{evidence.pk}/thumbnail/")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
