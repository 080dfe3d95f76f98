package sink

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

type acks struct {
	n    int
	errs []error
}

func (a *acks) Ack(n int, err error) {
	a.n += n
	if err != nil {
		a.errs = append(a.errs, err)
	}
}

func TestStdout(t *testing.T) {
	var out, dlq bytes.Buffer
	s := NewStdout(&out, &dlq)
	if s.WantsRecords() {
		t.Fatal("stdout wants no records")
	}
	a := &acks{}
	ctx := context.Background()
	s.Write(ctx, TopicRecords, []Message{{Value: []byte("record")}}, a)
	s.Write(ctx, TopicFindings, []Message{{Value: []byte(`{"f":1}`)}, {Value: []byte(`{"f":2}`)}}, a)
	s.Write(ctx, TopicDLQ, []Message{{Value: []byte(`{"reason":"corrupt"}`)}}, a)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\"f\":1}\n{\"f\":2}\n" || dlq.String() != "{\"reason\":\"corrupt\"}\n" {
		t.Fatalf("out %q, dlq %q", out.String(), dlq.String())
	}
	if a.n != 4 || len(a.errs) != 0 {
		t.Fatalf("acknowledged %d (errors %v), want 4", a.n, a.errs)
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestStdoutWriteFailureIsAcknowledgedAsLost(t *testing.T) {
	s := NewStdout(brokenWriter{}, brokenWriter{})
	a := &acks{}
	s.Write(context.Background(), TopicFindings, []Message{{Value: []byte("x")}}, a)
	if a.n != 1 || len(a.errs) != 1 {
		t.Fatalf("acks %d, errors %v: a lost finding must be acknowledged with its error", a.n, a.errs)
	}
}

func TestMessageSize(t *testing.T) {
	m := Message{Key: []byte("k"), Value: []byte("vv"), Headers: []Header{{Key: "h", Value: []byte("123")}}}
	if m.Size() != 7 {
		t.Fatalf("size %d", m.Size())
	}
}
