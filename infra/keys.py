"""Key material and tokens: the JWT signing key, client tokens, and gRPC mutual-TLS certificates.

Keys come from pulumi-tls, so they live (encrypted) in the stack's state and never on disk.
Tokens are minted with PyJWT inside an apply; Ed25519 signatures are deterministic, so the same
key and claims give the same token and previews do not churn.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import jwt
import pulumi
import pulumi_tls as tls
from cryptography.hazmat.primitives import serialization

from infra.settings import StackSettings

# Ten years: rotation is explicit (tlsVersion), not by expiry surprising a running cluster.
CERT_VALIDITY_HOURS = 24 * 365 * 10


def sqld_public_key(public_key_pem: str) -> str:
    """The form sqld's SQLD_AUTH_JWT_KEY takes on one line: raw 32 bytes, base64url, unpadded."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def mint_token(private_key_pem: str, access: str, issued_at: int, expiry_days: int) -> str:
    """A JWT sqld accepts: claim `a` is "rw" or "ro"; `exp` only when an expiry is set."""
    if access not in ("rw", "ro"):
        raise ValueError(f"access must be 'rw' or 'ro', not {access!r}")
    claims: dict[str, object] = {"a": access, "iat": issued_at}
    if expiry_days:
        claims["exp"] = issued_at + expiry_days * 86400
    return jwt.encode(claims, private_key_pem, algorithm="EdDSA")


def jwt_signing_key(
    settings: StackSettings, parent: pulumi.Resource, after: list[pulumi.Resource]
) -> tls.PrivateKey:
    """Bumping keyVersion renames the resource: a new key replaces the old one. `after`: what
    must have passed first (a refused change makes no key)."""
    return tls.PrivateKey(
        f"jwt-key-v{settings.key_version}",
        algorithm="ED25519",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=after),
    )


@dataclass(frozen=True)
class GrpcTls:
    """PEMs for sqld's gRPC mutual TLS. All are secret Outputs."""

    ca_cert: pulumi.Output[str]
    server_cert: pulumi.Output[str]
    server_key: pulumi.Output[str]
    client_cert: pulumi.Output[str]
    client_key: pulumi.Output[str]
    resources: tuple[pulumi.Resource, ...]  # the keys, CA and certificates that make them


def grpc_server_names(settings: StackSettings) -> list[str]:
    """Names for the primary's certificate. sqld's replica checks the name `sqld` whatever host
    it dials (libsql-server config.rs: domain_name("sqld")); the 6PN and loopback names keep
    the certificate honest for any other client."""
    app, region = settings.app_name, settings.primary_region
    return ["sqld", f"{region}.{app}.internal", f"{app}.internal", "localhost"]


def grpc_tls(
    settings: StackSettings, parent: pulumi.Resource, after: list[pulumi.Resource]
) -> GrpcTls:
    """A private CA that signs one server certificate (the primary) and one client certificate
    (the replicas). Only holders of a CA-signed client certificate can replicate. `after`: what
    must have passed first (the server certificate names the primary's region)."""
    v = settings.tls_version
    opts = pulumi.ResourceOptions(parent=parent, depends_on=after)
    made: list[pulumi.Resource] = []

    def key(name: str) -> tls.PrivateKey:
        private_key = tls.PrivateKey(
            f"{name}-v{v}", algorithm="ECDSA", ecdsa_curve="P256", opts=opts
        )
        made.append(private_key)
        return private_key

    ca_key = key("grpc-ca-key")
    ca = tls.SelfSignedCert(
        f"grpc-ca-v{v}",
        private_key_pem=ca_key.private_key_pem,
        subject=tls.SelfSignedCertSubjectArgs(common_name=f"{settings.app_name} gRPC CA"),
        is_ca_certificate=True,
        validity_period_hours=CERT_VALIDITY_HOURS,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        opts=opts,
    )
    made.append(ca)

    def signed(name: str, private_key: tls.PrivateKey, uses: list[str], **names):
        request = tls.CertRequest(
            f"{name}-csr-v{v}",
            private_key_pem=private_key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=f"{settings.app_name} {name}"),
            opts=opts,
            **names,
        )
        cert = tls.LocallySignedCert(
            f"{name}-cert-v{v}",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=CERT_VALIDITY_HOURS,
            allowed_uses=["digital_signature", "key_encipherment", *uses],
            opts=opts,
        )
        made.extend((request, cert))
        return cert

    server_key, client_key = key("grpc-server-key"), key("grpc-client-key")
    server = signed(
        "grpc-server",
        server_key,
        ["server_auth"],
        dns_names=grpc_server_names(settings),
        ip_addresses=["127.0.0.1", "::1"],
    )
    client = signed("grpc-client", client_key, ["client_auth"])
    secret = pulumi.Output.secret
    return GrpcTls(
        ca_cert=secret(ca.cert_pem),
        server_cert=secret(server.cert_pem),
        server_key=secret(server_key.private_key_pem_pkcs8),
        client_cert=secret(client.cert_pem),
        client_key=secret(client_key.private_key_pem_pkcs8),
        resources=tuple(made),
    )
