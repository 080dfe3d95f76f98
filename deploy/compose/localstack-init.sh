#!/bin/bash
# LocalStack ready hook: the trail bucket, the queue, the bucket
# notification (ObjectCreated under AWSLogs/ to the queue), the EventBridge
# rule that sends the root identity's events to the same queue (the
# real-time path, with the pattern of deploy/eventbridge/), and the queue
# policy that lets S3 and EventBridge send to it — the same wiring as
# deploy/eventbridge/realtime-queue.yaml in AWS (docs/realtime.md).
# deploy/compose/send-root-event.sh sends a sample root sign-in by both paths.
set -euo pipefail
BUCKET=rootwatch-trail
QUEUE=rootwatch-trail-events
RULE=rootwatch-root-activity
PATTERN=/etc/localstack/rootwatch/root-activity-pattern.json
awslocal s3api create-bucket --bucket "$BUCKET" >/dev/null
url=$(awslocal sqs create-queue --queue-name "$QUEUE" --attributes VisibilityTimeout=120 --query QueueUrl --output text)
arn=$(awslocal sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
rule_arn=$(awslocal events put-rule --name "$RULE" --event-pattern "file://$PATTERN" --query RuleArn --output text)
awslocal events put-targets --rule "$RULE" --targets "Id=rootwatch-queue,Arn=$arn" >/dev/null
policy=$(cat <<JSON
{"Version":"2012-10-17","Statement":[
 {"Sid":"TrailBucketNotifications","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
  "Action":"sqs:SendMessage","Resource":"$arn","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::$BUCKET"}}},
 {"Sid":"RootActivityRule","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},
  "Action":"sqs:SendMessage","Resource":"$arn","Condition":{"ArnEquals":{"aws:SourceArn":"$rule_arn"}}}]}
JSON
)
awslocal sqs set-queue-attributes --queue-url "$url" --attributes "{\"Policy\":$(printf '%s' "$policy" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}"
awslocal s3api put-bucket-notification-configuration --bucket "$BUCKET" --notification-configuration "{
  \"QueueConfigurations\": [{\"QueueArn\": \"$arn\", \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"AWSLogs/\"}]}}}]}"
touch /tmp/rootwatch-ready
echo "rootwatch: s3://$BUCKET and EventBridge rule $RULE notify $url"
