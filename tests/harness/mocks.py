"""The Pulumi SDK's mock monitor, wired to the harness engine instead of canned values.

`MockMonitor.RegisterResource` (pulumi/runtime/mocks.py) only hands `MockResourceArgs` to a
`Mocks`; overriding it here sees the whole RegisterResourceRequest (protect,
deleteBeforeReplace, dependencies, replaceOnChanges, additionalSecretOutputs, ...) and can
answer with secrets and unknowns, which `Mocks.new_resource` cannot.

Ordering: the Python SDK sends RegisterResource only after every dependency's URN (and any
input Output) resolved, i.e. after the dependency's RegisterResource returned
(pulumi/runtime/resource.py prepare_resource). Running a step inside RegisterResource therefore
runs steps in dependency order. The SDK calls the monitor from a thread pool, so the engine
holds a lock and runs one step at a time.
"""

from __future__ import annotations

from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, Mocks, MockSettings
from pulumi.runtime.proto import engine_pb2, resource_pb2

from .engine import Engine

SEVERITIES = {
    engine_pb2.DEBUG: "debug",
    engine_pb2.INFO: "info",
    engine_pb2.WARNING: "warning",
    engine_pb2.ERROR: "error",
}


def to_struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(struct)


class _NoMocks(Mocks):
    def call(self, args: MockCallArgs):
        return {}, None

    def new_resource(self, args):
        return "", {}


class HarnessMonitor(MockMonitor):
    def __init__(self, engine: Engine):
        super().__init__(_NoMocks())
        self.engine = engine

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
        fields["custom"] = request.custom
        resource_id, outputs = self.engine.register(urn, fields)
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id, object=to_struct(outputs)
        )

    def RegisterResourceHook(self, request):
        self.engine.register_hook(
            request.name,
            request.callback.target,
            request.callback.token,
            on_dry_run=request.on_dry_run,
            ignore_errors=request.ignore_errors,
        )
        return empty_pb2.Empty()

    def RegisterResourceOutputs(self, request):
        self.engine.register_outputs(request.urn, from_struct(request.outputs))
        return empty_pb2.Empty()

    def Invoke(self, request):
        if request.tok != "command:local:run":
            return super().Invoke(request)
        result = self.engine.invoke_run(from_struct(request.args))
        return resource_pb2.ResourceInvokeResponse(**{"return": to_struct(result)})


class HarnessLog:
    """The engine end of pulumi.log.*: diagnostics go to the run's logs."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def Log(self, request):
        self.engine.log(request.urn, SEVERITIES.get(request.severity, "info"), request.message)


def configure(engine: Engine, project: str, stack: str, dry_run: bool) -> HarnessMonitor:
    """set_mocks without its eager root Stack, so run_in_stack registers the stack's outputs."""
    monitor = HarnessMonitor(engine)
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
    pulumi_settings.configure(
        MockSettings(
            monitor=monitor,
            monitor_features=features,
            engine=HarnessLog(engine),
            project=project,
            stack=stack,
            dry_run=dry_run,
            organization=None,
            callbacks=None,
        )
    )
    return monitor
