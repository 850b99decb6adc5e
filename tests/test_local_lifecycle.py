"""`pulumi up -s local` after the first one: changed settings, dead nodes, and no-op runs.

Runs the real program through the harness (pulumi-command's semantics: an input change is an
update that runs `create` again, unchanged inputs run nothing) with the real sqld and Litestream.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from infra.local_stack import LocalNode, nodes
from tests.runtime.cluster import free_port, hrana, port_is_listening, process_environ
from tests.test_local_stack import PROJECT, free_port_pair, running_local_stack

GRPC_KEY = f"{PROJECT}:localGrpcPort"
HTTP_KEY = f"{PROJECT}:localHttpPort"


@pytest.fixture
def stack(tmp_path):
    with running_local_stack(tmp_path) as found:
        yield found


def port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def url(node: LocalNode) -> str:
    return f"http://{node.http}"


def command_names(stack) -> list[str]:
    return [f"local-{node.name}" for node in nodes(stack.settings())]


def node_process_group(stack, name: str) -> int:
    """The process group of the node's run.sh, found by its DATA_DIR (whatever localnode
    records), among processes started in this project. The primary's is the folder its link
    points at."""
    state = Path(".pulumi-local") / "local"
    link = stack.project / state / name
    data_dir = (state / (os.readlink(link) if link.is_symlink() else name)).as_posix()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or (proc / "cwd").resolve() != stack.project.resolve():
                continue
            if process_environ(int(proc.name)).get("DATA_DIR") == data_dir:
                return os.getpgid(int(proc.name))
        except OSError:
            continue
    raise AssertionError(f"no process of node {name}")


def kill_node(stack, name: str) -> None:
    """SIGKILL the node's whole process group (run.sh, Litestream, sqld), as a crash does."""
    os.killpg(node_process_group(stack, name), signal.SIGKILL)
    node = next(n for n in nodes(stack.settings()) if n.name == name)
    deadline = time.monotonic() + 10
    while port_is_listening(port(node.http)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_is_listening(port(node.http)), f"{name} still listening after SIGKILL"


def up_with_a_kept_row(stack) -> str:
    """Bring the stack up and write one row to table `kept` on the primary; the rw token."""
    first = stack.harness.up(stack.config)
    assert first.ok, first.log_text
    rw = first.outputs["readWriteToken"]
    hrana(
        url(nodes(stack.settings())[0]),
        rw,
        ["CREATE TABLE kept (v)", "INSERT INTO kept VALUES (1)"],
    )
    return rw


def test_changed_ports_restart_the_nodes_there_keeping_their_data(stack):
    rw = up_with_a_kept_row(stack)
    primary, replica = nodes(stack.settings())

    # Only the create text of each node changes: an update, which must restart the nodes.
    old_grpc = stack.settings().local_grpc_port
    stack.config = {**stack.config, GRPC_KEY: str(free_port())}
    moved = stack.harness.up(stack.config)
    assert moved.ok, moved.log_text
    assert moved.changes() == {name: "update" for name in command_names(stack)}
    new_grpc = stack.settings().local_grpc_port
    assert port_is_listening(new_grpc) and not port_is_listening(old_grpc)
    # The replica follows the primary on its new gRPC port: a write through it lands there.
    hrana(url(replica), rw, ["INSERT INTO kept VALUES (2)"])
    assert hrana(url(primary), rw, ["SELECT v FROM kept ORDER BY v"]) == [[[1], [2]]]

    old_nodes = nodes(stack.settings())
    stack.config = {**stack.config, HTTP_KEY: str(free_port_pair())}
    moved = stack.harness.up(stack.config)
    assert moved.ok, moved.log_text
    assert moved.changes() == {name: "update" for name in command_names(stack)}
    assert [n.name for n in old_nodes if port_is_listening(port(n.http))] == []
    for node in nodes(stack.settings()):
        assert hrana(url(node), rw, ["SELECT v FROM kept ORDER BY v"]) == [[[1], [2]]], node

    again = stack.harness.up(stack.config)
    assert again.ok and again.changes() == {} and again.steps == [], again.log_text


def test_up_revives_dead_nodes_and_the_next_up_runs_nothing(stack):
    rw = up_with_a_kept_row(stack)
    primary, replica = nodes(stack.settings())
    idle = stack.harness.up(stack.config)
    assert idle.ok and idle.changes() == {} and idle.steps == [], idle.log_text

    # Both nodes die, as in a reboot. A preview shows the revival and starts nothing.
    kill_node(stack, primary.name)
    kill_node(stack, replica.name)
    preview = stack.harness.preview(stack.config)
    assert preview.ok, preview.log_text
    assert preview.changes() == {name: "update" for name in command_names(stack)}
    assert not port_is_listening(port(primary.http))

    revived = stack.harness.up(stack.config)
    assert revived.ok, revived.log_text
    assert revived.changes() == {name: "update" for name in command_names(stack)}
    # Same data, and the replica follows the primary again.
    hrana(url(replica), rw, ["INSERT INTO kept VALUES (2)"])
    assert hrana(url(primary), rw, ["SELECT v FROM kept ORDER BY v"]) == [[[1], [2]]]
    again = stack.harness.up(stack.config)
    assert again.ok and again.changes() == {} and again.steps == [], again.log_text

    # One dead replica: only its command runs.
    kill_node(stack, replica.name)
    revived = stack.harness.up(stack.config)
    assert revived.ok, revived.log_text
    assert revived.changes() == {f"local-{replica.name}": "update"}
    assert hrana(url(replica), rw, ["SELECT count(*) FROM kept"]) == [[[2]]]
    again = stack.harness.up(stack.config)
    assert again.ok and again.changes() == {} and again.steps == [], again.log_text


def test_a_new_replica_region_may_take_the_port_of_a_replica_that_moves(stack):
    """Replicas take ports in region order: adding `ams` before `fra` gives ams fra's port and
    moves fra, whose step may come after ams's; removing ams moves fra back before ams's
    delete runs. Each up moves every node where it belongs."""
    replicas_key = f"{PROJECT}:replicas"
    stack.config = {**stack.config, replicas_key: json.dumps(["fra=1"])}
    first = stack.harness.up(stack.config)
    assert first.ok, first.log_text
    rw = first.outputs["readWriteToken"]
    hrana(url(nodes(stack.settings())[0]), rw, ["CREATE TABLE kept (v)"])

    for replicas in (["ams=1", "fra=1"], ["fra=1"]):
        stack.config = {**stack.config, replicas_key: json.dumps(replicas)}
        moved = stack.harness.up(stack.config)
        assert moved.ok, moved.log_text
        for node in nodes(stack.settings()):
            assert hrana(url(node), rw, ["SELECT count(*) FROM kept"]) == [[[0]]], node
        again = stack.harness.up(stack.config)
        assert again.ok and again.changes() == {} and again.steps == [], again.log_text
    assert not port_is_listening(port(nodes(stack.settings())[1].http) + 1)  # ams is gone
