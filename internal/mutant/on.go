//go:build mutants

package mutant

import (
	"fmt"
	"os"
	"sync"
)

// Enabled is true with -tags mutants: hooks ask On.
const Enabled = true

// Mutant is one deliberate bug and where its hook is.
type Mutant struct {
	Name   string
	Breaks string   // what goes wrong
	Site   string   // file and function of the hook
	Tests  []string // the packages whose own tests concern it
}

// Catalog is every mutant; a hook naming another panics.
var Catalog = []Mutant{
	{"sqs-delete-on-receive", "ingest deletes the SQS message as soon as it is received",
		"internal/pipeline/sqs.go SQSHandler.Handle", []string{"./internal/pipeline", "./cmd/ingest"}},
	{"s3-5xx-drop", "ingest treats an S3 5xx as the end of the object: dropped, no DLQ entry",
		"internal/source/s3.go S3Opener.Open", []string{"./internal/pipeline", "./internal/source", "./cmd/ingest"}},
	{"s3-500-drop", "the same, for status 500 only",
		"internal/source/s3.go S3Opener.Open", []string{"./internal/pipeline", "./internal/source", "./cmd/ingest"}},
	{"s3-5xx-dead-letter", "ingest dead-letters an S3 5xx instead of retrying it",
		"internal/source/s3.go classifyS3", []string{"./internal/source", "./internal/pipeline", "./cmd/ingest"}},
	{"ingest-ack-before-kafka", "an object counts as done (its message deleted) before Kafka acknowledged its records",
		"internal/pipeline/object.go emitter.write", []string{"./internal/pipeline", "./cmd/ingest"}},
	{"match-no-console-login", "the matcher misses root console sign-ins",
		"internal/match/match.go isRoot", []string{"./internal/match", "./internal/pipeline"}},
	{"channel-5xx-delivered", "a channel's 5xx answer counts as delivered",
		"internal/channel/http.go checkStatus", []string{"./internal/channel", "./internal/alert", "./cmd/alert"}},
	{"channel-5xx-permanent", "a channel's 5xx is not retried: the notification is parked at once",
		"internal/channel/errors.go Retryable", []string{"./internal/channel", "./internal/alert", "./cmd/alert"}},
}

var active = sync.OnceValue(func() string {
	name := os.Getenv(Env)
	if name != "" && !known(name) {
		panic(fmt.Sprintf("%s=%q: no such mutant", Env, name))
	}
	return name
})

func known(name string) bool {
	for _, m := range Catalog {
		if m.Name == name {
			return true
		}
	}
	return false
}

// On reports whether the mutant called name is the active one.
func On(name string) bool {
	if !known(name) {
		panic(fmt.Sprintf("mutant hook names %q, which is not in the catalog", name))
	}
	return active() == name
}
