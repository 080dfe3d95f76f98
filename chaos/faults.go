package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

// The fault kinds. Each is injected at a seeded time and, where it needs
// the pipeline to be doing something to hit anything, armed on an
// observable event instead of a bare timer (see inject).
const (
	KindKillIngest  = "kill-ingest"  // SIGKILL ingest right after S3 answered a GET: a message received, nothing acknowledged
	KindKillAlert   = "kill-alert"   // SIGKILL alert right after a channel answered 2xx: sent, delivery not yet logged
	KindPauseBroker = "pause-broker" // SIGSTOP the broker while clients talk to it
	KindCutBroker   = "cut-broker"   // drop every broker connection and refuse new ones
	KindStallBroker = "stall-broker" // keep broker connections open but move no byte
	KindS3500       = "s3-500"       // S3 answers 500 until one object was refused more often than the SDK retries
	KindS3Hang      = "s3-hang"      // S3 holds GETs (then 503)
	KindChannel500  = "channel-500"  // a channel answers 500 to a live alert
	KindChannel429  = "channel-429"  // a channel answers 429 with Retry-After to a live alert
	KindChannelHang = "channel-hang" // a channel holds requests until alert gives up
)

// RequiredKinds are the fault kinds every run injects at least once, and
// each must bite at least once or the run fails.
var RequiredKinds = []string{KindKillIngest, KindKillAlert, KindPauseBroker, KindCutBroker,
	KindS3500, KindS3Hang, KindChannel500, KindChannel429}

// fault is one planned fault.
type fault struct {
	At      time.Duration // from the start of the fault phase
	Dur     time.Duration // how long it lasts once it bites (kills: the restart delay)
	Kind    string
	Channel string // channel faults
}

