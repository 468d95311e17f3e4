"""A real HTTP(S) server on loopback for the outbound-fetch tests, with misbehaving endpoints."""

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.netguard.addresses import parse_cidrs
from tests.support.http_server import QuietHandler

PAYLOAD = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
LOOPBACK = parse_cidrs("127.0.0.0/8,::1/128")  # what the guards must allow to reach these servers


@dataclass
class Seen:
    """What the server observed, so tests can assert on Host headers and TLS server names."""

    hosts: list[str] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


class Handler(QuietHandler):
    protocol_version = "HTTP/1.1"
    seen: Seen

    def do_GET(self) -> None:
        self.seen.hosts.append(self.headers.get("Host", ""))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = getattr(self, "route_" + url.path.strip("/").replace("-", "_"), None)
        if route is None:
            self.send(404, b"no such route")
            return
        route(query)

    def do_POST(self) -> None:
        """Webhook receiver: records the body, then answers like the GET route of that path."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.posts.append((self.path, dict(self.headers.items()), body))
        self.do_GET()

    def route_image(self, _: dict[str, str]) -> None:
        self.send(200, PAYLOAD, {"Content-Type": "image/png"})

    def route_status(self, query: dict[str, str]) -> None:
        self.send(int(query["code"]), b"nope")

    def route_redirect(self, query: dict[str, str]) -> None:
        self.send(int(query.get("code", "302")), headers={"Location": query["to"]})

    def route_loop(self, query: dict[str, str]) -> None:
        """Redirects to itself `n` more times, then serves the image."""
        left = int(query["n"])
        if left == 0:
            self.route_image(query)
        else:
            self.send(302, headers={"Location": f"/loop?n={left - 1}"})

    def route_declared_big(self, query: dict[str, str]) -> None:
        """Announces a big body in Content-Length (and never sends it)."""
        self.send_response(200)
        self.send_header("Content-Length", query["size"])
        self.end_headers()
        self.wfile.write(b"x" * 10)

    def route_chunked_big(self, query: dict[str, str]) -> None:
        """No Content-Length: only counting while streaming can stop it."""
        self.send_chunked(b"y" * 16384, int(query["chunks"]))

    def route_drip(self, query: dict[str, str]) -> None:
        """One byte every `every` seconds: each read is quick, the whole never ends."""
        self.send_drip(b"z", float(query.get("every", "0.05")), 100000)


@contextmanager
def serve(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[tuple[int, Seen]]:
    """Serve `Handler` on `host` (over TLS with `tls`); yields the port and what it saw."""
    seen = Seen()
    handler = type("BoundHandler", (Handler,), {"seen": seen})
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: seen.sni.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Pki:
    """A throwaway CA: `client_context()` trusts it; `server_context(names)` serves a leaf."""

    directory: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path) -> "Pki":
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veo test CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return cls(directory, key, cert)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cadata=self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        )
        assert context.check_hostname
        return context

    def server_context(self, dns_names: list[str]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        stem = self.directory / "-".join(dns_names)
        cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


def loopback_networks() -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    return ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128")
