#!/bin/bash
# Sends one root console sign-in through both paths, as AWS would: first
# its EventBridge event to the queue (what the rootwatch-root-activity rule
# delivers seconds after a sign-in), then, DELAY seconds later (CloudTrail's
# ~5 minutes, shortened), the log file holding the same record to the
# trail bucket, whose S3 notification reaches the same queue. alert pages
# once, on the first copy, and absorbs the second; its status page
# (http://localhost:9102/, "Paths") shows the time between them.
#   docker compose exec localstack /etc/localstack/rootwatch/send-root-event.sh [DELAY]
set -euo pipefail
DELAY=${1:-20}
BUCKET=rootwatch-trail
QUEUE=rootwatch-trail-events
TEMPLATE=/etc/localstack/rootwatch/sample-root-event.json
url=$(awslocal sqs get-queue-url --queue-name "$QUEUE" --query QueueUrl --output text)
id=$(python3 -c 'import uuid; print(uuid.uuid4())')
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
body=$(sed -e "s/EVENT_ID/$id/g" -e "s/EVENT_TIME/$now/g" "$TEMPLATE")
awslocal sqs send-message --queue-url "$url" --message-body "$body" >/dev/null
echo "rootwatch: sent the EventBridge event of root sign-in $id; its log file follows in ${DELAY}s"
sleep "$DELAY"
key="AWSLogs/000000000000/CloudTrail/us-east-1/$(date -u +%Y/%m/%d)/000000000000_CloudTrail_us-east-1_$(date -u +%Y%m%dT%H%MZ)_${id:0:8}.json.gz"
printf '%s' "$body" | python3 -c 'import gzip, json, sys
d = json.load(sys.stdin)["detail"]
sys.stdout.buffer.write(gzip.compress(json.dumps({"Records": [d]}, separators=(",", ":")).encode()))' >/tmp/rootwatch-sample.json.gz
awslocal s3 cp /tmp/rootwatch-sample.json.gz "s3://$BUCKET/$key" >/dev/null
echo "rootwatch: delivered its log file s3://$BUCKET/$key"
