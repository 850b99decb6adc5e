"""The `local` target: the same primary/replica topology as on Fly, as processes on loopback.

Each node is a Command whose create starts assets/run.sh detached (infra/localnode.py) and whose
delete stops it, so `pulumi up -s local` / `pulumi destroy -s local` behave like the Fly stacks.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_command import local

from infra import assets
from infra.settings import StackSettings

STATE_ROOT = Path(".pulumi-local")  # relative to the project, like build/; ignored by git


@dataclass(frozen=True)
class LocalNode:
    name: str
    role: str
    region: str
    http: str
    grpc: str | None = None


def nodes(settings: StackSettings) -> list[LocalNode]:
    """The primary, then each replica on the next free HTTP port."""
    host = "127.0.0.1"
    found = [
        LocalNode(
            "primary", "primary", settings.primary_region,
            f"{host}:{settings.local_http_port}", f"{host}:{settings.local_grpc_port}",
        )
    ]  # fmt: skip
    port = settings.local_http_port
    for region, count in sorted(settings.replicas.items()):
        for i in range(count):
            port += 1
            if port == settings.local_grpc_port:
                port += 1
            found.append(LocalNode(f"replica-{region}-{i}", "replica", region, f"{host}:{port}"))
    return found


def node_command(flag_args: list[str], action: str) -> str:
    return shlex.join(["python3", "-m", "infra.localnode", action, *flag_args])


@dataclass(frozen=True)
class Endpoints:
    http_url: pulumi.Output[str]
    libsql_url: pulumi.Output[str]


def run(parent: pulumi.Resource, settings: StackSettings, secrets: pulumi.Output) -> Endpoints:
    stack = pulumi.get_stack()
    build_dir = assets.build_dir(stack)
    state_dir = STATE_ROOT / stack
    digest = assets.write_build_context(settings, build_dir)
    secrets_digest = pulumi.Output.secret(secrets.apply(assets.digest))
    # TLS material and the JWT key reach run.sh as environment, as Fly secrets do, beside what
    # Fly would set on a machine (FLY_REGION is per node: localnode --region).
    fly_like_env = {"PRIMARY_REGION": settings.primary_region, "FLY_APP_NAME": settings.app_name}
    node_env = pulumi.Output.secret(secrets.apply(lambda v: {**v, **fly_like_env}))
    all_nodes = nodes(settings)
    primary_grpc = f"http://localhost:{settings.local_grpc_port}"
    started: list[local.Command] = []
    for node in all_nodes:
        ident = ["--state-dir", state_dir.as_posix(), "--name", node.name]
        flags = [*ident, "--role", node.role, "--region", node.region, "--http", node.http,
                 "--litestream-config", (build_dir / "litestream.yml").as_posix()]  # fmt: skip
        if node.grpc:
            flags += ["--grpc", node.grpc]
        else:
            flags += ["--primary-grpc-url", primary_grpc]
        started.append(
            local.Command(
                f"local-{node.name}",
                create=node_command(flags, "start"),
                delete=node_command(ident, "stop"),
                environment=node_env,
                # A new run.sh or new keys restart the node, as a deploy does on Fly.
                triggers=[digest, secrets_digest],
                logging=local.Logging.STDOUT_AND_STDERR,
                opts=pulumi.ResourceOptions(
                    parent=parent,
                    depends_on=started[:1],  # replicas start after the primary
                    delete_before_replace=True,  # same ports: stop the old node first
                ),
            )
        )
    http = f"http://{all_nodes[0].http}"
    return Endpoints(pulumi.Output.from_input(http), pulumi.Output.from_input(http))
