# Give $APP_NAME a Tigris bucket for its backups, named $TIGRIS_BUCKET, or adopt the one it has;
# converges when re-run.
#
# `storage status -a APP` (internal/command/extensions/tigris/status.go; core.go Discover) finds
# the app's bucket ("No project found" when it has none). `storage create -a APP -n NAME --yes`
# (tigris/create.go; core.go ProvisionExtension): --yes accepts the provider's terms and --name
# skips the name prompt, both of which fail when not interactive. It sets AWS_ACCESS_KEY_ID,
# AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_SECRET_ACCESS_KEY and BUCKET_NAME as the app's secrets
# (setSecretsFromExtension; staged if the app was never deployed, deployed otherwise) unless
# the app already has one of them, and prints every value, the secret key included, on stdout:
# that output goes nowhere, and flyctl's own log file and debug output are kept from them
# (private.sh), so the keys reach neither Pulumi's state nor a log. flyctl shows a bucket's
# keys only when it creates it, so an app without them cannot get them back here.
set -u

# The bucket credentials among the app's secrets (`secrets list --json`, names only:
# internal/command/secrets/list.go), one name per line.
bucket_secrets() {
  listed=$("$FLYCTL" secrets list -a "$APP_NAME" --json) || return 1
  for name in $tigris_secret_names; do
    case $listed in *"\"name\": \"$name\""*) echo "$name" ;; esac
  done
}

if status=$("$FLYCTL" storage status -a "$APP_NAME" 2>&1); then
  found=$(printf '%s\n' "$status" | awk '$1 == "Name" { print $3; exit }')
  have=$(bucket_secrets) || exit 1
  if [ "$(printf '%s\n' "$have" | grep -c .)" -ne 5 ]; then
    echo "app $APP_NAME has Tigris bucket $found but not all of its secrets" \
      "($tigris_secret_names); flyctl shows a bucket's keys only when it creates it. Destroy the bucket" \
      "(flyctl storage destroy $found --yes) and run pulumi up again, or set the missing" \
      "secrets from a key made in the Tigris dashboard." >&2
    exit 1
  fi
  echo "adopting Tigris bucket $found of app $APP_NAME"
  exit 0
fi
case $status in
  *'No project found'*) ;;
  *) printf '%s\n' "$status" >&2; exit 1 ;;
esac

have=$(bucket_secrets) || exit 1
if [ -n "$have" ]; then
  have=$(printf '%s\n' "$have" | tr '\n' ' ')
  echo "app $APP_NAME already has secrets ${have% } but no Tigris bucket: flyctl would" \
    "not replace them and Litestream would back up with them. Remove them first:" \
    "flyctl secrets unset ${have}-a $APP_NAME --stage" >&2
  exit 1
fi
# The API's answer and flyctl's setSecrets request carry the keys: private_flyctl (private.sh).
if ! err=$(private_flyctl storage create -a "$APP_NAME" -n "$TIGRIS_BUCKET" --yes 2>&1 >/dev/null); then
  printf '%s\n' "$err" >&2
  case $err in
    *unavailable*)
      echo "bucket name $TIGRIS_BUCKET is taken (Tigris bucket names are global): set s3Bucket to" \
        "another name" >&2
      ;;
  esac
  exit 1
fi
[ -z "$err" ] || printf '%s\n' "$err" >&2
echo "made Tigris bucket $TIGRIS_BUCKET for app $APP_NAME; its keys are the app's secrets"
