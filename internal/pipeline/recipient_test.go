package pipeline

import (
	"strings"
	"testing"
)

func TestRecipientAccountIgnoresNestedLookalike(t *testing.T) {
	raw := []byte(`{"userIdentity":{"type":"IAMUser"},"requestParameters":{"recipientAccountId":"999999999999"},"eventID":"e","recipientAccountId":"111122223333","eventCategory":"Management"}`)
	if got := string(recipientAccount(raw, []byte("def"))); got != "111122223333" {
		t.Fatalf("key %q, want the top-level recipientAccountId", got)
	}
	if got := string(recipientAccount([]byte(`{"eventID":"e"}`), []byte("def"))); got != "def" {
		t.Fatalf("key %q, want the default", got)
	}
}

// A record longer than the tail searched first still gives its last
// recipientAccountId, whether it lies in the tail or before it.
func TestRecipientAccountLongRecord(t *testing.T) {
	pad := `"responseElements":{"x":"` + strings.Repeat("a", 2*recipientTail) + `"}`
	early := []byte(`{"requestParameters":{"recipientAccountId":"999999999999"},"recipientAccountId":"111122223333",` + pad + `}`)
	if got := string(recipientAccount(early, nil)); got != "111122223333" {
		t.Fatalf("before the tail: %q", got)
	}
	late := []byte(`{"requestParameters":{"recipientAccountId":"999999999999"},` + pad + `,"recipientAccountId":"111122223333","eventCategory":"Management"}`)
	if got := string(recipientAccount(late, nil)); got != "111122223333" {
		t.Fatalf("in the tail: %q", got)
	}
}
