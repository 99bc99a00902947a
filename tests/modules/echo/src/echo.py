"""Echo the Function URL request back as JSON, with a greeting from the environment."""

import base64
import json
import os


def handler(event, context):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    answer = {
        "greeting": os.environ.get("GREETING", ""),
        "method": event.get("requestContext", {}).get("http", {}).get("method"),
        "path": event.get("rawPath"),
        "query": event.get("queryStringParameters") or {},
        "body": body,
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}
