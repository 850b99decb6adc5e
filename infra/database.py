"""The database as one Pulumi component: app -> volumes -> secrets -> deploy -> scale per region.

Every Fly resource is a `command.local.Command` that runs a flyctl script from infra/flyctl/ with
the values `infra.flyctl` gives it. flyctl reads FLY_API_TOKEN from the environment `pulumi up`
runs in, so the token is never an input and never lands in state.
"""

from __future__ import annotations

import pulumi
from pulumi_command import local

from infra import assets, flyctl, keys, local_stack, primary_move
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
        if settings.target == "local":
            local_stack.check_move(settings)  # the data's folder, read where it is
        # Records where the primary and its backup are; its hook refuses, in preview, a move of
        # the primary that would lose data. Everything else waits for it.
        self.primary_region = primary_move.marker(settings, self._child())
        after = [self.primary_region]
        signing_key = keys.jwt_signing_key(settings, self, after)
        self.grpc_tls = keys.grpc_tls(settings, self, after)
        self.secrets = self._secret_values(signing_key)

        if settings.target == "fly":
            made = self._fly()
        else:
            probe = local_stack.probe_token(signing_key.private_key_pem)
            endpoints = local_stack.run(self, settings, self.secrets, probe_token=probe)
            self.https_url, self.libsql_url = endpoints.http_url, endpoints.libsql_url
            made = endpoints.nodes

        # Tokens are anchored to when the key was made, so they stay identical across runs.
        issued_at = local.Command(
            f"token-issued-at-v{settings.key_version}",
            create="date +%s",
            opts=self._child(),
        )
        issued_at_seconds = issued_at.stdout.apply(int)

        def token(access: str) -> pulumi.Output[str]:
            expiry = settings.token_expiry_days
            return pulumi.Output.secret(
                pulumi.Output.all(signing_key.private_key_pem, issued_at_seconds).apply(
                    lambda args: keys.mint_token(args[0], access, args[1], expiry)
                )
            )

        self._destroy_guard(
            [self.primary_region, signing_key, *self.grpc_tls.resources, *made, issued_at]
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

    def _destroy_guard(self, everything: list[pulumi.Resource]) -> None:
        """With `protect`, a `pulumi destroy` touches nothing at all.

        The engine refuses to delete a protected resource but goes on deleting the others
        (pkg/resource/deploy/step.go DeleteStep, deployment_executor.go since pulumi/pulumi
        #18396), except every resource the refused one depends on, which it skips. So the
        one protected resource that must stop a destroy is one that depends on everything:
        deleted first, refused, and all else kept. Protecting the component instead would
        protect every child (the SDK passes `protect` down), and `up` could then no longer
        rotate a key or drop a replica region, which delete or replace resources. It has no
        create or delete of its own; `protect: false` and an `up` unprotect it.
        """
        local.Command(
            "destroy-guard",
            opts=self._child(protect=self.settings.protect, depends_on=everything),
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
        if s.restore_from:  # a clone: the other stack's backup, which only run.sh's restore reads
            values["RESTORE_FROM_ACCESS_KEY_ID"] = s.restore_from_access_key_id.get_secret_value()
            values["RESTORE_FROM_SECRET_ACCESS_KEY"] = (
                s.restore_from_secret_access_key.get_secret_value()
            )
        return pulumi.Output.secret(pulumi.Output.all(**values))

    def _fly(self) -> list[pulumi.Resource]:
        s, fly = self.settings, self.settings.flyctl
        build_dir = assets.build_dir(pulumi.get_stack())
        build_digest = assets.write_build_context(s, build_dir)
        shown = local.Logging.STDOUT_AND_STDERR

        app = local.Command(
            "app",
            **flyctl.command(
                flyctl.app_create(fly, s.app_name, s.org), flyctl.app_destroy(fly, s.app_name)
            ),
            triggers=[s.app_name, s.org],
            logging=shown,
            opts=self._child(
                protect=s.protect, delete_before_replace=True, depends_on=[self.primary_region]
            ),
        )
        # Before the first deploy, which would otherwise leave the app without any address.
        public_ips = local.Command(
            "public-ips",
            **flyctl.command(flyctl.public_ips(fly, s.app_name)),
            logging=shown,
            opts=self._child(depends_on=[app]),
        )

        spec = flyctl.VolumeSpec(
            s.volume_name, s.volume_size_gb, s.snapshot_retention_days, s.vm_size, s.vm_memory_mb
        )

        def volumes(region: str, count: int, **opts) -> local.Command:
            """One volume per machine in the region, made and kept as the settings say (an
            input change runs the same script again: it grows, re-tags or adds volumes)."""
            return local.Command(
                f"volume-{region}",
                **flyctl.command(
                    flyctl.volumes_ensure(fly, s.app_name, spec, region, count),
                    flyctl.volumes_destroy(fly, s.app_name, s.volume_name, region),
                ),
                triggers=[s.app_name, s.volume_name, region],
                logging=shown,
                opts=self._child(depends_on=[app], delete_before_replace=True, **opts),
            )

        # Not protected but, on a protected stack, kept on Fly when its resource goes: after a
        # move of the primary, the old region's volume is released by hand (README, "Moving the
        # primary"). `pulumi destroy` is stopped by the destroy-guard all the same.
        primary_volume = volumes(s.primary_region, 1, retain_on_delete=s.protect)
        before_deploy: list[pulumi.Resource] = [primary_volume, public_ips]
        if s.backup_target == "tigris":
            # Before the first deploy, so the first primary already backs up. Its output is
            # our own lines only: flyctl prints the bucket's keys, which the script discards.
            bucket = local.Command(
                "backup-bucket",
                **flyctl.command(
                    flyctl.storage_ensure(fly, s.app_name, s.tigris_bucket),
                    flyctl.storage_destroy(fly, s.app_name, s.tigris_bucket),
                ),
                triggers=[s.app_name],
                logging=shown,
                opts=self._child(protect=s.protect, depends_on=[app], delete_before_replace=True),
            )
            before_deploy.append(bucket)

        stdin = self.secrets.apply(flyctl.secrets_stdin)
        secrets = local.Command(
            "secrets",
            **flyctl.command(flyctl.secrets_import(fly, s.app_name)),
            stdin=stdin,
            logging=local.Logging.NONE,
            opts=self._child(depends_on=[app]),
        )

        # The digests are inputs, so a change is an update (deploy again), not a replace: a
        # replace would also run the delete, which stops the primary machine.
        release = flyctl.deploy(
            fly, s.app_name, build_dir.as_posix(), s.deploy_strategy, s.deploy_wait_timeout,
            s.primary_region, s.kill_timeout_seconds,
        )  # fmt: skip
        deploy = local.Command(
            "deploy",
            **flyctl.command(
                release,
                # Frees the primary's volume so it can be destroyed after.
                flyctl.scale_to_zero(fly, s.app_name, s.primary_region),
                BUILD_DIGEST=build_digest,
                SECRETS_DIGEST=pulumi.Output.secret(self.secrets.apply(assets.digest)),
            ),
            logging=shown,
            opts=self._child(depends_on=[*before_deploy, secrets]),
        )

        made: list[pulumi.Resource] = [app, *before_deploy, secrets, deploy]
        # One region after the other: deploy and scale count lease every machine of the app
        # while they run (scale/count_machines.go), so two at once would wait on each other
        # and fail after a minute. Their deletes run in the reverse order.
        scaled: local.Command = deploy
        for region, count in sorted(s.replicas.items()):
            region_volumes = volumes(region, count)
            scaled = local.Command(
                f"scale-{region}",
                **flyctl.command(
                    flyctl.scale_count(fly, s.app_name, region, count, s.volume_name),
                    flyctl.scale_to_zero(fly, s.app_name, region),
                ),
                logging=shown,
                opts=self._child(depends_on=[scaled, region_volumes]),
            )
            made += [region_volumes, scaled]

        self.https_url = pulumi.Output.from_input(f"https://{s.public_hostname}")
        self.libsql_url = pulumi.Output.from_input(f"libsql://{s.public_hostname}:{s.tls_port}")
        return made
