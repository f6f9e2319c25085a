"""Webhook delivery at the transport level: the SSRF guard again at delivery time (DNS rebinding), the
request pinned to a checked address (each in turn), https to that address verifying the URL host's
certificate. Both databases, real servers (helpers from test_webhooks_delivery)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.db import Database
from shared.webhooks import subscribe
from tests.shared.test_webhooks_delivery import (  # the fixtures `db` and `receiver`, and helpers
    MODELS,
    Receiver,
    change,
    db_fixture,  # noqa: F401
    dispatcher,
    drain,
    log,
    receiver_fixture,  # noqa: F401
    serve,
)


async def test_guard_at_delivery_time_pins_the_checked_address(db: Database, receiver: Receiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1])
    answers = {"hooks.example": ["93.184.216.34"]}  # public when subscribing

    async def dns(host: str, _port: int) -> Sequence[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    async with db.transaction(write=True) as session:
        _, secret = await subscribe(session, MODELS, url=f"http://hooks.example:{port}/pinned", events=["*"],
                                    created_by="p", resolver=dns)
    receiver.secrets["/pinned"] = [secret]
    answers["hooks.example"] = ["93.184.216.34", "127.0.0.1"]  # rebinding: now one address is loopback
    await change(db, "application.approved", {"n": 1})
    async with dispatcher(db, allow_private=False, resolver=dns) as d:
        assert await d.run_once() == 1
    (dead,) = await log(db, state="dead")
    assert dead.last_status is None and "private-address" in dead.last_error and "127.0.0.1" in dead.last_error
    assert receiver.arrivals == []
    # where private addresses are allowed, the request goes to the checked address, with the URL's Host
    answers["hooks.example"] = ["127.0.0.1"]
    delivered, _ = await change(db, "application.approved", {"n": 2})
    async with dispatcher(db, allow_private=True, resolver=dns) as d:
        await drain(d, lambda: len(receiver.at("/pinned")) == 1)
    (arrival,) = receiver.at("/pinned")
    assert arrival.headers["host"] == f"hooks.example:{port}" and arrival.verified == delivered
    # a name that stops resolving is retried, not dead
    answers.clear()
    await change(db, "application.approved", {"n": 3})
    async with dispatcher(db, allow_private=True, resolver=dns) as d:
        assert await d.run_once() == 1
    (pending,) = await log(db, state="pending")
    assert pending.attempts == 1 and "unresolvable" in pending.last_error


async def test_each_checked_address_is_tried_until_one_connects(db: Database, receiver: Receiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1])

    async def dns(host: str, _port: int) -> Sequence[str]:
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on the first

    async with db.transaction(write=True) as session:
        _, secret = await subscribe(session, MODELS, url=f"http://two.example:{port}/two", events=["*"],
                                    created_by="p", allow_private=True, resolver=dns)
    receiver.secrets["/two"] = [secret]
    webhook_id, _ = await change(db, "application.approved", {"n": 1})
    async with dispatcher(db, resolver=dns) as d:
        assert await d.run_once() == 1
    (row,) = await log(db)
    assert (row.state, row.attempts) == ("delivered", 1)
    assert [a.verified for a in receiver.at("/two")] == [webhook_id]


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for DNS name `name` only (no IP address in it), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_to_a_pinned_address_verifies_the_certificate_of_the_url_host(
    db: Database, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "hooks.example")
    app = Receiver()
    with serve(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        port = int(url.rsplit(":", 1)[1])

        async def dns(host: str, _port: int) -> Sequence[str]:
            return ["127.0.0.1"]

        async with db.transaction(write=True) as session:
            _, secret = await subscribe(session, MODELS, url=f"https://hooks.example:{port}/tls", events=["*"],
                                        created_by="p", allow_private=True, resolver=dns)
            await subscribe(session, MODELS, url=f"https://other.example:{port}/wrong-name", events=["*"],
                            created_by="p", allow_private=True, resolver=dns)
        app.secrets["/tls"] = [secret]
        webhook_id, _ = await change(db, "application.approved", {"n": 1})
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert)), timeout=5) as client:
            async with dispatcher(db, resolver=dns, client=client, max_attempts=1) as d:
                assert await d.run_once() == 2
    assert [(a.verified, a.headers["host"]) for a in app.at("/tls")] == [(webhook_id, f"hooks.example:{port}")]
    assert app.at("/wrong-name") == []  # the certificate does not name other.example: nothing sent
    dead, delivered = sorted(await log(db), key=lambda r: r.state)
    assert (delivered.state, dead.state) == ("delivered", "dead")
    assert "CERTIFICATE_VERIFY_FAILED" in dead.last_error
