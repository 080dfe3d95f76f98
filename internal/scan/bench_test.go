package scan

import (
	"context"
	"io"
	"testing"

	"rootwatch/internal/gen"
)

// BenchmarkScan is the whole offline scan (gunzip, split, match, encode)
// over generated gzipped logs; bytes are the decompressed size.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	if _, err := gen.GenerateDir(gen.Config{Seed: 3, TargetBytes: 64 << 20}, dir); err != nil {
		b.Fatal(err)
	}
	var s Summary
	var err error
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err = Run(context.Background(), Options{Paths: []string{dir}, Out: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(s.Bytes)
	b.ReportMetric(float64(s.Records), "records/op")
}