// planFaults spreads o's faults at seeded times over [5%, 90%] of the fault
// phase. Each family starts with its required kinds (S3: a 500 period and a
// hang; channels: 500, 429, then a hang; broker cuts: a cut, then a
// stall), so every seed injects every required kind.
func planFaults(rng *rand.Rand, o Options) ([]fault, error) {
	if o.KillIngest < 1 || o.KillAlert < 1 || o.PauseBroker < 1 || o.CutBroker < 1 || o.S3Faults < 2 || o.ChannelFaults < 2 {
		return nil, errors.New("chaos: every run needs every fault kind: at least 1 ingest kill, 1 alert kill, 1 broker pause, 1 broker cut, 2 S3 faults (a 500 period and a hang) and 2 channel faults (500 and 429)")
	}
	var out []fault
	add := func(n int, kinds []string, minDur, maxDur time.Duration) {
		for i := range n {
			kind := kinds[i%len(kinds)]
			if i >= len(kinds) {
				kind = kinds[rng.IntN(len(kinds))]
			}
			lo, hi := int64(o.Faults)/20, int64(o.Faults)*9/10
			f := fault{At: time.Duration(lo + rng.Int64N(hi-lo+1)), Dur: minDur + time.Duration(rng.Int64N(int64(maxDur-minDur)+1)), Kind: kind}
			if f.Kind == KindChannel500 || f.Kind == KindChannel429 || f.Kind == KindChannelHang {
				f.Channel = Channels[rng.IntN(len(Channels))]
			}
			out = append(out, f)
		}
	}
	add(o.KillIngest, []string{KindKillIngest}, 200*time.Millisecond, 2*time.Second)
	add(o.KillAlert, []string{KindKillAlert}, 200*time.Millisecond, 2*time.Second)
	add(o.PauseBroker, []string{KindPauseBroker}, time.Second, 5*time.Second)
	add(o.CutBroker, []string{KindCutBroker, KindStallBroker}, time.Second, 5*time.Second)
	add(o.S3Faults, []string{KindS3500, KindS3Hang}, 2*time.Second, 6*time.Second)
	add(o.ChannelFaults, []string{KindChannel500, KindChannel429, KindChannelHang}, 2*time.Second, 8*time.Second)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

// faultEnv is what faults act on.
type faultEnv struct {
	ctx           context.Context
	ingest, alert *proc
	broker        *exec.Cmd
	proxy         *Proxy
	s3            *FaultyS3
	rec           *Recorder
	// probe sends a notification naming a fresh object (one holding root
	// events when root is true), so that a fault armed on pipeline activity
	// has some to wait for.
	probe func(root bool)
	// wait bounds how long a fault waits for the event it is armed on.
	wait time.Duration
	logf func(format string, a ...any)

	// One fault of a family at a time.
	ingestMu, alertMu, brokerMu, s3Mu sync.Mutex
	chanMu                            map[string]*sync.Mutex
}

// inject carries out f and reports whether it bit: hit the pipeline while
// it was doing something, as observed from outside.
func (e *faultEnv) inject(f fault) bool {
	switch f.Kind {
	case KindKillIngest, KindKillAlert:
		return e.kill(f)
	case KindPauseBroker, KindCutBroker, KindStallBroker:
		return e.brokerFault(f)
	case KindS3500, KindS3Hang:
		e.s3Mu.Lock()
		defer e.s3Mu.Unlock()
		mode := S3Err500
		if f.Kind == KindS3Hang {
			mode = S3Hang
		}
		bit := e.s3.Set(mode)
		e.logf("fault: S3 GetObject answers %s (for %s once it bites)", mode, f.Dur)
		e.probe(false)
		ok := e.await(bit)
		if ok {
			sleepFor(e.ctx, f.Dur)
		}
		e.s3.Set(S3OK)
		e.logf("fault: S3 %s over (bit=%v)", mode, ok)
		return ok
	default: // channel faults
		mu := e.chanMu[f.Channel]
		mu.Lock()
		defer mu.Unlock()
		mode := map[string]ChannelFault{KindChannel500: Chan500, KindChannel429: Chan429, KindChannelHang: ChanHang}[f.Kind]
		bit := e.rec.Set(f.Channel, mode)
		e.logf("fault: channel %s answers %s (for %s once it bites)", f.Channel, mode, f.Dur)
		e.probe(true)
		ok := e.await(bit)
		if ok {
			sleepFor(e.ctx, f.Dur)
		}
		e.rec.Set(f.Channel, ChanOK)
		e.logf("fault: channel %s %s over (bit=%v)", f.Channel, mode, ok)
		return ok
	}
}

// kill SIGKILLs ingest right after S3 answers its next GET (a message was
// received and an object read, nothing of it acknowledged by Kafka yet), or
// alert right after a channel acknowledges its next notification (sent,
// delivery log not written yet); then restarts it after f.Dur.
func (e *faultEnv) kill(f fault) bool {
	p, mu := e.ingest, &e.ingestMu
	if f.Kind == KindKillAlert {
		p, mu = e.alert, &e.alertMu
	}
	mu.Lock()
	defer mu.Unlock()
	killed := make(chan string, 1)
	if f.Kind == KindKillIngest {
		e.s3.AfterGet.Arm(func(key string) {
			if p.kill() {
				killed <- "after S3 answered GET " + key
			} else {
				killed <- ""
			}
		})
	} else {
		e.rec.AfterOK.Arm(func(d Delivery) {
			if p.kill() {
				killed <- "after " + d.Channel + " acknowledged " + d.IdempotencyKey
			} else {
				killed <- ""
			}
		})
	}
	disarm := func() bool {
		if f.Kind == KindKillIngest {
			return e.s3.AfterGet.Disarm()
		}
		return e.rec.AfterOK.Disarm()
	}
	e.logf("fault: %s armed", f.Kind)
	e.probe(f.Kind == KindKillAlert)
	var how string
	fired := false
	t := time.NewTimer(e.wait)
	defer t.Stop()
	select {
	case how = <-killed:
		fired = true
	case <-t.C:
	case <-e.ctx.Done():
	}
	if !fired && !disarm() {
		how = <-killed // it fired while we gave up
	}
	if how == "" {
		e.logf("fault: %s did not bite (no occasion within %s)", f.Kind, e.wait)
		return false
	}
	e.logf("fault: SIGKILLed %s %s; restart in %s", p.name, how, f.Dur)
	sleepFor(e.ctx, f.Dur)
	if err := p.restart(); err != nil {
		e.logf("restart %s: %v", p.name, err)
	}
	return true
}

// brokerFault pauses, cuts or stalls the broker for f.Dur, longer (up to
// e.wait) while no client has tried to reach it.
func (e *faultEnv) brokerFault(f fault) bool {
	e.brokerMu.Lock()
	defer e.brokerMu.Unlock()
	var hit func() bool
	switch f.Kind {
	case KindPauseBroker:
		before := e.proxy.FromClients()
		e.broker.Process.Signal(syscall.SIGSTOP)
		defer e.broker.Process.Signal(syscall.SIGCONT)
		hit = func() bool { return e.proxy.FromClients() > before }
	case KindCutBroker:
		before := e.proxy.Refused()
		dropped := e.proxy.Cut()
		defer e.proxy.Restore()
		hit = func() bool { return dropped > 0 || e.proxy.Refused() > before }
	default:
		before := e.proxy.Held()
		e.proxy.Stall()
		defer e.proxy.Restore()
		hit = func() bool { return e.proxy.Held() > before }
	}
	e.logf("fault: %s for %s", f.Kind, f.Dur)
	e.probe(false)
	sleepFor(e.ctx, f.Dur)
	deadline := time.Now().Add(e.wait)
	for !hit() && time.Now().Before(deadline) && sleepFor(e.ctx, 100*time.Millisecond) {
	}
	ok := hit()
	e.logf("fault: %s over (bit=%v)", f.Kind, ok)
	return ok
}

// await waits for a fault period to bite, at most e.wait.
func (e *faultEnv) await(bit <-chan struct{}) bool {
	t := time.NewTimer(e.wait)
	defer t.Stop()
	select {
	case <-bit:
		return true
	case <-t.C:
		return false
	case <-e.ctx.Done():
		return false
	}
}
