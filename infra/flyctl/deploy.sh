# Build $BUILD_DIR remotely and deploy it to $APP_NAME.
#
# `deploy DIR -a APP --config DIR/fly.toml --dockerfile DIR/Dockerfile --remote-only
# --ha=false --strategy S --wait-timeout T --yes` (internal/command/deploy/deploy.go). flyctl
# first changes into the positional directory (command.go
# ChangeWorkingDirectoryToFirstArgIfPresent) and only then resolves relative --config and
# --dockerfile (deploy_build.go resolveDockerfilePath), so the folder is made absolute first.
# --ha is a bool flag: it takes its value only as `--ha=false` (spf13/pflag); with [mounts]
# flyctl makes one machine anyway. --yes answers confirmations; deploy's remaining prompts
# (detaching a volume) fail when not interactive whatever the flag says.
set -u
context=$(CDPATH='' cd "$BUILD_DIR" && pwd -P) || exit 1
exec "$FLYCTL" deploy "$context" -a "$APP_NAME" --config "$context/fly.toml" \
  --dockerfile "$context/Dockerfile" --remote-only --ha=false \
  --strategy "$DEPLOY_STRATEGY" --wait-timeout "$DEPLOY_WAIT_TIMEOUT" --yes
