package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"rootwatch/internal/testutil"
	"strings"
	"testing"

	stdgzip "compress/gzip"
)

// benchFile builds a ~32 MiB log file from the real records when present
// (else from synthetic 1.5 KB records).
func benchFile(b *testing.B) []byte {
	var recs []json.RawMessage
	_, files := testutil.RealCloudTrailFiles(b)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var v struct{ Records []json.RawMessage }
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, v.Records...)
	}
	if len(recs) == 0 {
		recs = append(recs, json.RawMessage(`{"eventVersion":"1.08","requestParameters":{"a":"`+strings.Repeat("v", 1500)+`"}}`))
	}
	var buf bytes.Buffer
	buf.WriteString(`{"Records":[`)
	for i := 0; buf.Len() < 32<<20; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(recs[i%len(recs)])
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

func gzipped(data []byte) *bytes.Buffer {
	var z bytes.Buffer
	w := stdgzip.NewWriter(&z)
	w.Write(data)
	w.Close()
	return &z
}

func drain(b *testing.B, r *Reader) {
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	data := benchFile(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := NewReader(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		drain(b, r)
	}
}

// BenchmarkSplitGzip measures gunzip (klauspost/compress) plus split; bytes
// are the decompressed size.
func BenchmarkSplitGzip(b *testing.B) {
	data := benchFile(b)
	z := gzipped(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := NewReader(bytes.NewReader(z.Bytes()), Options{})
		if err != nil {
			b.Fatal(err)
		}
		drain(b, r)
	}
}

// BenchmarkStdlibGunzip is the standard library's gunzip alone, for comparison.
func BenchmarkStdlibGunzip(b *testing.B) {
	data := benchFile(b)
	z := gzipped(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _ := stdgzip.NewReader(bytes.NewReader(z.Bytes()))
		io.Copy(io.Discard, r)
	}
}

// BenchmarkJSONValid is encoding/json's validator over the same bytes: the
// cheapest thing encoding/json can do with them.
func BenchmarkJSONValid(b *testing.B) {
	data := benchFile(b)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if !json.Valid(data) {
			b.Fatal("invalid")
		}
	}
}
