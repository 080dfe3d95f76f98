package pipeline

import "testing"

func TestRecipientAccountIgnoresNestedLookalike(t *testing.T) {
	raw := []byte(`{"userIdentity":{"type":"IAMUser"},"requestParameters":{"recipientAccountId":"999999999999"},"eventID":"e","recipientAccountId":"111122223333","eventCategory":"Management"}`)
	if got := string(recipientAccount(raw, []byte("def"))); got != "111122223333" {
		t.Fatalf("key %q, want the top-level recipientAccountId", got)
	}
	if got := string(recipientAccount([]byte(`{"eventID":"e"}`), []byte("def"))); got != "def" {
		t.Fatalf("key %q, want the default", got)
	}
}
