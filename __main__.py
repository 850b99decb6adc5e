"""Wiring only: validate the stack's settings, build the database, export what clients need."""

import pulumi

from infra.database import Database
from infra.settings import load_settings

settings = load_settings()  # a bad stack file stops here, before any resource is registered
db = Database("db", settings)

pulumi.export("appName", db.app_name)
pulumi.export("httpsUrl", db.https_url)
pulumi.export("libsqlUrl", db.libsql_url)
pulumi.export("primaryRegion", settings.primary_region)
pulumi.export("replicaRegions", settings.replica_regions)
pulumi.export("readWriteToken", db.read_write_token)
pulumi.export("readOnlyToken", db.read_only_token)
