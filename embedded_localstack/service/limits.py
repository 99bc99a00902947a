"""AWS Lambda's limits that the embedded service enforces, each written once (AWS docs "Lambda quotas").

Standard library only: the executor, the sandbox and the LocalStack patches import it.
"""

from __future__ import annotations

MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100
"""Lambda's synchronous invocation payload limit: 6 MiB + 100 bytes, as AWS's own errors quote it
("Request must be smaller than 6291556 bytes for the Invoke operation"). Responses have the same cap."""
MAX_RESPONSE_BYTES = MAX_INVOKE_PAYLOAD_BYTES
REQUEST_TOO_LARGE_TYPE = "RequestTooLargeException"
REQUEST_TOO_LARGE_MESSAGE = f"Request must be smaller than {MAX_INVOKE_PAYLOAD_BYTES} bytes for the Invoke operation"
RESPONSE_TOO_LARGE_MESSAGE = (
    f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
)
MAX_PROCESSES = 1024
"""Processes or threads per execution environment."""
CLOUDWATCH_BATCH_BYTES = 1_048_576
"""CloudWatch Logs' largest ``PutLogEvents`` batch: UTF-8 bytes of the messages plus 26 bytes per event."""
CLOUDWATCH_EVENT_OVERHEAD_BYTES = 26
CLOUDWATCH_MAX_EVENT_BYTES = 256 * 1024
"""One log event, its 26 bytes of overhead included; Lambda splits a longer line of output into several events."""
CLOUDWATCH_MAX_EVENTS_PER_PUT = 10_000
MAX_UNZIPPED_CODE_BYTES = 250 * 1024 * 1024
"""A deployment package's unzipped size (AWS: 250 MB, 262144000 bytes; LocalStack's limit and message are the same)."""
UNZIPPED_TOO_LARGE_MESSAGE = f"Unzipped size must be smaller than {MAX_UNZIPPED_CODE_BYTES} bytes"
SIGV4_CLOCK_SKEW_S = 15 * 60
"""How far a SigV4 request's X-Amz-Date may lie from the service's clock ("Signature expired: ... (... - 15 min.)")."""
SIGV4_MAX_EXPIRES_S = 7 * 24 * 3600
"""The longest ``X-Amz-Expires`` a presigned SigV4 request may carry (seven days)."""
