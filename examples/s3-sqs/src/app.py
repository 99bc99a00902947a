"""Two handlers in one package: ``api`` (behind the Function URL) and ``worker`` (fed by SQS).

Both reach S3 with boto3, which AWS's Python runtimes ship. No endpoint is configured here: on AWS boto3 finds S3
itself, on LocalStack the runtime's ``AWS_ENDPOINT_URL`` points at LocalStack (an IP address, so boto3 addresses
buckets path-style and needs no DNS).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

BUCKET = os.environ["BUCKET"]
s3 = boto3.client("s3")


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """POST text -> 202 {"id"}; GET ?id=<id> -> 200 with the result, or 404 while it is pending."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    if method == "POST":
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", errors="replace")
        if not body.strip():
            return _answer(400, {"error": "POST some text"})
        job = uuid.uuid4().hex
        s3.put_object(Bucket=BUCKET, Key=f"incoming/{job}.txt", Body=body.encode(), ContentType="text/plain")
        print(f"stored job {job} ({len(body)} characters)")
        return _answer(202, {"id": job})
    job = (event.get("queryStringParameters") or {}).get("id", "")
    if not job.isalnum():
        return _answer(400, {"error": "GET ?id=<id from the POST>"})
    try:
        result = s3.get_object(Bucket=BUCKET, Key=f"processed/{job}.json")
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return _answer(404, {"id": job, "status": "pending"})
        raise
    return _answer(200, json.loads(result["Body"].read()))


def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """For each S3 notification in the SQS batch: read the text, write processed/<id>.json."""
    settings = json.loads(s3.get_object(Bucket=BUCKET, Key="config/settings.json")["Body"].read())
    failures = []
    for record in event.get("Records", []):
        try:
            notification = json.loads(record["body"])
        except ValueError:
            print(f"message {record.get('messageId')} is not JSON; left for the queue's retries")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        for entry in notification.get("Records", []):  # s3:TestEvent (sent when notifications are set) has none
            key = unquote_plus(entry["s3"]["object"]["key"])
            job = key.removeprefix("incoming/").removesuffix(".txt")
            text = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8", errors="replace")
            result = {"id": job, "words": len(text.split()), "upper": text.upper(), "note": settings["greeting"]}
            s3.put_object(
                Bucket=BUCKET, Key=f"processed/{job}.json", Body=json.dumps(result), ContentType="application/json"
            )
            print(f"processed {key}: {result['words']} words")
    return {"batchItemFailures": failures}
