"""The database as one Pulumi component: app -> volumes -> secrets -> deploy -> scale per region.

Every Fly resource is a `command.local.Command` that runs flyctl; the command text comes from
`infra.flyctl`. flyctl reads FLY_API_TOKEN from the environment `pulumi up` runs in, so the token
is never an input and never lands in state.
"""

from __future__ import annotations

import pulumi
from pulumi_command import local

from infra import assets, flyctl, keys, local_stack
from infra.settings import StackSettings


class Database(pulumi.ComponentResource):
    """A libSQL primary with read replicas, on Fly.io or (target `local`) on this machine."""

    app_name: pulumi.Output[str]
    https_url: pulumi.Output[str]
    libsql_url: pulumi.Output[str]
    read_write_token: pulumi.Output[str]
    read_only_token: pulumi.Output[str]

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions = None):
        super().__init__("letter-unboxed-db:index:Database", name, None, opts)
        self.settings = settings
        signing_key = keys.jwt_signing_key(settings, self)
        self.grpc_tls = keys.grpc_tls(settings, self)
        self.secrets = self._secret_values(signing_key)

        if settings.target == "fly":
            self._fly()
        else:
            endpoints = local_stack.run(self, settings, self.secrets)
            self.https_url, self.libsql_url = endpoints.http_url, endpoints.libsql_url

        # Tokens are anchored to when the key was made, so they stay identical across runs.
        issued_at = local.Command(
            f"token-issued-at-v{settings.key_version}",
            create="date +%s",
            opts=self._child(),
        ).stdout.apply(int)

        def token(access: str) -> pulumi.Output[str]:
            expiry = settings.token_expiry_days
            return pulumi.Output.secret(
                pulumi.Output.all(signing_key.private_key_pem, issued_at).apply(
                    lambda args: keys.mint_token(args[0], access, args[1], expiry)
                )
            )

        self.app_name = pulumi.Output.from_input(settings.app_name)
        self.read_write_token = token("rw")
        self.read_only_token = token("ro")
        self.register_outputs(
            {
                "appName": self.app_name,
                "httpsUrl": self.https_url,
                "libsqlUrl": self.libsql_url,
                "readWriteToken": self.read_write_token,
                "readOnlyToken": self.read_only_token,
            }
        )

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _secret_values(self, signing_key) -> pulumi.Output[dict[str, str]]:
        """Every secret a machine needs, by environment variable name."""
        s, t = self.settings, self.grpc_tls
        values = {
            "SQLD_AUTH_JWT_KEY": signing_key.public_key_pem.apply(keys.sqld_public_key),
            "GRPC_TLS_CA_CERT": t.ca_cert,
            "GRPC_TLS_SERVER_CERT": t.server_cert,
            "GRPC_TLS_SERVER_KEY": t.server_key,
            "GRPC_TLS_CLIENT_CERT": t.client_cert,
            "GRPC_TLS_CLIENT_KEY": t.client_key,
        }
        if s.backup_target == "s3":
            values["LITESTREAM_ACCESS_KEY_ID"] = s.s3_access_key_id.get_secret_value()
            values["LITESTREAM_SECRET_ACCESS_KEY"] = s.s3_secret_access_key.get_secret_value()
        return pulumi.Output.secret(pulumi.Output.all(**values))

    def _fly(self) -> None:
        s, fly = self.settings, self.settings.flyctl
        build_dir = assets.build_dir(pulumi.get_stack())
        build_digest = assets.write_build_context(s, build_dir)
        shown = local.Logging.STDOUT_AND_STDERR

        app = local.Command(
            "app",
            create=flyctl.app_create(fly, s.app_name, s.org),
            delete=flyctl.app_destroy(fly, s.app_name),
            triggers=[s.app_name, s.org],
            logging=shown,
            opts=self._child(protect=s.protect, delete_before_replace=True),
        )

        def volume(region: str, *, primary: bool, **opts) -> local.Command:
            return local.Command(
                f"volume-{region}",
                create=flyctl.volume_create(
                    fly, s.app_name, s.volume_name, region, s.volume_size_gb,
                    s.snapshot_retention_days,
                ),
                update=flyctl.volumes_resize(
                    fly, s.app_name, s.volume_name, region, s.volume_size_gb, print_id=primary
                ),
                delete=(
                    flyctl.volume_destroy_by_id(fly, s.app_name)
                    if primary
                    else flyctl.region_volumes_destroy(fly, s.app_name, s.volume_name, region)
                ),
                triggers=[s.app_name, s.volume_name, region],
                logging=shown,
                opts=self._child(depends_on=[app], delete_before_replace=True, **opts),
            )  # fmt: skip

        primary_volume = volume(s.primary_region, primary=True, protect=s.protect)

        stdin = self.secrets.apply(flyctl.secrets_stdin)
        secrets = local.Command(
            "secrets",
            create=flyctl.secrets_import(fly, s.app_name),
            stdin=stdin,
            logging=local.Logging.NONE,
            opts=self._child(depends_on=[app]),
        )

        # The digests are inputs, so a change is an update (deploy again), not a replace: a
        # replace would also run the delete, which stops the primary machine.
        deploy = local.Command(
            "deploy",
            create=flyctl.deploy(
                fly, s.app_name, build_dir.as_posix(), s.deploy_strategy, s.deploy_wait_timeout
            ),
            environment={
                "BUILD_DIGEST": build_digest,
                "SECRETS_DIGEST": pulumi.Output.secret(self.secrets.apply(assets.digest)),
            },
            # Frees the primary's volume so it can be destroyed after.
            delete=flyctl.scale_count(fly, s.app_name, s.primary_region, 0),
            logging=shown,
            opts=self._child(depends_on=[primary_volume, secrets]),
        )

        for region, count in sorted(s.replicas.items()):
            region_volume = volume(region, primary=False)
            local.Command(
                f"scale-{region}",
                create=flyctl.scale_count(fly, s.app_name, region, count),
                delete=flyctl.scale_count(fly, s.app_name, region, 0),
                logging=shown,
                opts=self._child(depends_on=[deploy, region_volume]),
            )

        self.https_url = pulumi.Output.from_input(f"https://{s.public_hostname}")
        self.libsql_url = pulumi.Output.from_input(f"libsql://{s.public_hostname}:{s.tls_port}")
