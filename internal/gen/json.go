package gen

import (
	"strconv"
	"time"
)

// buf builds JSON by appending, without reflection: every member is written
// with a trailing comma, and closing an object or array replaces the last
// comma (or appends the bracket when it was empty). This keeps the record
// writers short and makes generating hundreds of MB a matter of seconds.
type buf struct{ b []byte }

const hexdigits = "0123456789abcdef"

func (w *buf) key(k string) {
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// s writes "k":"v", escaping v.
func (w *buf) s(k, v string) {
	w.key(k)
	w.str(v)
	w.b = append(w.b, ',')
}

// str writes one JSON string value (no comma).
func (w *buf) str(v string) {
	w.b = append(w.b, '"')
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.b = append(w.b, v[start:i]...)
		switch c {
		case '"', '\\':
			w.b = append(w.b, '\\', c)
		case '\n':
			w.b = append(w.b, '\\', 'n')
		case '\t':
			w.b = append(w.b, '\\', 't')
		default:
			w.b = append(w.b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		}
		start = i + 1
	}
	w.b = append(w.b, v[start:]...)
	w.b = append(w.b, '"')
}

// raw writes "k":<v>, with v already JSON.
func (w *buf) raw(k, v string) {
	w.key(k)
	w.b = append(w.b, v...)
	w.b = append(w.b, ',')
}

func (w *buf) null(k string) { w.raw(k, "null") }

func (w *buf) bool(k string, v bool) {
	if v {
		w.raw(k, "true")
	} else {
		w.raw(k, "false")
	}
}

func (w *buf) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, ',')
}

func (w *buf) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, "2006-01-02T15:04:05Z")
	w.b = append(w.b, '"', ',')
}

// obj opens "k":{ (or a bare { inside an array when k is "").
func (w *buf) obj(k string) {
	if k != "" {
		w.key(k)
	}
	w.b = append(w.b, '{')
}

// arr opens "k":[ (or a bare [ when k is "").
func (w *buf) arr(k string) {
	if k != "" {
		w.key(k)
	}
	w.b = append(w.b, '[')
}

// es writes one string element of an array.
func (w *buf) es(v string) {
	w.str(v)
	w.b = append(w.b, ',')
}

func (w *buf) end(c byte) {
	if n := len(w.b); w.b[n-1] == ',' {
		w.b[n-1] = c
	} else {
		w.b = append(w.b, c)
	}
	w.b = append(w.b, ',')
}

// close ends an object, cls an array.
func (w *buf) close() { w.end('}') }
func (w *buf) cls()   { w.end(']') }

// trim drops the comma after the last member written.
func (w *buf) trim() {
	if n := len(w.b); n > 0 && w.b[n-1] == ',' {
		w.b = w.b[:n-1]
	}
}
