"""Real key material for the pulumi-tls resources, made with `cryptography`.

Property names and defaults follow pulumi-tls 5.6.2 (the installed `pulumi_tls` package's
getters) and hashicorp/terraform-provider-tls (internal/provider/resource_private_key.go,
common_key.go, common_cert.go): ecdsaCurve defaults to P224, rsaBits to 2048; privateKeyPem
is PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for ED25519; publicKeyOpenssh ends in "\\n" and is
"" for P224 (OpenSSH has no P224); the SHA256 fingerprint is "SHA256:" + unpadded base64.
Secret outputs come from the SDK's additionalSecretOutputs (privateKeyPem, ...).

Not modelled: certificate renewal (`earlyRenewalHours`, `readyForRenewal` is always false),
`maxPathLength`, the `*Wo` write-only inputs, name constraints. Every input change replaces.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .values import unwrap

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert"
TYPES = {PRIVATE_KEY, SELF_SIGNED_CERT, CERT_REQUEST, LOCALLY_SIGNED_CERT}

CURVES = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}

SUBJECT_FIELDS = {
    "commonName": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "postalCode": NameOID.POSTAL_CODE,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}

EXTENDED_USES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}
KEY_USES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}


class TlsError(Exception):
    pass


def _pem_public(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _openssh_public(public_key) -> str:
    try:
        raw = public_key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    except ValueError:
        return ""
    return raw.decode() + "\n"


def _fingerprints(openssh: str) -> tuple[str, str]:
    if not openssh:
        return "", ""
    blob = base64.b64decode(openssh.split()[1])
    md5 = ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    sha = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return md5, sha


def key_algorithm(private_key) -> str:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ECDSA"
    return "RSA"


def private_key(inputs: dict) -> dict:
    algorithm = inputs.get("algorithm")
    curve = inputs.get("ecdsaCurve") or "P224"
    rsa_bits = int(inputs.get("rsaBits") or 2048)
    if algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
        traditional = serialization.PrivateFormat.PKCS8
    elif algorithm == "ECDSA":
        if curve not in CURVES:
            raise TlsError(f"invalid ecdsaCurve {curve!r}")
        key = ec.generate_private_key(CURVES[curve]())
        traditional = serialization.PrivateFormat.TraditionalOpenSSL
    elif algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        traditional = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        raise TlsError(f"invalid algorithm {algorithm!r}: want RSA, ECDSA or ED25519")
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    try:
        private_openssh = key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none)
    except ValueError:
        private_openssh = b""
    public_openssh = _openssh_public(key.public_key())
    md5, sha256 = _fingerprints(public_openssh)
    public_pem = _pem_public(key.public_key())
    return {
        "id": hashlib.sha1(public_pem.encode()).hexdigest(),
        "algorithm": algorithm,
        "ecdsaCurve": curve,
        "rsaBits": rsa_bits,
        "privateKeyPem": key.private_bytes(pem, traditional, none).decode(),
        "privateKeyPemPkcs8": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, none
        ).decode(),
        "privateKeyOpenssh": private_openssh.decode(),
        "publicKeyPem": public_pem,
        "publicKeyOpenssh": public_openssh,
        "publicKeyFingerprintMd5": md5,
        "publicKeyFingerprintSha256": sha256,
    }


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _signature_hash(signing_key):
    return None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _subject(subject: dict | None) -> x509.Name:
    attributes = []
    for name, oid in SUBJECT_FIELDS.items():
        value = (subject or {}).get(name)
        if value:
            attributes.append(x509.NameAttribute(oid, value))
    for street in (subject or {}).get("streetAddresses") or []:
        attributes.append(x509.NameAttribute(NameOID.STREET_ADDRESS, street))
    return x509.Name(attributes)


def _sans(inputs: dict) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in inputs.get("dnsNames") or []]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in inputs.get("ipAddresses") or []]
    names += [x509.UniformResourceIdentifier(u) for u in inputs.get("uris") or []]
    return names


def _certificate(inputs, subject, public_key, issuer, signing_key, issuer_cert=None) -> dict:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    end = now + datetime.timedelta(hours=float(inputs["validityPeriodHours"]))
    uses = inputs.get("allowedUses") or []
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(end)
    )
    flags = {v: False for v in KEY_USES.values()}
    for use in uses:
        if use in KEY_USES:
            flags[KEY_USES[use]] = True
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    extended = [EXTENDED_USES[u] for u in uses if u in EXTENDED_USES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    is_ca = bool(inputs.get("isCaCertificate"))
    constraints = x509.BasicConstraints(ca=is_ca, path_length=None)
    builder = builder.add_extension(constraints, critical=True)
    sans = _sans(inputs)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    if issuer_cert is not None or inputs.get("setAuthorityKeyId"):
        issuer_public = issuer_cert.public_key() if issuer_cert else signing_key.public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    cert = builder.sign(signing_key, _signature_hash(signing_key))
    return {
        "id": str(cert.serial_number),
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


def self_signed_cert(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    name = _subject(inputs.get("subject"))
    out = _certificate(inputs, name, key.public_key(), name, key)
    out["keyAlgorithm"] = key_algorithm(key)
    return out


def cert_request(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs.get("subject")))
    sans = _sans(inputs)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, _signature_hash(key))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    return {
        "id": hashlib.sha1(pem.encode()).hexdigest(),
        "certRequestPem": pem,
        "keyAlgorithm": key_algorithm(key),
    }


def locally_signed_cert(inputs: dict) -> dict:
    csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca_key = _load_key(inputs["caPrivateKeyPem"])
    ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    merged = dict(inputs)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        merged["dnsNames"] = san.get_values_for_type(x509.DNSName)
        merged["ipAddresses"] = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
        merged["uris"] = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        pass
    out = _certificate(merged, csr.subject, csr.public_key(), ca_cert.subject, ca_key, ca_cert)
    out["caKeyAlgorithm"] = key_algorithm(ca_key)
    return out


GENERATORS = {
    PRIVATE_KEY: private_key,
    SELF_SIGNED_CERT: self_signed_cert,
    CERT_REQUEST: cert_request,
    LOCALLY_SIGNED_CERT: locally_signed_cert,
}


def create(type_: str, inputs: dict) -> tuple[str, dict]:
    """(id, computed outputs) for a TLS resource; inputs may carry secret wrappers."""
    try:
        outputs = GENERATORS[type_](unwrap(inputs))
    except (KeyError, ValueError, TypeError) as exc:
        raise TlsError(f"{type_}: {exc}") from exc
    return outputs.pop("id"), outputs
