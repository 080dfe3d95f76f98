package channel

import (
	"crypto/sha256"
	"encoding/hex"
)

// providerKey derives a provider-side idempotency key (PagerDuty dedup_key,
// ServiceNow correlation_id, Opsgenie alias) from an incident ID: the ID
// itself, prefixed, when it is short and made of safe characters, else a
// hash of it, so the same incident always maps to the same key.
func providerKey(prefix, id string, max int) string {
	safe := len(prefix)+len(id) <= max && id != ""
	for i := 0; safe && i < len(id); i++ {
		c := id[i]
		safe = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
	}
	if safe {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	if len(prefix)+len(h) > max {
		h = h[:max-len(prefix)]
	}
	return prefix + h
}
