"""A test harness that runs a Pulumi program's resources the way `pulumi up` would.

The program is evaluated by the real Pulumi Python SDK (with a mock monitor) in a fresh
process per run; `command:local:Command` scripts really run, as pulumi-command 1.2.1 runs them;
pulumi-tls resources get real keys; state persists in a JSON file with encrypted secrets.
With a Pulumi.yaml, up/preview first merge and validate the stack's config as the CLI does.
See engine.py (engine semantics), cliconfig.py (the CLI's config checks), command.py
(pulumi-command), tls.py (pulumi-tls) for what is modelled, where it was taken from, and what
is not.

    h = Harness(workdir=tmp_path, program=Path("__main__.py"), project="p", stack="dev",
                env={"PATH": ...}, project_file=None)  # None: Pulumi.yaml beside the program
    r = h.up(config={"p:key": "v"}, secret_keys=["p:token"])
    r.ok, r.error, r.outputs, r.secret_outputs, r.ops, r.op("name"), r.changes(), r.logs,
    r.log_text; h.preview(...), h.destroy(), h.state_path, h.resource("name")
"""

from .harness import Harness, LogLine, Op, RunResult
from .values import UNKNOWN

__all__ = ["Harness", "LogLine", "Op", "RunResult", "UNKNOWN"]
