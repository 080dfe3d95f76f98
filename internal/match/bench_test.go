package match

import (
	"errors"
	"io"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/testutil"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/cloudtrail"
)

// benchRecords are the real non-root records when present, else synthetic
// ones of CloudTrail's usual size.
func benchRecords(b *testing.B) ([][]byte, int64) {
	var recs [][]byte
	var n int64
	_, files := testutil.RealCloudTrailFiles(b)
	for _, path := range files {
		r, err := cloudtrail.OpenFile(path, cloudtrail.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, append([]byte(nil), raw...))
			n += int64(len(raw))
		}
		r.Close()
	}
	if len(recs) == 0 {
		for _, fx := range fixtures.Records {
			if !fx.Root {
				recs = append(recs, []byte(fx.JSON))
				n += int64(len(fx.JSON))
			}
		}
	}
	return recs, n
}

func BenchmarkIsRootNonRoot(b *testing.B) { benchNonMatching(b, IsRoot) }

// benchNonMatching runs match over the non-root records.
func benchNonMatching(b *testing.B, match func([]byte) bool) {
	recs, n := benchRecords(b)
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range recs {
			if match(r) {
				b.Fatal("unexpected match")
			}
		}
	}
}

func BenchmarkIsRootLookalike(b *testing.B) {
	// Records that pass the prefilter but are not root: the gjson path.
	var recs [][]byte
	var n int64
	for _, fx := range fixtures.Records {
		if !fx.Root && strings.Contains(fx.JSON, `"Root"`) {
			recs = append(recs, []byte(fx.JSON))
			n += int64(len(fx.JSON))
		}
	}
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range recs {
			IsRoot(r)
		}
	}
}

func BenchmarkFindRoot(b *testing.B) {
	raw := []byte(fixtures.Records[0].JSON)
	now := time.Now()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := Find(raw, ObjectRef{}, now); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchesNonRoot is BenchmarkIsRootNonRoot with the second
// prefilter (AssumeRoot calls): what the pipeline pays per record.
func BenchmarkMatchesNonRoot(b *testing.B) { benchNonMatching(b, Matches) }
