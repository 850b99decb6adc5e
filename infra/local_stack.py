"""The `local` target: the same primary/replica topology as on Fly, as processes on loopback.

Each node is a Command whose create starts assets/run.sh detached (infra/localnode.py) and whose
delete stops it, so `pulumi up -s local` / `pulumi destroy -s local` behave like the Fly stacks.

pulumi-command runs a Command only when its inputs change, and never notices that a process
died. So a read-only `localnode status` (an invoke: it runs in preview too) reports each node's
generation, which is one of the node's inputs: a live, ready node keeps its generation and
nothing runs; a dead one gets a new one, so its command runs `start` again. `start` itself
restarts a node whose settings differ from the ones it runs with.

A new `primaryRegion` moves the primary (localnode.start): the old one stops, the new one starts
on its region's empty folder and restores from the backup, and the replicas (restarted, since
PRIMARY_REGION is theirs too) follow its new copy. With a file backup the data and its only
backup are in the old region's folder, so a `localnode where` invoke, which runs in preview too,
lets the program refuse the move before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_command import local

from infra import assets, keys, localnode
from infra.settings import SettingsError, StackSettings

STATE_ROOT = Path(".pulumi-local")  # relative to the project, like build/; ignored by git


@dataclass(frozen=True)
class LocalNode:
    name: str
    role: str
    region: str
    http: str
    grpc: str | None = None
    metrics: str | None = None  # where the node serves GET /metrics, as Fly's scraper sees it


def nodes(settings: StackSettings) -> list[LocalNode]:
    """The primary, then each replica on the next free HTTP port; each node's metrics on the
    next free port from localMetricsPort."""
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
    taken = {settings.local_grpc_port, *(int(node.http.rsplit(":", 1)[1]) for node in found)}
    metrics = settings.local_metrics_port
    for index, node in enumerate(found):
        while metrics in taken:
            metrics += 1
        found[index] = dataclasses.replace(node, metrics=f"{host}:{metrics}")
        metrics += 1
    return found


def node_command(flag_args: list[str], action: str) -> str:
    return shlex.join(["python3", "-m", "infra.localnode", action, *flag_args])


@dataclass(frozen=True)
class Endpoints:
    http_url: pulumi.Output[str]
    libsql_url: pulumi.Output[str]
    nodes: list[local.Command]  # one Command per running node


def probe_token(private_key_pem: pulumi.Output[str]) -> pulumi.Output[str]:
    """A read-only token for the nodes' readiness query. Fixed claims (no clock, no expiry):
    the same key gives the same token, so the nodes' inputs stay the same from run to run."""
    return pulumi.Output.secret(
        private_key_pem.apply(lambda pem: keys.mint_token(pem, "ro", issued_at=0, expiry_days=0))
    )


def node_generations(
    state_dir: Path, all_nodes: list[LocalNode], probe_env: pulumi.Input[dict]
) -> pulumi.Output[dict[str, str]]:
    """Node name -> generation, from one `localnode status` over all nodes (it judges the
    replicas by their primary), run before any node's command, in preview and up alike."""
    names = [arg for node in all_nodes for arg in ("--name", node.name)]
    status = local.run_output(
        command=node_command(["--state-dir", state_dir.as_posix(), *names], "status"),
        environment=probe_env,
        logging=local.Logging.STDERR,  # why a node is started again; stdout is the JSON
    )
    return status.stdout.apply(json.loads)


def primary_placement(state_dir: Path) -> dict | None:
    """Where the primary's data lives ({"region", "folder", "database"}), read by a synchronous
    invoke with no secret or unknown input, so it runs in every preview, a first one too."""
    found = local.run(
        command=node_command(["--state-dir", state_dir.as_posix()], "where"),
        logging=local.Logging.STDERR,
    )
    return json.loads(found.stdout)


def refuse_unsafe_move(settings: StackSettings, here: dict | None) -> None:
    """A file backup lives in the primary's own folder: a primary started in another region
    would find neither data nor backup and start empty."""
    old, new = (here or {}).get("region"), settings.primary_region
    if settings.backup_target != "file" or not here or not here["database"] or old in (None, new):
        return
    folder = Path(here["folder"])
    raise SettingsError([(
        "primaryRegion", new,
        f"the primary's data is in region {old} ({folder}), and with backupTarget: file "
        f"its only backup is in that same folder, so a primary in {new} would start empty. "
        f"Set primaryRegion back to {old}; or first switch to an off-machine backup "
        f"(backupTarget: s3 and the s3* keys, then `pulumi up` in {old}), then change "
        f"primaryRegion; or restore by hand: `pulumi destroy`, rename that folder to "
        f"primary-{new} and point the link {folder.parent / localnode.PRIMARY} at it (README: "
        "Moving the primary)",
    )])  # fmt: skip


def check_move(settings: StackSettings) -> None:
    """Refuses, before any resource is registered, a move that would leave the primary empty
    (see refuse_unsafe_move); reads where the data is, so it also holds for stacks that have
    no record of their last region in Pulumi's state."""
    refuse_unsafe_move(settings, primary_placement(STATE_ROOT / pulumi.get_stack()))


def run(
    parent: pulumi.Resource,
    settings: StackSettings,
    secrets: pulumi.Output,
    probe_token: pulumi.Output[str],
) -> Endpoints:
    """probe_token: a read-only JWT (see probe_token()) with which a node counts as ready only
    once it answers an authenticated query with the primary's data."""
    stack = pulumi.get_stack()
    build_dir = assets.build_dir(stack)
    state_dir = STATE_ROOT / stack
    digest = assets.write_build_context(settings, build_dir)
    secrets_digest = pulumi.Output.secret(secrets.apply(assets.digest))
    # TLS material and the JWT key reach run.sh as environment, as Fly secrets do, beside what
    # Fly would set on a machine (FLY_REGION is per node: localnode --region).
    fly_like_env = {"PRIMARY_REGION": settings.primary_region, "FLY_APP_NAME": settings.app_name}
    node_env = pulumi.Output.secret(secrets.apply(lambda v: {**v, **fly_like_env}))
    probe_env = pulumi.Output.secret({localnode.PROBE_TOKEN_VAR: probe_token})
    all_nodes = nodes(settings)
    generations = node_generations(state_dir, all_nodes, probe_env)
    primary_grpc = f"http://localhost:{settings.local_grpc_port}"
    started: list[local.Command] = []
    for node in all_nodes:
        ident = ["--state-dir", state_dir.as_posix(), "--name", node.name]
        flags = [*ident, "--role", node.role, "--region", node.region, "--http", node.http,
                 "--metrics", node.metrics,
                 "--litestream-config", (build_dir / "litestream.yml").as_posix()]  # fmt: skip
        if node.grpc:
            flags += ["--grpc", node.grpc]
            if settings.protect:  # a move keeps the old region's folder, as Fly keeps its volume
                flags += ["--keep-moved-data"]
        else:
            flags += ["--primary-grpc-url", primary_grpc]
        environment = pulumi.Output.all(node_env, probe_env, generations).apply(
            lambda v, name=node.name: {**v[0], **v[1], localnode.GENERATION_VAR: v[2][name]}
        )
        started.append(
            local.Command(
                f"local-{node.name}",
                # Also what an update runs: start restarts the node if its settings changed.
                create=node_command(flags, "start"),
                delete=node_command(ident, "stop"),
                environment=pulumi.Output.secret(environment),
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
    return Endpoints(pulumi.Output.from_input(http), pulumi.Output.from_input(http), started)
