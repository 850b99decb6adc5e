# The secrets `storage create` sets on the app (extensions/core/core.go setSecretsFromExtension,
# from the API's answer), which the bucket scripts check for and unset.
tigris_secret_names="AWS_ACCESS_KEY_ID AWS_ENDPOINT_URL_S3 AWS_REGION AWS_SECRET_ACCESS_KEY BUCKET_NAME"
