#!/bin/bash
# LocalStack ready hook: the trail bucket, the queue, the queue policy that
# lets S3 send to it, and the bucket notification (ObjectCreated under
# AWSLogs/ to the queue) — the same wiring as deploy/README in AWS.
set -euo pipefail
BUCKET=rootwatch-trail
QUEUE=rootwatch-trail-events
awslocal s3api create-bucket --bucket "$BUCKET" >/dev/null
url=$(awslocal sqs create-queue --queue-name "$QUEUE" --attributes VisibilityTimeout=120 --query QueueUrl --output text)
arn=$(awslocal sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
policy=$(cat <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
 "Action":"sqs:SendMessage","Resource":"$arn","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::$BUCKET"}}}]}
JSON
)
awslocal sqs set-queue-attributes --queue-url "$url" --attributes "{\"Policy\":$(printf '%s' "$policy" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}"
awslocal s3api put-bucket-notification-configuration --bucket "$BUCKET" --notification-configuration "{
  \"QueueConfigurations\": [{\"QueueArn\": \"$arn\", \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"AWSLogs/\"}]}}}]}"
touch /tmp/rootwatch-ready
echo "rootwatch: s3://$BUCKET notifies $url"
