// Package mutant holds the switches of deliberate bugs ("mutants") that the
// chaos suite must catch: `make mutants` builds the commands with
// -tags mutants and runs the short chaos run once per mutant, with
// ROOTWATCH_MUTANT naming it (docs/chaos.md, "Mutants").
//
// A hook is one if statement at the spot it breaks:
//
//	if mutant.Enabled && mutant.On("channel-5xx-delivered") && resp.StatusCode >= 500 { return nil }
//
// In a normal build Enabled is the constant false, so the compiler drops
// every hook, wherever it sits (also in closures, which a call to On alone
// would not guarantee): release binaries carry neither the branches nor the
// names. Hooks are compiled in every build, so they move with the code
// through refactors and break the build when the code around them changes.
package mutant

import (
	"errors"
	"io"
	"strings"
)

// Env names the environment variable that selects the mutant in a
// -tags mutants build.
const Env = "ROOTWATCH_MUTANT"

// HTTPStatus is the HTTP status of the response err came from (an AWS SDK
// error), or 0.
func HTTPStatus(err error) int {
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		return sc.HTTPStatusCode()
	}
	return 0
}

// EmptyTrail is a CloudTrail file with no records: what an object silently
// dropped reads as.
func EmptyTrail() io.ReadCloser { return io.NopCloser(strings.NewReader(`{"Records":[]}`)) }
