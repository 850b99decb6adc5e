# Give $APP_NAME a public IPv6 and a shared IPv4 unless it has them; converges when re-run.
#
# `fly deploy` allocates them itself only when every service is HTTP on 80 or TLS+HTTP on 443
# (internal/appconfig/config.go DetermineIPType). Our TLS port (5000) makes it "dedicated":
# deploy_first.go provisionIpsOnFirstDeploy then asks a question that fails when not
# interactive, and the app is left with no address at all. Fly's docs (networking/services,
# "Shared IPv4") say a shared IPv4 serves TCP ports other than 80 and 443 through the TLS
# handler, which ours uses, so a v6 and a shared v4 serve https://APP.fly.dev and
# libsql://APP.fly.dev:5000. Run before the first deploy, which then leaves IPs alone ("Do not
# touch IPs if there are already allocated").
#
# `ips list -a APP --json` (internal/command/ips/list.go) renders fly-go's IPAddress with Go
# field names ("Type": "v6"; the shared address is listed as "shared_v4"); `ips allocate-v6`
# and `ips allocate-v4 --shared` (ips/allocate.go: only a dedicated v4 asks to confirm).
set -u
ips=$("$FLYCTL" ips list -a "$APP_NAME" --json) || exit $?
case $ips in
  *'"Type": "v6"'*) ;;
  *) "$FLYCTL" ips allocate-v6 -a "$APP_NAME" >&2 || exit $? ;;
esac
case $ips in
  *'"Type": "v4"'*|*'"Type": "shared_v4"'*) ;;
  *) "$FLYCTL" ips allocate-v4 --shared -a "$APP_NAME" >&2 || exit $? ;;
esac
echo "$APP_NAME has a public IPv6 and an IPv4"
