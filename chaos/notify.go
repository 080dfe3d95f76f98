package chaos

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
)

// notification renders an S3 notification naming keys in bucket, in one of
// the shapes ingest accepts (raw S3 event, SNS-wrapped, EventBridge,
// CloudTrail's own SNS message), chosen by rng. EventBridge names one key,
// so it is used only for single keys.
func notification(rng *rand.Rand, bucket string, keys []string) string {
	kind := rng.IntN(4)
	if kind == 2 && len(keys) != 1 {
		kind = 0
	}
	switch kind {
	case 0, 1:
		type obj struct {
			Key  string `json:"key"`
			Size int    `json:"size"`
		}
		type rec struct {
			EventVersion string `json:"eventVersion"`
			EventSource  string `json:"eventSource"`
			EventName    string `json:"eventName"`
			S3           struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object obj `json:"object"`
			} `json:"s3"`
		}
		var recs []rec
		for _, k := range keys {
			var r rec
			r.EventVersion, r.EventSource, r.EventName = "2.1", "aws:s3", "ObjectCreated:Put"
			r.S3.Bucket.Name = bucket
			r.S3.Object = obj{Key: url.QueryEscape(k), Size: 1}
			recs = append(recs, r)
		}
		b, _ := json.Marshal(map[string]any{"Records": recs})
		if kind == 0 {
			return string(b)
		}
		return snsWrap(string(b))
	case 2:
		b, _ := json.Marshal(map[string]any{
			"version": "0", "id": "chaos", "detail-type": "Object Created", "source": "aws.s3",
			"detail": map[string]any{"bucket": map[string]string{"name": bucket}, "object": map[string]any{"key": keys[0], "size": 1}},
		})
		return string(b)
	default:
		b, _ := json.Marshal(map[string]any{"s3Bucket": bucket, "s3ObjectKey": keys})
		if rng.IntN(2) == 0 {
			return string(b)
		}
		return snsWrap(string(b))
	}
}

func snsWrap(msg string) string {
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "chaos", "Message": msg,
		"TopicArn": "arn:aws:sns:us-east-1:111122223333:trail", "Timestamp": "2026-01-01T00:00:00.000Z"})
	return string(b)
}
