"""What makes two requests "the same" for Idempotency-Key (contracts): method, path, query and body; a
multipart body without its random boundary, so that a retried upload replays instead of answering 422."""

from __future__ import annotations

import httpx

from shared.idempotency import request_digest


def multipart(content: bytes, boundary: str) -> tuple[bytes, bytes]:
    request = httpx.Request("POST", "http://workflow/applications/1/materials/development_plan",
                            files={"file": ("plan.pdf", content, "application/pdf")},
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return request.headers["content-type"].encode(), request.read()


def test_a_retried_upload_is_the_same_request_whatever_its_boundary() -> None:
    first_type, first = multipart(b"%PDF-1.7 plan", "a1b2c3")
    again_type, again = multipart(b"%PDF-1.7 plan", "zz99yy88")
    assert first != again  # the bytes on the wire differ
    path = "/applications/1/materials/development_plan"
    assert request_digest("POST", path, b"", first_type, first) == request_digest("POST", path, b"", again_type, again)
    other_type, other = multipart(b"%PDF-1.7 another plan", "zz99yy88")
    assert request_digest("POST", path, b"", other_type, other) != request_digest("POST", path, b"", first_type, first)


def test_method_path_query_and_body_each_count() -> None:
    base = request_digest("POST", "/zones", b"", b"application/json", b'{"a":1}')
    assert request_digest("PUT", "/zones", b"", b"application/json", b'{"a":1}') != base
    assert request_digest("POST", "/zones/x", b"", b"application/json", b'{"a":1}') != base
    assert request_digest("POST", "/zones", b"dry_run=true", b"application/json", b'{"a":1}') != base
    assert request_digest("POST", "/zones", b"", b"application/json", b'{"a":2}') != base
    # a JSON body that merely mentions a boundary is hashed as it is
    assert request_digest("POST", "/zones", b"", b"application/json; boundary=x", b'{"a":1}') == base
