// Command broker runs a one-node kfake Kafka broker as its own process, so
// the chaos driver can pause it (SIGSTOP/SIGCONT) like a real broker that
// stalls. It listens on --listen-port but advertises --advertise-port in its
// metadata, so clients that learn the broker from metadata keep going
// through the chaos proxy in front of it (which can cut them off).
//
// kfake keeps its data in memory (no --data-dir): killing this process
// loses every topic. The chaos driver therefore never kills it; it pauses
// it and makes it unreachable through the proxy instead.
//
//	broker --listen-port 19092 --advertise-port 19093 --topics a,b --partitions 3
//
// Prints one line "ready <listen-addr> advertised <host:port>" on stdout,
// and stops on SIGTERM/SIGINT.
//
// Two switches let the chaos judge see what the broker saw, on the broker's
// clock: --log-append-time stamps every produced batch with the time the
// broker appended it (Kafka's LogAppendTime), so a consumer reads when each
// record became durable; --log-commits prints every offset commit request,
//
//	commit <unix-microseconds> <group> <topic> <partition> <offset>
//
// before the broker handles it, so the judge knows what a consumer claimed
// was done, and when.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	listenPort := flag.Int("listen-port", 0, "loopback port the broker accepts connections on (0: any)")
	advertisePort := flag.Int("advertise-port", 0, "port announced in metadata (the proxy's); 0: the listen port")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	partitions := flag.Int("partitions", 3, "partitions of the created topics")
	appendTime := flag.Bool("log-append-time", false, "stamp every produced batch with the broker's append time")
	commits := flag.Bool("log-commits", false, "print every offset commit request on stdout")
	flag.Parse()

	var seeded []string
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			seeded = append(seeded, t)
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*listenPort),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
		// Let the alert consumer group use short sessions, so a killed
		// member is noticed within seconds.
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(address)
			ln, err := net.Listen(network, net.JoinHostPort("127.0.0.1", p))
			if err != nil || *advertisePort == 0 {
				return ln, err
			}
			return advertised{Listener: ln, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *advertisePort}}, nil
		}),
	}
	if len(seeded) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), seeded...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
	out := &lines{w: bufio.NewWriter(os.Stdout)}
	observe(c, *appendTime, *commits, out)
	adv := c.ListenAddrs()[0]
	out.printf("ready %s advertised %s\n", net.JoinHostPort("127.0.0.1", strconv.Itoa(*listenPort)), adv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	c.Close()
}

// advertised is a listener whose Addr is the proxy's, so kfake announces
// the proxy in metadata while it accepts on its own port.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }

// observe installs the --log-append-time and --log-commits controls on c.
func observe(c *kfake.Cluster, appendTime, commits bool, out *lines) {
	if appendTime {
		c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			for _, t := range req.(*kmsg.ProduceRequest).Topics {
				for _, p := range t.Partitions {
					stampAppendTime(p.Records)
				}
			}
			return nil, nil, false // observed only: kfake handles it
		})
	}
	if commits {
		c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
			r := req.(*kmsg.OffsetCommitRequest)
			now := time.Now().UnixMicro()
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					topic := t.Topic
					if topic == "" { // v10+ names topics by id; kafka-go (alert) sends names
						topic = fmt.Sprintf("id:%x", t.TopicID)
					}
					out.printf("commit %d %s %s %d %d\n", now, r.Group, topic, p.Partition, p.Offset)
				}
			}
			return nil, nil, false
		})
	}
}

// lines writes whole lines to stdout, one at a time.
type lines struct {
	mu sync.Mutex
	w  interface {
		Write([]byte) (int, error)
		Flush() error
	}
}

func (l *lines) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
	l.w.Flush()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stampAppendTime rewrites the timestamps of every v2 record batch in recs
// (in place) to the broker's clock, now: the first timestamp becomes now and
// the maximum keeps its distance from it, so each record reads back as
// appended at now plus its delta in the batch (0 for kafka-go, which stamps
// a batch's records alike). The batch CRC, which covers the timestamps, is
// recomputed. (The LogAppendTime attribute would say the same, but kfake
// then rewrites the timestamps without fixing the CRC.)
func stampAppendTime(recs []byte) {
	const (
		header  = 61 // bytes of a v2 batch header
		lenAt   = 8  // batchLength (int32), counted from byte 12
		magicAt = 16 // magic (int8), 2 for v2
		crcAt   = 17 // CRC-32C (uint32) of everything from the attributes on
		attrsAt = 21 // attributes (int16): the CRC starts here
		firstAt = 27 // firstTimestamp (int64, ms)
		maxAt   = 35 // maxTimestamp (int64, ms)
	)
	now := time.Now().UnixMilli()
	for len(recs) >= header {
		n := 12 + int(binary.BigEndian.Uint32(recs[lenAt:]))
		if n < header || n > len(recs) || recs[magicAt] != 2 {
			return // not a v2 batch: leave it to kfake to refuse
		}
		b := recs[:n]
		first, last := int64(binary.BigEndian.Uint64(b[firstAt:])), int64(binary.BigEndian.Uint64(b[maxAt:]))
		binary.BigEndian.PutUint64(b[firstAt:], uint64(now))
		binary.BigEndian.PutUint64(b[maxAt:], uint64(now+max(last-first, 0)))
		binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[attrsAt:], castagnoli))
		recs = recs[n:]
	}
}
