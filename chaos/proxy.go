// Package chaos runs the real rootwatch pipeline as separate processes
// (ingest, alert, a kfake broker) against real stand-ins (fauxqs for SQS,
// gofakes3 for S3, a recording webhook receiver), injects faults at seeded
// random times, and then compares what reached the channels with the set of
// root events that went in: the ledger. See docs/chaos.md.
package chaos

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy in front of the broker that the driver can cut
// (every connection dropped, new ones refused) or stall (connections stay
// open but no byte moves), to make the broker unreachable without losing
// its in-memory data.
type Proxy struct {
	ln     net.Listener
	target string

	// What reached the proxy, for telling whether a broker fault hit anything.
	fromClients atomic.Int64 // bytes clients sent towards the broker
	refused     atomic.Int64 // connections refused while cut
	held        atomic.Int64 // reads held back while stalled

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	cut     bool
	stalled chan struct{} // closed while traffic flows; open (blocking) while stalled
}

// ListenProxy listens on addr and forwards to target.
func ListenProxy(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, stalled: flowing}
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and drops every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.Restore()
}

// Cut drops every connection and refuses new ones until Restore; it
// returns how many connections it dropped.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	return p.dropAll()
}

// FromClients is how many bytes clients have sent towards the broker.
func (p *Proxy) FromClients() int64 { return p.fromClients.Load() }

// Refused is how many connections were refused while cut.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Held is how many reads were held back while stalled.
func (p *Proxy) Held() int64 { return p.held.Load() }

// Stall stops moving bytes (connections stay open) until Restore.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stalled:
		p.stalled = make(chan struct{})
	default:
	}
}

// Restore ends a Cut or Stall.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	select {
	case <-p.stalled:
	default:
		close(p.stalled)
	}
}

func (p *Proxy) dropAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	return len(p.conns)
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	if !p.track(c) {
		p.refused.Add(1)
		c.Close()
		return
	}
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c, &p.fromClients); done <- struct{}{} }()
	go func() { p.pipe(c, up, nil); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, waiting while the proxy is stalled, and adds
// the bytes it read to count (when not nil).
func (p *Proxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if count != nil {
				count.Add(int64(n))
			}
			p.mu.Lock()
			gate := p.stalled
			p.mu.Unlock()
			select {
			case <-gate:
			default:
				p.held.Add(1)
				<-gate
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
